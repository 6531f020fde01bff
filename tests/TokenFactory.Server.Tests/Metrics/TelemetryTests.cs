using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Metrics;

/// <summary>Request spans on the platform's ActivitySource, and OTLP export switched on by configuration alone.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task A_request_is_traced_through_admission_each_choices_queue_prefill_and_decode_and_settlement()
    {
        await using var server = await ServerInstance.StartAsync();
        var ourSource = server.Activities.Source; // resolved before listening: ShouldListenTo runs under the listeners' lock
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => ReferenceEquals(source, ourSource) || source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);

        using var response = await server.PostJsonAsync("/v1/chat/completions",
            new { messages = new[] { new { role = "user", content = "Once upon a time" } }, max_tokens = 3, n = 2, temperature = 0 });
        Assert.True(response.IsSuccessStatusCode);

        var ours = spans.Where(s => ReferenceEquals(s.Source, ourSource)).ToList();
        var admission = Assert.Single(ours, s => s.OperationName == "tokenfactory.admission");
        var trace = admission.TraceId;
        // The server's request span stops after the last byte went out, which may be a moment after the client has it.
        for (int i = 0; i < 250 && !spans.Any(s => s.Source.Name == "Microsoft.AspNetCore" && s.TraceId == trace); i++)
            await Task.Delay(20);
        var request = Assert.Single(spans, s => s.Source.Name == "Microsoft.AspNetCore" && s.TraceId == trace);
        Assert.Equal(request.SpanId, admission.ParentSpanId);
        var generations = ours.Where(s => s.OperationName == "tokenfactory.generation" && s.TraceId == trace).ToList();
        Assert.Equal(2, generations.Count);
        foreach (var generation in generations)
        {
            Assert.Equal(request.SpanId, generation.ParentSpanId);
            Assert.Equal(3, generation.GetTagItem("gen_ai.usage.output_tokens"));
            var phases = ours.Where(s => s.ParentSpanId == generation.SpanId).OrderBy(s => s.StartTimeUtc).ToList();
            Assert.Equal(["tokenfactory.queue", "tokenfactory.prefill", "tokenfactory.decode"], phases.Select(p => p.OperationName));
            Assert.All(phases, p => Assert.InRange(p.StartTimeUtc, generation.StartTimeUtc, generation.StartTimeUtc + generation.Duration));
        }
        var settle = Assert.Single(ours, s => s.OperationName == "tokenfactory.settle" && s.TraceId == trace);
        Assert.Equal(200, settle.GetTagItem("http.response.status_code"));
    }

    [Fact]
    public async Task Setting_OTEL_EXPORTER_OTLP_ENDPOINT_sends_traces_and_metrics_to_a_collector()
    {
        await using var collector = await FakeCollector.StartAsync();
        await using var server = await ServerInstance.StartAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Address,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        });
        using var response = await server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 2 });
        Assert.True(response.IsSuccessStatusCode);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(collector.Received("/v1/traces", "tokenfactory.generation") && collector.Received("/v1/metrics", "tokenfactory_generation_tokens_total")))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the collector got {string.Join(", ", collector.Paths)}");
            await Task.Delay(50);
        }
    }

    /// <summary>An OTLP/HTTP endpoint that keeps what it is sent (protobuf, whose strings are plain UTF-8 bytes).</summary>
    private sealed class FakeCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> _received = new();

        private FakeCollector(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";
        public IEnumerable<string> Paths => _received.Select(r => r.Path).Distinct();

        public bool Received(string path, string text)
        {
            byte[] needle = Encoding.UTF8.GetBytes(text);
            return _received.Any(r => r.Path == path && r.Body.AsSpan().IndexOf(needle) >= 0);
        }

        public static async Task<FakeCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new FakeCollector(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                collector._received.Enqueue((context.Request.Path, body.ToArray()));
                return Results.Ok();
            });
            await app.StartAsync();
            collector.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            return collector;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
