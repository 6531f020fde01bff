using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>GET /v1/models and GET /v1/models/{id}. The model is listed as soon as it is chosen, before it finishes loading.</summary>
internal static class ModelsEndpoints
{
    public static IResult List(EngineHost host) =>
        Results.Json(new ModelList { Data = host.Source is null ? [] : [Card(host)] }, OpenAiJson.Default.ModelList);

    public static IResult Get(string id, EngineHost host)
    {
        if (host.Source is null || !host.Source.Matches(id))
            throw EngineHost.ModelNotFound(id);
        return Results.Json(Card(host), OpenAiJson.Default.ModelCard);
    }

    private static ModelCard Card(EngineHost host)
    {
        var source = host.Source!;
        var engine = host.Engine;
        return new ModelCard
        {
            Id = source.Name,
            Created = new DateTimeOffset(File.GetLastWriteTimeUtc(source.Path)).ToUnixTimeSeconds(),
            Meta = engine is null ? null : new ModelMeta
            {
                Architecture = engine.Model.Config.Architecture,
                ContextLength = engine.ContextLength,
                VocabSize = engine.Tokenizer.VocabSize,
                HasOwnChatTemplate = engine.HasOwnChatTemplate,
                File = Path.GetFileName(source.Path),
            },
        };
    }
}
