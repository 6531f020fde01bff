using System.Text.Json;
using System.Text.Json.Nodes;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// <c>plan --dataset FILE</c>: the request lengths of a <c>bench serve</c> dataset (JSON lines <c>{"prompt": "...", "output_len": K}</c>,
/// <c>max_tokens</c> also accepted), so the planner sees the real mix of short and long requests rather than two means. A line's
/// prompt length is its <c>input_len</c> (or <c>prompt_tokens</c>) when it gives one, else its word count (one token per word,
/// as <c>bench serve</c>'s synthetic prompts are built; real text runs about 1.3 tokens per word on English BPE vocabularies).
/// </summary>
internal static class PlanDataset
{
    public static List<RequestLength> Read(string path, int defaultOutput)
    {
        if (!File.Exists(path))
            throw new TokenFactoryException($"--dataset {path}: no such file.");
        var lengths = new List<RequestLength>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            JsonNode? json;
            try
            {
                json = JsonNode.Parse(line);
            }
            catch (JsonException e)
            {
                throw new TokenFactoryException($"--dataset {path}, line {lineNumber}: not JSON ({e.Message}).");
            }
            if (json is not JsonObject entry)
                throw new TokenFactoryException($"--dataset {path}, line {lineNumber}: not a JSON object.");
            int input = Number(entry, "input_len", path, lineNumber) ?? Number(entry, "prompt_tokens", path, lineNumber)
                ?? (entry["prompt"] is JsonValue prompt && prompt.TryGetValue(out string? text)
                    ? text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length
                    : throw new TokenFactoryException($"--dataset {path}, line {lineNumber}: needs \"prompt\" (text) or \"input_len\" (tokens)."));
            int output = Number(entry, "output_len", path, lineNumber) ?? Number(entry, "max_tokens", path, lineNumber) ?? defaultOutput;
            lengths.Add(new RequestLength(Math.Max(1, input), Math.Max(1, output)));
        }
        if (lengths.Count == 0)
            throw new TokenFactoryException($"--dataset {path}: no requests.");
        return lengths;
    }

    private static int? Number(JsonObject entry, string name, string path, int line)
    {
        if (entry[name] is not { } node)
            return null;
        if (node is JsonValue value && value.TryGetValue(out int n) && n > 0)
            return n;
        throw new TokenFactoryException($"--dataset {path}, line {line}: \"{name}\" must be a positive whole number, not {node.ToJsonString()}.");
    }
}
