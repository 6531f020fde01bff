namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// Prompts of a chosen length in tokens, made of seeded random words: distinct seeds give prefixes that share nothing,
/// so one benchmark round never finds another round's prefix in a cache.
/// </summary>
internal sealed class PromptText(double tokensPerWord)
{
    private static readonly string[] Words =
    [
        "river", "stone", "lantern", "garden", "harbor", "meadow", "copper", "willow", "thunder", "pepper", "castle", "orbit", "velvet", "canyon",
        "ember", "falcon", "glacier", "hollow", "island", "jasmine", "kettle", "ladder", "marble", "nectar", "oyster", "pillar", "quarry", "ribbon",
        "saddle", "timber", "umbrella", "valley", "wander", "yonder", "zephyr", "anchor", "bramble", "cinder", "dapple", "fable", "gossamer", "hazel",
    ];

    public double TokensPerWord { get; } = tokensPerWord;

    /// <summary>About <paramref name="tokens"/> tokens of words drawn with <paramref name="seed"/>.</summary>
    public string Make(int tokens, int seed)
    {
        var random = new Random(seed);
        int words = Math.Max(1, (int)Math.Round(tokens / TokensPerWord));
        return string.Join(' ', Enumerable.Range(0, words).Select(_ => Words[random.Next(Words.Length)])) + ".";
    }

    /// <summary>Measures tokens per word with the fleet's own tokenizer (the router relays /tokenize to a replica).</summary>
    public static async Task<PromptText> CalibrateAsync(HttpClient http, Uri router, string model, string? apiKey = null)
    {
        string sample = new PromptText(1).Make(400, seed: 1);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(router, "/tokenize"))
        {
            Content = new StringContent(new System.Text.Json.Nodes.JsonObject { ["model"] = model, ["content"] = sample }.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        if (apiKey is not null)
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new TokenFactoryException($"/tokenize through the router: {(int)response.StatusCode} {text}");
        int tokens = System.Text.Json.Nodes.JsonNode.Parse(text)!["tokens"]!.AsArray().Count;
        return new PromptText((double)tokens / 400);
    }
}
