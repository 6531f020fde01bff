using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Compute;

public sealed unsafe class WeightMatrixTests
{
    [SkippableFact]
    public void A_multiplied_matrix_the_row_kernels_read_is_a_copy_of_the_file_rows_and_lookups_read_the_file()
    {
        Skip.If(!WeightMatrix.CopiesRows, "weights stay in the mapping here (repacking off, or no kernel takes the copy)");
        var rng = new Random(7);
        byte[] data = new byte[5 * 64 * 2];
        for (int i = 0; i < data.Length / 2; i++)
            BitConverter.TryWriteBytes(data.AsSpan(2 * i), (Half)(float)(rng.NextDouble() - 0.5));
        var writer = new GgufWriter();
        writer.AddTensor("w", [64, 5], GgmlType.F16, data);
        using var file = GgufFile.FromBytes(writer.ToBytes());
        var info = file.GetTensorInfo("w");
        var multiplied = new WeightMatrix(file, info);
        var lookup = new WeightMatrix(file, info, forMultiplication: false);
        Assert.True(multiplied.Data != file.TensorData(info)); // its own buffer (huge pages where the kernel gives them)
        Assert.True(lookup.Data == file.TensorData(info));
        Assert.Equal(data.Length, file.DerivedBytes);
        for (int r = 0; r < 5; r++)
            Assert.Equal(data.AsSpan(r * 128, 128).ToArray(), multiplied.Row(r).ToArray());
        Assert.Equal(((nint)multiplied.Data, (long)data.Length), multiplied.Streamed);

        // The copy multiplies as the file's rows do.
        using var pool = new ComputePool(2);
        var matmul = new MatMul(pool);
        float[] x = new float[64], fromCopy = new float[5], fromFile = new float[5];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(rng.NextDouble() - 0.5);
        matmul.Multiply(multiplied, x, 0, 1, fromCopy, 0);
        matmul.Multiply(lookup, x, 0, 1, fromFile, 0);
        Assert.Equal(fromFile, fromCopy);
    }
}
