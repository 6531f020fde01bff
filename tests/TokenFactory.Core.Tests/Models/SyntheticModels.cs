using System.Security.Cryptography;
using TokenFactory.Gguf;
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
        var parts = baseName.Split('-');
        // synth-ARCH-SHAPE...-TYPE-seedN; shapes may contain dashes.
        string arch = parts[1];
        ulong seed = ulong.Parse(parts[^1]["seed".Length..]);
        var type = Enum.Parse<GgmlType>(parts[^2]);
        string shape = string.Join('-', parts[2..^2]);
        string path = Path.Combine(CacheDir, baseName + ".gguf");
        lock (Gate)
        {
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(CacheDir);
                using var vocab = GgufFile.Open(TestPaths.Stories260K);
                SyntheticModelWriter.Write(arch, ModelShape.Find(shape), type, vocab.Metadata, path, seed);
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
