using System.Diagnostics;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Clients;

/// <summary>The official <c>openai</c> npm package, run by Node.js, streaming from the server over a real socket.</summary>
[Collection(StoriesServerCollection.Name)]
public sealed class NodeClientTests(StoriesServerFixture fixture)
{
    private static readonly string ToolDir = Path.Combine(TestPaths.RepoRoot, "tools", "openai-node");

    [Fact]
    public async Task Openai_npm_package_streams_a_chat_completion()
    {
        var install = await RunAsync("bash", [Path.Combine(ToolDir, "install.sh")], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0,
            $"tools/openai-node/install.sh failed (node and npm, Node >= 20, must be installed to run this test):\n{install.Output}");

        var server = fixture.Server;
        var run = await RunAsync("node", [Path.Combine(ToolDir, "stream-chat.mjs"), "--base-url", server.OpenAiEndpoint.ToString(), "--model", ServerInstance.ModelName,
            "--prompt", "Tell me a story.", "--max-tokens", "16"], TimeSpan.FromMinutes(2));
        Assert.True(run.ExitCode == 0, run.Output);
        var result = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!;

        using var whole = await server.PostJsonAsync("/v1/chat/completions",
            new { model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "Tell me a story." } }, max_tokens = 16, temperature = 0 });
        var expected = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!;

        Assert.StartsWith("chatcmpl-", (string)result["id"]!);
        Assert.Equal("assistant", (string)result["role"]!);
        Assert.Equal((string)expected["choices"]![0]!["message"]!["content"]!, (string)result["text"]!);
        Assert.Equal("length", (string)result["finish_reason"]!);
        Assert.Equal(16, (int)result["usage"]!["completion_tokens"]!);
        Assert.True((int)result["chunks"]! > 3, "the stream arrives as many chunks");
        Assert.StartsWith("6.", (string)result["openai_version"]!);
    }

    [Fact]
    public async Task Openai_npm_package_gets_forced_tool_calls_whole_and_streamed_and_schema_valid_json()
    {
        var install = await RunAsync("bash", [Path.Combine(ToolDir, "install.sh")], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, $"tools/openai-node/install.sh failed:\n{install.Output}");
        // stories260K under Qwen2.5's template: a model that never saw a tool or JSON, held to both by the grammar.
        await using var server = await ServerInstance.StartAsync(new()
        {
            ["TokenFactory:ChatTemplateFile"] = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja"),
            ["TokenFactory:ContextLength"] = "2048",
        });
        var run = await RunAsync("node", [Path.Combine(ToolDir, "agent.mjs"), "--base-url", server.OpenAiEndpoint.ToString(), "--model", ServerInstance.ModelName],
            TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode == 0, run.Output);
        var result = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!;
        foreach (string way in new[] { "whole", "streamed" })
        {
            var call = result[way]!;
            Assert.Equal("tool_calls", (string?)call["finish_reason"]);
            Assert.Null(call["content"]);
            Assert.Equal("get_time", (string?)call["name"]);
            Assert.StartsWith("call_", (string?)call["id"]);
            Assert.Contains((string?)call["arguments"]!["zone"], new[] { "UTC", "CET" });
        }
        Assert.Equal("stop", (string?)result["structured"]!["finish_reason"]);
        Assert.Contains((string?)result["structured"]!["value"]!["kind"], new[] { "cat", "dog" });
        Assert.Equal(System.Text.Json.JsonValueKind.Number, result["structured"]!["value"]!["age"]!.GetValueKind());
    }

    [Fact]
    public async Task Openai_npm_package_uses_the_responses_api_text_streamed_forced_calls_a_tool_round_trip_and_json()
    {
        var install = await RunAsync("bash", [Path.Combine(ToolDir, "install.sh")], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, $"tools/openai-node/install.sh failed:\n{install.Output}");
        await using var server = await ServerInstance.StartAsync(new()
        {
            ["TokenFactory:ChatTemplateFile"] = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja"),
            ["TokenFactory:ContextLength"] = "2048",
        });
        var run = await RunAsync("node", [Path.Combine(ToolDir, "responses.mjs"), "--base-url", server.OpenAiEndpoint.ToString(), "--model", ServerInstance.ModelName],
            TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode == 0, run.Output);
        var result = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!;

        var plain = result["plain"]!;
        Assert.StartsWith("resp_", (string?)plain["id"]);
        Assert.Equal("incomplete", (string?)plain["status"]); // 16 tokens of a story: cut by max_output_tokens
        Assert.Equal(16, (int)plain["output_tokens"]!);
        Assert.False(string.IsNullOrEmpty((string?)plain["text"]));

        var forced = result["forced"]!;
        Assert.Equal("completed", (string?)forced["status"]);
        Assert.Equal("get_time", (string?)forced["name"]);
        Assert.StartsWith("call_", (string?)forced["call_id"]);
        Assert.Contains((string?)forced["arguments"]!["zone"], new[] { "UTC", "CET" });
        var events = forced["events"]!.AsArray().Select(e => (string)e!).ToList();
        Assert.Equal(["response.created", "response.in_progress", "response.output_item.added"], events.Take(3));
        Assert.True(events.Count(e => e == "response.function_call_arguments.delta") > 1, "the arguments stream in pieces");
        Assert.Equal(["response.function_call_arguments.done", "response.output_item.done", "response.completed"], events.TakeLast(3));

        Assert.False(string.IsNullOrEmpty((string?)result["round_trip"]!["text"])); // the call and its output went back through the template
        Assert.Equal("completed", (string?)result["structured"]!["status"]);
        Assert.Contains((string?)result["structured"]!["value"]!["kind"], new[] { "cat", "dog" });
    }

    [Fact]
    public async Task Openai_npm_package_embeds_texts_decoding_base64_to_the_same_floats()
    {
        var install = await RunAsync("bash", [Path.Combine(ToolDir, "install.sh")], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, $"tools/openai-node/install.sh failed:\n{install.Output}");
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:Model"] = Api.EmbeddingsTests.BertFile.Value });
        string[] texts = ["Hello world", "A factory budgets in tokens."];
        var run = await RunAsync("node", [Path.Combine(ToolDir, "embeddings.mjs"), "--base-url", server.OpenAiEndpoint.ToString(), "--model", ServerInstance.ModelName,
            "--input", texts[0], "--input", texts[1]], TimeSpan.FromMinutes(2));
        Assert.True(run.ExitCode == 0, run.Output);
        var result = JsonNode.Parse(run.Output.Trim().Split('\n')[^1])!;

        Assert.Equal(128, (int)result["dimensions"]!);
        Assert.Equal([0, 1], result["indexes"]!.AsArray().Select(i => (int)i!));
        Assert.Equal(texts.Sum(t => server.Engine.Tokenizer.Encode(t).Length), (int)result["usage"]!["prompt_tokens"]!);
        for (int i = 0; i < texts.Length; i++)
        {
            // The client decoded base64 into the very floats the float answer spells out.
            float[] decoded = [.. result["decoded"]![i]!.AsArray().Select(v => (float)v!)];
            float[] floats = [.. result["floats"]![i]!.AsArray().Select(v => (float)v!)];
            Assert.Equal(floats, decoded);
            Assert.Equal(1f, System.Numerics.Tensors.TensorPrimitives.Norm(decoded), 1e-5f);
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new Xunit.Sdk.XunitException($"Cannot run '{file}' ({e.Message}): install Node.js >= 20 with npm to run the openai npm client test.");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} did not finish within {timeout}");
            }
            return (process.ExitCode, await stdout + await stderr);
        }
    }
}
