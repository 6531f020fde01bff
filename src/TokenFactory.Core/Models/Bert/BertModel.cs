using TokenFactory.Gguf;

namespace TokenFactory.Models.Bert;

/// <summary>A loaded BERT encoder: the mapped file, its configuration and weights. Immutable and shareable.</summary>
public sealed class BertModel : IModelFile
{
    private BertModel(GgufFile file, BertConfig config, BertWeights weights)
    {
        File = file;
        Config = config;
        Weights = weights;
    }

    public GgufFile File { get; }
    public BertConfig Config { get; }
    public BertWeights Weights { get; }
    public string Architecture => BertConfig.Architecture;

    /// <param name="poolingOverride">Replaces the file's <c>bert.pooling_type</c> (required when the file declares none).</param>
    public static BertModel Load(string path, PoolingType? poolingOverride = null)
    {
        var file = GgufFile.Open(path);
        try
        {
            if (file.Architecture != BertConfig.Architecture)
                throw new TokenFactoryException($"{path}: architecture '{file.Architecture}' is not a BERT encoder.");
            var config = BertConfig.FromMetadata(file.Metadata, poolingOverride);
            return new BertModel(file, config, BertWeights.Load(file, config));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => File.Dispose();
}
