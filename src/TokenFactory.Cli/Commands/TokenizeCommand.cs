using System.CommandLine;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Cli.Commands;

/// <summary><c>tokenfactory tokenize --model FILE [--special] [--pieces] TEXT</c>, like llama-tokenize.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF model or vocabulary file", Required = true };
        var special = new Option<bool>("--special") { Description = "Parse control-token texts such as <|im_start|> into their tokens" };
        var pieces = new Option<bool>("--pieces") { Description = "Print each token's piece next to its id" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add BOS/EOS even if the vocabulary asks for them" };
        var text = new Argument<string>("text") { Description = "Text to tokenize" };
        var cmd = new Command("tokenize", "Print the token ids of a text") { model, special, pieces, noBos, text };
        cmd.SetAction(r => CommandErrors.Run(() =>
        {
            using var f = GgufFile.Open(r.GetValue(model)!);
            var tokenizer = Tokenizer.FromMetadata(f.Metadata);
            var ids = tokenizer.Encode(r.GetValue(text)!, addSpecial: !r.GetValue(noBos), parseSpecial: r.GetValue(special));
            if (r.GetValue(pieces))
            {
                foreach (int id in ids)
                    Console.WriteLine($"{id,6} -> '{tokenizer.TokenPiece(id)}'");
            }
            else
            {
                Console.WriteLine("[" + string.Join(", ", ids) + "]");
            }
            return 0;
        }));
        return cmd;
    }
}
