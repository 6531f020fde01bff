using TokenFactory.Gguf;
using TokenFactory.Models.Synthetic;
using TokenFactory.Planning;

namespace TokenFactory.Planning.Tests;

/// <summary>Model shapes from the catalog and from files, and the roofline step cost at its two limits.</summary>
public sealed class ModelAndCostTests
{
    private static HardwareProfile H100 => Catalogs.FindHardware("h100-sxm");

    [Theory]
    [InlineData("llama-3.1-8b", 8.03, 7.50)]
    [InlineData("qwen3-30b-a3b", 30.5, 3.0)]
    [InlineData("qwen3-235b-a22b", 235.1, 21.6)]
    [InlineData("gpt-oss-120b", 116.8, 5.1)]
    [InlineData("deepseek-r1", 671, 36.9)]
    [InlineData("nemotron-3-nano-30b-a3b", 31.6, 3.2)]
    public void Catalog_models_have_their_published_total_and_active_parameters(string name, double totalB, double activeB)
    {
        var m = Catalogs.FindModel(name);
        Assert.Equal(totalB, m.TotalParameters / 1e9, 0.1);
        Assert.Equal(activeB, m.ActiveParameters / 1e9, 0.15);
        // Dense weights plus every routed expert is the whole model but the input embeddings (under 10 % of it).
        Assert.InRange(m.DenseParameters + m.MoeLayers * m.RoutedExperts * m.ExpertParameters, 0.9 * m.TotalParameters, m.TotalParameters);
    }

    [Fact]
    public void A_step_reads_the_experts_its_tokens_touch()
    {
        var m = Catalogs.FindModel("qwen3-30b-a3b");
        Assert.Equal(m.ActiveParameters, m.ParametersReadPerStep(1), 1e3);
        double all = m.DenseParameters + m.MoeLayers * m.RoutedExperts * m.ExpertParameters;
        Assert.True(m.ParametersReadPerStep(8) < m.ParametersReadPerStep(64));
        Assert.Equal(all, m.ParametersReadPerStep(4096), all * 1e-6);
    }

    [Fact]
    public void A_gguf_files_shape_is_read_from_its_tensors()
    {
        string path = Path.Combine(TestPaths.TempDir(), "moe.gguf");
        using (var vocab = GgufFile.Open(TestPaths.Stories260K))
            SyntheticModelWriter.Write("nemotron_h_moe", ModelShape.Find("nemotron-h-moe-tiny"), GgmlType.F32, vocab.Metadata, path);
        var m = ModelProfile.FromGguf(path);
        var shape = ModelShape.Find("nemotron-h-moe-tiny");
        Assert.Equal(shape.Hybrid!.Experts, m.RoutedExperts);
        Assert.Equal(shape.Hybrid.ExpertsUsed, m.ExpertsPerToken);
        Assert.Equal(2, m.MoeLayers); // "MEM*EM": two expert blocks
        Assert.Equal(2 * 256 * 128, m.ExpertParameters); // up and down, 256 wide, 128 each
        Assert.Equal(1, m.AttentionLayers);
        Assert.True(m.RecurrentStateBytes > 0);
        long total = 0;
        using (var file = GgufFile.Open(path))
            total = file.Tensors.Sum(t => t.ElementCount);
        Assert.Equal(total, m.TotalParameters);
        // Its head is the vocabulary × the width (tied or its own), part of the dense weights.
        int vocabulary;
        using (var file = GgufFile.Open(path))
            vocabulary = file.Metadata.GetArray<string>("tokenizer.ggml.tokens").Length;
        Assert.Equal((double)vocabulary * shape.EmbeddingLength, m.OutputHeadParameters);
        Assert.True(m.OutputHeadParameters < m.DenseParameters);
    }

    [Fact]
    public void A_prompt_step_multiplies_the_output_head_once_per_sequence_not_per_token()
    {
        // Two shapes alike but for their head; on compute-bound hardware a 256-token prompt chunk of one sequence costs the
        // head's FLOPs once, and a step of 16 decoding sequences 16 times.
        var body = Catalogs.FindModel("llama-3.1-8b");
        double head = 128256.0 * 4096;
        var withHead = body with { OutputHeadParameters = head };
        var fast = H100 with { MemoryBandwidthTbps = 1e6 };
        double rate = fast.EffectiveFlops(Precision.BF16);
        double Seconds(ModelProfile m, int decode, int prefill, int sequences) =>
            new StepCostModel(new Deployment(m, fast, Precision.BF16)).Seconds(decode, 0, prefill, sequences, 0);
        double prompt = Seconds(body, 0, 256, 1) - Seconds(withHead, 0, 256, 1);
        Assert.Equal(2 * head * 255 / rate, prompt, 2 * head / rate * 0.01);
        double decoding = Seconds(body, 16, 0, 0) - Seconds(withHead, 16, 0, 0);
        Assert.Equal(0, decoding, 1e-12);
    }

