using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>
/// GET /v1/models and GET /v1/models/{id}. The model is listed as soon as it is chosen, before it finishes
/// loading; a key restricted to other models does not see it (as OpenAI lists only what a key can use).
/// </summary>
internal static class ModelsEndpoints
{
    public static IResult List(HttpContext context, EngineHost host) =>
        Results.Json(new ModelList { Data = host.Source is { } source && Allowed(context, source.Name) ? [Card(host)] : [] }, OpenAiJson.Default.ModelList);

    public static IResult Get(HttpContext context, string id, EngineHost host)
    {
        if (host.Source is null || !host.Source.Matches(id))
            throw EngineHost.ModelNotFound(id);
        CallerFeature.CheckModel(context, host.Source.Name);
        return Results.Json(Card(host), OpenAiJson.Default.ModelCard);
    }

    private static bool Allowed(HttpContext context, string model) => CallerFeature.Of(context).Key?.Allows(model) ?? true;

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
                Architecture = engine.Model.Architecture,
                ContextLength = engine.ContextLength,
                VocabSize = engine.Tokenizer.VocabSize,
                HasOwnChatTemplate = engine.HasOwnChatTemplate,
                File = Path.GetFileName(source.Path),
            },
        };
    }
}
