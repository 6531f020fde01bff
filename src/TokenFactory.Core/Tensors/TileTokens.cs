namespace TokenFactory.Tensors;

/// <summary>
/// How many tokens a tile kernel computes, as a type: a kernel generic over it is compiled once per count, with the other
/// tokens' work dropped as dead code (a count passed as an argument would leave every token's branch in the loop).
/// </summary>
internal interface ITileTokens
{
    static abstract int Count { get; }
}

internal readonly struct Tokens2 : ITileTokens { public static int Count => 2; }

internal readonly struct Tokens3 : ITileTokens { public static int Count => 3; }

internal readonly struct Tokens4 : ITileTokens { public static int Count => 4; }

internal readonly struct Tokens5 : ITileTokens { public static int Count => 5; }

internal readonly struct Tokens6 : ITileTokens { public static int Count => 6; }

internal readonly struct Tokens7 : ITileTokens { public static int Count => 7; }

internal readonly struct Tokens8 : ITileTokens { public static int Count => 8; }
