using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using TokenFactory.Floor;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// Who may see the command center: anyone with <c>--no-auth</c>; otherwise the admin key or the viewer key, as a
/// Bearer header or through a sign-in session. A session is a random id in an HttpOnly, SameSite=Strict cookie
/// mapped to a role in memory: the key never reaches the browser's storage or the page's script.
/// </summary>
public sealed class DashboardAccess(FloorService floor, TimeProvider time)
{
    public const string CookieName = "tf_session";
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(12);
    internal const int MaxSessions = 10_000;
    /// <summary>Wrong keys one client address may try per minute before sign-in answers 429: keys cannot be guessed at speed.</summary>
    public const int MaxFailuresPerMinute = 10;
    private const int MaxTrackedClients = 10_000;

    private readonly ConcurrentDictionary<string, (string Role, DateTimeOffset Expires)> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (int Count, DateTimeOffset Since)> _failures = new(StringComparer.Ordinal);

    /// <summary><c>open</c>, <c>admin</c> or <c>viewer</c>; null when the request may not see the factory.</summary>
    /// <param name="recheck">
    /// A running stream's check of the key it began with: not a new guess, so neither throttled nor counted (a 429 on a
    /// stream whose headers went out would abort it, and another client behind the same address could cause one).
    /// </param>
    public string? RoleOf(HttpContext context, bool recheck = false)
    {
        if (!floor.Options.RequiresKeys)
            return "open";
        string? bearer = FloorService.BearerSecret(context.Request.Headers.Authorization);
        if (bearer is not null)
        {
            // A Bearer key is a guess like a sign-in's: throttled the same way, per address.
            if (!recheck)
                ThrowIfThrottled(context);
            string? role = RoleOfSecret(bearer);
            if (role is null && !recheck)
                CountFailure(context);
            return role;
        }
        if (context.Request.Cookies[CookieName] is { Length: > 0 } id && _sessions.TryGetValue(id, out var session))
        {
            if (session.Expires > time.GetUtcNow())
                return session.Role;
            _sessions.TryRemove(id, out _);
        }
        return null;
    }

    /// <exception cref="OpenAiException">401 with the reason the page shows.</exception>
    public string Require(HttpContext context) => RoleOf(context) ?? throw Unauthorized();

    /// <summary>Signs in with a key: sets the session cookie and returns the role; 401 for a wrong key, 429 after too many.</summary>
    public string SignIn(HttpContext context, string? key)
    {
        var now = time.GetUtcNow();
        ThrowIfThrottled(context);
        if (RoleOfSecret(key) is not { } role)
        {
            CountFailure(context);
            throw Unauthorized();
        }
        if (_sessions.Count >= MaxSessions)
        {
            foreach (var (id, s) in _sessions)
                if (s.Expires <= now)
                    _sessions.TryRemove(id, out _);
            // Still full: the oldest session of the same role gives way, so no one holding a key can lock the others out,
            // and a viewer signing in over and over pushes out only viewers (an admin, when no admin session is left, a viewer's).
            if (_sessions.Count >= MaxSessions)
            {
                var yielding = _sessions.Where(kv => kv.Value.Role == role).MinBy(kv => kv.Value.Expires);
                if (yielding.Key is null && role == "admin")
                    yielding = _sessions.MinBy(kv => kv.Value.Expires); // no admin session left: a viewer's gives way
                if (yielding.Key is null)
                    throw new OpenAiException(503, "Too many command-center sessions are open; sign out elsewhere or retry later.", OpenAiErrorTypes.Unavailable, code: "too_many_sessions")
                    {
                        RetryAfterSeconds = 60,
                    };
                _sessions.TryRemove(yielding.Key, out _);
            }
        }
        string session = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _sessions[session] = (role, now + SessionLifetime);
        context.Response.Cookies.Append(CookieName, session, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = context.Request.IsHttps,
            Path = "/",
            MaxAge = SessionLifetime,
        });
        return role;
    }

    public void SignOut(HttpContext context)
    {
        if (context.Request.Cookies[CookieName] is { Length: > 0 } id)
            _sessions.TryRemove(id, out _);
        context.Response.Cookies.Delete(CookieName, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, Path = "/" });
    }

    /// <summary>
    /// 429 with Retry-After for an address that tried <see cref="MaxFailuresPerMinute"/> wrong keys (admin, viewer: by
    /// sign-in, or as a Bearer header on the command center's API or /admin) within the minute, whatever key it sends now.
    /// </summary>
    public void ThrowIfThrottled(HttpContext context)
    {
        var now = time.GetUtcNow();
        if (_failures.TryGetValue(ClientOf(context), out var failed) && now - failed.Since < TimeSpan.FromMinutes(1) && failed.Count >= MaxFailuresPerMinute)
        {
            int wait = (int)Math.Ceiling((failed.Since + TimeSpan.FromMinutes(1) - now).TotalSeconds);
            context.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new OpenAiException(429, $"Too many wrong keys from this address: try again in {wait} s.", OpenAiErrorTypes.InvalidRequest, code: "rate_limit_exceeded");
        }
    }

    /// <summary>Counts a wrong key against the request's address.</summary>
    public void CountFailure(HttpContext context) => CountFailure(ClientOf(context), time.GetUtcNow());

    /// <summary>The address a client is counted by: an IPv6 client by its /64, which one host holds whole, so it cannot walk its addresses.</summary>
    private static string ClientOf(HttpContext context)
    {
        var address = context.Connection.RemoteIpAddress;
        if (address is null)
            return "";
        if (address.IsIPv4MappedToIPv6)
            return address.MapToIPv4().ToString();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            return address.ToString();
        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }

    private void CountFailure(string client, DateTimeOffset now)
    {
        if (_failures.Count >= MaxTrackedClients)
            foreach (var (c, f) in _failures)
                if (now - f.Since >= TimeSpan.FromMinutes(1))
                    _failures.TryRemove(c, out _);
        if (_failures.Count >= MaxTrackedClients && !_failures.ContainsKey(client))
            return; // memory stays bounded; so many addresses failing at once is a matter for the network's own defences
        _failures.AddOrUpdate(client, (1, now), (_, f) => now - f.Since >= TimeSpan.FromMinutes(1) ? (1, now) : (f.Count + 1, f.Since));
    }

    private string? RoleOfSecret(string? secret) => floor.IsAdminSecret(secret) ? "admin" : floor.IsViewerSecret(secret) ? "viewer" : null;

    private OpenAiException Unauthorized() => new(401, string.IsNullOrEmpty(floor.Options.AdminKey) && string.IsNullOrEmpty(floor.Options.ViewerKey)
            ? "The command center needs the admin key or the viewer key, and neither is set: set TOKENFACTORY_ADMIN_KEY or TOKENFACTORY_VIEWER_KEY (or start with --no-auth)."
            : "The command center needs the admin key or the viewer key, as a Bearer Authorization header or by signing in at /dashboard.",
        OpenAiErrorTypes.InvalidRequest, code: "invalid_viewer_key");
}
