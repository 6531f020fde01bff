using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
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
            """{ "TokenFactory": { "ModelName": "from-appsettings", "DefaultMaxTokens": 7, "MaxWaitingRequests": 3, "ShutdownTimeoutSeconds": 4 } }""");
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
        }
        finally
        {
            Environment.SetEnvironmentVariable("TokenFactory__DefaultMaxTokens", null);
            Environment.SetEnvironmentVariable("TokenFactory__ModelName", null);
        }
    }

    [Fact]
    public void No_model_resolves_to_the_built_in_default_named_after_its_file()
    {
        var source = ModelLoader.Resolve(new ServerOptions());
        Assert.True(source.IsBuiltIn);
        Assert.True(File.Exists(source.Path));
        Assert.Equal(Path.GetFileNameWithoutExtension(source.Path), source.Name);
    }
}
