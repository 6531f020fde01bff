using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>A loaded model as hosts see it whatever its kind (decoder or encoder): its mapped file and architecture.</summary>
public interface IModelFile : IDisposable
{
    GgufFile File { get; }

    /// <summary><c>general.architecture</c>: llama, qwen3, nemotron_h, bert…</summary>
    string Architecture { get; }
}
