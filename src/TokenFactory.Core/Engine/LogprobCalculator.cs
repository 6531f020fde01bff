using System.Numerics.Tensors;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>Log-probabilities of the model's distribution (raw logits, before sampling filters), as OpenAI reports them.</summary>
public static class LogprobCalculator
{
    public const int MaxTop = 20;

    public static float LogNormalizer(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits)
            sum += Math.Exp(l - max);
        return max + (float)Math.Log(sum);
    }

    public static (float Logprob, TokenLogprob[] Top) Compute(ReadOnlySpan<float> logits, int chosen, int top, ITokenizer tokenizer)
    {
        float logZ = LogNormalizer(logits);
        top = Math.Clamp(top, 0, MaxTop);
        var best = new int[top];
        int count = 0;
        for (int i = 0; i < logits.Length && top > 0; i++)
        {
            if (count == top && logits[i] <= logits[best[count - 1]])
                continue;
            int at = count < top ? count++ : count - 1;
            while (at > 0 && logits[best[at - 1]] < logits[i])
            {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = i;
        }
        var result = new TokenLogprob[count];
        for (int i = 0; i < count; i++)
            result[i] = new TokenLogprob(best[i], tokenizer.TokenPiece(best[i]), logits[best[i]] - logZ);
        return (logits[chosen] - logZ, result);
    }
}
