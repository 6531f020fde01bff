using System.Text;

namespace TokenFactory.Tokenization;

public sealed partial class Tokenizer
{
    public string Decode(ReadOnlySpan<int> ids) => Decode(ids, removeSpecial: false, unparseSpecial: false);

    /// <summary>
    /// llama.cpp's detokenize: when add_space_prefix is on, the first token's leading space (the one encoding added)
    /// is removed, unless a leading BOS was dropped by <paramref name="removeSpecial"/>. llama.cpp's optional
    /// "clean up tokenization spaces" pass is not applied: output is exactly the concatenated pieces, which is what
    /// streaming produces as well.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial)
    {
        bool removeSpace = Vocabulary.AddSpacePrefix;
        if (removeSpecial && Vocabulary.AddBos && ids.Length > 0 && ids[0] == Bos)
        {
            removeSpace = false;
            ids = ids[1..];
        }
        if (removeSpecial && Vocabulary.AddEos && ids.Length > 0 && ids[^1] == Eos)
            ids = ids[..^1];

        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids)
        {
            var piece = PieceSpan(id, unparseSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
                piece = piece[1..];
            removeSpace = false;
            bytes.AddRange(piece);
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }
}
