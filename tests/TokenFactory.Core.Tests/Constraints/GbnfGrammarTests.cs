using System.Text;
using System.Text.RegularExpressions;
using TokenFactory.Constraints;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Constraints;

/// <summary>
/// GBNF grammars: what they accept and refuse byte by byte, the grammars refused with a position, and random walks
/// through the vocabulary under each grammar's mask that only ever produce text a regular expression of the same
/// language (written separately) accepts.
/// </summary>
public sealed class GbnfGrammarTests
{
    private static bool Accepts(string grammar, string text)
    {
        var state = JsonMatcher.Start(GbnfGrammar.Parse(grammar)).Advance(Encoding.UTF8.GetBytes(text));
        return state is { CanEnd: true };
    }

    private static bool IsPrefix(string grammar, string text) => JsonMatcher.Start(GbnfGrammar.Parse(grammar)).Advance(Encoding.UTF8.GetBytes(text)) is not null;

    private const string Arithmetic = """
        # integers with + and *, parenthesized
        root   ::= expr
        expr   ::= term ("+" term)*
        term   ::= factor ("*" factor)*
        factor ::= [0-9]+ | "(" expr ")"
        """;

    [Theory]
    [InlineData("1", true)]
    [InlineData("12+3*(4+5)", true)]
    [InlineData("((7))", true)]
    [InlineData("1+", false)]
    [InlineData("(1", false)]
    [InlineData("1 + 2", false)] // no whitespace unless the grammar says so
    [InlineData("", false)]
    public void An_arithmetic_grammar_accepts_exactly_its_language(string text, bool accepted)
    {
        Assert.Equal(accepted, Accepts(Arithmetic, text));
    }

    [Fact]
    public void Prefixes_of_the_language_stay_open_and_other_bytes_are_refused_at_once()
    {
        Assert.True(IsPrefix(Arithmetic, "1+"));
        Assert.True(IsPrefix(Arithmetic, "((2*"));
        Assert.False(IsPrefix(Arithmetic, "1+)"));
        Assert.False(IsPrefix(Arithmetic, "a"));
    }

    [Theory]
    [InlineData("""root ::= [a-c]{2,3} "!"?""", "ab", true)]
    [InlineData("""root ::= [a-c]{2,3} "!"?""", "abc!", true)]
    [InlineData("""root ::= [a-c]{2,3} "!"?""", "abca", false)]
    [InlineData("""root ::= [a-c]{2,3} "!"?""", "a", false)]
    [InlineData("""root ::= [^"\\]* """, "any text, é and 😀", true)]
    [InlineData("""root ::= [^"\\]* """, "a \" quote", false)]
    [InlineData("""root ::= "é" . "\x41\u00e9" """, "éxAé", true)]
    [InlineData("""root ::= "yes" | "no" | "" """, "", true)]
    [InlineData("""root ::= ("a" | "b")+ "c" """, "abbac", true)]
    [InlineData("""root ::= ("a" | "b")+ "c" """, "c", false)]
    [InlineData("""root ::= list  list ::= "[" (item ("," item)*)? "]"  item ::= [0-9] | list""", "[1,[2,[]],3]", true)]
    [InlineData("""root ::= [\u4e00-\u9fff]+""", "中文", true)]
    [InlineData("""root ::= [\u4e00-\u9fff]+""", "日本語ひ", false)]
    public void Classes_repetitions_escapes_groups_and_recursion(string grammar, string text, bool accepted)
    {
        Assert.Equal(accepted, Accepts(grammar, text));
    }

    [Fact]
    public void Multi_line_rules_and_comments_parse()
    {
        const string grammar = """
            root ::= greeting " " name   # a comment
              "!"
            greeting ::= "hello"
                       | "hi"
            name ::= [A-Z] [a-z]*
            """;
        Assert.True(Accepts(grammar, "hi Lily!"));
        Assert.False(Accepts(grammar, "hi lily!"));
    }

    [Fact]
    public void Recursion_with_a_way_out_is_accepted_and_a_rule_never_entered_is_not_judged()
    {
        const string grammar = "root ::= \"(\" root \")\" | \"x\"\nunused ::= \"z\" unused";
        Assert.True(Accepts(grammar, "((x))"));
        Assert.False(Accepts(grammar, "(("));
    }

