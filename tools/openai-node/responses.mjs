// Drives TokenFactory's /v1/responses with the official `openai` npm package and prints one JSON line the server tests
// assert on: plain text, a forced function call streamed (the SDK's stream helper assembles it), a tool round trip and a
// json_schema answer. Usage: node responses.mjs --base-url http://127.0.0.1:8080/v1 --model stories260K
import OpenAI from "openai";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { "base-url": { type: "string" }, model: { type: "string" } } });
if (!values["base-url"] || !values.model) {
  console.error("usage: node responses.mjs --base-url URL --model NAME");
  process.exit(2);
}
const client = new OpenAI({ baseURL: values["base-url"], apiKey: "not-needed", maxRetries: 0 });
const model = values.model;

const plain = await client.responses.create({ model, input: "Tell me a story.", instructions: "Be brief.", max_output_tokens: 16, store: false });

const tools = [{
  type: "function", name: "get_time", description: "The time in a zone", strict: true,
  parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false },
}];
const stream = client.responses.stream({
  model, input: "What time is it?", tools, tool_choice: { type: "function", name: "get_time" }, temperature: 1, max_output_tokens: 600, store: false,
});
const events = [];
stream.on("event", (e) => events.push(e.type));
const forced = await stream.finalResponse();
const call = forced.output.find((item) => item.type === "function_call");

const roundTrip = await client.responses.create({
  model, tools, max_output_tokens: 8, store: false,
  input: [
    { role: "user", content: "What time is it?" },
    { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
    { type: "function_call_output", call_id: call.call_id, output: "{\"time\": \"14:05\"}" },
  ],
});

const structured = await client.responses.create({
  model, input: "A pet?", temperature: 1, max_output_tokens: 300, store: false,
  text: { format: { type: "json_schema", name: "pet", strict: true,
    schema: { type: "object", additionalProperties: false, required: ["kind", "age"], properties: { kind: { enum: ["cat", "dog"] }, age: { type: "integer" } } } } },
});

console.log(JSON.stringify({
  plain: { id: plain.id, status: plain.status, text: plain.output_text, output_tokens: plain.usage.output_tokens },
  forced: { status: forced.status, name: call?.name, call_id: call?.call_id, arguments: JSON.parse(call?.arguments ?? "null"), events },
  round_trip: { status: roundTrip.status, text: roundTrip.output_text },
  structured: { status: structured.status, value: JSON.parse(structured.output_text) },
}));
