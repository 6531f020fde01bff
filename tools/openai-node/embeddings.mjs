// Embeds texts with the official `openai` npm package (which asks for base64 and decodes it, unless told
// "float") and prints one JSON line for the server tests: both answers' vectors, dimensions and usage.
// Usage: node embeddings.mjs --base-url http://127.0.0.1:8080/v1 --model NAME --input TEXT [--input TEXT ...]
import OpenAI from "openai";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    "base-url": { type: "string" },
    model: { type: "string" },
    input: { type: "string", multiple: true },
  },
});
if (!values["base-url"] || !values.model || !values.input) {
  console.error("usage: node embeddings.mjs --base-url URL --model NAME --input TEXT [--input TEXT ...]");
  process.exit(2);
}

const client = new OpenAI({ baseURL: values["base-url"], apiKey: "not-needed", maxRetries: 0 });
const decoded = await client.embeddings.create({ model: values.model, input: values.input });
const floats = await client.embeddings.create({ model: values.model, input: values.input, encoding_format: "float" });
console.log(JSON.stringify({
  model: decoded.model,
  usage: decoded.usage,
  dimensions: decoded.data[0].embedding.length,
  decoded: decoded.data.map((d) => d.embedding),
  floats: floats.data.map((d) => d.embedding),
  indexes: decoded.data.map((d) => d.index),
}));
