namespace TokenFactory.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-unicode alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are
/// shifted to U+0100 and up, so that every byte string is a printable string and BPE vocabularies can be stored as text.
/// </summary>
internal static class ByteLevel
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly short[] s_charToByte = BuildCharToByte();

    public static char ToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a character of the alphabet stands for, or -1 when it is not part of it.</summary>
    public static int ToByte(char c) => c < s_charToByte.Length ? s_charToByte[c] : -1;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + shifted++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var inverse = new short[256 + 68];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++)
            inverse[s_byteToChar[b]] = (short)b;
        return inverse;
    }
}
