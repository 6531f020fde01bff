using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Tokenization;

public sealed class StreamingDecoderTests
{
    [Fact]
    public void Holds_a_character_split_across_byte_tokens_until_complete()
    {
        var spm = TokenizerFixtures.Load("llama-spm");
        // U+1D11E MUSICAL SYMBOL G CLEF is F0 9D 84 9E, which Llama 2 only has as byte-fallback tokens.
        int[] ids = [.. new[] { 0xF0, 0x9D, 0x84, 0x9E }.Select(b => spm.Vocabulary.TokenToId($"<0x{b:X2}>")!.Value)];
        var decoder = new StreamingDecoder(spm);

        Assert.Equal("", decoder.Append(ids[0]).ToString());
        Assert.Equal("", decoder.Append(ids[1]).ToString());
        Assert.Equal("", decoder.Append(ids[2]).ToString());
        Assert.Equal(3, decoder.PendingByteCount);
        Assert.Equal("\U0001D11E", decoder.Append(ids[3]).ToString());
        Assert.Equal(0, decoder.PendingByteCount);
    }

    [Fact]
    public void Encoded_text_with_byte_fallback_streams_back_exactly()
    {
        var spm = TokenizerFixtures.Load("llama-spm");
        const string text = "clef \U0001D11E and ½ and 🦙!";
        var ids = spm.Encode(text, addSpecial: false);
        var decoder = new StreamingDecoder(spm, stripLeadingSpace: true);

        var streamed = string.Concat(ids.Select(id => decoder.Append(id).ToString())) + decoder.Flush().ToString();

        Assert.Equal(text, streamed);
        Assert.Equal(spm.Decode(ids), streamed);
    }

    [Fact]
    public void Byte_level_bpe_pieces_of_one_character_stream_as_one()
    {
        var gpt2 = TokenizerFixtures.Load("gpt-2");
        const string text = "🦙 llamas 👍🏽";
        var ids = gpt2.Encode(text, addSpecial: false);
        var decoder = new StreamingDecoder(gpt2);
        var outputs = ids.Select(id => decoder.Append(id).ToString()).ToList();

        Assert.Contains("", outputs); // the emoji spans several byte tokens
        Assert.All(outputs, s => Assert.DoesNotContain('\uFFFD', s));
        Assert.Equal(text, string.Concat(outputs) + decoder.Flush().ToString());
    }

    [Fact]
    public void Bytes_that_cannot_complete_become_replacement_characters()
    {
        var spm = TokenizerFixtures.Load("llama-spm");
        int lead = spm.Vocabulary.TokenToId("<0xE2>")!.Value;
        int a = spm.Vocabulary.TokenToId("A")!.Value;
        var decoder = new StreamingDecoder(spm);

        Assert.Equal("", decoder.Append(lead).ToString());
        Assert.Equal("\uFFFDA", decoder.Append(a).ToString());
        Assert.Equal("", decoder.Append(lead).ToString());
        Assert.Equal("\uFFFD", decoder.Flush().ToString());
        Assert.Equal(0, decoder.PendingByteCount);
    }
}
