// The command center: fetches /v1/factory/now and /v1/factory/history, follows /v1/factory/stream, and renders
// them (docs/command-center.md is the contract). Plain DOM and uPlot: the page has one job, and a framework would
// add more code than it saves. Every rendered number also lands raw in a data-* attribute, for tests and scrapers.
const uPlot = window.uPlot; // the vendored IIFE build, loaded by a classic script before this module runs
const $ = (selector) => document.querySelector(selector);
const WINDOW_S = { '5m': 300, '15m': 900, '1h': 3600, '6h': 21600, '24h': 86400 };
// Mid-tone colours that read on both the light and the dark background.
const COLORS = ['#3b82f6', '#10b981', '#f59e0b', '#8b5cf6', '#ef4444', '#06b6d4', '#ec4899'];

const state = {
  samples: [],                        // the window's samples, oldest first
  windowS: WINDOW_S['1h'],
  classes: [],
  classesKey: null,                   // the classes the charts were built for (their target lines)
  charts: [],                         // { el, plot, spec, u }
  stream: null,
  teamsTimer: 0,
  signedOut: false,
};
const theme = { fg: '#555', grid: 'rgba(0,0,0,.1)' };

// ---- formatting: short human text; the raw number goes to data-value -------------------------------------
const DASH = '—';
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const raw = (v) => (isNum(v) ? String(v) : '');
const sig3 = (v) => String(Number(v.toPrecision(3))); // 31.5, 0.0156, 120: three significant digits at most

function scaled(v, units, base = 1000) {
  let i = 0;
  while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
  return `${sig3(v)}${units[i]}`;
}

function num(v) {
  if (!isNum(v)) return DASH;
  if (Math.abs(v) < 1000) return Number.isInteger(v) ? String(v) : sig3(v);
  return scaled(v, ['', 'k', 'M', 'G', 'T']);
}
const pct = (v) => (!isNum(v) ? DASH : v === 0 ? '0%' : `${(v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0)}%`);
const secs = (v) => (!isNum(v) ? DASH : Math.abs(v) < 1 ? `${sig3(v * 1000)} ms` : `${sig3(v)} s`);
const watts = (v) => (isNum(v) ? scaled(v, [' W', ' kW', ' MW']) : DASH);
const joules = (v) => (isNum(v) ? scaled(v, [' J', ' kJ', ' MJ', ' GJ']) : DASH);
const bytes = (v) => (isNum(v) ? scaled(v, [' B', ' KiB', ' MiB', ' GiB', ' TiB'], 1024) : DASH);
const int = (v) => (isNum(v) ? v.toLocaleString('en-US') : DASH);

