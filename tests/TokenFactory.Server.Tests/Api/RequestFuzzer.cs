using System.Text;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// Seeded malformed requests for both generation endpoints: each case takes a valid request and breaks one
/// thing — one field's value (wrong type, out of range, invalid UTF-8, a lone surrogate, huge, deeply nested),
/// or the body itself (a repeated key, an unknown field, a missing field, truncation, a flipped byte, a wrong
/// Content-Type). The same seed gives the same requests, so a failure can be replayed.
/// </summary>
public sealed class RequestFuzzer(int seed)
{
    public sealed record Case(string Path, byte[] Body, string? ContentType, string Description);

    private readonly Random _random = new(seed);

    /// <summary>Every top-level field each endpoint knows, the ones the fuzzer breaks.</summary>
    public static readonly string[] ChatFields =
    [
        "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
        "presence_penalty", "frequency_penalty", "repeat_penalty", "seed", "stop", "n", "user", "ignore_eos", "logprobs", "top_logprobs",
        "chat_template_kwargs", "reasoning_format", "tools", "tool_choice", "parallel_tool_calls", "response_format", "logit_bias",
        "modalities", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier",
    ];

    public static readonly string[] CompletionFields =
    [
        "model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k", "min_p", "presence_penalty",
        "frequency_penalty", "repeat_penalty", "seed", "stop", "n", "user", "ignore_eos", "echo", "logprobs", "suffix", "best_of",
        "logit_bias", "store", "metadata", "service_tier",
    ];

