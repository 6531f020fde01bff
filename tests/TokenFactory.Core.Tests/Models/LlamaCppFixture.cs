using System.Text.Json;

namespace TokenFactory.Tests.Models;

/// <summary>A reference recording made by tools/llama-ref/record.mjs from llama.cpp on one model file.</summary>
public sealed record LlamaCppFixture(string FileName, string ModelFile, string ModelSha256, IReadOnlyList<LlamaCppCase> Cases)
{
    public static IEnumerable<string> All() =>
        Directory.EnumerateFiles(TestPaths.Fixture("llama-cpp"), "*.json").Select(Path.GetFileName).Order()!;

    public static LlamaCppFixture Load(string fileName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("llama-cpp", fileName)));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var cases = root.GetProperty("prompts").EnumerateArray().Select(p => new LlamaCppCase(
            p.GetProperty("prompt").GetString()!,
            p.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            p.GetProperty("greedy").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            p.GetProperty("topLogits").EnumerateArray().Select(l => new LlamaCppLogits(
                l.GetProperty("position").GetInt32(),
                l.GetProperty("top").EnumerateArray().Select(t => (t.GetProperty("token").GetInt32(), t.GetProperty("logit").GetSingle())).ToArray())).ToArray()))
            .ToList();
        return new LlamaCppFixture(fileName, model.GetProperty("file").GetString()!, model.GetProperty("sha256").GetString()!, cases);
    }
}

public sealed record LlamaCppCase(string Prompt, int[] Tokens, int[] Greedy, LlamaCppLogits[] TopLogits);

public sealed record LlamaCppLogits(int Position, (int Token, float Logit)[] Top);
