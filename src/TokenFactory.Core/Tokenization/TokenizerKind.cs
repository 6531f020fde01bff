namespace TokenFactory.Tokenization;

/// <summary>The tokenization algorithm named by <c>tokenizer.ggml.model</c>.</summary>
public enum TokenizerKind
{
    /// <summary><c>llama</c>: SentencePiece-style greedy merging by score with byte fallback.</summary>
    SentencePiece,

    /// <summary><c>gpt2</c>: byte-level BPE with ranked merges after regex pre-tokenization.</summary>
    BytePairEncoding,

    /// <summary><c>bert</c>: WordPiece, greedy longest match with <c>##</c> continuations.</summary>
    WordPiece,
}
