using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Models;
using TokenFactory.Server;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory serve</c>: the OpenAI-compatible HTTP server. Each option maps onto a <c>TokenFactory:*</c>
/// configuration key, so appsettings.json and <c>TokenFactory__Key</c> environment variables configure the same
/// things; an option given here wins over both.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model to serve (default: TokenFactory:Model from appsettings.json or the environment, else the built-in model)" };
        var host = new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)" };
        var port = new Option<int?>("--port") { Description = "Port to listen on (default 8080)" }.Port();
        var threads = new Option<int?>("--threads", "-t") { Description = "Compute threads (default: all cores)" };
        var ctx = new Option<int?>("--ctx", "-c") { Description = "Context length per sequence (default: the model's, capped at 4096)" };
        var name = new Option<string?>("--model-name") { Description = "Model id clients send (default: the file name without .gguf)" };
        var maxWaiting = new Option<int?>("--max-waiting") { Description = "Requests allowed to queue before 503 (default 64)" };
        var kvMemory = new Option<string?>("--kv-cache-memory") { Description = "Paged KV cache budget, e.g. 512MiB or 2GB (default: every running sequence's full context, capped at 1 GiB)" };
        var stateMemory = new Option<string?>("--state-cache-memory") { Description = "Hybrid (Mamba) models: memory for recurrent-state snapshots that let prompts resume after a cached prefix, e.g. 1GiB; 0 turns their prefix caching off (default 512MiB)" };
        var batchTokens = new Option<int?>("--max-batch-tokens") { Description = "Tokens per batching step: decodes plus prompt chunks (default 256)" };
        var maxRunning = new Option<int?>("--max-running") { Description = "Sequences run at once (default 32)" };
        var noAuth = new Option<bool>("--no-auth") { Description = "Accept requests without API keys (local use only; logged as a warning)" };
        var database = new Option<string?>("--database") { Description = "SQLite file for keys, budgets and the usage ledger (default ~/.local/share/tokenfactory/floor.db)" };
        var origins = new Option<string[]>("--allowed-origin") { Description = "A web page origin allowed to call the API from a browser, e.g. https://app.example.com (repeatable; default none)", AllowMultipleArgumentsPerToken = false };
        var chatTemplate = new Option<string?>("--chat-template-file") { Description = "A Jinja chat template file to use instead of the model's own" };
        var pooling = new Option<string?>("--pooling") { Description = "Embedding pooling: mean, cls or last (default: the model's pooling_type; a generative model without one serves no embeddings)" };
        var matryoshka = new Option<bool>("--matryoshka") { Description = "The model is a Matryoshka embedder: /v1/embeddings honours 'dimensions' by truncating and renormalizing" };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string instead of SQLite (replicas share budgets); or TOKENFACTORY_POSTGRES" };
        var cmd = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API. API keys are required unless --no-auth; the admin key comes from "
            + "TOKENFACTORY_ADMIN_KEY. With TOKENFACTORY_INTERNAL_TOKEN set it is a fleet replica: only requests carrying that token (from the router) are served.")
        {
            model, host, port, threads, ctx, name, maxWaiting, kvMemory, stateMemory, batchTokens, maxRunning, noAuth, database, postgres, origins, chatTemplate, pooling, matryoshka,
        };
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            var overrides = new Dictionary<string, string?>();
            void Set(string key, object? value)
            {
                if (value is not null)
                    overrides[$"{ServerOptions.Section}:{key}"] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            }
            Set(nameof(ServerOptions.Model), r.GetValue(model));
            Set(nameof(ServerOptions.Host), r.GetValue(host));
            Set(nameof(ServerOptions.Port), r.GetValue(port));
            Set(nameof(ServerOptions.Threads), r.GetValue(threads));
            Set(nameof(ServerOptions.ContextLength), r.GetValue(ctx));
            Set(nameof(ServerOptions.ModelName), r.GetValue(name));
            Set(nameof(ServerOptions.MaxWaitingRequests), r.GetValue(maxWaiting));
            Set(nameof(ServerOptions.KvCacheMemory), r.GetValue(kvMemory));
            Set(nameof(ServerOptions.StateCacheMemory), r.GetValue(stateMemory));
            Set(nameof(ServerOptions.MaxBatchTokens), r.GetValue(batchTokens));
            Set(nameof(ServerOptions.MaxRunningSequences), r.GetValue(maxRunning));
            if (r.GetValue(chatTemplate) is string templateFile && !File.Exists(templateFile))
                throw new TokenFactoryException($"chat template file not found: {templateFile}");
            Set(nameof(ServerOptions.ChatTemplateFile), r.GetValue(chatTemplate));
            if (r.GetValue(matryoshka))
                Set(nameof(ServerOptions.Matryoshka), true);
            if (r.GetValue(pooling) is string poolingName)
                Set(nameof(ServerOptions.Pooling), PoolingTypes.Parse(poolingName).Name());
            // Secrets come from the environment, never from the command line (where `ps` shows them).
            Set("Floor:AdminKey", EnvironmentVariables.Get(EnvironmentVariables.AdminKey));
            Set("Floor:ViewerKey", EnvironmentVariables.Get(EnvironmentVariables.ViewerKey));
            Set("Floor:Postgres", r.GetValue(postgres) ?? EnvironmentVariables.Get(EnvironmentVariables.Postgres));
            Set("Fleet:InternalToken", EnvironmentVariables.Get(EnvironmentVariables.InternalToken));
            Set("Floor:Database", r.GetValue(database));
            var allowed = r.GetValue(origins) ?? [];
            for (int i = 0; i < allowed.Length; i++)
                Set($"Cors:AllowedOrigins:{i}", allowed[i]);
            if (r.GetValue(noAuth))
                Set("Floor:Auth", "none");
            if (r.GetValue(model) is string path && !File.Exists(path))
                throw new TokenFactoryException($"model file not found: {path}");
            if (r.GetValue(model) is null && !ModelConfigured())
            {
                // The server is always given a model; without one configured anywhere, the command line picks the default.
                var builtIn = BuiltInModel.Resolve();
                Console.Error.WriteLine($"No model configured: serving the built-in default, {builtIn.Description}.");
                Console.Error.WriteLine("Serve a real GGUF with: tokenfactory serve --model path/to/model.gguf");
                Set(nameof(ServerOptions.Model), builtIn.Path);
            }
            // The deprecated TOKENFACTORY_* kernel variables, as TokenFactory:Kernels:* for the server's configuration.
            foreach (var (key, value) in KernelSettings.FromDeprecatedVariables(Environment.GetEnvironmentVariable))
                overrides[key] = value;

            // Ctrl-C and SIGTERM stop the host: Kestrel stops accepting, in-flight requests get ShutdownTimeoutSeconds.
            var app = TokenFactoryServer.Build([], overrides);
            var engineHost = app.Services.GetRequiredService<EngineHost>();
            app.Run();
            return engineHost.State == EngineState.Failed ? 1 : 0;
        }));
        return cmd;
    }

    /// <summary>
    /// Whether the server's own configuration names a model: <c>TokenFactory:Model</c> in the environment or in
    /// appsettings.json (and appsettings.{Environment}.json) of the working directory, the server's content root.
    /// </summary>
    private static bool ModelConfigured()
    {
        string environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var configuration = new ConfigurationBuilder()
            .SetBasePath(Directory.GetCurrentDirectory())
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        return !string.IsNullOrWhiteSpace(configuration[$"{ServerOptions.Section}:{nameof(ServerOptions.Model)}"]);
    }
}
