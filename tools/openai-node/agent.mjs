// Drives TokenFactory's agent features with the official `openai` npm package and prints one JSON line the server
// tests assert on: a forced tool call (whole and streamed, reassembled by the SDK's stream helper) and a json_schema answer.
// Usage: node agent.mjs --base-url http://127.0.0.1:8080/v1 --model stories260K
import OpenAI from "openai";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { "base-url": { type: "string" }, model: { type: "string" } } });
if (!values["base-url"] || !values.model) {
  console.error("usage: node agent.mjs --base-url URL --model NAME");
  process.exit(2);
}

const client = new OpenAI({ baseURL: values["base-url"], apiKey: "not-needed", maxRetries: 0 });
const tools = [{
  type: "function",
  function: {
    name: "get_time",
    description: "The time in a zone",
    parameters: { type: "object", properties: { zone: { enum: ["UTC", "CET"] } }, required: ["zone"], additionalProperties: false },
  },
}];
const forced = { type: "function", function: { name: "get_time" } };
const messages = [{ role: "user", content: "What time is it?" }];

const whole = await client.chat.completions.create({ model: values.model, messages, tools, tool_choice: forced, temperature: 1, seed: 1, max_tokens: 600 });

// The SDK's stream helper reassembles tool calls from the deltas, as an agent framework would.
const stream = client.chat.completions.stream({ model: values.model, messages, tools, tool_choice: forced, temperature: 1, seed: 2, max_tokens: 600 });
const streamed = await stream.finalChatCompletion();

const schema = {
  type: "object", additionalProperties: false, required: ["kind", "age"],
  properties: { kind: { enum: ["cat", "dog"] }, age: { type: "integer" } },
};
const structured = await client.chat.completions.create({
  model: values.model, messages: [{ role: "user", content: "A pet?" }], temperature: 1, seed: 3, max_tokens: 300,
  response_format: { type: "json_schema", json_schema: { name: "pet", schema, strict: true } },
});

const call = (c) => {
  const tc = c.choices[0].message.tool_calls?.[0];
  return { finish_reason: c.choices[0].finish_reason, content: c.choices[0].message.content, name: tc?.function.name, arguments: JSON.parse(tc?.function.arguments ?? "null"), id: tc?.id };
};
console.log(JSON.stringify({
  whole: call(whole),
  streamed: call(streamed),
  structured: { finish_reason: structured.choices[0].finish_reason, value: JSON.parse(structured.choices[0].message.content) },
}));