    [Fact]
    public void Probed_product_rates_price_each_product_at_the_rows_it_multiplies()
    {
        // A CPU whose products run at half speed at 8 rows and full speed from 64: a 16-sequence decode's body products pay the
        // 16-row rate, and a mixture's experts the rate of the few tokens each receives in a 64-token prompt step.
        var cpu = new HardwareProfile
        {
            Id = CpuProfile.Id, Name = "cpu", MemoryGb = 64, MemoryBandwidthTbps = 1e3, PeakTflops = HardwareProfile.OneRate(1), ComputeEfficiency = 1,
            MemoryEfficiency = 1, StepOverheadMs = 0, MoeEfficiency = 1,
        };
        var curve = new ProductRates([new(8, 0.5), new(64, 1)]);
        var dense = Catalogs.FindModel("llama-3.1-8b");
        double Seconds(ModelProfile m, HardwareProfile h, int decode, int prefill) =>
            new StepCostModel(new Deployment(m, h, Precision.Q8_0)).Seconds(decode, 0, prefill, prefill > 0 ? 1 : 0, 0);
        double flat = Seconds(dense, cpu, 16, 0);
        double probed = Seconds(dense, cpu with { ProductRates = curve }, 16, 0);
        Assert.Equal(1 / curve.Tflops(16), probed / flat, 1e-3); // all products at 16 rows (attention is tiny at no context)
        Assert.Equal(Seconds(dense, cpu, 0, 256), Seconds(dense, cpu with { ProductRates = curve }, 0, 256), 1e-9); // past 64 rows: the peak

        var moe = Catalogs.FindModel("qwen3-30b-a3b"); // 128 experts, 8 a token: a 64-token step gives each of the ~126 it uses about 4
        double expertsFlat = Seconds(moe, cpu, 0, 64), expertsProbed = Seconds(moe, cpu with { ProductRates = curve }, 0, 64);
        double expertSeconds = 2 * moe.MoeLayers * moe.ExpertsPerToken * moe.ExpertParameters * 64 / 1e12;
        double bodyExtra = 2 * moe.BodyParameters * 64 / 1e12 * (1 / curve.Tflops(64) - 1) + 2 * moe.OutputHeadParameters / 1e12 * (1 / curve.Tflops(1) - 1);
        Assert.Equal(expertSeconds * (1 / 0.5 - 1) + bodyExtra, expertsProbed - expertsFlat, expertSeconds * 1e-3);
    }

    [Fact]
    public void A_transformer_mixtures_every_block_is_an_expert_block()
    {
        string path = Path.Combine(TestPaths.TempDir(), "qwen35moe.gguf");
        using (var vocab = GgufFile.Open(TestPaths.Stories260K))
            SyntheticModelWriter.Write("qwen35moe", ModelShape.Find("qwen35moe-tiny"), GgmlType.F32, vocab.Metadata, path);
        var m = ModelProfile.FromGguf(path);
        Assert.Equal((8, 2, 8), (m.RoutedExperts, m.ExpertsPerToken, m.MoeLayers));
        Assert.Equal(3 * 256 * 128, m.ExpertParameters); // gate, up and down, 256 wide, 128 each
        Assert.Equal(2, m.AttentionLayers);
        Assert.Equal(6.0 * (3 * 256 + 4 * 32 * 32) * sizeof(float), m.RecurrentStateBytes); // six DeltaNet blocks' window and state
    }

    [Fact]
    public void One_decoding_token_is_bound_by_reading_the_weights_and_a_long_prompt_by_compute()
    {
        var m = Catalogs.FindModel("llama-3.1-8b");
        var cost = new StepCostModel(new Deployment(m, H100, Precision.BF16));
        double decode = cost.Seconds(1, 100, 0, 0, 0);
        double weightsRead = m.DenseParameters * 2 / (H100.BandwidthBytesPerSecond * H100.MemoryEfficiency);
        Assert.Equal(weightsRead + H100.StepOverheadMs / 1000, decode, 1e-4);

        double prefill = cost.Seconds(0, 0, 8192, 1, 4096);
        double flops = 2 * m.ActiveParameters * 8192 + 8192 * m.AttentionFlops(4096);
        Assert.Equal(flops / (989e12 * H100.ComputeEfficiency) + H100.StepOverheadMs / 1000, prefill, 1e-3);
        // Two devices share the reads: about half the time, plus two all-reduces per layer.
        double split = new StepCostModel(new Deployment(m, H100, Precision.BF16, 2)).Seconds(1, 100, 0, 0, 0);
        Assert.InRange(split, weightsRead / 2, weightsRead / 2 + 0.002);
    }

    [Fact]
    public void Weights_that_do_not_fit_leave_no_cache()
    {
        var m = Catalogs.FindModel("llama-3.1-405b");
        Assert.False(new Deployment(m, H100, Precision.BF16, 8).Fits); // 812 GB of weights, 640 GB of memory
        Assert.True(new Deployment(m, H100, Precision.FP8, 8).Fits);
        Assert.True(new Deployment(m, H100, Precision.FP8, 8).KvCapacityTokens > 100_000);
    }
}