    /// <summary>Places inside the messages where a broken value goes (@ marks it).</summary>
    private static readonly string[] MessageShapes =
    [
        "[{\"role\": @, \"content\": \"Hi\"}]",
        "[{\"role\": \"user\", \"content\": @}]",
        "[{\"role\": \"user\", \"name\": @, \"content\": \"Hi\"}]",
        "[{\"role\": \"system\", \"content\": @}, {\"role\": \"user\", \"content\": \"Hi\"}]",
        "[{\"role\": \"user\", \"content\": [{\"type\": @, \"text\": \"Hi\"}]}]",
        "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": @}]}]",
        "[{\"role\": \"user\", \"content\": [@]}]",
        "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": @, \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}]",
        "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": @}}]}]",
        "[{\"role\": \"tool\", \"tool_call_id\": @, \"content\": \"42\"}]",
        "[@]",
        "@",
    ];

    /// <summary>Places inside a completions prompt.</summary>
    private static readonly string[] PromptShapes = ["@", "[@]", "[\"a\", @]", "[1, @]", "[[1, 2], @]", "[[@]]"];

    public IEnumerable<Case> Cases(int count)
    {
        for (int i = 0; i < count; i++)
        {
            bool chat = _random.Next(2) == 0;
            yield return _random.Next(10) switch
            {
                < 6 => BreakField(chat),
                < 8 => BreakInside(chat),
                _ => BreakBody(chat),
            };
        }
    }

    private static string PathOf(bool chat) => chat ? "/v1/chat/completions" : "/v1/completions";

    private static Dictionary<string, byte[]> Valid(bool chat) => chat
        ? new() { ["messages"] = Utf8("[{\"role\": \"user\", \"content\": \"Once upon a time\"}]"), ["max_tokens"] = Utf8("4") }
        : new() { ["prompt"] = Utf8("\"Once upon a time\""), ["max_tokens"] = Utf8("4") };

    private Case BreakField(bool chat)
    {
        var fields = chat ? ChatFields : CompletionFields;
        string field = fields[_random.Next(fields.Length)];
        var body = Valid(chat);
        var (value, what) = BadValue();
        body[field] = value;
        return new Case(PathOf(chat), Encode(body), "application/json", $"{field} = {what}");
    }

    private Case BreakInside(bool chat)
    {
        var body = Valid(chat);
        var (value, what) = BadValue();
        var shapes = chat ? MessageShapes : PromptShapes;
        string shape = shapes[_random.Next(shapes.Length)];
        string[] parts = shape.Split('@');
        body[chat ? "messages" : "prompt"] = [.. Utf8(parts[0]), .. value, .. Utf8(parts[1])];
        return new Case(PathOf(chat), Encode(body), "application/json", $"{(chat ? "messages" : "prompt")} {shape} with @ = {what}");
    }

    private Case BreakBody(bool chat)
    {
        var body = Valid(chat);
        byte[] valid = Encode(body);
        switch (_random.Next(7))
        {
            case 0:
                return new Case(PathOf(chat), [.. valid[..^1], .. Utf8(", \"max_tokens\": 3}")], "application/json", "repeated key");
            case 1:
                body["x_" + _random.Next(1000)] = Utf8("1");
                return new Case(PathOf(chat), Encode(body), "application/json", "unknown field");
            case 2:
                body.Remove(chat ? "messages" : "prompt");
                return new Case(PathOf(chat), Encode(body), "application/json", "required field missing");
            case 3:
                return new Case(PathOf(chat), valid[.._random.Next(valid.Length)], "application/json", "truncated");
            case 4:
                var flipped = (byte[])valid.Clone();
                flipped[_random.Next(flipped.Length)] = (byte)_random.Next(256);
                return new Case(PathOf(chat), flipped, "application/json", "a byte replaced");
            case 5:
                string[] types = ["text/plain", "application/x-www-form-urlencoded", "application/xml", "application/json; charset=latin1"];
                string type = types[_random.Next(types.Length)];
                return new Case(PathOf(chat), valid, type, $"Content-Type {type}");
            default:
                return new Case(PathOf(chat), valid, null, "no Content-Type");
        }
    }

    /// <summary>A value that is wrong somewhere: its type, its range, its bytes or its size.</summary>
    private (byte[] Value, string What) BadValue()
    {
        switch (_random.Next(9))
        {
            case 0:
                string[] literals = ["null", "true", "false", "[]", "{}", "[1, 2]", "{\"a\": 1}", "[[[]]]", "\"\"", "[null]", "{\"type\": \"text\"}"];
                var literal = literals[_random.Next(literals.Length)];
                return (Utf8(literal), literal);
            case 1:
                string[] numbers = ["0", "-1", "1", "2", "5", "21", "65", "128", "129", "2.0000001", "-2.0000001", "1.5", "1e308", "-1e308", "1e-320",
                    "9223372036854775808", "-9223372036854775809", "100000", "4294967296", "-0"];
                var number = numbers[_random.Next(numbers.Length)];
                return (Utf8(number), number);
            case 2:
                return ([(byte)'"', 0xFF, (byte)'"'], "a string with byte 0xFF");
            case 3:
                return ([(byte)'"', (byte)'a', 0xC3, (byte)'"'], "a string cut inside a UTF-8 character");
            case 4:
                return (Utf8(_random.Next(2) == 0 ? "\"\\ud800\"" : "\"x\\udfff\""), "a lone surrogate escape");
            case 5:
                int depth = _random.Next(2) == 0 ? 70 : 20;
                return (Utf8(new string('[', depth) + new string(']', depth)), $"arrays nested {depth} deep");
            case 6:
                int length = _random.Next(1, 3000);
                return (Utf8("\"" + new string((char)('a' + _random.Next(26)), length) + "\""), $"a string of {length} characters");
            case 7:
                string[] strings = ["\"\\u0000\"", "\"\\n\\t\"", "\"<|im_end|>\"", "\"\\ud83d\\ude00\"", "\"NaN\"", "\"Infinity\"", "\"auto\"", "\"none\""];
                var s = strings[_random.Next(strings.Length)];
                return (Utf8(s), s);
            default:
                return (Utf8("NaN"), "NaN (not JSON)");
        }
    }

    private static byte[] Encode(Dictionary<string, byte[]> fields)
    {
        var bytes = new List<byte> { (byte)'{' };
        bool first = true;
        foreach (var (name, value) in fields)
        {
            if (!first)
                bytes.AddRange(Utf8(", "));
            first = false;
            bytes.AddRange(Utf8($"\"{name}\": "));
            bytes.AddRange(value);
        }
        bytes.Add((byte)'}');
        return [.. bytes];
    }

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
