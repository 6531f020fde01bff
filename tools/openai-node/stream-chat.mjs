// Streams one chat completion from a TokenFactory server with the official `openai` npm package and
// prints one JSON line the server tests assert on: the text, the chunks, the finish reason and usage.
// Usage: node stream-chat.mjs --base-url http://127.0.0.1:8080/v1 --model stories260K [--max-tokens 16] [--prompt "..."]
import OpenAI from "openai";
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";

const openaiVersion = JSON.parse(readFileSync(new URL("./node_modules/openai/package.json", import.meta.url))).version;

const { values } = parseArgs({
  options: {
    "base-url": { type: "string" },
    model: { type: "string" },
    prompt: { type: "string", default: "Tell me a story." },
    "max-tokens": { type: "string", default: "16" },
  },
});
if (!values["base-url"] || !values.model) {
  console.error("usage: node stream-chat.mjs --base-url URL --model NAME [--prompt TEXT] [--max-tokens N]");
  process.exit(2);
}

const client = new OpenAI({ baseURL: values["base-url"], apiKey: "not-needed", maxRetries: 0 });
const stream = await client.chat.completions.create({
  model: values.model,
  messages: [{ role: "user", content: values.prompt }],
  max_tokens: Number(values["max-tokens"]),
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});

let text = "";
let chunks = 0;
let role = null;
let finishReason = null;
let usage = null;
let id = null;
for await (const chunk of stream) {
  chunks++;
  id ??= chunk.id;
  for (const choice of chunk.choices) {
    role ??= choice.delta?.role ?? null;
    text += choice.delta?.content ?? "";
    finishReason ??= choice.finish_reason ?? null;
  }
  if (chunk.usage) usage = chunk.usage;
}
console.log(JSON.stringify({ id, role, text, chunks, finish_reason: finishReason, usage, openai_version: openaiVersion }));
