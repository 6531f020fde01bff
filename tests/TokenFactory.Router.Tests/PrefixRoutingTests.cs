using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Routing;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>Routing by what each replica caches: the router's block hashes are the replicas' own, and a shared prefix stays where it is cached.</summary>
public sealed class PrefixRoutingTests
{
    [Fact]
    public void A_prompt_has_the_full_blocks_a_replica_would_cache_and_never_its_last_token()
    {
        Assert.Empty(PromptShape.FromTokens([.. Enumerable.Range(1, 16)], 16).Blocks); // the last token is always computed
        Assert.Single(PromptShape.FromTokens([.. Enumerable.Range(1, 17)], 17).Blocks);
        Assert.Equal(2, PromptShape.FromTokens([.. Enumerable.Range(1, 40)], 40).Blocks.Length);
        // A chain: the second block's hash depends on the first.
        var a = PromptShape.FromTokens([.. Enumerable.Range(1, 40)], 40).Blocks;
        var b = PromptShape.FromTokens([99, .. Enumerable.Range(2, 39)], 40).Blocks;
        Assert.NotEqual(a[0], b[0]);
        Assert.NotEqual(a[1], b[1]);
    }

    [Fact]
    public void The_prefix_index_matches_leading_blocks_and_forgets_the_least_recently_used()
    {
        var index = new PrefixIndex(capacityBlocks: 4);
        ulong[] first = [1, 2, 3];
        index.Add(first);
        Assert.Equal(3, index.MatchedBlocks(first));
        Assert.Equal(2, index.MatchedBlocks([1, 2, 9]));
        Assert.Equal(0, index.MatchedBlocks([9, 2, 3])); // a chain: nothing after a miss counts
        index.Add([7, 8]); // 5 blocks > 4: the least recently used goes, a chain's tail before its head
        Assert.Equal(4, index.Count);
        Assert.Equal(2, index.MatchedBlocks([7, 8]));
        Assert.Equal(2, index.MatchedBlocks(first));
    }

    private static string Prefix(int i) =>
        string.Join(' ', Enumerable.Range(0, 60).Select(w => $"{(char)('a' + i)}word{w}")) + ".";

    private static object Completion(int prefix, int question) => new
    {
        model = "stories260K",
        prompt = $"{Prefix(prefix)} Question {question}?",
        max_tokens = 2,
    };

    [Theory]
    [InlineData("prefix")]
    [InlineData("round-robin")]
    public async Task Requests_sharing_a_prefix_stay_on_the_replica_that_caches_it_and_new_prefixes_spread(string policy)
    {
        await using var a = await StubReplica.StartAsync("stories260K");
        await using var b = await StubReplica.StartAsync("stories260K");
        await using var router = await RouterInstance.StartAsync([a.BaseAddress, b.BaseAddress],
            new() { ["TokenFactory:Router:Policy"] = policy, ["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K });
        var servedBy = new Dictionary<int, HashSet<string>>();
        for (int round = 0; round < 3; round++)
        {
            for (int prefix = 0; prefix < 3; prefix++)
            {
                using var response = await router.PostAsync("/v1/completions", Completion(prefix, round));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                servedBy.TryAdd(prefix, []);
                servedBy[prefix].Add(response.Headers.GetValues("x-tokenfactory-replica").Single());
            }
        }
        if (policy == "prefix")
        {
            Assert.All(servedBy.Values, replicas => Assert.Single(replicas));
            Assert.Equal(2, servedBy.Values.SelectMany(r => r).Distinct().Count()); // the three prefixes spread over both
            Assert.True(await router.MetricAsync("tokenfactory_fleet_routed_cached_tokens_total") >= 2 * 3 * 8 * 16); // rounds 2 and 3 of each prefix: at least 8 blocks each
        }
        else
        {
            Assert.All(servedBy.Values, replicas => Assert.Equal(2, replicas.Count)); // the baseline ignores the caches
        }
    }

    [Fact]
    public async Task The_routers_belief_of_a_replicas_cache_is_what_the_replica_reports_cached()
    {
        var settings = new Dictionary<string, string?> { ["TokenFactory:Fleet:InternalToken"] = RouterInstance.InternalToken };
        await using var one = await ServerInstance.StartAsync(settings);
        await using var two = await ServerInstance.StartAsync(settings);
        await using var router = await RouterInstance.StartAsync([one.BaseAddress, two.BaseAddress],
            new() { ["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K });
        string prefix = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.";
        string? replica = null;
        double believed = 0;
        for (int i = 0; i < 3; i++)
        {
            using var response = await router.PostAsync("/v1/chat/completions",
                new { model = "stories260K", messages = new[] { new { role = "user", content = $"{prefix} Day {i}:" } }, max_tokens = 3, temperature = 0 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string servedBy = response.Headers.GetValues("x-tokenfactory-replica").Single();
            replica ??= servedBy;
            Assert.Equal(replica, servedBy);
            long cached = (long?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["usage"]!["prompt_tokens_details"]?["cached_tokens"] ?? 0;
            double now = await router.MetricAsync("tokenfactory_fleet_routed_cached_tokens_total", ("replica", servedBy));
            Assert.Equal(cached, now - believed); // exactly the blocks the replica found in its cache
            believed = now;
            if (i > 0)
                Assert.True(cached >= 16, $"request {i} found {cached} tokens cached");
        }
    }
}