function usd(v) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a === 0 || a >= 1) return `$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  // A request costs fractions of a cent, so keep two significant digits however small: $0.0012, then $3.4e-7
  // (a tile is narrow: a dozen zeros would not fit).
  if (a < 1e-4) return `$${v.toExponential(1)}`;
  return `$${v.toFixed(1 - Math.floor(Math.log10(a)))}`;
}
const FORMATS = { num, pct, secs, watts, joules, usd, bytes };

// ---- DOM helpers -----------------------------------------------------------------------------------------
const el = (tag, className = '', text = '') =>
  Object.assign(document.createElement(tag), { className, textContent: text });

// A table row: `data` becomes its data-* attributes (the hooks), `cells` its cells.
function row(data, cells) {
  const tr = el('tr');
  Object.assign(tr.dataset, data);
  tr.append(...cells);
  return tr;
}

// A cell; numeric ones (given `value`) carry it raw and align right.
function cell(text, { value, field, cls } = {}) {
  const td = el('td', cls ?? (value !== undefined ? 'n' : ''), text);
  if (field) td.dataset.field = field;
  if (value !== undefined) td.dataset.value = raw(value);
  return td;
}
const ncell = (v, fmt = num) => cell(fmt(v), { value: v ?? null });

// Rebuilt whole on each update: the tables are small, and a rebuilt row can never keep a stale cell.
function fillTable(tbody, items, makeRow) {
  if (items?.length) return tbody.replaceChildren(...items.map(makeRow));
  const td = cell('none', { cls: 'empty' });
  td.colSpan = tbody.closest('table').tHead.rows[0].cells.length;
  tbody.replaceChildren(row({}, [td]));
}

function showMessage(text) {
  $('#message').textContent = text;
  $('#message').hidden = false;
}

// body[data-state] is connecting | live | signed-out; signed-out is final until the page reloads.
function setConnection(value, text = value) {
  if (state.signedOut && value !== 'signed-out') return;
  if (value === 'live') $('#message').hidden = true; // data flows again: an earlier error no longer holds
  document.body.dataset.state = value;
  $('#connection').textContent = text;
  $('#connection').dataset.state = value;
}

// ---- fetching --------------------------------------------------------------------------------------------
async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (res.status === 401) { signOutLocally(); throw new Error('signed out'); }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// The session expired or was revoked: stop asking, and say how to get back in.
function signOutLocally() {
  setConnection('signed-out', 'signed out');
  state.signedOut = true;
  state.stream?.close();
  clearInterval(state.teamsTimer);
  showMessage('signed out — reload to sign in');
}

function fail(err) {
  if (!state.signedOut) showMessage(`Could not load: ${err.message}`);
}

// Each loader drops an answer that a newer request (another window or period chosen meanwhile) has overtaken.
const tickets = { history: 0, teams: 0 };

async function loadHistory() {
  const choice = $('#window').value;
  const ticket = ++tickets.history;
  const history = await getJson(`/v1/factory/history?window=${encodeURIComponent(choice)}`);
  if (ticket !== tickets.history) return;
  state.windowS = history.window_s ?? WINDOW_S[choice];
  const fetched = (history.samples ?? []).sort((a, b) => a.t - b.t);
  const lastT = fetched.at(-1)?.t ?? -Infinity;
  // Streamed samples newer than the history (they arrived while it was on its way) stay.
  state.samples = fetched.concat(state.samples.filter((s) => s.t > lastT));
  trimToWindow();
  renderSeries();
  renderSlo();
}

async function loadTeams() {
  const ticket = ++tickets.teams;
  const teams = await getJson(`/v1/factory/teams?period=${encodeURIComponent($('#period').value)}`);
  if (ticket === tickets.teams) renderTeams(teams);
}

function openStream() {
  const stream = new EventSource('/v1/factory/stream');
  state.stream = stream;
  let gap = false; // set while EventSource reconnects by itself: the samples of the outage come from /history
  stream.addEventListener('now', (e) => {
    onNow(JSON.parse(e.data));
    setConnection('live'); // after onNow: whoever sees "live" also sees the event's data
    if (gap) { gap = false; loadHistory().catch(fail); }
  });
  stream.addEventListener('error', () => {
    // CONNECTING: EventSource retries by itself. CLOSED: the server refused the stream (a non-200 answer, such
    // as 401 once a session expires), and EventSource never retries that; so ask /now, which tells 401 apart.
    if (stream.readyState === EventSource.CONNECTING) {
      gap = true;
      return setConnection('connecting', 'reconnecting…');
    }
    setConnection('connecting', 'disconnected, retrying…');
    retryStream();
  });
}

// Also re-reads the history: it fills the gap the outage left in the charts.
function retryStream() {
  setTimeout(async () => {
    try {
      onNow(await getJson('/v1/factory/now'));
      await loadHistory();
      openStream();
    } catch (err) {
      fail(err);
      if (!state.signedOut) retryStream();
    }
  }, 5000);
}

// ---- rendering -------------------------------------------------------------------------------------------
function onNow(now) {
  state.classes = now.classes ?? [];
  renderHeader(now);
  renderTiles(now);
  renderModels(now.models);
  const key = JSON.stringify(state.classes);
  if (key !== state.classesKey) { state.classesKey = key; buildCharts(); }
  appendSample(now.sample);
  renderReplicas(now.replicas);
  renderSlo();
  if (isNum(now.sample?.t)) document.body.dataset.updated = String(now.sample.t);
}

function renderHeader(now) {
  document.body.dataset.role = now.role ?? '';
  $('#mode').textContent = now.mode ?? '';
  $('#role').textContent = now.role ?? '';
  $('#signout').hidden = !now.role || now.role === 'open';
  const t = now.sample?.t ?? now.time;
  if (isNum(t)) $('#updated').textContent = `updated ${new Date(t * 1000).toLocaleTimeString()}`;
}

// Tiles are declared in index.html: data-metric names a sample field (total_* a totals field).
function renderTiles(now) {
  for (const tile of document.querySelectorAll('[data-metric]')) {
    const name = tile.dataset.metric;
    const v = name.startsWith('total_') ? now.totals?.[name.slice(6)] : now.sample?.[name];
    tile.dataset.value = raw(v);
    tile.textContent = (FORMATS[tile.dataset.format] ?? num)(v);
  }
  const estimated = Boolean(now.sample?.power_estimated || now.power?.estimated);
  $('#power-estimated').hidden = !estimated;
  $('[data-metric="power_w"]').dataset.estimated = String(estimated);
}

function renderReplicas(replicas) {
  fillTable($('#replica-rows'), replicas, (r) => {
    const health = r.healthy ? 'healthy' : 'unhealthy';
    const kv = r.kv_capacity_tokens > 0 ? r.kv_used_tokens / r.kv_capacity_tokens : null;
    return row({ replica: r.id, health }, [
      cell(r.id), cell(r.url ?? 'in process'), cell(health, { cls: health }), cell(r.state ?? DASH),
      cell((r.models ?? []).join(', ')), ncell(r.running), ncell(r.waiting), ncell(kv, pct),
      ncell(state.samples.at(-1)?.replicas?.[r.id]?.utilization, pct), ncell(r.output_tps)]);
  });
}

function renderModels(models) {
  fillTable($('#model-rows'), models, (m) => row({ model: m.id }, [
    cell(m.id), cell(m.replica ?? DASH), cell(m.architecture ?? DASH), cell(m.quantization ?? DASH),
    ncell(m.parameters), ncell(m.context_length, int), ncell(m.weights_bytes, bytes),
    ncell(m.kv_bytes_per_token, bytes), ncell(m.recurrent_state_bytes, bytes)]));
}

// Goodput per class over the samples in the window: counts add up across samples of any span.
function renderSlo() {
  const zero = () => ({ requests: 0, met_ttft: 0, met_tpot: 0, met: 0 });
  const sums = new Map(state.classes.map((c) => [c.name, zero()]));
  for (const s of state.samples) {
    for (const [name, counts] of Object.entries(s.slo ?? {})) {
      if (!sums.has(name)) sums.set(name, zero());
      const sum = sums.get(name);
      for (const k of Object.keys(sum)) sum[k] += counts?.[k] ?? 0;
    }
  }
  const targets = new Map(state.classes.map((c) => [c.name, c]));
  fillTable($('#slo-rows'), [...sums], ([name, sum]) => {
    const share = (k) => (sum.requests > 0 ? sum[k] / sum.requests : null);
    return row({ slo: name, value: raw(share('met')) }, [
      cell(name), ncell(targets.get(name)?.ttft_target_s, secs), ncell(targets.get(name)?.tpot_target_s, secs),
      ncell(sum.requests), ncell(share('met_ttft'), pct), ncell(share('met_tpot'), pct), ncell(share('met'), pct)]);
  });
}

const USAGE = [['requests', num], ['refused', num], ['prompt_tokens', num], ['completion_tokens', num], ['usd', usd]];
const usageCells = (u) => USAGE.map(([field, fmt]) => cell(fmt(u[field]), { field, value: u[field] ?? null }));
// The ledger groups requests made without a key (--no-auth) as "(none)".
const teamName = (id) => (id === '(none)' || id === '' ? 'anonymous' : id ?? DASH);

function renderTeams(t) {
  fillTable($('#team-rows'), t.teams, (team) => row({ team: team.id ?? '' }, [
    cell(teamName(team.id)), ...usageCells(team)]));
  fillTable($('#key-rows'), t.keys, (k) => row({ key: k.id }, [
    cell(k.id), cell(k.name ?? ''), cell(k.team_id == null ? DASH : teamName(k.team_id)), ...usageCells(k)]));
  fillTable($('#budget-rows'), t.budgets, (b) => {
    const fmt = b.unit === 'usd' ? usd : (v) => `${num(v)} ${b.unit ?? ''}`.trim();
    const scope = b.scope === 'team' ? `team ${teamName(b.scope_id)}` : `${b.scope ?? ''} ${b.scope_id ?? ''}`;
    const bar = el('td', 'wide');
    bar.append(budgetBar(b, fmt));
    return row({ budget: b.id, value: raw(b.spent), hard: raw(b.hard), soft: raw(b.soft) }, [
      cell(scope.trim()), cell(b.period ?? DASH), cell(fmt(b.spent), { value: b.spent ?? null }),
      cell(fmt(b.hard), { value: b.hard ?? null }), bar, cell(b.state ?? DASH, { cls: `budget-${b.state}` }),
    ]);
  });
  fillTable($('#refusal-rows'), t.refusals, (r) => row({ refusal: r.reason, value: raw(r.count) }, [
    cell(r.reason), ncell(r.status), ncell(r.count)]));
}

// Spent, then reserved (in flight, not yet settled), against the hard limit; a tick marks the soft limit.
function budgetBar(b, fmt) {
  const bar = el('div', 'bar');
  bar.title = `${fmt(b.spent)} spent + ${fmt(b.reserved ?? 0)} reserved of ${fmt(b.hard)}`
    + (isNum(b.soft) ? ` (soft ${fmt(b.soft)})` : '');
  if (!(b.hard > 0)) return bar;
  const of = (v) => `${Math.min(100, Math.max(0, (v / b.hard) * 100))}%`;
  const part = (cls, left, width) => {
    const div = el('div', cls);
    div.style.left = of(left);
    if (width !== undefined) div.style.width = of(width);
    return div;
  };
  const level = b.spent >= b.hard ? ' over' : isNum(b.soft) && b.spent >= b.soft ? ' warn' : '';
  bar.append(part(`spent${level}`, 0, b.spent), part('reserved', b.spent, b.reserved ?? 0));
  if (isNum(b.soft)) bar.append(part('soft', b.soft));
  return bar;
}

// ---- charts ----------------------------------------------------------------------------------------------
// A series: its legend label and how to read its value from a sample.
const field = (label, name, extra) => ({ label, get: (s) => s[name], ...extra });
const pctl = (label, key, p) => ({ label, get: (s) => s[key]?.[p] });
const percentiles = (key) => ['p50', 'p90', 'p99'].map((p) => pctl(p, key, p));

function chartSpecs() {
  // A class's target is a constant series: uPlot draws it as a horizontal (dashed) line.
  const targets = (name) => state.classes.filter((c) => isNum(c[name]))
    .map((c) => ({ label: `${c.name} target`, get: () => c[name], dash: true }));
  return {
    throughput: { series: [field('output tok/s', 'output_tps'), field('input tok/s', 'input_tps'),
      field('requests/s', 'requests_ps', { scale: 'rps' })] },
    // Latencies on a log scale: a 50 ms p50 and a 600 s batch target must both be readable on one chart.
    ttft: { fmt: secs, log: true, series: [...percentiles('ttft'), ...targets('ttft_target_s')] },
    tpot: { fmt: secs, log: true, series: [...percentiles('tpot'), ...['p50', 'p90', 'p99'].map((p) => pctl(`ITL ${p}`, 'itl', p)),
      ...targets('tpot_target_s')] },
    queue: { series: [field('running', 'running'), field('waiting', 'waiting'), field('queued', 'queued')] },
    utilization: { fmt: pct, range: [0, 1], series: [field('utilization', 'utilization'),
      field('KV cache', 'kv_usage'), field('prefix hits', 'prefix_hit_rate')] },
    power: { fmt: watts, series: [field('power', 'power_w')] },
  };
}

// uPlot wants columns: the times, then one array per series; a missing value is null, which it draws as a gap.
function chartData(spec) {
  const xs = state.samples.map((s) => s.t);
  return [xs, ...spec.series.map((sr) => state.samples.map((s) => (isNum(sr.get(s)) ? sr.get(s) : null)))];
}

function chartSize(plot) {
  const height = parseFloat(getComputedStyle(plot).getPropertyValue('--chart-h')) || 220;
  return { width: Math.max(160, Math.floor(plot.clientWidth)), height };
}

// On a log axis, ticks and grid lines only at powers of ten (1 ms, 10 ms, …): nine lines a decade blur together.
const decades = (u, splits) => splits.map((v) => (Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? v : null));

function makeChart(plot, spec) {
  const fmt = spec.fmt ?? num;
  // Colours are functions so that a switch between light and dark only needs a redraw.
  const axis = (extra) => ({ stroke: () => theme.fg, grid: { stroke: () => theme.grid, width: 1 },
    ticks: { stroke: () => theme.grid, width: 1 }, ...extra });
  const fromZero = (u, min, max) => [0, isNum(max) && max > 0 ? max * 1.1 : 1]; // all these metrics are >= 0
  const hasRps = spec.series.some((s) => s.scale === 'rps');
  const yAxis = axis({ size: 64, values: (u, vals) => vals.map((v) => (v === null ? '' : fmt(v))) });
  if (spec.log)
    Object.assign(yAxis, { filter: decades, grid: { ...yAxis.grid, filter: decades }, ticks: { ...yAxis.ticks, filter: decades } });
  const rpsAxis = axis({ scale: 'rps', side: 1, size: 48, grid: { show: false }, values: (u, vals) => vals.map(num) });
  return new uPlot({
    ...chartSize(plot),
    cursor: { drag: { x: false, y: false } }, // the data moves every second: a zoom would not hold
    // A lone sample (before the history arrives) gets uPlot's default span of years: show the window instead.
    scales: {
      x: { time: true, range: (u, min, max) => (u.data[0].length === 1 ? [min - state.windowS, min] : [min, max]) },
      y: spec.log ? { distr: 3, log: 10 } : { range: spec.range ?? fromZero },
      rps: { range: fromZero },
    },
    axes: [axis({}), yAxis, ...(hasRps ? [rpsAxis] : [])],
    series: [{}, ...spec.series.map((s, i) => ({
      label: s.label, scale: s.scale ?? 'y', stroke: COLORS[i % COLORS.length], width: s.dash ? 1 : 1.5,
      dash: s.dash ? [6, 4] : undefined, points: { show: false },
      value: (u, v) => (s.scale === 'rps' ? num : fmt)(v) }))],
  }, chartData(spec), plot);
}

// One chart per [data-chart] container; rebuilt when the classes (hence the target lines) change.
function buildCharts() {
  const specs = chartSpecs();
  for (const c of state.charts) { resizer.unobserve(c.plot); c.u.destroy(); }
  state.charts = [...document.querySelectorAll('[data-chart]')].map((figure) => {
    const plot = figure.querySelector('.plot');
    const spec = specs[figure.dataset.chart];
    resizer.observe(plot);
    return { el: figure, plot, spec, u: makeChart(plot, spec) };
  });
  renderSeries();
}

function renderSeries() {
  for (const c of state.charts) {
    const data = chartData(c.spec);
    c.u.setData(data);
    c.el.dataset.points = String(data[0].length);
    // The first series' total over the window: moves when new data (not just new time) reaches the chart.
    c.el.dataset.sum = raw(data[1].reduce((sum, v) => sum + (v ?? 0), 0));
  }
}

function appendSample(sample) {
  const last = state.samples.at(-1);
  if (!isNum(sample?.t) || (last && sample.t <= last.t)) return;
  // Beyond an hour the charts hold minutes: seconds would pile up (86,400 a day); the minutes are re-read instead.
  if (state.windowS > 3600) {
    if (sample.t - (state.minutesReadAt ?? 0) >= 60) {
      state.minutesReadAt = sample.t;
      loadHistory().catch(fail);
    }
    return;
  }
  state.samples.push(sample);
  trimToWindow();
  renderSeries();
}

// Keep the window's worth of samples: drop from the front what fell out of it.
function trimToWindow() {
  const from = (state.samples.at(-1)?.t ?? 0) - state.windowS;
  const keep = state.samples.findIndex((s) => s.t > from);
  if (keep > 0) state.samples.splice(0, keep);
}

const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = state.charts.find((c) => c.plot === entry.target);
    const size = chart && chartSize(chart.plot);
    if (size && (size.width !== chart.u.width || size.height !== chart.u.height)) chart.u.setSize(size);
  }
});

function readTheme() {
  const css = getComputedStyle(document.body);
  theme.fg = css.getPropertyValue('--muted').trim() || theme.fg;
  theme.grid = css.getPropertyValue('--grid').trim() || theme.grid;
}

// ---- start -----------------------------------------------------------------------------------------------
async function start() {
  readTheme();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    readTheme();
    for (const c of state.charts) c.u.redraw(false, true);
  });
  $('#window').addEventListener('change', () => loadHistory().catch(fail));
  $('#period').addEventListener('change', () => loadTeams().catch(fail));
  $('#signout').addEventListener('click', async () => {
    await fetch('/dashboard/session', { method: 'DELETE', credentials: 'same-origin' }).catch(() => {});
    location.reload();
  });
  state.windowS = WINDOW_S[$('#window').value];
  loadTeams().catch(fail);
  state.teamsTimer = setInterval(() => loadTeams().catch(fail), 5000);
  try {
    onNow(await getJson('/v1/factory/now'));
    await loadHistory();
    openStream();
  } catch (err) {
    fail(err);
    if (!state.signedOut) retryStream();
  }
}

start();
