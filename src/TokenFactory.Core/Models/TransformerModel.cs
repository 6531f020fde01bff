using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>
/// A loaded llama-family model (llama, qwen2, qwen3): the mapped file, its configuration and its
/// weights. Immutable and shareable; per-sequence state (KV blocks, recurrent state) lives in the engine.
/// </summary>
public sealed class TransformerModel : IModelFile
{
    private TransformerModel(GgufFile file, ModelConfig config, TransformerWeights weights)
    {
        File = file;
        Config = config;
        Weights = weights;
    }

    public GgufFile File { get; }
    public ModelConfig Config { get; }
    public TransformerWeights Weights { get; }

    public int VocabSize => Weights.Output.Rows;

    public string Architecture => Config.Architecture;

    public static TransformerModel Load(string path) => Load(GgufFile.Open(path), ownsFile: true);

    public static TransformerModel Load(GgufFile file, bool ownsFile = false)
    {
        try
        {
            var config = ModelConfig.FromMetadata(file.Metadata);
            var weights = TransformerWeights.Load(file, config);
            return new TransformerModel(file, config, weights);
        }
        catch when (ownsFile)
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => File.Dispose();
}
