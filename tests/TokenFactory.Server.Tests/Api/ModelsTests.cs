using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class ModelsTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    [Fact]
    public async Task Lists_the_served_model()
    {
        var list = JsonNode.Parse(await Server.Client.GetStringAsync("/v1/models"))!;
        Assert.Equal("list", (string)list["object"]!);
        var model = list["data"]!.AsArray().Single()!;
        Assert.Equal(ServerInstance.ModelName, (string)model["id"]!);
        Assert.Equal("model", (string)model["object"]!);
        Assert.Equal("tokenfactory", (string)model["owned_by"]!);
        Assert.True((long)model["created"]! > 0);
        Assert.Equal(Server.Engine.ContextLength, (int)model["meta"]!["context_length"]!);
    }

    [Theory]
    [InlineData("stories260K")]
    [InlineData("stories260K.gguf")]
    public async Task Gets_the_model_by_name_or_file_name(string id)
    {
        var model = JsonNode.Parse(await Server.Client.GetStringAsync($"/v1/models/{id}"))!;
        Assert.Equal(ServerInstance.ModelName, (string)model["id"]!);
    }

    [Fact]
    public async Task Unknown_model_id_is_404()
    {
        using var r = await Server.Client.GetAsync("/v1/models/gpt-4o");
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.NotFound, "model", "model_not_found");
    }
}
