using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TokenFactory.Platform;
using TokenFactory.Server.Hosting;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Hosting;

public sealed class ConfigurationTests
{
    [Fact]
    public async Task Command_line_beats_environment_beats_appsettings()
    {
        string root = TestPaths.TempDir();
        await File.WriteAllTextAsync(Path.Combine(root, "appsettings.json"),
            """{ "TokenFactory": { "ModelName": "from-appsettings", "DefaultMaxTokens": 7, "MaxWaitingRequests": 3, "ShutdownTimeoutSeconds": 4, "Kernels": { "PrefetchBytes": 2048, "Isa": "avx2" } } }""");
        // Keys no other test leaves to the environment, so setting them process-wide cannot disturb other tests.
        Environment.SetEnvironmentVariable("TokenFactory__DefaultMaxTokens", "9");
        Environment.SetEnvironmentVariable("TokenFactory__ModelName", "from-env");
        try
        {
            await using var app = TokenFactoryServer.Build([], new Dictionary<string, string?> { ["TokenFactory:ModelName"] = "from-cli" }, contentRoot: root);
            var options = app.Services.GetRequiredService<IOptions<ServerOptions>>().Value;
            Assert.Equal("from-cli", options.ModelName);
            Assert.Equal(9, options.DefaultMaxTokens);
            Assert.Equal(3, options.MaxWaitingRequests);
            Assert.Equal(TimeSpan.FromSeconds(4), app.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout);
            // Kernel settings bind from the same section; the rest keep their defaults.
            Assert.Equal(new KernelOptions { PrefetchBytes = 2048, Isa = KernelIsa.Avx2 }, options.Kernels);
        }
        finally
        {
            Environment.SetEnvironmentVariable("TokenFactory__DefaultMaxTokens", null);
            Environment.SetEnvironmentVariable("TokenFactory__ModelName", null);
        }
    }

    [Fact]
    public void The_server_needs_a_model_path_and_names_it_after_its_file()
    {
        // Finding a default model is the command line's job (tokenfactory serve); the server is given one.
        var e = Assert.Throws<TokenFactoryException>(() => ModelLoader.Resolve(new ServerOptions()));
        Assert.Contains("TokenFactory:Model", e.Message);
        var source = ModelLoader.Resolve(new ServerOptions { Model = TestPaths.Stories260K });
        Assert.Equal(Path.GetFullPath(TestPaths.Stories260K), source.Path);
        Assert.Equal("stories260K", source.Name);
    }

    [Fact]
    public void ChatTemplate_errors_at_load_name_the_file()
    {
        // A parse error used to abort the load with only "unexpected ... (line 1, column 7)", naming neither template nor file.
        Assert.Equal("/etc/t.jinja (--chat-template-file): bad", ModelLoader.Describe(new TokenFactory.Chat.TemplateException("bad"), "/etc/t.jinja"));
        Assert.Equal("bad", ModelLoader.Describe(new TokenFactory.Chat.TemplateException("bad"), null));
        Assert.Equal("other", ModelLoader.Describe(new InvalidOperationException("other"), "/etc/t.jinja"));
    }
}
