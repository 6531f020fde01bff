using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>The command center behind route: the fleet's replicas, their health and load, their models, and the fleet's traffic.</summary>
public sealed class CommandCenterTests
{
    private static async Task<JsonObject> NowAsync(RouterInstance router) => (await router.Client.GetFromJsonAsync<JsonObject>("/v1/factory/now"))!;

    private static JsonObject Replica(JsonObject now, string id) => now["replicas"]!.AsArray().Single(r => (string?)r!["id"] == id)!.AsObject();

    [Fact]
    public async Task It_shows_each_replica_its_model_and_traffic_and_a_dead_replica_within_two_seconds()
    {
        await using var real = await ServerInstance.StartAsync(new() { ["TokenFactory:Fleet:InternalToken"] = RouterInstance.InternalToken });
        await using var stub = await StubReplica.StartAsync("stub-model");
        stub.Status = () => StubReplica.StatusOf("stub-model", running: 2);
        await using var router = await RouterInstance.StartAsync([real.BaseAddress, stub.BaseAddress],
            new() { ["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K });

        // Rates come from the change in a replica's counters between samples: let a sample see its counters before the traffic.
        var first = await Eventually.HoldsAsync(() => NowAsync(router),
            n => (string?)n["models"]!.AsArray().FirstOrDefault(m => (string?)m!["id"] == "stories260K")?["architecture"] == "llama");
        double seen = first["time"]!.GetValue<double>();
        await Eventually.HoldsAsync(() => NowAsync(router), n => n["sample"] is JsonObject s && s["t"]!.GetValue<double>() > seen);
        for (int i = 0; i < 2; i++)
        {
            using var response = await router.Client.PostAsJsonAsync("/v1/completions", new { model = "stories260K", prompt = "Once upon a time", max_tokens = 6 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var now = await Eventually.HoldsAsync(() => NowAsync(router), n => n["totals"]!["requests"]!.GetValue<long>() == 2);
        Assert.Equal("route", (string?)now["mode"]);
        var replica = Replica(now, real.BaseAddress.Authority);
        Assert.True(replica["healthy"]!.GetValue<bool>());
        Assert.Equal("ready", (string?)replica["state"]);
        Assert.Equal(real.BaseAddress.ToString(), (string?)replica["url"]);
        Assert.True(replica["kv_capacity_tokens"]!.GetValue<long>() > 0);
        Assert.Equal(2, Replica(now, stub.Name)["running"]!.GetValue<int>());
        // The real replica reported its model's shape through /internal/status; the stub only its name.
        var model = now["models"]!.AsArray().Single(m => (string?)m!["id"] == "stories260K")!;
        Assert.Equal("llama", (string?)model["architecture"]);
        Assert.Equal("F32", (string?)model["quantization"]);
        Assert.Equal(512, model["context_length"]!.GetValue<int>());
        Assert.Null(now["models"]!.AsArray().Single(m => (string?)m!["id"] == "stub-model")!["architecture"]);
        // The replica's own engine counters: its utilization and batch reached the fleet's samples.
        var history = (await router.Client.GetFromJsonAsync<JsonObject>("/v1/factory/history?window=5m"))!["samples"]!.AsArray();
        Assert.Equal(2, history.Sum(s => s!["requests"]!.GetValue<long>()));
        Assert.Contains(history, s => s!["utilization"]!.GetValue<double>() > 0 && s["batch_mean"]!.GetValue<double>() >= 1);
        Assert.Contains(history, s => s!["replicas"]![real.BaseAddress.Authority]!["output_tps"]!.GetValue<double>() > 0);

        await stub.KillAsync();
        var killed = DateTime.UtcNow;
        await Eventually.HoldsAsync(() => NowAsync(router), n => !Replica(n, stub.Name)["healthy"]!.GetValue<bool>(), seconds: 2);
        Assert.True(DateTime.UtcNow - killed < TimeSpan.FromSeconds(2.5));
        Assert.Equal("down", (string?)Replica(await NowAsync(router), stub.Name)["state"]);
        Assert.True(Replica(await NowAsync(router), real.BaseAddress.Authority)["healthy"]!.GetValue<bool>());
    }
}
