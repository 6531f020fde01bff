using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// An upstream that answers at once, for measuring the router alone: a fixed chat completion (with usage, as a replica
/// sends it) on Kestrel over loopback, its health and its one model. What a request costs through the router, less what
/// it costs sent here directly, is the router's overhead.
/// </summary>
internal sealed class StubUpstream : IAsyncDisposable
{
    private static readonly byte[] Answer = """
        {"id":"chatcmpl-stub","object":"chat.completion","created":1,"model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}
        """u8.ToArray();

    private readonly WebApplication _app;

    private StubUpstream(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public static async Task<StubUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/health", () => Results.Text("""{"status":"ok"}""", "application/json"));
        app.MapGet("/v1/models", () => Results.Text("""{"object":"list","data":[{"id":"stub","object":"model"}]}""", "application/json"));
        app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            // Read the request as a server must, then answer.
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = Answer.Length;
            await context.Response.Body.WriteAsync(Answer);
        });
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new StubUpstream(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
