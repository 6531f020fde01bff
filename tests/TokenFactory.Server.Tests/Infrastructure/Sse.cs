using System.Text.Json.Nodes;

namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>Reads a server-sent-events body strictly: every event is one <c>data: </c> line followed by a blank line.</summary>
public static class Sse
{
    public sealed record Stream(List<JsonObject> Chunks, bool Done);

    public static async Task<Stream> ReadAllAsync(HttpResponseMessage response)
    {
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        return Parse(text);
    }

    public static Stream Parse(string text)
    {
        var chunks = new List<JsonObject>();
        bool done = false;
        var events = text.Split("\n\n");
        Assert.Equal("", events[^1]); // the body ends with a complete event
        foreach (var e in events[..^1])
        {
            if (e.StartsWith(':'))
                continue; // a comment (keep-alive): SSE readers skip it
            Assert.StartsWith("data: ", e);
            Assert.DoesNotContain('\n', e);
            Assert.False(done, "an event after data: [DONE]");
            string data = e["data: ".Length..];
            if (data == "[DONE]")
                done = true;
            else
                chunks.Add(JsonNode.Parse(data)!.AsObject());
        }
        return new Stream(chunks, done);
    }
}
