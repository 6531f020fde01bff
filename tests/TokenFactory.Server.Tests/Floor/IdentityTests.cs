using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;
using ChatCompletion = OpenAI.Chat.ChatCompletion;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Floor;

/// <summary>API keys on /v1 and the admin key on /admin, through the OpenAI SDK and plain HTTP against a real server.</summary>
public sealed class IdentityTests : IAsyncLifetime
{
    private FloorServer _floor = null!;

    public async Task InitializeAsync() => _floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:Floor:Pricing:MachineUsdPerHour"] = "3.6" });

    public async Task DisposeAsync() => await _floor.DisposeAsync();

    private static readonly ChatMessage[] Messages = [new UserChatMessage("Once upon a time")];
    private static ChatCompletionOptions Greedy(int max = 4) => new() { Temperature = 0, MaxOutputTokenCount = max };

    private static async Task<(int Status, JsonObject Error)> FailureOf(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(call);
        var body = JsonNode.Parse(e.GetRawResponse()!.Content.ToString())!.AsObject();
        return (e.Status, body["error"]!.AsObject());
    }

    [Fact]
    public async Task Requests_without_a_valid_key_get_401_in_OpenAI_shape()
    {
        using (var anonymous = await _floor.Server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            var error = JsonNode.Parse(await anonymous.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal("missing_api_key", (string?)error["code"]);
            Assert.Equal("invalid_request_error", (string?)error["type"]);
            Assert.Contains("Authorization", (string?)error["message"]);
        }
        foreach (var (header, code) in new[] { ("Basic dXNlcjpwYXNz", "missing_api_key"), ("Bearer ", "missing_api_key"), ("Bearer tf-", "invalid_api_key"),
            ("Bearer tf-key_x-", "invalid_api_key"), ("Bearer tf-" + new string('k', 6000), "invalid_api_key") })
        {
            using var bad = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            bad.Headers.TryAddWithoutValidation("Authorization", header);
            using var response = await _floor.Server.Client.SendAsync(bad);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal(code, (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["code"]);
        }
        var (status, err) = await FailureOf(() => _floor.Chat("sk-not-ours").CompleteChatAsync(Messages, Greedy()));
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", (string?)err["code"]);

        // A real key id with the wrong secret is as unknown as no key at all, and /v1/models is guarded too.
        var key = await _floor.NewKeyAsync();
        string forged = key.Secret![..^4] + "AAAA";
        (status, err) = await FailureOf(() => _floor.Chat(forged).CompleteChatAsync(Messages, Greedy()));
        Assert.Equal(401, status);
        Assert.DoesNotContain(key.Secret, (string?)err["message"]);
        using var models = await _floor.Server.Client.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, models.StatusCode);
        using var tokenize = await _floor.Server.PostJsonAsync("/tokenize", new { content = "Hi" });
        Assert.Equal(HttpStatusCode.Unauthorized, tokenize.StatusCode);
        using var health = await _floor.Server.Client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode); // probes and scrapers need no key
        using var metrics = await _floor.Server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key.Secret) } };
        using var allowed = await _floor.Server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Fact]
    public async Task Revoked_and_expired_keys_get_401()
    {
        var revoked = await _floor.NewKeyAsync();
        var expired = await _floor.CreateKeyAsync(revoked.Team!, "expiring");
        await _floor.Chat(revoked.Secret!).CompleteChatAsync(Messages, Greedy());
        await _floor.Chat(expired.Secret!).CompleteChatAsync(Messages, Greedy());

        using (var r = await _floor.Admin.PostAsync($"/admin/keys/{revoked.Id}/revoke", null))
            Assert.Equal("revoked", (await r.Content.ReadFromJsonAsync(AdminJsonContext.Relaxed.KeyBody))!.Status);
        using (var r = await _floor.Admin.PatchAsJsonAsync($"/admin/keys/{expired.Id}", new KeyBody { ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) }, AdminJsonContext.Relaxed.KeyBody))
            Assert.Equal("expired", (await r.Content.ReadFromJsonAsync(AdminJsonContext.Relaxed.KeyBody))!.Status);

        var (status, error) = await FailureOf(() => _floor.Chat(revoked.Secret!).CompleteChatAsync(Messages, Greedy()));
        Assert.Equal((401, "api_key_revoked"), (status, (string?)error["code"]));
        (status, error) = await FailureOf(() => _floor.Chat(expired.Secret!).CompleteChatAsync(Messages, Greedy()));
        Assert.Equal((401, "api_key_expired"), (status, (string?)error["code"]));
    }

    [Fact]
    public async Task A_key_may_use_only_its_models()
    {
        var team = (await _floor.CreateTeamAsync(FloorServer.NewTeamId())).Id!;
        var other = await _floor.CreateKeyAsync(team, "other", ["some-other-model"]);
        var mine = await _floor.CreateKeyAsync(team, "mine", [ServerInstance.ModelName]);
        var (status, error) = await FailureOf(() => _floor.Chat(other.Secret!).CompleteChatAsync(Messages, Greedy()));
        Assert.Equal(403, status);
        Assert.Equal("model_not_allowed", (string?)error["code"]);
        Assert.Equal("model", (string?)error["param"]);
        ChatCompletion ok = await _floor.Chat(mine.Secret!).CompleteChatAsync(Messages, Greedy());
        Assert.Equal(4, ok.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task A_key_restricted_to_other_models_reaches_the_model_through_no_endpoint()
    {
        var team = (await _floor.CreateTeamAsync(FloorServer.NewTeamId())).Id!;
        var other = await _floor.CreateKeyAsync(team, "other", ["some-other-model"]);
        var mine = await _floor.CreateKeyAsync(team, "mine", [ServerInstance.ModelName]);
        (string Method, string Path, object? Body)[] calls =
        [
            ("POST", "/tokenize", new { content = "Once upon a time" }),
            ("POST", "/detokenize", new { tokens = new[] { 1, 400 } }),
            ("POST", "/apply-template", new { messages = new[] { new { role = "user", content = "Hi" } } }),
            ("POST", "/tokenize", new { content = "Hi", model = ServerInstance.ModelName }),
            ("GET", $"/v1/models/{ServerInstance.ModelName}", null),
            ("POST", "/v1/completions", new { prompt = "Hi", max_tokens = 1 }),
        ];
        foreach (var (method, path, body) in calls)
        {
            using var refused = await SendAsync(other.Secret!, method, path, body);
            await Api.ErrorTests.AssertErrorAsync(refused, HttpStatusCode.Forbidden, "model", "model_not_allowed");
            using var served = await SendAsync(mine.Secret!, method, path, body);
            Assert.True(served.IsSuccessStatusCode, $"{method} {path}: {(int)served.StatusCode} {await served.Content.ReadAsStringAsync()}");
        }
        using var list = await SendAsync(other.Secret!, "GET", "/v1/models", null);
        Assert.Empty(JsonNode.Parse(await list.Content.ReadAsStringAsync())!["data"]!.AsArray());
        using var mineList = await SendAsync(mine.Secret!, "GET", "/v1/models", null);
        Assert.Single(JsonNode.Parse(await mineList.Content.ReadAsStringAsync())!["data"]!.AsArray());
    }

    private Task<HttpResponseMessage> SendAsync(string secret, string method, string path, object? body)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", secret) } };
        if (body is not null)
            request.Content = JsonContent.Create(body);
        return _floor.Server.Client.SendAsync(request);
    }

    [Fact]
    public async Task Keys_are_stored_only_as_salted_hashes_and_shown_once()
    {
        var key = await _floor.NewKeyAsync();
        var twin = await _floor.CreateKeyAsync(key.Team!, "twin");
        Assert.StartsWith($"tf-{key.Id}-", key.Secret);
        var read = await _floor.Admin.GetFromJsonAsync($"/admin/keys/{key.Id}", AdminJsonContext.Relaxed.KeyBody);
        Assert.Null(read!.Secret);
        string list = await _floor.Admin.GetStringAsync($"/admin/keys?team={key.Team}");
        Assert.DoesNotContain("tf-", list);

        var stored = (await _floor.Server.Floor.Store.GetKeyAsync(key.Id!))!;
        var storedTwin = (await _floor.Server.Floor.Store.GetKeyAsync(twin.Id!))!;
        Assert.NotEqual(stored.Salt, storedTwin.Salt);
        string dbPath = _floor.Server.Floor.Options.ResolveDatabasePath();
        var bytes = new StringBuilder();
        foreach (var file in new[] { dbPath, dbPath + "-wal" }.Where(File.Exists))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream, Encoding.Latin1);
            bytes.Append(await reader.ReadToEndAsync());
        }
        Assert.Contains(stored.Hash, bytes.ToString()); // the hash is there (database or its WAL)…
        Assert.DoesNotContain(key.Secret![^20..], bytes.ToString()); // …the secret is not
    }

    [Fact]
    public async Task The_admin_API_needs_the_admin_key()
    {
        var key = await _floor.NewKeyAsync();
        using var anonymous = await _floor.Server.Client.GetAsync("/admin/keys");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("invalid_admin_key", (string?)JsonNode.Parse(await anonymous.Content.ReadAsStringAsync())!["error"]!["code"]);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/keys") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key.Secret) } };
        using var withApiKey = await _floor.Server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, withApiKey.StatusCode);
        using var admin = await _floor.Admin.GetAsync("/admin/keys");
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
    }

    /// <summary>Wrong admin keys are throttled per address as dashboard sign-ins are: the admin API answered every guess at full speed.</summary>
    [Fact]
    public async Task Wrong_admin_keys_are_throttled_per_address()
    {
        await using var floor = await FloorServer.StartAsync();
        async Task<HttpResponseMessage> AdminAs(string secret)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/teams") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", secret) } };
            return await floor.Server.Client.SendAsync(request);
        }
        for (int i = 0; i < TokenFactory.Server.CommandCenter.DashboardAccess.MaxFailuresPerMinute; i++)
        {
            using var wrong = await AdminAs($"guess-{i}");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using var throttled = await AdminAs(FloorServer.AdminKey); // even the right key waits out the minute
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.NotNull(throttled.Headers.RetryAfter);
        using var factory = new HttpRequestMessage(HttpMethod.Get, "/v1/factory/now") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "guess") } };
        using (var viewer = await floor.Server.Client.SendAsync(factory))
            Assert.Equal(HttpStatusCode.TooManyRequests, viewer.StatusCode); // one count for every way a key is tried
    }

    [Fact]
    public async Task Bad_admin_input_gets_400_naming_the_field_and_stores_nothing()
    {
        var team = (await _floor.CreateTeamAsync(FloorServer.NewTeamId())).Id!;
        async Task Expect(HttpResponseMessage r, int status, string? param)
        {
            string body = await r.Content.ReadAsStringAsync();
            Assert.True(status == (int)r.StatusCode, body);
            Assert.Equal(param, (string?)JsonNode.Parse(body)!["error"]!["param"]);
            r.Dispose();
        }
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/teams", new { id = "no spaces!" }), 400, "id");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/teams", new { id = team }), 409, "id");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/teams", new { id = "x", rpm = -1 }), 400, "rpm");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team = "no-such-team" }), 400, "team");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team, expires_at = "2001-01-01T00:00:00Z" }), 400, "expires_at");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = -5 }), 400, "hard");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 5, period = "fortnight" }), 400, "period");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 5, soft = 6 }), 400, "soft");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "galaxy", scope_id = team, unit = "tokens", hard = 5 }), 400, "scope");
        // Enum.TryParse took numbers and comma lists: such a budget was stored and never enforced.
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 5, period = "9" }), 400, "period");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 5, period = "day,week" }), 400, "period");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "1", scope_id = team, unit = "tokens", hard = 5 }), 400, "scope");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "5", hard = 5 }), 400, "unit");
        await Expect(await _floor.Admin.PostAsync("/admin/budgets", new StringContent("{\"hard\": \"lots\"}", Encoding.UTF8, "application/json")), 400, "hard");
        await Expect(await _floor.Admin.GetAsync("/admin/usage?group_by=planet"), 400, "group_by");
        await Expect(await _floor.Admin.GetAsync("/admin/keys/key_nothere"), 404, null);
        // Fields only the server sets, and fields it does not know, are refused rather than ignored.
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team, secret = "tf-key_chosen-by-me" }), 400, "secret");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team, id = "key_mine" }), 400, "id");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = team, unit = "tokens", hard = 5, spent = 0 }), 400, "spent");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/teams", new { id = "y", budget = 5 }), 400, "budget");
        // An empty list allows every model: a malformed entry is refused rather than dropped (which unrestricted the key).
        foreach (var models in new[] { new[] { "a,b" }, [" "], [""], ["stories260K", ""], [new string('m', 257)] })
            await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team, models }), 400, "models");
        await Expect(await _floor.Admin.PostAsync("/admin/keys", new StringContent($"{{\"team\": \"{team}\", \"models\": [null]}}", Encoding.UTF8, "application/json")), 400, "models");
        await Expect(await _floor.Admin.PostAsJsonAsync("/admin/keys", new { team, name = new string('n', 257) }), 400, "name");
        var restricted = await _floor.CreateKeyAsync((await _floor.CreateTeamAsync(FloorServer.NewTeamId())).Id!, "restricted", ["stories260K"]);
        await Expect(await _floor.Admin.PatchAsJsonAsync($"/admin/keys/{restricted.Id}", new { models = new[] { "a,b" } }), 400, "models");
        await Expect(await _floor.Admin.PatchAsJsonAsync($"/admin/keys/{restricted.Id}", new { name = new string('n', 257) }), 400, "name");
        var kept = (await _floor.Server.Floor.Store.GetKeyAsync(restricted.Id!))!;
        Assert.Equal(["stories260K"], kept.AllowedModels);
        Assert.Equal("restricted", kept.Name);
        Assert.DoesNotContain(await _floor.Server.Floor.Store.ListTeamsAsync(), t => t.Id is "x" or "y" or "no spaces!");
        Assert.Empty(await _floor.Server.Floor.Store.ListKeysAsync(team));
        Assert.DoesNotContain(await _floor.BudgetsAsync(), b => b.ScopeId == team);

        // A budget's amounts change; what it counts, for whom and over which period do not (a USD budget sent
        // {"unit": "tokens", "hard": 50000} was answered 200 and became $50,000).
        string other = (await _floor.CreateTeamAsync(FloorServer.NewTeamId())).Id!;
        string budgetId;
        using (var created = await _floor.Admin.PostAsJsonAsync("/admin/budgets", new { scope = "team", scope_id = other, unit = "usd", hard = 10 }))
            budgetId = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["id"]!;
        await Expect(await _floor.Admin.PatchAsJsonAsync($"/admin/budgets/{budgetId}", new { unit = "tokens", hard = 50000 }), 400, "unit");
        await Expect(await _floor.Admin.PatchAsJsonAsync($"/admin/budgets/{budgetId}", new { period = "day", hard = 100 }), 400, "period");
        await Expect(await _floor.Admin.PatchAsJsonAsync($"/admin/budgets/{budgetId}", new { scope_id = team }), 400, "scope_id");
        var unchanged = (await _floor.Server.Floor.Store.GetBudgetAsync(budgetId))!;
        Assert.Equal((TokenFactory.Floor.Budgets.BudgetUnit.Usd, 10.0), (unchanged.Unit, unchanged.Hard));
        using (var amount = await _floor.Admin.PatchAsJsonAsync($"/admin/budgets/{budgetId}", new { hard = 12 }))
            Assert.Equal(HttpStatusCode.OK, amount.StatusCode);
        Assert.Equal(12.0, (await _floor.Server.Floor.Store.GetBudgetAsync(budgetId))!.Hard);
    }

    [Fact]
    public async Task Every_request_is_in_the_ledger_with_its_usage_timings_energy_and_cost()
    {
        var key = await _floor.NewKeyAsync();
        var chat = _floor.Chat(key.Secret!);
        ChatCompletion whole = await chat.CompleteChatAsync(Messages, Greedy(6));
        // n = 3 choices share one prompt: the ledger counts it once, as the usage does.
        using var three = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key.Secret) },
            Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "Once upon a time" } }, max_tokens = 3, n = 3 }),
        };
        using var threeResponse = await _floor.Server.Client.SendAsync(three);
        var threeBody = JsonNode.Parse(await threeResponse.Content.ReadAsStringAsync())!;
        string? streamedId = null;
        ChatTokenUsage? streamedUsage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(Messages, Greedy(5)))
        {
            streamedId ??= update.CompletionId;
            streamedUsage ??= update.Usage;
        }
        using (var bad = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", key.Secret) },
            Content = JsonContent.Create(new { prompt = "Hi", temperature = 5 }),
        })
        using (var response = await _floor.Server.Client.SendAsync(bad))
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);

        var ledger = await _floor.LedgerAsync(key.Team);
        Assert.Equal(3, ledger.Count); // the refused request is counted apart, below
        var threeLine = ledger.Single(e => e.RequestId == (string)threeBody["id"]!);
        Assert.Equal((long)threeBody["usage"]!["prompt_tokens"]!, threeLine.PromptTokens);
        Assert.Equal((long)threeBody["usage"]!["completion_tokens"]!, threeLine.CompletionTokens);
        ledger.Remove(threeLine);
        var first = ledger.Single(e => e.RequestId == whole.Id);
        Assert.Equal((key.Id, key.Team, ServerInstance.ModelName, "/v1/chat/completions", 200), (first.Key, first.Team, first.Model, first.Endpoint, first.Status));
        Assert.Equal(whole.Usage.InputTokenCount, first.PromptTokens);
        Assert.Equal(whole.Usage.OutputTokenCount, first.CompletionTokens);
        Assert.True(first.TimeToFirstTokenSeconds > 0 && first.TimeToFirstTokenSeconds <= first.DurationSeconds);
        Assert.True(first.QueueSeconds >= 0 && first.QueueSeconds <= first.DurationSeconds);
        Assert.True(first.EnergyJoules > 0);
        Assert.True(first.EnergyEstimated);
        // 3.6 $/hour is 0.001 $/s of engine time (energy adds its share at 0.15 $/kWh).
        Assert.InRange(first.CostUsd, 1e-9, first.DurationSeconds * 0.001 + first.EnergyJoules / 3.6e6 * 0.15 + 1e-12);

        var streamed = ledger.Single(e => e.RequestId == streamedId);
        Assert.Equal((streamedUsage!.InputTokenCount, streamedUsage.OutputTokenCount), ((int)streamed.PromptTokens, (int)streamed.CompletionTokens));
        var refused = Assert.Single(await _floor.RefusalsAsync(key.Team));
        Assert.Equal(("/v1/completions", 400, 1L, key.Id), (refused.Endpoint, refused.Status, refused.Count, refused.Key));

        string csv = await _floor.Admin.GetStringAsync($"/admin/usage?group_by=key&key={key.Id}&format=csv");
        var lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal(TokenFactory.Floor.Ledger.UsageCsv.Header, lines[0]);
        Assert.StartsWith($"{key.Id},3,", lines[1]);
        Assert.EndsWith(",1", lines[1]); // the refused column
        var json = await _floor.Admin.GetFromJsonAsync($"/admin/usage?group_by=team&team={key.Team}", AdminJsonContext.Relaxed.AdminListUsageRowBody);
        var row = Assert.Single(json!.Data);
        Assert.Equal(first.PromptTokens + streamed.PromptTokens + threeLine.PromptTokens, row.PromptTokens);
        Assert.True(row.JoulesPerToken > 0 && row.UsdPerMillionOutputTokens > 0);
    }

    [Theory]
    [InlineData("TokenFactory:Floor:Auth", "keyz", "'keys'")]
    [InlineData("TokenFactory:Floor:Pricing:Pue", "0.5", "at least 1")]
    [InlineData("TokenFactory:Floor:Energy:Meter", "solar", "Unknown energy meter")]
    // NaN passed the old "< 0" checks: a NaN reserve price disabled money budgets on PostgreSQL and broke settlement on SQLite.
    [InlineData("TokenFactory:Floor:Pricing:ReserveUsdPerMillionTokens", "NaN", "ReserveUsdPerMillionTokens is NaN: it must be a finite number")]
    [InlineData("TokenFactory:Floor:Pricing:MachineUsdPerHour", "Infinity", "MachineUsdPerHour is Infinity")]
    [InlineData("TokenFactory:Floor:Pricing:UsdPerKwh", "NaN", "UsdPerKwh is NaN")]
    [InlineData("TokenFactory:Floor:Pricing:UsdPerKwh", "-1", "UsdPerKwh is -1")]
    [InlineData("TokenFactory:Floor:Energy:EstimatedWatts", "NaN", "EstimatedWatts is NaN")]
    [InlineData("TokenFactory:Floor:Pricing:Models:m:OutputUsdPerMillion", "NaN", "Models:m:OutputUsdPerMillion is NaN")]
    [InlineData("TokenFactory:Floor:Pricing:Models:m:CachedInputUsdPerMillion", "Infinity", "Models:m:CachedInputUsdPerMillion is Infinity")]
    [InlineData("TokenFactory:Floor:InstanceTimeoutSeconds", "Infinity", "InstanceTimeoutSeconds")]
    public async Task Floor_settings_that_make_no_sense_stop_the_server_with_a_clear_message(string key, string value, string expected)
    {
        var e = await Assert.ThrowsAsync<TokenFactoryException>(() => ServerInstance.StartAsync(new() { [key] = value }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task An_unreachable_ledger_stops_the_server_with_a_clear_message()
    {
        var e = await Assert.ThrowsAsync<TokenFactoryException>(() => ServerInstance.StartAsync(new()
        {
            ["TokenFactory:Floor:Postgres"] = "Host=/nonexistent-tokenfactory-socket-dir;Username=nobody;Timeout=2",
        }));
        Assert.StartsWith("cannot open the usage ledger (postgresql)", e.Message);
    }

    private sealed class LedgerDown() : System.Data.Common.DbException("connection refused");

    [Fact]
    public void A_ledger_outage_during_a_request_is_a_503_to_retry_not_a_500()
    {
        var error = TokenFactory.Server.Api.ErrorMapper.Map(new LedgerDown());
        Assert.Equal((503, "ledger_unavailable", 1), (error.Status, error.Code, error.RetryAfterSeconds));
    }

    [Fact]
    public void A_request_the_server_stopped_at_its_shutdown_deadline_is_a_503_to_retry_elsewhere()
    {
        var error = TokenFactory.Server.Api.ErrorMapper.Map(new TokenFactory.Engine.EngineStoppedException());
        Assert.Equal((503, "server_shutting_down", 1), (error.Status, error.Code, error.RetryAfterSeconds));
    }

    [Fact]
    public async Task Without_keys_requests_are_served_and_recorded_as_anonymous()
    {
        await using var server = await ServerInstance.StartAsync(); // the test default: Auth=none
        using var r = await server.PostJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        string id = (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["id"]!;
        var line = await server.Floor.Store.GetUsageAsync(id);
        Assert.NotNull(line);
        Assert.Null(line.KeyId);
        Assert.Equal(2, line.CompletionTokens);
    }
}
