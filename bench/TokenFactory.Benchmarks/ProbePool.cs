using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Benchmarks;

/// <summary>What the kernel probes share: a pool of matrices far larger than the caches, and random activations.</summary>
internal static class ProbePool
{
    /// <summary>
    /// A file of <paramref name="pool"/> matrices of <paramref name="rows"/> × <paramref name="columns"/> of <paramref name="type"/>,
    /// matrix e holding the bytes <paramref name="data"/>(e), and the matrices over it (repacked as the engine does).
    /// </summary>
    public static (GgufFile File, WeightMatrix[] Matrices) Build(GgmlType type, int rows, int columns, int pool, Func<int, byte[]> data)
    {
        var writer = new GgufWriter();
        for (int e = 0; e < pool; e++)
            writer.AddTensor($"e{e}", [columns, rows], type, data(e));
        var file = GgufFile.FromBytes(writer.ToBytes());
        return (file, [.. Enumerable.Range(0, pool).Select(e => new WeightMatrix(file, file.GetTensorInfo($"e{e}")))]);
    }

    /// <summary><paramref name="count"/> floats uniform in [-1, 1).</summary>
    public static float[] Activations(Random rng, int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
}
