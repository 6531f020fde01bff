using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

public sealed class ResponsesTeamTests
{
    [Fact]
    public async Task Another_team_cannot_continue_a_stored_conversation()
    {
        await using var floor = await FloorServer.StartAsync();
        var alice = await floor.NewKeyAsync();
        var mallory = await floor.NewKeyAsync(); // another team
        async Task<HttpResponseMessage> Respond(string key, object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = JsonContent.Create(body) };
            request.Headers.Authorization = new("Bearer", key);
            return await floor.Server.Client.SendAsync(request);
        }
        using var first = await Respond(alice.Secret!, new { model = ServerInstance.ModelName, input = "A secret story.", max_output_tokens = 4 });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        string id = (string)(await first.Content.ReadFromJsonAsync<JsonObject>())!["id"]!;

        using var stolen = await Respond(mallory.Secret!, new { model = ServerInstance.ModelName, input = "Go on.", previous_response_id = id, max_output_tokens = 4 });
        Assert.Equal(HttpStatusCode.BadRequest, stolen.StatusCode);
        Assert.Equal("previous_response_not_found", (string?)(await stolen.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
        using var own = await Respond(alice.Secret!, new { model = ServerInstance.ModelName, input = "Go on.", previous_response_id = id, max_output_tokens = 4 });
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }
}
