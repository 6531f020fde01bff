using System.Text;
using TokenFactory.Constraints;

namespace TokenFactory.Server.Generation.Tools;

/// <summary>
/// How a model family writes a tool call, detected from its chat template: Hermes/Qwen's
/// <c>&lt;tool_call&gt;{"name": …, "arguments": …}&lt;/tool_call&gt;</c>, or — for a template that names no markup — a bare
/// JSON object (or array of them) with <c>name</c> and <c>arguments</c> (or <c>parameters</c>), the generic fallback.
/// </summary>
public sealed class ToolCallSyntax
{
    public static readonly ToolCallSyntax Hermes = new("hermes", "<tool_call>", "</tool_call>");
    public static readonly ToolCallSyntax Json = new("json", null, null);

    private ToolCallSyntax(string name, string? open, string? close)
    {
        Name = name;
        Open = open;
        Close = close;
    }

    public string Name { get; }
    /// <summary>The markup around each call (null: the answer itself is the JSON).</summary>
    public string? Open { get; }
    public string? Close { get; }

    public static ToolCallSyntax Detect(string templateSource) => templateSource.Contains("<tool_call>", StringComparison.Ordinal) ? Hermes : Json;

    /// <summary>A forced call's grammar: the markup (with the line breaks Hermes templates show) around the call object.</summary>
    public SchemaNode Wrap(SchemaNode call) => Open is null
        ? call
        : new WrappedNode(Encoding.UTF8.GetBytes(Open + "\n"), call, Encoding.UTF8.GetBytes("\n" + Close));
}