    [Theory]
    [InlineData("""root ::= undefined""", "'undefined' is not defined", 1)]
    [InlineData("""main ::= "a" """, "no 'root' rule", 0)]
    [InlineData("""root ::= root "a" | "b" """, "left-recursive", 0)]
    [InlineData("""root ::= x "a"  x ::= "b"? root""", "left-recursive", 0)]
    [InlineData("""root ::= ("a"?)*""", "may match nothing", 0)]
    [InlineData("root ::= \"abc", "not closed", 1)]
    [InlineData("""root ::= "\q" """, "unknown escape", 1)]
    [InlineData("""root ::= [z-a]""", "backwards", 1)]
    [InlineData("""root ::= "a"{3,1}""", "reversed", 1)]
    [InlineData("root ::= \"a\"\nroot ::= \"b\"", "defined twice", 2)]
    [InlineData("""root = "a" """, "'::=' was expected", 1)]
    [InlineData("""root ::= "a" root""", "rule 'root' can never end", 0)]
    [InlineData("root ::= \"x\" | \"y\" l\nl ::= \"z\" l", "rule 'l' can never end", 0)]
    [InlineData("root ::= \"x\" a\na ::= \"y\" b\nb ::= \"z\" a", "can never end", 0)]
    public void Bad_grammars_are_refused_saying_why_and_where(string grammar, string why, int line)
    {
        var e = Assert.Throws<GrammarException>(() => GbnfGrammar.Parse(grammar));
        Assert.Contains(why, e.Message);
        Assert.Equal(line, e.Line);
    }

    public static TheoryData<string, string> Languages() => new()
    {
        { """root ::= "(" [a-z]+ ("," [0-9]{1,3})* ")" """, @"^\([a-z]+(,[0-9]{1,3})*\)$" },
        { """root ::= ("yes" | "no") "." """, @"^(yes|no)\.$" },
        { """root ::= [A-Z] [a-z]{0,8} (" " [A-Z] [a-z]{0,8}){0,3}""", @"^[A-Z][a-z]{0,8}( [A-Z][a-z]{0,8}){0,3}$" },
        { """root ::= "key=" [^\n;]{1,20} (";" "key=" [^\n;]{1,20})*""", @"^key=[^\n;]{1,20}(;key=[^\n;]{1,20})*$" },
    };

    [Theory]
    [MemberData(nameof(Languages))]
    public void Random_walks_under_the_mask_only_produce_the_grammars_language(string grammar, string regex)
    {
        var tokenizer = Stories.Value;
        var masker = TokenMasker.For(tokenizer);
        var root = GbnfGrammar.Parse(grammar);
        var random = new Random(7);
        var pattern = new Regex(regex, RegexOptions.CultureInvariant);
        int completed = 0;
        for (int round = 0; round < 40; round++)
        {
            var state = JsonMatcher.Start(root);
            var text = new List<byte>();
            var logits = new float[tokenizer.VocabSize];
            for (int step = 0; step < 60 && !state.MustEnd; step++)
            {
                Array.Clear(logits);
                masker.Mask(state, logits);
                var allowed = Enumerable.Range(0, logits.Length).Where(id => !float.IsNegativeInfinity(logits[id]) && !tokenizer.IsEndOfGeneration(id)).ToList();
                Assert.True(allowed.Count > 0 || state.CanEnd, $"dead end after {Convert.ToHexString([.. text])}");
                if (allowed.Count == 0 || (state.CanEnd && random.Next(3) == 0))
                    break;
                int pick = allowed[random.Next(allowed.Count)];
                state = masker.Advance(state, pick)!;
                text.AddRange(tokenizer.TokenBytes(pick, special: false));
            }
            if (!state.CanEnd)
                continue;
            completed++;
            string output = Encoding.UTF8.GetString([.. text]);
            Assert.Matches(pattern, output);
        }
        Assert.True(completed >= 20, $"only {completed} of 40 walks completed");
    }

    private static readonly Lazy<Tokenizer> Stories = new(() =>
    {
        using var file = GgufFile.Open(TestPaths.Stories260K);
        return Tokenizer.FromMetadata(file.Metadata);
    });
}
