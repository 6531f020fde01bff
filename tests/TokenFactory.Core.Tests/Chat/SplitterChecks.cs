using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

/// <summary>What every <see cref="IAnswerSplitter"/> must do: the same split of an output however it arrives in pieces.</summary>
internal static class SplitterChecks
{
    /// <summary>
    /// Feeds <paramref name="output"/> whole, a character at a time, then in random pieces of 1 to <paramref name="maxPiece"/>
    /// characters (<paramref name="trials"/> runs in all, each with a fresh splitter), and checks every run's pieces concatenate
    /// to <paramref name="reasoning"/> and <paramref name="content"/>.
    /// </summary>
    public static void SplitsTheSameWhateverTheChunking(Func<IAnswerSplitter> newSplitter, string output, string reasoning, string content,
        int trials = 50, int maxPiece = 5)
    {
        var rng = new Random(output.Length);
        for (int trial = 0; trial < trials; trial++)
        {
            var splitter = newSplitter();
            string r = "", c = "";
            int i = 0;
            while (i < output.Length)
            {
                int n = trial == 0 ? output.Length : trial == 1 ? 1 : rng.Next(1, maxPiece + 1);
                n = Math.Min(n, output.Length - i);
                var (pr, pc) = splitter.Push(output.Substring(i, n));
                r += pr;
                c += pc;
                i += n;
            }
            var (fr, fc) = splitter.Flush();
            Assert.Equal(reasoning, r + fr);
            Assert.Equal(content, c + fc);
        }
    }
}
