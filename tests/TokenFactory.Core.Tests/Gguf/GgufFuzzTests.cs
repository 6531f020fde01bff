using TokenFactory.Gguf;
using TokenFactory.Models;

namespace TokenFactory.Tests.Gguf;

/// <summary>
/// Mutates real files thousands of times (truncation, bit flips, huge counts and lengths). Each case
/// must either load or fail with the project's own exception — never IndexOutOfRange, OutOfMemory,
/// an access violation or a hang.
/// </summary>
public sealed class GgufFuzzTests
{
    private static readonly byte[] Stories = File.ReadAllBytes(TestPaths.Stories260K);

    [Theory]
    [InlineData(1, 1500)]
    [InlineData(2, 1500)]
    public void Mutated_files_fail_only_with_our_exceptions(int seed, int cases)
    {
        var rng = new Random(seed);
        int headerEnd;
        using (var f = GgufFile.FromBytes(Stories))
            headerEnd = (int)f.DataOffset;
        int rejected = 0;
        for (int i = 0; i < cases; i++)
        {
            var bytes = Mutate(Stories, headerEnd, rng, out string what);
            try
            {
                using var f = GgufFile.FromBytes(bytes, "fuzz.gguf");
                _ = TokenFactory.Tokenization.Tokenizer.FromMetadata(f.Metadata).Encode("Once upon a time");
                using var model = TransformerModel.Load(f);
            }
            catch (TokenFactoryException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({what}) threw {e.GetType().Name}: {e.Message}");
            }
        }
        // Most mutations land in the header and must be caught; a fuzz run that rejects nothing tests nothing.
        Assert.True(rejected > cases / 4, $"only {rejected} of {cases} mutated files were rejected");
    }

    private static byte[] Mutate(byte[] original, int headerEnd, Random rng, out string what)
    {
        switch (rng.Next(4))
        {
            case 0:
                int length = rng.Next(2) == 0 ? rng.Next(headerEnd + 64) : rng.Next(original.Length);
                what = $"truncate to {length}";
                return original[..length];
            case 1:
            {
                var b = (byte[])original.Clone();
                int flips = 1 + rng.Next(8);
                for (int k = 0; k < flips; k++)
                    b[rng.Next(headerEnd)] ^= (byte)(1 << rng.Next(8));
                what = $"{flips} bit flips";
                return b;
            }
            case 2:
            {
                var b = (byte[])original.Clone();
                int at = rng.Next(headerEnd - 8);
                ulong huge = rng.Next(3) switch { 0 => ulong.MaxValue, 1 => (ulong)int.MaxValue + (ulong)rng.Next(), _ => 1UL << rng.Next(20, 63) };
                BitConverter.GetBytes(huge).CopyTo(b, at);
                what = $"huge value {huge} at {at}";
                return b;
            }
            default:
            {
                var b = (byte[])original.Clone();
                int at = rng.Next(headerEnd - 4);
                BitConverter.GetBytes(rng.Next()).CopyTo(b, at);
                what = $"random int at {at}";
                return b;
            }
        }
    }
}
