using System.CommandLine;
using TokenFactory.Gguf;

namespace TokenFactory.Cli.Commands;

/// <summary><c>tokenfactory inspect FILE</c>: metadata and tensor table, like gguf-dump.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "GGUF file to inspect" };
        var full = new Option<bool>("--full") { Description = "Print whole arrays instead of their first elements" };
        var cmd = new Command("inspect", "Print a GGUF file's metadata and tensor table") { file, full };
        cmd.SetAction(r => CommandErrors.Run(() => Inspect(r.GetValue(file)!, r.GetValue(full), Console.Out)));
        return cmd;
    }

    public static int Inspect(string path, bool full, TextWriter o)
    {
        using var f = GgufFile.Open(path);
        o.WriteLine($"* File: {path}");
        o.WriteLine($"* GGUF version {f.Version}, {f.Length:N0} bytes, alignment {f.Alignment}, data at offset {f.DataOffset}");
        o.WriteLine($"* {f.Metadata.Count} key/value pairs:");
        int i = 1;
        foreach (var (key, value) in f.Metadata)
        {
            string type = value.Type == GgufValueType.Array ? $"[{value.ElementType}]" : value.Type.ToString();
            string count = value.Type == GgufValueType.Array ? value.ArrayLength.ToString() : "1";
            o.WriteLine($"  {i++,5}: {type,-10} | {count,8} | {key} = {value.Format(full ? int.MaxValue : 8)}");
        }
        o.WriteLine($"* {f.Tensors.Count} tensors:");
        long total = 0;
        i = 1;
        foreach (var t in f.Tensors)
        {
            o.WriteLine($"  {i++,5}: {t.Name,-32} {t.Type,-6} {t.ShapeText,-22} {t.ElementCount,14:N0} elements {t.ByteSize,15:N0} bytes");
            total += t.ByteSize;
        }
        o.WriteLine($"* {total:N0} bytes of tensor data");
        return 0;
    }
}
