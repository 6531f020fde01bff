using System.Text.Json.Serialization;

namespace TokenFactory.Planning;

/// <summary>The engine's products over a model's matrices, probed at one number of activation rows.</summary>
public sealed record ProductRate(int Tokens, double Tflops);

/// <summary>
/// How fast a CPU engine's weight products run by the number of activation rows they multiply at once, as probed
/// (<c>plan calibrate</c>, <c>plan check</c>): a step of 16 tokens runs its products slower per FLOP than one of 64, and by how
/// much depends on the shape (on the 2-vCPU Zen 5 VM at 16 rows, 87 % of the 64-row rate for qwen2.5-0.5b and qwen3-0.6b,
/// 95 % for the wider tinyllama: each product's fixed costs, the threads meeting and quantizing its input, are a larger
/// share of a smaller matrix). One rate probed at 64 rows left that difference to the fitted rate of the rest of a token's
/// work, which then carried the calibrated shape's into another's predictions (a 16-sequence decode 8 % off).
/// The points are where the products are bound by their arithmetic (16 rows and more on the VM): with fewer rows a step's
/// weight reads bind them, which the roofline counts apart, so the rate of the fewest rows probed stands for fewer.
/// </summary>
public sealed record ProductRates
{
    public ProductRates(IReadOnlyList<ProductRate> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Count == 0 || points.Any(p => p.Tokens < 1 || !(p.Tflops > 0)))
            throw new ArgumentException("product rates need at least one point, each of one row or more at a positive rate", nameof(points));
        Points = [.. points.OrderBy(p => p.Tokens)];
    }

    public IReadOnlyList<ProductRate> Points { get; }

    /// <summary>The rate at the most rows probed: what large prompt steps reach.</summary>
    [JsonIgnore]
    public double PeakTflops => Points[^1].Tflops;

    /// <summary>The rate at <paramref name="tokens"/> rows, TFLOPS: linear in log(rows) between the probed points, the end points' beyond them.</summary>
    public double Tflops(double tokens)
    {
        if (tokens <= Points[0].Tokens)
            return Points[0].Tflops;
        for (int i = 1; i < Points.Count; i++)
        {
            if (tokens <= Points[i].Tokens)
            {
                var (a, b) = (Points[i - 1], Points[i]);
                double t = Math.Log(tokens / a.Tokens) / Math.Log((double)b.Tokens / a.Tokens);
                return a.Tflops + t * (b.Tflops - a.Tflops);
            }
        }
        return Points[^1].Tflops;
    }

    /// <summary>Every point's rate × <paramref name="factor"/>.</summary>
    public ProductRates Scaled(double factor) => new([.. Points.Select(p => p with { Tflops = p.Tflops * factor })]);

    public override string ToString() => string.Join(", ", Points.Select(p => $"{p.Tokens}: {p.Tflops * 1000:F0}"));
}
