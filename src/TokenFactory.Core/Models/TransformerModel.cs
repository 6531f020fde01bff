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
            // A block count past the file's tensors (and past any real model's) is a corrupt header: refused before the config
            // sizes per-block tables by it. Smaller mismatches are named later, with the first missing tensor.
            if (file.Metadata.GetStringOrNull("general.architecture") is { } arch
                && file.Metadata.GetInt32OrNull($"{arch}.block_count") is int blocks && blocks > Math.Max(file.Tensors.Count, 4096))
                throw new TokenFactoryException($"{file.Path}: {arch}.block_count {blocks} exceeds the file's {file.Tensors.Count} tensors.");
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
