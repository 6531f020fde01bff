using System.CommandLine;
using System.Diagnostics;
using TokenFactory.Constraints;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench structured</c>: what structured output costs per generated token on a real vocabulary. It
/// generates JSON for <c>json_object</c> as a weightless model would — each step draws a token from the whole
/// vocabulary, keeps it if the grammar allows it, else masks the vocabulary and draws among the allowed — and times
/// the constraint's work only (the check, and the mask when the draw was refused), on one thread.
/// </summary>
internal static class BenchStructuredCommand
{
    public static Command Create()
    {
        var model = new Option<string[]>("--model", "-m")
        {
            Description = "GGUF file whose vocabulary is used (only the tokenizer is read); given several times, the union of their vocabularies " +
                "(all of one tokenizer kind), to measure a vocabulary larger than any file at hand",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var tokens = new Option<int>("--tokens", "-n") { Description = "Tokens to generate in all", DefaultValueFactory = _ => 20_000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the draws", DefaultValueFactory = _ => 1 };
        var cmd = new Command("structured", "Per-token cost of structured output (JSON grammar check and vocabulary mask) on a model's vocabulary") { model, tokens, seed };
        cmd.SetAction(r => CommandErrors.Run(() => Run(r.GetValue(model)!, Math.Max(100, r.GetValue(tokens)), r.GetValue(seed))));
        return cmd;
    }

    private static int Run(string[] paths, int total, int seed)
    {
        var tokenizer = paths.Length == 1 ? Load(paths[0]) : Union(paths);
        string path = string.Join(" + ", paths.Select(Path.GetFileName));
        var built = Stopwatch.StartNew();
        var masker = TokenMasker.For(tokenizer);
        built.Stop();
        var random = new Random(seed);
        var logits = new float[tokenizer.VocabSize];
        var perToken = new List<double>(total);
        var masks = new List<double>();
        int documents = 0, generated = 0;
        var state = JsonMatcher.Start(JsonSchemaCompiler.AnyObject);
        int inDocument = 0;
        while (generated < total)
        {
            int draw = random.Next(tokenizer.VocabSize);
            long start = Stopwatch.GetTimestamp();
            var next = masker.Advance(state, draw);
            double micros = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            if (next is null)
            {
                // Refused: the engine copies the logits, masks them and samples again (the draw itself is not timed).
                long maskStart = Stopwatch.GetTimestamp();
                Array.Fill(logits, 0f);
                masker.Mask(state, logits);
                double mask = Stopwatch.GetElapsedTime(maskStart).TotalMicroseconds;
                masks.Add(mask);
                draw = Draw(logits, random, closing: inDocument > 40, tokenizer);
                long again = Stopwatch.GetTimestamp();
                next = masker.Advance(state, draw)!;
                micros += mask + Stopwatch.GetElapsedTime(again).TotalMicroseconds;
            }
            perToken.Add(micros);
            state = next;
            generated++;
            inDocument++;
            if (state.MustEnd || state.CanEnd || inDocument > 2000)
            {
                documents += state.CanEnd ? 1 : 0;
                state = JsonMatcher.Start(JsonSchemaCompiler.AnyObject);
                inDocument = 0;
            }
        }
        perToken.Sort();
        masks.Sort();
        Console.Out.WriteLine($"{Path.GetFileName(path)}: vocabulary {tokenizer.VocabSize:N0}, masker built in {built.Elapsed.TotalMilliseconds:F0} ms");
        Console.Out.WriteLine($"{generated:N0} tokens of json_object ({documents} documents closed), one thread:");
        Console.Out.WriteLine($"  per token: mean {perToken.Average():F1} µs, p50 {Pct(perToken, 0.5):F1} µs, p99 {Pct(perToken, 0.99):F1} µs");
        Console.Out.WriteLine($"  full masks: {masks.Count:N0} ({100.0 * masks.Count / generated:F1} % of tokens), mean {(masks.Count > 0 ? masks.Average() : 0):F0} µs, p99 {Pct(masks, 0.99):F0} µs");
        return 0;
    }

    private static Tokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return Tokenizer.FromMetadata(file.Metadata);
    }

    /// <summary>
    /// One vocabulary of every distinct token of the files (the first file's metadata, its tokens first, then the others' new
    /// ones, with their types): what the mask walks is the tokens' bytes, so the union has a real vocabulary's kind of
    /// tokens at a size no single file here has. Merges are the first file's; nothing is encoded with it.
    /// </summary>
    private static Tokenizer Union(string[] paths)
    {
        GgufMetadata? first = null;
        var tokens = new List<string>();
        var types = new List<int>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            using var file = GgufFile.Open(path);
            var m = file.Metadata;
            if (first is not null && m.GetStringOrNull("tokenizer.ggml.model") != first.GetStringOrNull("tokenizer.ggml.model"))
                throw new TokenFactoryException($"{path}: its tokenizer is {m.GetStringOrNull("tokenizer.ggml.model")}, not {first.GetStringOrNull("tokenizer.ggml.model")}; a union needs one kind.");
            bool isFirst = first is null;
            if (isFirst)
            {
                first = new GgufMetadata("union");
                foreach (var (key, value) in m)
                    first.Set(key, value);
            }
            var names = m.GetArray<string>("tokenizer.ggml.tokens");
            var kinds = m.GetArrayOrNull<int>("tokenizer.ggml.token_type");
            for (int i = 0; i < names.Length; i++)
            {
                // Control tokens only of the first file: the union keeps one set of special tokens.
                if ((isFirst || kinds is null || kinds[i] == 1) && seen.Add(names[i]))
                {
                    tokens.Add(names[i]);
                    types.Add(kinds?[i] ?? 1);
                }
            }
        }
        first!.Set("tokenizer.ggml.tokens", GgufValue.Of(tokens.ToArray()));
        first.Set("tokenizer.ggml.token_type", GgufValue.Of(types.ToArray()));
        first.Remove("tokenizer.ggml.scores");
        return Tokenizer.FromMetadata(first);
    }

    /// <summary>Uniform among the allowed tokens; late in a document, among allowed one-byte structural tokens when there are some, so documents close.</summary>
    private static int Draw(float[] logits, Random random, bool closing, Tokenizer tokenizer)
    {
        var allowed = new List<int>();
        var closers = new List<int>();
        for (int id = 0; id < logits.Length; id++)
        {
            if (float.IsNegativeInfinity(logits[id]))
                continue;
            allowed.Add(id);
            if (closing && tokenizer.TokenBytes(id, special: false) is [(byte)'"' or (byte)'}' or (byte)']' or (byte)',' or (byte)'1'])
                closers.Add(id);
        }
        var pool = closers.Count > 0 && random.Next(2) == 0 ? closers : allowed;
        return pool[random.Next(pool.Count)];
    }

    private static double Pct(List<double> sorted, double q) => sorted.Count == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}
