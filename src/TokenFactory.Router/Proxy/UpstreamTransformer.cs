using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using TokenFactory.Router.Replicas;

namespace TokenFactory.Router.Proxy;

/// <summary>
/// Shapes one attempt to forward a request to a replica (YARP forwards it; this says what changes on the way): the
/// client's credentials are replaced by the fleet's internal token, and the router tells the replica whose request
/// it is, its class and its id. On the way back, a replica that refuses for load (502/503/504 before anything was
/// sent) leaves the response untouched so the request can go elsewhere; otherwise the answer is relayed (and
/// metered) by <see cref="UpstreamRelay"/>, named by the replica that served it.
/// </summary>
internal sealed class UpstreamTransformer(Replica replica, ForwardedWork work, string tenant, string? token, bool canRetry, UpstreamRelay relay, IdleTimeout idle)
    : HttpTransformer
{
    public const string ReplicaHeader = "x-tokenfactory-replica";

    /// <summary>Why this attempt should be retried elsewhere (the replica refused for load), or null.</summary>
    public string? RetryReason { get; private set; }

    /// <summary>The replica answered (any status): headers arrived.</summary>
    public bool Answered { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        var headers = proxyRequest.Headers;
        headers.Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        headers.Remove("Cookie");
        headers.Remove("Origin");
        headers.Remove("Accept-Encoding"); // the relay reads the answer: it must come uncompressed
        // The browser's fetch metadata with its Origin: the router checked them; the replica sees the router's request.
        foreach (var name in headers.Select(h => h.Key).Where(k => k.StartsWith("x-tokenfactory-", StringComparison.OrdinalIgnoreCase)
            || k.StartsWith("Sec-Fetch-", StringComparison.OrdinalIgnoreCase)).ToList())
            headers.Remove(name);
        headers.TryAddWithoutValidation("x-tokenfactory-tenant", tenant);
        headers.TryAddWithoutValidation("x-tokenfactory-priority", work.Route.Priority);
        headers.TryAddWithoutValidation("x-tokenfactory-request-id", work.Id);
        proxyRequest.RequestUri = new Uri(replica.Url, work.Path.TrimStart('/'));
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
            return await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        Answered = true;
        idle.Rearm(); // the headers came: from now on each piece of the body has the idle timeout
        int status = (int)proxyResponse.StatusCode;
        if (canRetry && status is 502 or 503 or 504)
        {
            RetryReason = $"upstream_{status}";
            httpContext.Response.StatusCode = StatusCodes.Status200OK; // nothing of this attempt reaches the client
            return false;
        }
        await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        var response = httpContext.Response;
        response.Headers[ReplicaHeader] = replica.Name;
        response.Headers.ContentLength = null; // the relay may drop the usage chunk or the replica's own usage fields
        try
        {
            var upstream = await proxyResponse.Content.ReadAsStreamAsync(idle.Token);
            bool events = proxyResponse.Content.Headers.ContentType?.MediaType == "text/event-stream";
            if (status != StatusCodes.Status200OK)
                await relay.CopyErrorAsync(upstream, httpContext, status);
            else if (events != work.Stream)
                throw UpstreamRelay.NotOpenAi(events ? "a stream to a request that asked for a whole answer" : "a whole answer to a request that asked for a stream");
            else if (events)
                await relay.CopySseAsync(upstream, httpContext);
            else
                await relay.CopyJsonAsync(upstream, httpContext);
        }
        catch (Exception e) when (!httpContext.RequestAborted.IsCancellationRequested)
        {
            relay.Fail(e); // never into YARP, which would clear the response to a bare 502 (or throw on a started stream)
        }
        return false; // the relay copied the body
    }
}
