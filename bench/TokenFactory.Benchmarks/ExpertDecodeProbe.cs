using System.Diagnostics;
using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Benchmarks;

/// <summary>
/// <c>TokenFactory.Benchmarks experts</c>: bytes per second of a one-token step's expert products (8 random experts of a
/// pool far larger than the caches, one <see cref="MatMul.MultiplyParts"/> call, 2 threads) by Q4_K expert shape, against
/// the same bytes as one call per matrix. Answers "does the kernel stream small experts as fast as large matrices?"
/// without a 20 GB model file. The weights are random bytes with finite scales: speed does not depend on the values.
/// </summary>
public static class ExpertDecodeProbe
{
    private static readonly (int Rows, int Columns, int Pool)[] Shapes =
    [
        (512, 2048, 512), (2048, 512, 512), // Qwen3.5-35B-A3B's gate/up and down
        (768, 2048, 384), (2048, 768, 384), // Qwen3-30B-A3B's
        (8192, 2048, 32),                   // a dense projection, for comparison
    ];

    public static void Run()
    {
        foreach (var (rows, columns, pool) in Shapes)
        {
            long rowBytes = GgmlTypeInfo.RowSize(GgmlType.Q4_K, columns);
            var rng = new Random(1);
            var (file, experts) = ProbePool.Build(GgmlType.Q4_K, rows, columns, pool, _ =>
            {
                var data = new byte[rowBytes * rows];
                rng.NextBytes(data);
                for (long b = 0; b < data.Length; b += 144)
                {
                    // fp16 d and dmin of 1/16: finite scales
                    data[b] = 0x00; data[b + 1] = 0x2C; data[b + 2] = 0x00; data[b + 3] = 0x2C;
                }
                return data;
            });
            using var owned = file;
            using var threads = new ComputePool(2);
            var matmul = new MatMul(threads);
            var x = ProbePool.Activations(rng, 8 * columns);
            var output = new float[8 * rows];
            var parts = new WeightMatrix[8];
            int[] inputRows = [0, 1, 2, 3, 4, 5, 6, 7];
            int[] offsets = [.. inputRows.Select(p => p * rows)];
            long bytesPerCall = 8 * rowBytes * rows;
            int calls = (int)(2_000_000_000L / bytesPerCall);
            for (int pass = 0; pass < 3; pass++)
            {
                var together = Stopwatch.StartNew();
                for (int c = 0; c < calls; c++)
                {
                    for (int p = 0; p < 8; p++)
                        parts[p] = experts[rng.Next(pool)];
                    matmul.MultiplyParts(parts, x, 8, inputRows, output, offsets);
                }
                double s1 = together.Elapsed.TotalSeconds;
                var oneByOne = Stopwatch.StartNew();
                for (int c = 0; c < calls; c++)
                {
                    for (int p = 0; p < 8; p++)
                        matmul.Multiply(experts[rng.Next(pool)], x, 0, 1, output, 0);
                }
                double s2 = oneByOne.Elapsed.TotalSeconds;
                Console.WriteLine($"{rows}x{columns} Q4_K ({rowBytes * rows / 1024} KiB each, pool of {pool}): 8 in one run {calls * bytesPerCall / s1 / 1e9:F1} GB/s " +
                    $"({s1 / calls * 1e6:F0} us a call); one run each {calls * bytesPerCall / s2 / 1e9:F1} GB/s");
            }
        }
    }
}
