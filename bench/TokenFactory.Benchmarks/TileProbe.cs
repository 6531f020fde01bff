using System.Diagnostics;
using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Platform;
using TokenFactory.Tensors;

namespace TokenFactory.Benchmarks;

/// <summary>
/// <c>TokenFactory.Benchmarks tiles [TYPE] [256]</c>: bytes per second of one expert matrix of Nemotron 3 Nano's shape (1856×2688,
/// Q4_0 by default; any repacked type) against 1-8 tokens, a random one of a pool far larger than the caches per call, 2
/// threads: what a prompt step's experts see (about 3 tokens each of a 64-token prompt with 6 of 128 experts chosen).
/// "Block-group-tokens" are 8 rows × 32 weights × one token, the tiles' unit of work. <c>256</c> keeps Q4_0's and MXFP4's
/// 256-bit tiles where the 512-bit ones run (<see cref="KernelOptions.LegacyWide"/>), to compare the two in alternating runs.
/// </summary>
public static class TileProbe
{
    public static void Run(string[] args)
    {
        var type = args.Length > 1 ? Enum.Parse<GgmlType>(args[1]) : GgmlType.Q4_0;
        if (args.Length > 2 && args[2] == "256")
            KernelOptions.Apply(new KernelOptions { LegacyWide = false });
        int rows = 1856, columns = 2688, pool = 96;
        long rowBytes = GgmlTypeInfo.RowSize(type, columns);
        var rng = new Random(1);
        var data = new byte[rowBytes * rows];
        for (int r = 0; r < rows; r++)
            Quantizer.QuantizeRow(type, ProbePool.Activations(rng, columns), data.AsSpan((int)(r * rowBytes), (int)rowBytes));
        var (file, experts) = ProbePool.Build(type, rows, columns, pool, _ => data); // the same values at different addresses
        using var owned = file;
        using var threads = new ComputePool(2);
        var matmul = new MatMul(threads);
        var x = ProbePool.Activations(rng, 8 * columns);
        var output = new float[8 * rows];
        long bytes = rowBytes * rows;
        foreach (int n in new[] { 1, 2, 3, 4, 5, 6, 8 })
        {
            int calls = (int)(3_000_000_000L / bytes);
            double best = 0;
            for (int pass = 0; pass < 3; pass++)
            {
                var sw = Stopwatch.StartNew();
                for (int c = 0; c < calls; c++)
                    matmul.Multiply(experts[rng.Next(pool)], x, 0, n, output, 0);
                double s = sw.Elapsed.TotalSeconds;
                best = Math.Max(best, calls * bytes / s / 1e9);
            }
            double blockTokens = (double)rows / 8 * columns / 32 * n;
            Console.WriteLine($"{type} {rows}x{columns}, {n} tokens: {best:F1} GB/s, {best * 1e9 / bytes * blockTokens / 1e9:F2} G block-group-tokens/s ({bytes / 1024} KiB, pool {pool})");
        }
    }
}
