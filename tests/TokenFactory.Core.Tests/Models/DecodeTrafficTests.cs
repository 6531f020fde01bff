using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>
/// The matrices a decode step reads (what <c>bench model</c>'s memory roofline and the bandwidth probes count) against
/// the file's own tensor table: every multiplied tensor in full, a stack of experts for the experts a token uses, one
/// row of each lookup table. A matrix a block multiplies but the list leaves out (a SwiGLU expert's gate, a DeltaNet
/// projection) makes the roofline claim speeds the memory does not allow.
/// </summary>
public sealed class DecodeTrafficTests
{
    [Theory]
    [InlineData("synth-llama-tiny-F32-seed1")]
    [InlineData("synth-nemotron_h-nemotron-h-tiny-F32-seed1")]
    [InlineData("synth-nemotron_h_moe-nemotron-h-moe-tiny-F32-seed1")]
    [InlineData("synth-gemma3-gemma3-tiny-F32-seed1")]
    [InlineData("synth-qwen3moe-qwen3moe-tiny-F32-seed1")]
    [InlineData("synth-gpt-oss-gpt-oss-tiny-F32-seed1")]
    [InlineData("synth-gemma4-gemma4-tiny-F32-seed1")]
    [InlineData("synth-gemma4-gemma4-moe-tiny-F32-seed1")]
    [InlineData("synth-qwen35-qwen35-tiny-F32-seed1")]
    [InlineData("synth-qwen35moe-qwen35moe-tiny-F32-seed1")]
    public void Matrices_per_token_are_the_files_multiplied_tensors_with_the_used_experts(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        var file = model.File;
        int used = model.Config.Moe?.UsedCount ?? 0, experts = model.Config.Moe?.ExpertCount ?? 0;
        long expected = 0;
        foreach (var t in file.Tensors)
        {
            long bytes = (long)t.RowBytes * t.RowCount;
            if (t.Name is "token_embd.weight" or "per_layer_token_embd.weight")
                expected += t.RowBytes * (t.Dimensions.Length == 2 ? 1 : 0) + (t.Name == "token_embd.weight" && file.FindTensor("output.weight") is null ? bytes : 0);
            else if (t.Dimensions.Length < 2 || !t.Name.EndsWith(".weight", StringComparison.Ordinal) || t.Name.Contains("ssm_conv1d", StringComparison.Ordinal) || t.Name.Contains("ssm_norm", StringComparison.Ordinal))
                continue; // vectors, biases, scales, convolution taps and norms: copied out as floats, not streamed
            else if (t.Name.Contains("_exps.", StringComparison.Ordinal))
                expected += bytes / experts * used;
            else
                expected += bytes;
        }
        long counted = model.Weights.MatricesPerToken(used).Sum(w => (long)w.RowBytes * w.Rows) + model.Weights.LookupBytesPerToken;
        Assert.True(expected > 0);
        Assert.Equal(expected, counted);
    }
}
