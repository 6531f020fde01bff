using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TokenFactory.Chat;
using TokenFactory.Compute;
using TokenFactory.Platform;

namespace TokenFactory.Server.Hosting;

/// <summary>
/// Loads the model in the background so Kestrel is already listening (and /health answers 503) while a
/// large file is read. A failed load is logged and stops the host: a server that can never answer is worse
/// than one that exits. The kernel options are applied (and logged) first, before any kernel can read them.
/// </summary>
internal sealed partial class ModelLoader(
    EngineHost host,
    IEngineFactory factory,
    IOptions<ServerOptions> options,
    IHostApplicationLifetime lifetime,
    IServer server,
    ILogger<ModelLoader> logger) : IHostedService
{
    private Task _load = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var source = Resolve(options.Value);
        KernelOptions.Apply(options.Value.Kernels);
        LogKernels(logger, KernelChoices.Summary());
        host.SetSource(source);
        lifetime.ApplicationStarted.Register(LogAddresses);
        _load = Task.Run(() => Load(source), CancellationToken.None);
        return Task.CompletedTask;
    }

    // Loading cannot be interrupted; the host disposes the engine when it arrives after shutdown began.
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    internal Task Loading => _load;

    private void Load(ModelSource source)
    {
        try
        {
            Log.Loading(logger, source.Path);
            var engine = factory.Create(source);
            string template = !string.IsNullOrWhiteSpace(options.Value.ChatTemplateFile) ? $"{options.Value.ChatTemplateFile} (--chat-template-file)"
                : engine.HasOwnChatTemplate ? "the model's own tokenizer.chat_template" : "ChatML (the model has no chat template)";
            Log.Ready(logger, source.Name, source.Path, engine.Model.Architecture, engine.ContextLength, template);
            host.SetReady(engine);
        }
        catch (Exception e)
        {
            string message = Describe(e, options.Value.ChatTemplateFile);
            Log.LoadFailed(logger, e, source.Path, message);
            host.SetFailed(message);
            lifetime.StopApplication();
        }
    }

    /// <summary>A template error at load names the --chat-template-file it came from, which only the server knows.</summary>
    internal static string Describe(Exception e, string? chatTemplateFile) =>
        e is TemplateException && !string.IsNullOrWhiteSpace(chatTemplateFile)
            ? $"{chatTemplateFile} (--chat-template-file): {e.Message}"
            : e.Message;

    private void LogAddresses()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null)
            return;
        foreach (var address in addresses)
            Log.Listening(logger, address, address.TrimEnd('/') + "/v1");
    }

    internal static ModelSource Resolve(ServerOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.Model))
            throw new TokenFactoryException($"No model configured: set {ServerOptions.Section}:{nameof(ServerOptions.Model)} (tokenfactory serve --model path/to/model.gguf).");
        string path = Path.GetFullPath(o.Model);
        return new ModelSource(path, Name(o, path), path);
    }

    [LoggerMessage(10, LogLevel.Information, "Kernels: {Kernels}")]
    private static partial void LogKernels(ILogger logger, string kernels);

    private static string Name(ServerOptions o, string path) =>
        string.IsNullOrWhiteSpace(o.ModelName) ? Path.GetFileNameWithoutExtension(path) : o.ModelName;
}
