using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Bench;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Bert;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench embeddings</c>: embedding throughput of a model, N inputs of L tokens, through the embedding
/// engine one input at a time and all at once (batched passes), alternating round by round with llama.cpp
/// (node-llama-cpp's embedding context, which takes one input at a time) on the same file, ids and threads.
/// </summary>
internal static class BenchEmbeddingsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF embedding model (BERT, or a decoder with a pooling_type)", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: all cores)" };
        var inputs = new Option<int>("--inputs", "-n") { Description = "Inputs per round", DefaultValueFactory = _ => 32 };
        var length = new Option<int>("--length", "-l") { Description = "Tokens per input", DefaultValueFactory = _ => 128 };
        var rounds = new Option<int>("--rounds", "-r") { Description = "Rounds (each runs every variant once, alternating)", DefaultValueFactory = _ => 3 };
        var peer = new Option<string?>("--peer") { Description = "llama.cpp: also run node-llama-cpp's embeddings on the same file" };
        var cmd = new Command("embeddings", "Embedding throughput: one input at a time and batched, optionally against llama.cpp") { model, threads, inputs, length, rounds, peer };
        cmd.SetAction(r => CommandErrors.Run(() => Run(r.GetValue(model)!, r.GetValue(threads) is > 0 and var t ? t : Environment.ProcessorCount,
            Math.Max(1, r.GetValue(inputs)), Math.Max(3, r.GetValue(length)), Math.Max(1, r.GetValue(rounds)), r.GetValue(peer))));
        return cmd;
    }

    private static int Run(string path, int threads, int count, int length, int rounds, string? peer)
    {
        if (peer is not (null or "llama.cpp"))
            throw new TokenFactoryException($"unknown --peer '{peer}'; supported: llama.cpp.");
        string? script = peer != null ? NodeLlamaCppScript() : null;
        using var engine = Open(path, threads);
        var embeddings = engine.Embeddings ?? throw new TokenFactoryException($"{path} declares no pooling_type: it computes no embeddings.");
        if (length > embeddings.ContextLength)
            throw new TokenFactoryException($"--length {length} exceeds the model's {embeddings.ContextLength}.");
        var ids = Inputs(embeddings, count, length);
        embeddings.EmbedAsync([ids[0]]).GetAwaiter().GetResult(); // warm-up: repacking, first touches

        var single = new List<double>();
        var batched = new List<double>();
        var theirs = new List<double>();
        long theirRss = 0;
        for (int round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            foreach (var input in ids)
                embeddings.EmbedAsync([input]).GetAwaiter().GetResult();
            single.Add(count * (double)length / clock.Elapsed.TotalSeconds);
            clock.Restart();
            embeddings.EmbedAsync(ids).GetAwaiter().GetResult();
            batched.Add(count * (double)length / clock.Elapsed.TotalSeconds);
            if (script != null)
            {
                var (code, output, err) = BenchPeer.Exec("node", [script, "--model", Path.GetFullPath(path), "--threads", threads.ToString(),
                    "--inputs", count.ToString(), "--length", length.ToString()]);
                if (code != 0)
                    throw new TokenFactoryException($"llama.cpp embeddings bench failed (exit {code}): {err.Trim()}");
                var result = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
                theirs.Add((double)result["tokens_per_second"]!);
                theirRss = Math.Max(theirRss, (long)result["peak_rss_bytes"]!);
            }
        }

        Console.Out.WriteLine($"{Path.GetFileName(path)} ({engine.Model.Architecture}, pooling {embeddings.Pooling.Name()}, {embeddings.Dimensions} dimensions), " +
            $"{count} inputs × {length} tokens, {threads} threads, {rounds} rounds (median tokens/s):");
        Console.Out.WriteLine($"  TokenFactory, one input at a time: {Median(single):F0} tokens/s ({Median(single) / length:F1} inputs/s)");
        Console.Out.WriteLine($"  TokenFactory, batched:             {Median(batched):F0} tokens/s ({Median(batched) / length:F1} inputs/s)");
        if (theirs.Count > 0)
        {
            Console.Out.WriteLine($"  llama.cpp (node-llama-cpp), one input at a time: {Median(theirs):F0} tokens/s; peak RSS {theirRss / (1 << 20)} MiB");
            Console.Out.WriteLine($"  ratio one at a time {Median(single) / Median(theirs):F2}×, batched {Median(batched) / Median(theirs):F2}×");
        }
        Console.Out.WriteLine($"  TokenFactory peak RSS {BenchModelCommand.PeakRssBytes() / (1 << 20)} MiB (model file {new FileInfo(path).Length / (1 << 20)} MiB)");
        return 0;
    }

    private static IInferenceEngine Open(string path, int threads)
    {
        string? architecture;
        using (var probe = GgufFile.Open(path))
            architecture = probe.Architecture;
        if (architecture == BertConfig.Architecture)
            return new EncoderEngine(BertModel.Load(path), threads);
        var model = TransformerModel.Load(path);
        return new BatchingEngine(model, new EngineOptions { Threads = threads, ContextLength = 512 });
    }

    /// <summary>The same ids the peer script embeds: the vocabulary's begin/end tokens around ids spread over the vocabulary.</summary>
    private static int[][] Inputs(IEmbeddingEngine embeddings, int count, int length)
    {
        var wrap = embeddings.Tokenizer.Encode("", addSpecial: true);
        var ids = new int[count][];
        for (int i = 0; i < count; i++)
        {
            ids[i] = new int[length];
            for (int j = 0; j < length; j++)
                ids[i][j] = 1000 + (i * 131 + j * 7) % 20000 % Math.Max(1, embeddings.Tokenizer.VocabSize - 1000);
            if (wrap.Length > 0)
                ids[i][0] = wrap[0];
            if (wrap.Length > 1)
                ids[i][^1] = wrap[^1];
        }
        return ids;
    }

    private static string NodeLlamaCppScript()
    {
        string script = NodeLlamaCppPeer.FindScript("bench-embeddings.mjs");
        var (code, _, err) = BenchPeer.Exec("bash", [Path.Combine(Path.GetDirectoryName(script)!, "install.sh")]);
        if (code != 0)
            throw new TokenFactoryException($"tools/llama-ref/install.sh failed (exit {code}): {err.Trim()}");
        return script;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }
}
