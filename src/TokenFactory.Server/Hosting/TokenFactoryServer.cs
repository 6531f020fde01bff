using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;

namespace TokenFactory.Server.Hosting;

/// <summary>Builds the server: Kestrel on the configured host and port, the API mapped, the model loading in the background.</summary>
public static class TokenFactoryServer
{
    /// <param name="args">Host arguments (ASP.NET Core's own command line, e.g. <c>--urls</c> is ignored: Host/Port decide).</param>
    /// <param name="overrides">Configuration that wins over appsettings.json and environment variables (the CLI's options).</param>
    /// <param name="configureServices">Last chance to replace services (tests inject an <see cref="IEngineFactory"/>).</param>
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null,
        Action<IServiceCollection>? configureServices = null, string? contentRoot = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });
        // Lowest-precedence defaults: ASP.NET Core's per-request lines would drown the server's own log.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                // A start-up failure (e.g. the ledger's database unreachable) reaches the caller as an exception,
                // which `tokenfactory serve` prints as one error line; the host's own stack-trace dump would repeat it.
                ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
            },
        });
        if (overrides is not null)
            builder.Configuration.AddInMemoryCollection(overrides);
        configureServices?.Invoke(builder.Services);
        builder.Services.AddTokenFactory(builder.Configuration);

        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        builder.WebHost.UseUrls($"http://{FormatHost(options.Host)}:{options.Port}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            // Twice the limits RequestLimitsMiddleware enforces, so that most oversized requests reach it and get a
            // JSON error; Kestrel's own refusal (past these) has an empty body.
            k.Limits.MaxRequestHeadersTotalSize = 2 * Api.RequestLimitsMiddleware.MaxHeaderBytes;
            k.Limits.MaxRequestLineSize = 2 * Api.RequestLimitsMiddleware.MaxRequestTargetBytes;
        });

        var app = builder.Build();
        app.UseTokenFactory();
        app.MapOpenAiEndpoints();
        return app;
    }

    private static string FormatHost(string host) =>
        System.Net.IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host;
}
