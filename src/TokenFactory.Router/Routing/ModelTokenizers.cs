using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using TokenFactory.Chat;
using TokenFactory.Gguf;
using TokenFactory.Tokenization;

namespace TokenFactory.Router.Routing;

/// <summary>
/// The tokenizer and chat template of each model the router was given a GGUF file for (<see cref="RouterOptions.Models"/>):
/// the file is opened for its metadata only (mapped, its weights never read), so the router renders and tokenizes a
/// prompt exactly as a replica will and knows which of its blocks a replica may already hold.
/// </summary>
public sealed class ModelTokenizers(IOptions<RouterOptions> options) : IDisposable
{
    public sealed record Entry(Tokenizer Tokenizer, ChatTemplate Template, GgufFile File);

    private readonly ConcurrentDictionary<string, Lazy<Entry?>> _entries = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The model's tokenizer and template, or null when the router has no file for it.</summary>
    /// <exception cref="TokenFactoryException">The configured file cannot be read.</exception>
    public Entry? For(string model) => _entries.GetOrAdd(model, m => new Lazy<Entry?>(() => Load(m))).Value;

    private Entry? Load(string model)
    {
        if (!options.Value.Models.TryGetValue(model, out var path) || string.IsNullOrWhiteSpace(path))
            return null;
        var file = GgufFile.Open(path);
        try
        {
            var tokenizer = Tokenizer.FromMetadata(file.Metadata);
            var (template, _) = ChatTemplates.ForModel(file.Metadata, tokenizer);
            return new Entry(tokenizer, template, file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var entry in _entries.Values)
        {
            if (entry.IsValueCreated)
                entry.Value?.File.Dispose();
        }
    }
}
