using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>llama.cpp server's inspection endpoints: /tokenize, /detokenize, /apply-template.</summary>
internal static class InspectionEndpoints
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Defaults as llama.cpp's: no BOS (add_special false), control-token texts parsed.</summary>
    public static async Task<IResult> TokenizeAsync(HttpContext context, EngineHost host)
    {
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.TokenizeRequest);
        var tokenizer = ServedEngine(context, host, request.Model).Tokenizer;
        var ids = tokenizer.Encode(request.Content ?? "", request.AddSpecial ?? false, request.ParseSpecial ?? true);
        if (request.WithPieces != true)
            return Results.Json(new TokenizeResponse { Tokens = ids }, OpenAiJson.Default.TokenizeResponse);
        var pieces = ids.Select(id => new TokenWithPiece { Id = id, Piece = Piece(tokenizer.TokenBytes(id)) }).ToList();
        return Results.Json(new TokenizeWithPiecesResponse { Tokens = pieces }, OpenAiJson.Default.TokenizeWithPiecesResponse);
    }

    public static async Task<IResult> DetokenizeAsync(HttpContext context, EngineHost host)
    {
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.DetokenizeRequest);
        var tokenizer = ServedEngine(context, host, request.Model).Tokenizer;
        var tokens = request.Tokens ?? [];
        for (int i = 0; i < tokens.Length; i++)
            if (!tokenizer.Vocabulary.IsValid(tokens[i]))
                throw OpenAiException.Invalid($"tokens[{i}] = {tokens[i]} is not a token id of this model (0..{tokenizer.VocabSize - 1}).", "tokens");
        return Results.Json(new DetokenizeResponse { Content = tokenizer.Decode(tokens) }, OpenAiJson.Default.DetokenizeResponse);
    }

    /// <summary>The exact prompt text a chat request would be tokenized from (add_generation_prompt defaults to true, as for chat).</summary>
    public static async Task<IResult> ApplyTemplateAsync(HttpContext context, EngineHost host)
    {
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.ApplyTemplateRequest);
        var engine = ServedEngine(context, host, request.Model);
        var messages = ChatPrompt.Normalize(request.Messages);
        string prompt = ChatPrompt.Render(engine, messages, request.Tools, request.AddGenerationPrompt ?? true, request.ChatTemplateKwargs, context.RequestAborted);
        return Results.Json(new ApplyTemplateResponse { Prompt = prompt }, OpenAiJson.Default.ApplyTemplateResponse);
    }

    /// <summary>
    /// The served model's engine, for a caller whose key may use it: these endpoints work on the served model
    /// (named or not), so a key restricted to other models gets 403 here as on the generation endpoints.
    /// </summary>
    private static Engine.IInferenceEngine ServedEngine(HttpContext context, EngineHost host, string? model)
    {
        host.EnsureModel(model);
        var engine = host.GetReadyEngine();
        CallerFeature.CheckModel(context, host.Source!.Name);
        return engine;
    }

    private static JsonNode Piece(byte[] bytes)
    {
        try
        {
            return JsonValue.Create(StrictUtf8.GetString(bytes));
        }
        catch (DecoderFallbackException)
        {
            return new JsonArray([.. bytes.Select(b => (JsonNode)JsonValue.Create((int)b))]);
        }
    }
}
