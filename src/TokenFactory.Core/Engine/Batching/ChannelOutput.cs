using System.Threading.Channels;

namespace TokenFactory.Engine.Batching;

/// <summary>A sequence's results as <see cref="GenerationUpdate"/>s in a channel, for the caller of <see cref="BatchingEngine.GenerateAsync"/>.</summary>
internal sealed class ChannelOutput : ISequenceOutput
{
    private readonly Channel<GenerationUpdate> _channel =
        Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });

    public ChannelReader<GenerationUpdate> Reader => _channel.Reader;

    public void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs) =>
        _channel.Writer.TryWrite(new GenerationUpdate { Token = token, Text = text.ToString(), Logprob = logprob, TopLogprobs = topLogprobs });

    public void Text(ReadOnlySpan<char> text) => _channel.Writer.TryWrite(new GenerationUpdate { Text = text.ToString() });

    public void Finished(GenerationSummary summary)
    {
        _channel.Writer.TryWrite(new GenerationUpdate { Final = summary });
        _channel.Writer.TryComplete();
    }

    public void Failed(Exception error) => _channel.Writer.TryComplete(error);
}
