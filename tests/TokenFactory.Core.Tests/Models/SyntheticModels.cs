using System.Security.Cryptography;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Synthetic;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Models;

/// <summary>
/// Regenerates the synthetic models llama.cpp fixtures were recorded from (named
/// <c>synth-ARCH-SHAPE-TYPE-seedN</c>), once per test run, into a shared temp folder.
/// </summary>
public static class SyntheticModels
{
    private static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", "synth");
    private static readonly Lock Gate = new();

    public static string Get(string baseName)
    {
        // An embedding variant ends in "-pool-NAME": the same file with {arch}.pooling_type declared.
        PoolingType? pooling = null;
        int pool = baseName.IndexOf("-pool-", StringComparison.Ordinal);
        if (pool > 0)
            pooling = PoolingTypes.Parse(baseName[(pool + "-pool-".Length)..]);
        var parts = (pool > 0 ? baseName[..pool] : baseName).Split('-');
        // synth-ARCH-SHAPE...-TYPE-seedN; shapes may contain dashes.
        // An architecture's name may itself hold a dash (gpt-oss): take the longest one the writer knows.
        string arch = SyntheticModelWriter.Architectures.Where(a => baseName.StartsWith($"synth-{a}-", StringComparison.Ordinal)).MaxBy(a => a.Length) ?? parts[1];
        int archParts = arch.Split('-').Length;
        ulong seed = ulong.Parse(parts[^1]["seed".Length..]);
        // A mixture (Q4_K_M, Q5_K_M) is a type name too.
        string? mixture = SyntheticModelWriter.Mixtures.Contains(parts[^2]) ? parts[^2] : null;
        var type = mixture != null ? GgmlType.Q4_K : Enum.Parse<GgmlType>(parts[^2]);
        string shape = string.Join('-', parts[(1 + archParts)..^2]);
        string path = Path.Combine(CacheDir, baseName + ".gguf");
        lock (Gate)
        {
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(CacheDir);
                // Encoders need a WordPiece vocabulary; every other architecture takes stories260K's.
                using var vocab = GgufFile.Open(arch == "bert" ? TestPaths.Vocab("bert-bge") : TestPaths.Stories260K);
                SyntheticModelWriter.Write(arch, ModelShape.Find(shape), type, mixture, vocab.Metadata, path, seed, pooling: pooling);
            }
        }
        return path;
    }

    public static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
