using System.CommandLine;
using Spectre.Console;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Cli.Commands;

/// <summary><c>tokenfactory synth</c>: a random-weight model at a real shape, for benchmarks and tests.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "llama, qwen2, qwen3, qwen3moe, gpt-oss, mistral3, gemma3, nemotron_h, nemotron_h_moe or bert (Nemotron-H, Qwen3-MoE, gpt-oss and BERT shapes need their own arch)", DefaultValueFactory = _ => "llama" };
        var shape = new Option<string>("--shape") { Description = "Shape name: " + string.Join(", ", ModelShape.All.Select(s => s.Name)), Required = true };
        var type = new Option<string>("--type") { Description = "Weight type: " + string.Join(", ", SyntheticModelWriter.WeightTypes) + ", or the mixture " + string.Join(", ", SyntheticModelWriter.Mixtures), DefaultValueFactory = _ => "Q8_0" };
        var vocab = new Option<string>("--vocab") { Description = "GGUF whose tokenizer.* metadata is copied", Required = true };
        var output = new Option<string>("--out") { Description = "Output GGUF path", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed; the same seed writes the same bytes", DefaultValueFactory = _ => 1UL };
        var pooling = new Option<string?>("--pooling") { Description = "Declare an embedding pooling (mean, cls or last) in a transformer file, as decoder embedding models do" };
        var cmd = new Command("synth", "Write a random-weight model at a real model's shape") { arch, shape, type, vocab, output, seed, pooling };
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            var s = ModelShape.Find(r.GetValue(shape)!);
            string typeName = r.GetValue(type)!;
            string? mixture = SyntheticModelWriter.Mixtures.FirstOrDefault(m => m.Equals(typeName, StringComparison.OrdinalIgnoreCase));
            var t = GgmlType.Q4_K;
            if (mixture == null && (!Enum.TryParse(typeName, ignoreCase: true, out t) || !SyntheticModelWriter.WeightTypes.Contains(t)))
                throw new TokenFactoryException($"Unknown --type '{typeName}'. Supported: {string.Join(", ", SyntheticModelWriter.WeightTypes.Select(w => w.ToString()).Concat(SyntheticModelWriter.Mixtures))}.");
            using var v = GgufFile.Open(r.GetValue(vocab)!);
            string path = r.GetValue(output)!;
            void Write(Action<long, long>? progress) =>
                SyntheticModelWriter.Write(r.GetValue(arch)!, s, t, mixture, v.Metadata, path, r.GetValue(seed), progress,
                    r.GetValue(pooling) is string p ? PoolingTypes.Parse(p) : null);

            if (Console.IsOutputRedirected)
                Write(null);
            else
            {
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask($"{s.Name} {mixture ?? t.ToString()}");
                    Write((done, total) => { task.MaxValue = total; task.Value = done; });
                });
            }
            Console.WriteLine($"wrote {path} ({new FileInfo(path).Length:N0} bytes): {r.GetValue(arch)} {s.Name} {mixture ?? t.ToString()}, seed {r.GetValue(seed)}");
            return 0;
        }));
        return cmd;
    }
}
