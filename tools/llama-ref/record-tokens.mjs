#!/usr/bin/env node
// Records llama.cpp's tokens for a tokenizer conformance input (the .inp format of llama.cpp's test-tokenizer: cases separated
// by "\n__ggml_vocab_test__\n"), as its .out file: one line per case, the ids separated by spaces. Tokenized as
// llama_tokenize(add_special=false, parse_special=false), through node-llama-cpp on a vocabulary-only load.
// usage: node record-tokens.mjs --vocab FILE.gguf --inp FILE.inp --out FILE.out
import fs from "node:fs";
import { parseArgs } from "node:util";
import { fail } from "./lib.mjs";

const { values: args } = parseArgs({ options: { vocab: { type: "string" }, inp: { type: "string" }, out: { type: "string" } }, strict: true });
if (!args.vocab || !args.inp || !args.out) fail("usage: node record-tokens.mjs --vocab FILE.gguf --inp FILE.inp --out FILE.out");
const { getLlama } = await import("node-llama-cpp");
const llama = await getLlama({ gpu: false, logLevel: "error" });
const model = await llama.loadModel({ modelPath: args.vocab, vocabOnly: true });
const separator = "\n__ggml_vocab_test__\n";
let all = fs.readFileSync(args.inp, "utf8");
if (!all.endsWith(separator)) fail(`${args.inp} must end with the separator line`);
const cases = all.slice(0, -separator.length).split(separator);
const lines = cases.map((text) => " " + Array.from(model.tokenize(text, false)).join(" "));
fs.writeFileSync(args.out, lines.join("\n") + "\n");
console.log(`wrote ${args.out}: ${cases.length} cases`);
