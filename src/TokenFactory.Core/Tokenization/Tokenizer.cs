using TokenFactory.Gguf;

namespace TokenFactory.Tokenization;

/// <summary>
/// The tokenizer a GGUF vocabulary describes: SentencePiece (llama) or byte-level BPE (gpt2), with llama.cpp's special-token
/// handling (and WordPiece for BERT). Thread-safe: encoders keep no per-call state outside locals (the BPE word cache is concurrent).
/// </summary>
public sealed partial class Tokenizer : ITokenizer
{
    private readonly SpecialTokenSplitter _splitter;
    private readonly SpmEncoder? _spm;
    private readonly BpeEncoder? _bpe;
    private readonly WordPieceEncoder? _wpm;

    private Tokenizer(Vocabulary vocabulary)
    {
        Vocabulary = vocabulary;
        _splitter = new SpecialTokenSplitter(vocabulary);
        switch (vocabulary.Kind)
        {
            case TokenizerKind.SentencePiece:
                _spm = new SpmEncoder(vocabulary);
                break;
            case TokenizerKind.BytePairEncoding:
                _bpe = new BpeEncoder(vocabulary);
                break;
            case TokenizerKind.WordPiece:
                _wpm = new WordPieceEncoder(vocabulary);
                break;
        }
        _pieces = BuildPieces(vocabulary);
    }

    public static Tokenizer FromMetadata(GgufMetadata metadata) => new(Vocabulary.FromMetadata(metadata));

    public Vocabulary Vocabulary { get; }

    public int VocabSize => Vocabulary.Count;

    public int? Bos => Vocabulary.Bos;

    public int? Eos => Vocabulary.Eos;

    public bool IsEndOfGeneration(int id) => Vocabulary.IsEndOfGeneration(id);

    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = false) => Encode(text, addSpecial, parseSpecial, []);

    public bool MentionsSpecialToken(string text) => _splitter.Mentions(text);

    public int[] Encode(string text, bool addSpecial, bool parseSpecial, IReadOnlyList<Range> textOnly)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = Utf16.ReplaceLoneSurrogates(text);
        var output = new List<int>(text.Length / 3 + 4);
        if (addSpecial && Vocabulary.AddBos && Bos is int bos)
            output.Add(bos);

        var fragments = _splitter.Split(text, parseSpecial, textOnly);
        // SentencePiece: a space is put in front of the text and of raw text right after a special token.
        bool previousWasSpecial = true;
        foreach (var f in fragments)
        {
            if (f.IsToken)
            {
                output.Add(f.Token);
                previousWasSpecial = true;
                continue;
            }
            if (_spm is not null)
                _spm.Encode(text, f.Start, f.Length, Vocabulary.AddSpacePrefix && previousWasSpecial, output);
            else if (_bpe is not null)
                _bpe.Encode(text, f.Start, f.Length, output);
            else
                _wpm!.Encode(text, f.Start, f.Length, output);
            previousWasSpecial = false;
        }

        if (addSpecial && Vocabulary.AddEos && Eos is int eos)
            output.Add(eos);
        if (addSpecial && Vocabulary.AddSep && Vocabulary.Separator is int sep)
            output.Add(sep);
        return [.. output];
    }
}
