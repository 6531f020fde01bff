namespace TokenFactory.Cli.Tests;

public sealed class CommandTests
{
    [Fact]
    public void Inspect_prints_metadata_and_the_tensor_table()
    {
        var (code, stdout, _) = CliRunner.Run("inspect", CliRunner.Stories260K);
        Assert.Equal(0, code);
        Assert.Contains("GGUF version 3", stdout);
        Assert.Contains("general.architecture = \"llama\"", stdout);
        Assert.Contains("llama.embedding_length = 64", stdout);
        Assert.Matches(@"token_embd\.weight\s+F32\s+\[64, 512\]\s+32,768 elements\s+131,072 bytes", stdout);
        Assert.Contains("48 tensors", stdout);
        Assert.Contains("* supported: architecture 'llama' and every tensor type (F32)", stdout);
    }

    [Fact]
    public void Inspect_names_what_this_engine_cannot_run()
    {
        var (code, stdout, _) = CliRunner.Run("inspect", Path.Combine(CliRunner.Shared, "fixtures", "tokenizers", "ggml-vocab-bert-bge.gguf"));
        Assert.Equal(0, code);
        Assert.Contains("* no tensors or no general.architecture: not a model", stdout);

        // An architecture this engine does not run, with a tensor type it cannot compute.
        var path = Path.Combine(Path.GetTempPath(), $"inspect-{Guid.NewGuid():N}.gguf");
        var w = new TokenFactory.Gguf.GgufWriter();
        w.Metadata.Set("general.architecture", TokenFactory.Gguf.GgufValue.Of("rwkv6"));
        w.AddTensor("a.weight", [32], TokenFactory.Gguf.GgmlType.F32, new byte[128]);
        w.AddTensor("b.weight", [256], TokenFactory.Gguf.GgmlType.IQ2_XXS, new byte[66]);
        using (var s = File.Create(path))
            w.Write(s);
        try
        {
            (code, stdout, _) = CliRunner.Run("inspect", path);
            Assert.Equal(0, code);
            Assert.Contains("* not supported: architecture 'rwkv6' is not one this engine runs (llama, qwen2", stdout);
            Assert.Contains("tensor types it cannot compute: IQ2_XXS", stdout);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Tokenize_prints_ids_and_pieces_like_llama_tokenize()
    {
        var vocab = Path.Combine(CliRunner.Shared, "fixtures", "tokenizers", "ggml-vocab-llama-spm.gguf");
        var (code, stdout, _) = CliRunner.Run("tokenize", "--model", vocab, "Hello world");
        Assert.Equal(0, code);
        Assert.Equal("[1, 15043, 3186]", stdout.Trim());
        (code, stdout, _) = CliRunner.Run("tokenize", "--model", vocab, "--pieces", "--no-bos", "Hello world");
        Assert.Equal(0, code);
        Assert.Contains("15043 -> ' Hello'", stdout);
    }

    [Fact]
    public void Run_streams_the_greedy_story_and_reports_speeds()
    {
        var (code, stdout, stderr) = CliRunner.Run("run", "--model", CliRunner.Stories260K, "--prompt", "Once upon a time", "-n", "16", "--temp", "0", "--threads", "2");
        Assert.Equal(0, code);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", stdout);
        Assert.Matches(@"prompt: 5 tokens, [\d.]+ tokens/s \| generation: 16 tokens, [\d.]+ tokens/s", stderr);
    }

    [Fact]
    public void Kernel_settings_come_from_TokenFactory_Kernels_and_the_deprecated_variables_and_are_reported()
    {
        var (code, _, stderr) = CliRunner.RunWith(new Dictionary<string, string?>
        {
            ["TOKENFACTORY_PREFETCH"] = "2048",               // deprecated alias
            ["TOKENFACTORY_PREFETCH_Q4K"] = "16384",          // deprecated alias, overridden by the new name below
            ["TokenFactory__Kernels__WidePrefetchBytes"] = "4096",
            ["TOKENFACTORY_PREFETCH_NTA"] = "0",
        }, "run", "--model", CliRunner.Stories260K, "-n", "2", "--temp", "0", "--threads", "1");
        Assert.Equal(0, code);
        Assert.Contains("prefetchBytes 2048", stderr);
        Assert.Contains("widePrefetchBytes 4096", stderr);
        Assert.Contains("prefetch prefetcht0", stderr);

        (code, _, stderr) = CliRunner.RunWith(new Dictionary<string, string?> { ["TokenFactory__Kernels__PrefetchBytes"] = "lots" },
            "run", "--model", CliRunner.Stories260K, "-n", "2");
        Assert.Equal(1, code);
        Assert.StartsWith("error: invalid TokenFactory:Kernels setting", stderr);
    }

    [Fact]
    public void Run_without_a_model_uses_the_built_in_default_and_says_so()
    {
        var (code, stdout, stderr) = CliRunner.Run("run", "-n", "8", "--temp", "0");
        Assert.Equal(0, code);
        Assert.Contains("built-in default", stderr);
        Assert.Contains("--model", stderr);
        Assert.StartsWith("Once upon a time, there was", stdout);
    }

    [Fact]
    public void Truncated_model_fails_with_one_clear_line_naming_the_file()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var bytes = File.ReadAllBytes(CliRunner.Stories260K);
        var path = Path.Combine(dir, "cut.gguf");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = CliRunner.Run("run", "--model", path, "-n", "4");
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("cut.gguf", stderr);
        Assert.Contains("truncated", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Synth_writes_a_model_that_inspect_and_run_accept()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-cli-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "tiny.gguf");
        var (code, stdout, _) = CliRunner.Run("synth", "--arch", "qwen3", "--shape", "tiny", "--type", "Q6_K", "--vocab", CliRunner.Stories260K, "--out", path, "--seed", "3");
        Assert.Equal(0, code);
        Assert.Contains("wrote", stdout);
        (code, stdout, _) = CliRunner.Run("inspect", path);
        Assert.Equal(0, code);
        Assert.Contains("general.architecture = \"qwen3\"", stdout);
        Assert.Contains("blk.0.attn_q_norm.weight", stdout);
        Assert.Matches(@"blk\.0\.ffn_up\.weight\s+Q6_K", stdout);
        (code, _, _) = CliRunner.Run("run", "--model", path, "-n", "4", "--temp", "0");
        Assert.Equal(0, code);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Synth_writes_a_Q4_K_M_mixture_as_llama_cpp_mixes_it()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-cli-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "mixed.gguf");
        var (code, stdout, _) = CliRunner.Run("synth", "--arch", "llama", "--shape", "tiny", "--type", "q4_k_m", "--vocab", CliRunner.Stories260K, "--out", path);
        Assert.Equal(0, code);
        Assert.Contains("tiny Q4_K_M", stdout);
        (code, stdout, _) = CliRunner.Run("inspect", path);
        Assert.Equal(0, code);
        // Two layers: the last gets more bits (attention values and feed-forward down in Q6_K), the first does not.
        Assert.Matches(@"blk\.0\.ffn_down\.weight\s+Q4_K", stdout);
        Assert.Matches(@"blk\.0\.attn_v\.weight\s+Q4_K", stdout);
        Assert.Matches(@"blk\.1\.ffn_down\.weight\s+Q6_K", stdout);
        Assert.Matches(@"blk\.1\.attn_v\.weight\s+Q6_K", stdout);
        Assert.Matches(@"blk\.1\.ffn_up\.weight\s+Q4_K", stdout);
        (code, _, _) = CliRunner.Run("run", "--model", path, "-n", "4", "--temp", "0");
        Assert.Equal(0, code);
        var (refused, _, stderr) = CliRunner.Run("synth", "--arch", "gpt-oss", "--shape", "gpt-oss-tiny", "--type", "Q4_K_M", "--vocab", CliRunner.Stories260K, "--out", path);
        Assert.NotEqual(0, refused);
        Assert.Contains("gpt-oss ships as MXFP4", stderr);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Synth_writes_a_nemotron_h_moe_model_that_inspect_and_run_accept_and_refuses_a_mismatched_arch()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-cli-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "nemotron.gguf");
        var (code, stdout, _) = CliRunner.Run("synth", "--arch", "nemotron_h_moe", "--shape", "nemotron-h-moe-tiny", "--type", "Q8_0", "--vocab", CliRunner.Stories260K, "--out", path);
        Assert.Equal(0, code);
        (code, stdout, _) = CliRunner.Run("inspect", path);
        Assert.Equal(0, code);
        Assert.Contains("general.architecture = \"nemotron_h_moe\"", stdout);
        Assert.Matches(@"blk\.1\.ffn_up_exps\.weight\s+Q8_0\s+\[256, 128, 8\]", stdout);
        Assert.Matches(@"blk\.0\.ssm_conv1d\.weight\s+F32", stdout);
        (code, stdout, _) = CliRunner.Run("run", "--model", path, "-n", "4", "--temp", "0");
        Assert.Equal(0, code);
        string stderr;
        (code, _, stderr) = CliRunner.Run("synth", "--arch", "llama", "--shape", "nemotron-h-tiny", "--type", "F32", "--vocab", CliRunner.Stories260K, "--out", Path.Combine(dir, "x.gguf"));
        Assert.Equal(1, code);
        Assert.Contains("--arch nemotron_h", stderr);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Unknown_synth_type_is_a_clear_error()
    {
        var (code, _, stderr) = CliRunner.Run("synth", "--shape", "tiny", "--type", "Q3_K", "--vocab", CliRunner.Stories260K, "--out", "/tmp/never.gguf");
        Assert.Equal(1, code);
        Assert.Contains("Unknown --type 'Q3_K'", stderr);
    }

    [Theory]
    [InlineData("--port must be a port from 0 to 65535", "serve", "--port", "70000")]
    [InlineData("--port must be a port from 0 to 65535", "route", "--port", "-1")]
    [InlineData("--timeout must be at least 1", "bench", "serve", "--timeout", "0")]
    [InlineData("is a directory", "bench", "serve", "--json", "/tmp")]
    public void Values_refused_while_parsing_are_one_line_before_anything_starts(string message, params string[] args)
    {
        var (code, _, stderr) = CliRunner.Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}

