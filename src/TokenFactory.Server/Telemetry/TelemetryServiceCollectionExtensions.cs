using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TokenFactory.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Telemetry;

internal static class TelemetryServiceCollectionExtensions
{
    /// <summary>
    /// Metrics and traces through OpenTelemetry: the Prometheus exporter behind GET /metrics always, and the
    /// OTLP exporter for both when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or a signal's own endpoint variable) is
    /// set, so exporting to a collector is configuration, not code (the other <c>OTEL_*</c> variables, such as
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> and <c>OTEL_SERVICE_NAME</c>, apply as OpenTelemetry defines them).
    /// </summary>
    public static IServiceCollection AddTokenFactoryTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var scope = new TelemetryScope();
        // The engine's gauges exist where an engine does (serve); a router has none of its own.
        services.AddSingleton(sp => new ServerMetrics(sp.GetService<EngineHost>(), sp.GetRequiredService<FloorService>(), scope,
            sp.GetRequiredService<CommandCenter.FactoryRecorder>()));
        services.AddSingleton(scope);
        services.AddSingleton(_ => new ServerActivities());
        bool otlpMetrics = Configured(configuration, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        bool otlpTraces = Configured(configuration, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "tokenfactory",
                serviceVersion: typeof(ServerMetrics).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics =>
            {
                // Meters are matched by name, so a second server in this process would be scraped too: keep only this one's.
                metrics.AddMeter(ServerMetrics.MeterName)
                    .AddView(instrument => ReferenceEquals(instrument.Meter.Scope, scope) ? null : MetricStreamConfiguration.Drop)
                    .AddPrometheusExporter(o =>
                    {
                        o.DisableTotalNameSuffixForCounters = true; // the instruments are named as Prometheus sees them
                        o.ScrapeResponseCacheDurationMilliseconds = 0;
                    });
                if (otlpMetrics)
                    metrics.AddOtlpExporter();
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource(ServerActivities.SourceName).AddAspNetCoreInstrumentation(o => o.Filter = context =>
                    !context.Request.Path.StartsWithSegments("/metrics") && !context.Request.Path.StartsWithSegments("/health"));
                if (otlpTraces)
                    tracing.AddOtlpExporter();
            });
        return services;
    }

    private static bool Configured(IConfiguration configuration, params string[] keys) => keys.Any(k => !string.IsNullOrWhiteSpace(configuration[k]));
}
