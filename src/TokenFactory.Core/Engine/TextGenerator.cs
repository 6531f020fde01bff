using System.Diagnostics;
using System.Text;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>
/// Generates text for one sequence at a time on a <see cref="ForwardPass"/>: evaluates the prompt
/// (reusing whatever prefix the cache already holds from the previous request), then samples token
/// by token, streaming text that is complete UTF-8 and not part of a pending stop string.
/// </summary>
public sealed class TextGenerator
{
    private readonly TransformerModel _model;
    private readonly ForwardPass _pass;
    private readonly List<int> _cached = [];

    public TextGenerator(TransformerModel model, Tokenizer tokenizer, ForwardPass pass)
    {
        _model = model;
        Tokenizer = tokenizer;
        _pass = pass;
    }

    public Tokenizer Tokenizer { get; }

    public int ContextLength => _pass.ContextLength;

    public GenerationResult Generate(GenerationRequest request, Action<GeneratedToken>? onToken = null, CancellationToken cancellation = default)
    {
        var prompt = request.PromptTokens;
        if (prompt.Count == 0)
            throw new TokenFactoryException("The prompt is empty: at least one token is needed.");
        if (prompt.Count > ContextLength)
            throw new ContextLengthExceededException(prompt.Count, 0, ContextLength);
        var sampler = new Sampler(request.Sampling, _model.VocabSize);
        foreach (int t in prompt)
            sampler.Accept(t);

        // Reuse the cached prefix, but always evaluate at least one prompt token to get fresh logits.
        int common = 0;
        while (!request.EchoLogprobs && common < _cached.Count && common < prompt.Count - 1 && _cached[common] == prompt[common])
            common++;
        common = _pass.Truncate(common);
        _cached.RemoveRange(common, _cached.Count - common);

        var clock = Stopwatch.StartNew();
        var toEvaluate = new int[prompt.Count - common];
        for (int i = 0; i < toEvaluate.Length; i++)
            toEvaluate[i] = prompt[common + i];
        float[]? promptLogits = request.EchoLogprobs ? new float[(long)toEvaluate.Length * _model.VocabSize] : null;
        try
        {
            _pass.Evaluate(toEvaluate, promptLogits);
        }
        catch
        {
            _pass.Truncate(0);
            _cached.Clear();
            throw;
        }
        _cached.AddRange(toEvaluate);
        var promptTime = clock.Elapsed;
        List<(float?, TokenLogprob[]?)>? promptLogprobs = null;
        if (promptLogits != null)
        {
            promptLogprobs = [(null, null)];
            int v = _model.VocabSize;
            for (int i = 1; i < toEvaluate.Length; i++)
            {
                var (lp, top) = LogprobCalculator.Compute(promptLogits.AsSpan((i - 1) * v, v), toEvaluate[i], request.Logprobs ?? 0, Tokenizer);
                promptLogprobs.Add((lp, top));
            }
        }
        clock.Restart();

        var decoder = new StreamingDecoder(Tokenizer);
        var stops = new StopStringMatcher(request.Stop);
        var text = new StringBuilder();
        var tokens = new List<int>();
        var finish = FinishReason.Length;
        while (tokens.Count < request.MaxTokens)
        {
            if (cancellation.IsCancellationRequested)
            {
                finish = FinishReason.Cancelled;
                break;
            }
            int next = sampler.Sample(_pass.Logits);
            float? logprob = null;
            TokenLogprob[]? topLogprobs = null;
            if (request.Logprobs is int n)
                (logprob, topLogprobs) = LogprobCalculator.Compute(_pass.Logits, next, n, Tokenizer);
            tokens.Add(next);
            sampler.Accept(next);
            if (!request.IgnoreEndOfGeneration && Tokenizer.IsEndOfGeneration(next))
            {
                finish = FinishReason.Stop;
                string tail = stops.Push(decoder.Flush()) + stops.Flush();
                text.Append(tail);
                onToken?.Invoke(new GeneratedToken(next, tail, logprob, topLogprobs));
                break;
            }
            string piece = stops.Push(decoder.Append(next));
            text.Append(piece);
            onToken?.Invoke(new GeneratedToken(next, piece, logprob, topLogprobs));
            if (stops.Stopped)
            {
                finish = FinishReason.Stop;
                break;
            }
            if (tokens.Count >= request.MaxTokens || _pass.Position >= ContextLength)
                break;
            _pass.Evaluate([next]);
            _cached.Add(next);
        }
        if (finish == FinishReason.Length)
        {
            string rest = stops.Push(decoder.Flush()) + stops.Flush();
            if (rest.Length > 0)
            {
                text.Append(rest);
                onToken?.Invoke(new GeneratedToken(-1, rest));
            }
        }
        return new GenerationResult
        {
            PromptTokens = prompt.Count,
            CachedPromptTokens = common,
            Tokens = tokens,
            Text = text.ToString(),
            FinishReason = finish,
            MatchedStop = stops.MatchedStop,
            PromptTime = promptTime,
            GenerationTime = clock.Elapsed,
            PromptLogprobs = promptLogprobs,
        };
    }
}
