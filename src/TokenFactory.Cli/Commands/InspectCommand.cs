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
        o.WriteLine(Support(f));
        return 0;
    }

    /// <summary>One line saying whether this engine runs the file: its architecture, and any tensor type it cannot compute.</summary>
    private static string Support(GgufFile f)
    {
        string? arch = f.Architecture;
        if (arch is null || f.Tensors.Count == 0)
            return "* no tensors or no general.architecture: not a model (a vocabulary file?)";
        var missing = f.Tensors.Select(t => t.Type).Where(t => !Tensors.Dequantizer.IsSupported(t)).Distinct().Order().ToList();
        bool known = Models.ModelConfig.SupportedArchitectures.Contains(arch) || arch == Models.Bert.BertConfig.Architecture;
        if (known && missing.Count == 0)
            return $"* supported: architecture '{arch}' and every tensor type ({string.Join(", ", f.Tensors.Select(t => t.Type).Distinct().Order())})";
        var why = new List<string>();
        if (!known)
            why.Add($"architecture '{arch}' is not one this engine runs ({string.Join(", ", Models.ModelConfig.SupportedArchitectures.Append(Models.Bert.BertConfig.Architecture))})");
        if (missing.Count > 0)
            why.Add($"tensor types it cannot compute: {string.Join(", ", missing)}");
        return "* not supported: " + string.Join("; ", why);
    }
}
