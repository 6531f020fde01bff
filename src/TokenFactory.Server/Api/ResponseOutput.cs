using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using TokenFactory.Server.Generation;

namespace TokenFactory.Server.Api;

/// <summary>
/// One answer as Responses API output items, in the order they began: the message (its text) and each function call
/// (its arguments). When streaming, each change goes out as the API's events as it happens. A reasoning model's
/// thinking is not returned (the API returns summaries of reasoning, which this server does not write).
/// </summary>
internal sealed class ResponseOutput(ChoiceReader reader)
{
    private readonly JsonArray _items = [];
    private JsonObject? _message;
    private int _messageIndex;
    private readonly StringBuilder _text = new();     // the open message's
    private readonly StringBuilder _allText = new();  // every message's, for the conversation
    private readonly Dictionary<int, (int OutputIndex, JsonObject Item, StringBuilder Arguments)> _calls = [];
    private readonly List<int> _openCalls = []; // calls whose done events have not gone out
    private readonly List<int> _continued = []; // this piece's calls begun in earlier pieces

    public ChoiceReader Reader => reader;

    /// <param name="end">The answer ended; <paramref name="cut"/>: by its length limit (its items are then incomplete).</param>
    public async Task AddAsync(ChoiceReader.Piece piece, ResponsesEndpoint.EventWriter? events, bool end, bool cut = false)
    {
        // One update can end a call and go on with text (a token spelling the arguments' last brace, the closing markup and
        // a word): the rest of each call already begun goes first, then the text, then calls that begin after it.
        _continued.Clear();
        foreach (var call in piece.Calls)
        {
            if (_calls.TryGetValue(call.Index, out var known))
            {
                _continued.Add(call.Index);
                await AppendArgumentsAsync(known, call.Arguments, events);
            }
        }
        if (piece.Content.Length > 0)
        {
            await CloseCallsAsync(events, "completed"); // text after a call: the call's markup closed, so it is whole
            await StartMessageAsync(events);
            _text.Append(piece.Content);
            _allText.Append(piece.Content);
            if (events is not null)
                await events.WriteAsync("response.output_text.delta", Part(new JsonObject { ["delta"] = piece.Content }));
        }
        foreach (var call in piece.Calls)
        {
            if (_continued.Contains(call.Index))
                continue;
            if (!_calls.TryGetValue(call.Index, out var known))
            {
                if (_message is not null)
                    await CloseMessageAsync(events, "completed"); // each item ends before the next begins; later text is a new message
                await CloseCallsAsync(events, "completed");
                var item = new JsonObject
                {
                    ["type"] = "function_call", ["id"] = "fc_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), ["call_id"] = call.Id,
                    ["name"] = call.Name, ["arguments"] = "", ["status"] = "in_progress",
                };
                known = (_items.Count, item, new StringBuilder());
                _calls[call.Index] = known;
                _openCalls.Add(call.Index);
                _items.Add(item);
                if (events is not null)
                    await events.WriteAsync("response.output_item.added", new JsonObject { ["output_index"] = known.OutputIndex, ["item"] = item.DeepClone() });
            }
            await AppendArgumentsAsync(known, call.Arguments, events);
        }
        if (end)
            await FinishAsync(events, cut ? "incomplete" : "completed");
    }

    private static async Task AppendArgumentsAsync((int OutputIndex, JsonObject Item, StringBuilder Arguments) call, string arguments,
        ResponsesEndpoint.EventWriter? events)
    {
        if (arguments.Length == 0)
            return;
        call.Arguments.Append(arguments);
        if (events is not null)
            await events.WriteAsync("response.function_call_arguments.delta",
                new JsonObject { ["item_id"] = (string?)call.Item["id"], ["output_index"] = call.OutputIndex, ["delta"] = arguments });
    }

    /// <summary>The answer as the chat message it is in a conversation (text and tool calls), for previous_response_id.</summary>
    public JsonObject AsChatMessage()
    {
        var message = new JsonObject { ["role"] = "assistant", ["content"] = _allText.Length == 0 && _calls.Count > 0 ? null : _allText.ToString() };
        if (_calls.Values.Any(c => IsKept(c.Item)))
            message["tool_calls"] = new JsonArray([.. _calls.Values.Where(c => IsKept(c.Item)).OrderBy(c => c.OutputIndex).Select(c => (JsonNode)new JsonObject
            {
                ["id"] = (string?)c.Item["call_id"], ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = (string?)c.Item["name"], ["arguments"] = c.Arguments.ToString() },
            })]);
        return message;
    }

    /// <summary>
    /// The output items, each at the index its stream events gave it. A call whose arguments did not end as a whole object
    /// (cut short, malformed) stays, with status incomplete: it is not a call to run (nor one in the conversation).
    /// </summary>
    public JsonArray Items() => new([.. _items.Select(i => i!.DeepClone())]);

    private bool IsKept(JsonNode? item) =>
        (string?)item!["type"] != "function_call" || reader.Calls.Any(c => c.Id == (string?)item["call_id"]);

    private async Task StartMessageAsync(ResponsesEndpoint.EventWriter? events)
    {
        if (_message is not null)
            return;
        _message = new JsonObject
        {
            ["type"] = "message", ["id"] = "msg_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), ["status"] = "in_progress",
            ["role"] = "assistant", ["content"] = new JsonArray(),
        };
        _messageIndex = _items.Count;
        _items.Add(_message);
        if (events is null)
            return;
        await events.WriteAsync("response.output_item.added", new JsonObject { ["output_index"] = _messageIndex, ["item"] = _message.DeepClone() });
        await events.WriteAsync("response.content_part.added", Part(new JsonObject { ["part"] = TextPart("") }));
    }

    private async Task FinishAsync(ResponsesEndpoint.EventWriter? events, string status)
    {
        if (_items.Count == 0)
            await StartMessageAsync(events); // an empty answer is still one (empty) message
        if (_message is not null)
            await CloseMessageAsync(events, status);
        await CloseCallsAsync(events, status);
    }

    private async Task CloseCallsAsync(ResponsesEndpoint.EventWriter? events, string status)
    {
        foreach (int call in _openCalls)
        {
            var (index, item, arguments) = _calls[call];
            item["arguments"] = arguments.ToString();
            item["status"] = IsKept(item) ? status : "incomplete";
            if (events is null)
                continue;
            await events.WriteAsync("response.function_call_arguments.done",
                new JsonObject { ["item_id"] = (string?)item["id"], ["output_index"] = index, ["arguments"] = arguments.ToString() });
            await events.WriteAsync("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item.DeepClone() });
        }
        _openCalls.Clear();
    }

    private async Task CloseMessageAsync(ResponsesEndpoint.EventWriter? events, string status)
    {
        var message = _message!;
        string text = _text.ToString();
        message["content"] = new JsonArray(TextPart(text));
        message["status"] = status;
        if (events is not null)
        {
            await events.WriteAsync("response.output_text.done", Part(new JsonObject { ["text"] = text }));
            await events.WriteAsync("response.content_part.done", Part(new JsonObject { ["part"] = TextPart(text) }));
            await events.WriteAsync("response.output_item.done", new JsonObject { ["output_index"] = _messageIndex, ["item"] = message.DeepClone() });
        }
        _message = null;
        _text.Clear();
    }

    /// <summary>An event about the message's one text part.</summary>
    private JsonObject Part(JsonObject payload)
    {
        payload["item_id"] = (string?)_message!["id"];
        payload["output_index"] = _messageIndex;
        payload["content_index"] = 0;
        return payload;
    }

    private static JsonObject TextPart(string text) => new() { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() };
}
