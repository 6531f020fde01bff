using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Bench;

/// <summary>
/// Builds the requests of a run. Synthetic prompts are streams of common short English words drawn
/// with a fixed seed; on llama/SentencePiece and GPT-2-style vocabularies each " word" is one token,
/// so L words approximate L prompt tokens (servers report the exact count in usage, which is what the
/// summary uses). An optional shared prefix of P words starts every prompt, to exercise prefix caching.
/// A dataset is JSON lines: {"prompt": "...", "output_len": K} ("max_tokens" also accepted).
/// </summary>
public static class BenchWorkload
{
    private static readonly string[] Words =
    [
        "the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "park", "with", "her", "friend", "in", "sun",
        "one", "day", "little", "girl", "saw", "big", "red", "ball", "he", "was", "very", "happy", "they", "play", "all", "time",
        "tree", "bird", "sky", "blue", "boy", "man", "house", "car", "book", "water", "fish", "food", "good", "new",
    ];

    public static string WordText(Random random, int count)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
                sb.Append(' ');
            sb.Append(Words[random.Next(Words.Length)]);
        }
        return sb.ToString();
    }

    public static List<BenchRequest> Synthetic(int count, int inputLength, int outputLength, int sharedPrefix, int seed)
    {
        var random = new Random(seed);
        string prefix = sharedPrefix > 0 ? WordText(random, sharedPrefix) + " " : "";
        var list = new List<BenchRequest>(count);
        for (int i = 0; i < count; i++)
            list.Add(new BenchRequest(prefix + WordText(random, inputLength), outputLength, PromptTokensEstimate: sharedPrefix + inputLength));
        return list;
    }

    public static List<BenchRequest> FromDataset(string path, int count, int defaultOutput)
    {
        var list = new List<BenchRequest>();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            var json = JsonNode.Parse(line) ?? throw new TokenFactoryException($"{path}: empty JSON line.");
            string prompt = json["prompt"]?.GetValue<string>() ?? throw new TokenFactoryException($"{path}: a line has no \"prompt\".");
            int output = json["output_len"]?.GetValue<int>() ?? json["max_tokens"]?.GetValue<int>() ?? defaultOutput;
            list.Add(new BenchRequest(prompt, output, PromptTokensEstimate: prompt.Split(' ').Length));
        }
        if (list.Count == 0)
            throw new TokenFactoryException($"{path}: no requests.");
        // Cycle through the file when more requests are asked for than it holds.
        return count <= 0 ? list : Enumerable.Range(0, count).Select(i => list[i % list.Count]).ToList();
    }
}
