// The command center's sign-in: posts the key once to POST /dashboard/session, which answers 204 with a session
// cookie; reloading /dashboard then shows the page. The key is never stored in the browser.
const form = document.getElementById('signin');
const error = document.getElementById('signin-error');
const button = form.querySelector('button[type="submit"]');

// The server answers failures in OpenAI's error shape: {"error": {"message": ...}}.
async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: fall through to the status line
  }
  return `Sign-in failed (HTTP ${res.status}).`;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  button.disabled = true;
  try {
    const res = await fetch('/dashboard/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ key: form.elements.key.value }),
    });
    if (res.status === 204) {
      location.reload();
      return;
    }
    error.textContent = await errorMessage(res);
  } catch (err) {
    error.textContent = `Could not reach the server: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});
