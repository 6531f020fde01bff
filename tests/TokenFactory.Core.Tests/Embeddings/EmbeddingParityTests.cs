using System.Text.Json;
using TokenFactory.Models;
using TokenFactory.Models.Bert;
using TokenFactory.Tests.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Embeddings;

/// <summary>
/// Our embeddings against llama.cpp's on the same synthetic files (recorded by tools/llama-ref/record-embeddings.mjs):
/// BERT encoders (mean and CLS pooling) and decoders that declare a pooling (last token, mean). The same token ids
/// from our tokenizer, and pooled vectors that agree element by element within a tolerance per weight type and point
/// the same way (cosine similarity).
/// </summary>
public sealed class EmbeddingParityTests
{
    public static TheoryData<string> Fixtures() => new(Directory.GetFiles(TestPaths.Fixture("llama-cpp-embeddings"), "*.json").Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Embeddings_match_llama_cpp(string fixture)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("llama-cpp-embeddings", fixture)));
        var root = json.RootElement;
        string path = SyntheticModels.Get(Path.GetFileNameWithoutExtension(root.GetProperty("model").GetString()!).Replace(".gguf", ""));
        Assert.True(SyntheticModels.Sha256(path) == root.GetProperty("model_sha256").GetString(),
            $"synth no longer writes the bytes {fixture} was recorded from; re-record it with tools/llama-ref/record-synth.sh");
        using var file = TokenFactory.Gguf.GgufFile.Open(path);
        var tokenizer = Tokenizer.FromMetadata(file.Metadata);
        using var owner = file.Architecture == "bert" ? (IDisposable)BertModel.Load(path) : TransformerModel.Load(path);
        using IEmbeddingModel encoder = owner is BertModel bert ? new BertEncoder(bert, threads: 2)
            : new DecoderEmbedder((TransformerModel)owner, PoolingTypes.FromMetadata(file.Metadata, file.Architecture!)!.Value, 512, threads: 2);
        // llama.cpp rounds GELU's input and output to half precision (a lookup table) and sums in another order; over 12
        // blocks that moves an element by ~0.005 (F16 bge-small), ~0.001 (F32), and with 8-bit activations a flipped rounding
        // moves one by ~0.03 (Q8_0). The cosine bar says the vectors still point the same way.
        float tolerance = fixture.Contains("-Q8_0-") ? 5e-2f : fixture.Contains("-F16-") ? 1e-2f : 5e-3f;

        var cases = root.GetProperty("cases").EnumerateArray().ToArray();
        var inputs = new List<ReadOnlyMemory<int>>();
        foreach (var c in cases)
        {
            int[] expectedTokens = [.. c.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32())];
            Assert.Equal(expectedTokens, tokenizer.Encode(c.GetProperty("input").GetString()!));
            inputs.Add(expectedTokens);
        }
        // All inputs in one pass: batching must not change any of them.
        var output = new float[inputs.Count * encoder.Dimensions];
        encoder.Encode(inputs, output);
        for (int i = 0; i < cases.Length; i++)
        {
            float[] expected = [.. cases[i].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())];
            var actual = output.AsSpan(i * encoder.Dimensions, encoder.Dimensions);
            Assert.Equal(expected.Length, actual.Length);
            float worst = 0;
            for (int d = 0; d < expected.Length; d++)
                worst = Math.Max(worst, Math.Abs(expected[d] - actual[d]));
            double cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(expected, actual);
            Assert.True(worst <= tolerance && cosine > 0.9999,
                $"{fixture} case {i} (\"{cases[i].GetProperty("input").GetString()}\"): max |diff| {worst:G4} (tolerance {tolerance}), cosine {cosine:F6}");
        }
    }
}
