using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Hosting;

public sealed class HealthTests
{
    /// <summary>Holds the "load" until the test releases it, like a large GGUF being read.</summary>
    private sealed class SlowFactory : IEngineFactory
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IInferenceEngine Create(ModelSource source)
        {
            Release.Task.Wait();
            return new ServerInstance.EngineFactory(new EngineOptions { ContextLength = 256, Threads = 1 }).Create(source);
        }
    }

    [Fact]
    public async Task Health_is_503_while_the_model_loads_then_200()
    {
        var factory = new SlowFactory();
        await using var server = await ServerInstance.StartAsync(engineFactory: factory, waitReady: false);

        using (var loading = await server.Client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, loading.StatusCode);
            Assert.Equal("loading", (string)JsonNode.Parse(await loading.Content.ReadAsStringAsync())!["status"]!);
        }
        using (var chat = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, chat.StatusCode);
            Assert.NotNull(chat.Headers.RetryAfter);
            await Api.ErrorTests.AssertErrorAsync(chat, HttpStatusCode.ServiceUnavailable, null, "model_loading");
        }
        // The model is known (and listed) before it has loaded.
        Assert.Contains("stories260K", await server.Client.GetStringAsync("/v1/models"));

        factory.Release.SetResult();
        await server.WaitForHealthAsync(200);
        using var ready = await server.Client.GetAsync("/health");
        Assert.Equal("ok", (string)JsonNode.Parse(await ready.Content.ReadAsStringAsync())!["status"]!);
    }

    [Fact]
    public async Task A_model_that_fails_to_load_stops_the_server()
    {
        string missing = Path.Combine(TestPaths.TempDir(), "missing.gguf");
        var app = TokenFactoryServer.Build([], new Dictionary<string, string?>
        {
            ["TokenFactory:Host"] = "127.0.0.1",
            ["TokenFactory:Port"] = "0",
            ["TokenFactory:Model"] = missing,
            ["Logging:LogLevel:Default"] = "None",
        });
        var host = (EngineHost)app.Services.GetService(typeof(EngineHost))!;
        var run = app.RunAsync(); // returns once the host stops (and disposes itself)
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.Same(run, finished);
        Assert.Equal(EngineState.Failed, host.State);
        Assert.Contains("missing.gguf", host.FailureMessage);
    }
}
