using System.Threading.Channels;

namespace TokenFactory.Engine.Batching;

/// <summary>
/// A sequence's results as <see cref="GenerationUpdate"/>s in a channel, for the caller of <see cref="BatchingEngine.GenerateAsync"/>.
/// The channel never refuses a write (a final update or a failure always gets through), but once
/// <see cref="MaxUnread"/> updates wait unread the sequence <see cref="WaitsForReader"/> and the engine stops decoding it
/// until the reader catches up: a client reading a stream slowly holds its KV blocks, not a growing buffer of its answer.
/// </summary>
internal sealed class ChannelOutput(Action wake) : ISequenceOutput
{
    /// <summary>
    /// Unread updates at which decoding pauses; it resumes at the next step with fewer. An engine that had nothing else to
    /// run is woken once the reader is down to half of it.
    /// </summary>
    internal const int MaxUnread = 64;

    private readonly Channel<GenerationUpdate> _channel =
        Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
    private int _unread;
    private int _wakeWanted; // 1: the engine paused this sequence and wants to hear when the reader has caught up

    public ChannelReader<GenerationUpdate> Reader => _channel.Reader;

    public void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs) =>
        Write(new GenerationUpdate { Token = token, Text = text.ToString(), Logprob = logprob, TopLogprobs = topLogprobs });

    public void Text(ReadOnlySpan<char> text) => Write(new GenerationUpdate { Text = text.ToString() });

    public void Finished(GenerationSummary summary)
    {
        Write(new GenerationUpdate { Final = summary });
        _channel.Writer.TryComplete();
    }

    public void Failed(Exception error) => _channel.Writer.TryComplete(error);

    public bool WaitsForReader()
    {
        if (Volatile.Read(ref _unread) < MaxUnread)
            return false;
        // Flag first, then look again: a reader that drained in between is seen here; one that drains after sees the flag.
        Interlocked.Exchange(ref _wakeWanted, 1);
        return Volatile.Read(ref _unread) >= MaxUnread;
    }

    /// <summary>The reader took one update out of the channel: wakes the engine if it paused this sequence and the backlog has halved.</summary>
    public void Consumed()
    {
        if (Interlocked.Decrement(ref _unread) <= MaxUnread / 2 && Volatile.Read(ref _wakeWanted) == 1 && Interlocked.Exchange(ref _wakeWanted, 0) == 1)
            wake();
    }

    private void Write(GenerationUpdate update)
    {
        Interlocked.Increment(ref _unread);
        _channel.Writer.TryWrite(update);
    }
}
