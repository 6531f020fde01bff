namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>One stories260K server shared by the tests that only read from it (its metrics are not asserted on exactly).</summary>
public sealed class StoriesServerFixture : IAsyncLifetime
{
    private ServerInstance? _server;

    public ServerInstance Server => _server ?? throw new InvalidOperationException("not started");

    /// <summary>A small body limit so the 413 tests need not upload megabytes.</summary>
    public const int MaxRequestBodyBytes = 16 * 1024;

    public async Task InitializeAsync() =>
        _server = await ServerInstance.StartAsync(new() { ["TokenFactory:MaxRequestBodyBytes"] = MaxRequestBodyBytes.ToString() });

    public async Task DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class StoriesServerCollection : ICollectionFixture<StoriesServerFixture>
{
    public const string Name = "stories260K server";
}
