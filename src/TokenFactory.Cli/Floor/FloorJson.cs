using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Cli.Floor;

/// <summary>JSON output of the floor commands: the admin API's own shapes, as arrays.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(List<TeamBody>))]
[JsonSerializable(typeof(List<KeyBody>))]
[JsonSerializable(typeof(List<BudgetBody>))]
[JsonSerializable(typeof(List<UsageRowBody>))]
internal sealed partial class FloorJson : JsonSerializerContext
{
    public static FloorJson Relaxed { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
    });
}
