namespace TokenFactory.Planning;

/// <summary>The number format weights are stored and multiplied in.</summary>
public enum Precision
{
    /// <summary>32-bit floats (small GGUF test models).</summary>
    F32,
    BF16,
    FP8,
    /// <summary>NVFP4/MXFP4: 4-bit values with a scale per small block.</summary>
    FP4,
    Q8_0,
    Q4_K,
}

public static class Precisions
{
    /// <summary>Bytes per weight, block scales included (Q8_0: 34 bytes per 32; Q4_K: 144 per 256; NVFP4: one FP8 scale per 16).</summary>
    public static double BytesPerWeight(this Precision p) => p switch
    {
        Precision.F32 => 4,
        Precision.BF16 => 2,
        Precision.FP8 => 1,
        Precision.FP4 => 0.5625,
        Precision.Q8_0 => 34.0 / 32,
        Precision.Q4_K => 144.0 / 256,
        _ => 2,
    };

    /// <summary>Which of a device's peak rates the multiplications run at: 8-bit integer formats at the FP8/INT8 rate, Q4_K dequantized to it.</summary>
    public static string ComputeClass(this Precision p) => p switch
    {
        Precision.BF16 => "bf16",
        Precision.FP4 => "fp4",
        Precision.F32 => "bf16",
        _ => "fp8",
    };

    public static Precision Parse(string text) => text.Trim().ToUpperInvariant().Replace('-', '_') switch
    {
        "F32" or "FP32" => Precision.F32,
        "BF16" or "FP16" or "F16" => Precision.BF16,
        "FP8" or "INT8" => Precision.FP8,
        "FP4" or "NVFP4" or "MXFP4" => Precision.FP4,
        "Q8_0" => Precision.Q8_0,
        "Q4_K" or "Q4_K_M" => Precision.Q4_K,
        _ => throw new TokenFactoryException($"Unknown precision '{text}'. Supported: F32, BF16, FP8, FP4 (NVFP4/MXFP4), Q8_0, Q4_K."),
    };
}

public static class GgufPrecision
{
    /// <summary>The format most of a GGUF file's matrix bytes are in, as a planner precision (F16/BF16 as BF16).</summary>
    public static Precision Of(string path)
    {
        using var file = Gguf.GgufFile.Open(path);
        var type = file.Tensors.Where(t => t.Dimensions.Length >= 2).GroupBy(t => t.Type).MaxBy(g => g.Sum(t => t.ByteSize))?.Key ?? Gguf.GgmlType.F32;
        return type switch
        {
            Gguf.GgmlType.F32 => Precision.F32,
            Gguf.GgmlType.Q8_0 => Precision.Q8_0,
            Gguf.GgmlType.Q4_K or Gguf.GgmlType.Q4_0 or Gguf.GgmlType.Q5_K => Precision.Q4_K,
            _ => Precision.BF16,
        };
    }
}
