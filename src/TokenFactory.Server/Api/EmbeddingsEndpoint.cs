using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Floor.Identity;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Api;

/// <summary>
/// POST /v1/embeddings: OpenAI's shape. Inputs are tokenized here, admitted by the floor as prompt tokens (nothing to
/// generate), batched with other requests' inputs by the embedding engine, and returned L2-normalized (as OpenAI's and
/// llama.cpp's servers return them), as floats or base64 of little-endian float32s.
/// </summary>
internal static class EmbeddingsEndpoint
{
    public static async Task<IResult> PlanAsync(HttpContext context, EngineHost host, TimeProvider time, IOptions<ServerOptions> options)
    {
        long started = time.GetTimestamp();
        var request = await RequestBody.ReadAsync(context, OpenAiJson.Default.EmbeddingRequest);
        host.EnsureModel(request.Model);
        var embeddings = host.GetEmbeddingEngine();
        bool base64 = request.EncodingFormat switch
        {
            null or "float" => false,
            "base64" => true,
            _ => throw OpenAiException.Invalid($"'encoding_format' must be 'float' or 'base64', not '{request.EncodingFormat}'.", "encoding_format"),
        };
        int dimensions = embeddings.Dimensions;
        if (request.Dimensions is int wanted && wanted != dimensions)
        {
            if (!options.Value.Matryoshka)
                throw OpenAiException.Invalid($"'dimensions' must be {dimensions} for this model: it is not served as a Matryoshka embedder (serve --matryoshka).", "dimensions");
            if (wanted < 1 || wanted > dimensions)
                throw OpenAiException.Invalid($"'dimensions' must be between 1 and {dimensions}.", "dimensions");
            dimensions = wanted;
        }
        var inputs = EmbeddingInputs.Parse(request.Input, embeddings.Tokenizer, embeddings.ContextLength);
        string id = FleetRequest.Of(context)?.RequestId ?? "embd-" + Guid.NewGuid().ToString("N");
        return new Work(embeddings, inputs, id, host.Source!.Name, started, dimensions, base64) { User = request.User };
    }

    /// <summary>An embedding request checked and tokenized, for the floor to admit.</summary>
    private sealed class Work(IEmbeddingEngine engine, List<int[]> inputs, string id, string model, long started, int dimensions, bool base64)
        : IMeteredWork, IResult
    {
        public string Id => id;
        public string Model => model;
        public long PromptTokens { get; } = inputs.Sum(i => (long)i.Length);
        public long MaxCompletionTokens => 0;
        public string? User { get; init; }
        public long Started => started;

        public IResult Admitted(MeteredRequest metered, Caller caller, string tenant, Engine.PriorityClass priority) =>
            new MeteredEmbedding(engine, inputs, metered, this, Respond);

        Task IResult.ExecuteAsync(HttpContext httpContext) =>
            throw new InvalidOperationException("An embedding request reached the response without the floor's admission (the endpoint lacks FloorFilter).");

        private Task Respond(HttpContext context, EmbeddingResult result) => WriteAsync(context, result, model, dimensions, base64);
    }

    private static async Task WriteAsync(HttpContext context, EmbeddingResult result, string model, int dimensions, bool base64)
    {
        // The fleet's router meters by the replica's measured work, as for generation; other callers never see it.
        bool forRouter = FleetRequest.Of(context) is not null;
        bool estimated = forRouter && (context.RequestServices.GetService(typeof(TokenFactory.Floor.FloorService)) as TokenFactory.Floor.FloorService)?.EnergyMeter?.IsEstimated == true;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        var vector = new float[dimensions];
        for (int i = 0; i < result.Vectors.Length; i++)
        {
            Normalize(result.Vectors[i].AsSpan(0, dimensions), vector);
            json.WriteStartObject();
            json.WriteString("object", "embedding");
            json.WriteNumber("index", i);
            if (base64)
                json.WriteBase64String("embedding", MemoryMarshal.AsBytes(vector.AsSpan()));
            else
            {
                json.WriteStartArray("embedding");
                foreach (float v in vector)
                    json.WriteNumberValue(v);
                json.WriteEndArray();
            }
            json.WriteEndObject();
            if (json.BytesPending > 64 * 1024)
                await json.FlushAsync(context.RequestAborted);
        }
        json.WriteEndArray();
        json.WriteString("model", model);
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", result.Tokens);
        json.WriteNumber("total_tokens", result.Tokens);
        if (forRouter)
        {
            json.WriteStartObject("tokenfactory");
            json.WriteNumber("queue_seconds", result.QueueTime.TotalSeconds);
            json.WriteNumber("prefill_seconds", result.Work.PrefillSeconds);
            json.WriteNumber("decode_seconds", 0);
            json.WriteNumber("energy_joules", result.Work.Joules);
            json.WriteBoolean("energy_estimated", estimated);
            json.WriteNumber("time_to_first_token_seconds", (result.QueueTime.TotalSeconds + result.Work.PrefillSeconds));
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted);
    }

    /// <summary>Unit length (L2); a zero vector stays zero rather than becoming NaN.</summary>
    internal static void Normalize(ReadOnlySpan<float> source, Span<float> destination)
    {
        float norm = TensorPrimitives.Norm(source);
        TensorPrimitives.Multiply(source, norm > 0 ? 1f / norm : 0f, destination);
    }
}
