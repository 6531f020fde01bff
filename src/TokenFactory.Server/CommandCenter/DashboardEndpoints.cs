using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// The command center page: <c>/dashboard</c> (and <c>/</c>, redirected), its assets embedded in this assembly, and
/// the sign-in session. Without access the page is a 401 with the sign-in form.
/// </summary>
internal static class DashboardEndpoints
{
    public const string Path = "/dashboard";

    /// <summary>Only our own files: no inline script or style, no other origin (the page renders data from our API).</summary>
    private const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private static readonly Lazy<Dictionary<string, Asset>> Assets = new(LoadAssets);

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Redirect(Path));
        endpoints.MapGet(Path, Page);
        endpoints.MapGet(Path + "/assets/{**path}", (HttpContext context, string path) => Serve(context, path));
        endpoints.MapPost(Path + "/session", SignInAsync);
        endpoints.MapDelete(Path + "/session", (HttpContext context, DashboardAccess access) =>
        {
            access.SignOut(context);
            return Results.NoContent();
        });
    }

    private static IResult Page(HttpContext context, DashboardAccess access)
    {
        bool allowed = access.RoleOf(context) is not null;
        return Serve(context, allowed ? "index.html" : "signin.html", allowed ? 200 : 401);
    }

    private static async Task<IResult> SignInAsync(HttpContext context, DashboardAccess access)
    {
        DashboardSignIn? body;
        if (!context.Request.HasJsonContentType())
            throw new OpenAiException(415, "The body must be JSON (Content-Type: application/json): {\"key\": \"…\"}.", OpenAiErrorTypes.InvalidRequest, code: "unsupported_media_type");
        try
        {
            body = await context.Request.ReadFromJsonAsync(FactoryJson.Default.DashboardSignIn, context.RequestAborted);
        }
        catch (System.Text.Json.JsonException)
        {
            throw OpenAiException.Invalid("The body must be JSON: {\"key\": \"…\"}.", null, "invalid_json");
        }
        access.SignIn(context, body?.Key);
        return Results.NoContent();
    }

    private static IResult Serve(HttpContext context, string path, int status = 200)
    {
        if (!Assets.Value.TryGetValue(path, out var asset))
            throw new OpenAiException(404, $"The command center has no file '{path}'.", OpenAiErrorTypes.NotFound, code: "not_found");
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ETag = asset.ETag;
        // Pages are per-session (signed in or not): never cached; assets revalidate by ETag, so an upgrade shows at once.
        headers.CacheControl = path.EndsWith(".html", StringComparison.Ordinal) ? "no-store" : "no-cache";
        if (status == 200 && context.Request.Headers.IfNoneMatch == asset.ETag)
            return Results.StatusCode(StatusCodes.Status304NotModified);
        context.Response.StatusCode = status;
        return Results.Bytes(asset.Bytes, asset.ContentType);
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    /// <summary>Every embedded file under wwwroot, by its path (the project embeds them as <c>dashboard/&lt;path&gt;</c>).</summary>
    private static Dictionary<string, Asset> LoadAssets()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith("dashboard/", StringComparison.Ordinal))
                continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] bytes = copy.ToArray();
            string path = name["dashboard/".Length..];
            assets[path] = new Asset(bytes, ContentType(path), "\"" + Convert.ToHexString(SHA256.HashData(bytes))[..16] + "\"");
        }
        return assets;
    }

    private static string ContentType(string path) => System.IO.Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".json" => "application/json",
        _ => "text/plain; charset=utf-8",
    };
}
