#!/usr/bin/env node
// llama.cpp embedding throughput via node-llama-cpp (CPU prebuilt binary): N inputs of L token ids embedded one after
// another (node-llama-cpp's embedding context evaluates one input at a time). Prints one JSON object on stdout.
//
// usage: node bench-embeddings.mjs --model FILE --threads N [--inputs 32] [--length 128]
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { fail, parseIntArg, getVersionInfo, loadLlamaAndModel } from "./lib.mjs";

const USAGE = "usage: node bench-embeddings.mjs --model FILE --threads N [--inputs 32] [--length 128]";
let args;
try {
    ({ values: args } = parseArgs({
        options: {
            model: { type: "string" },
            threads: { type: "string" },
            inputs: { type: "string", default: "32" },
            length: { type: "string", default: "128" }
        },
        strict: true
    }));
} catch (err) {
    fail(`${err.message}\n${USAGE}`);
}
if (args.threads === undefined) fail(USAGE);
const threads = parseIntArg("threads", args.threads, { min: 1 });
const count = parseIntArg("inputs", args.inputs, { min: 1 });
const length = parseIntArg("length", args.length, { min: 3 });

const { nlc, llama, model } = await loadLlamaAndModel(args.model, threads);
const version = await getVersionInfo(nlc, llama);
const context = await model.createEmbeddingContext({ contextSize: Math.max(512, length + 8), batchSize: Math.max(512, length + 8), threads });
const vocab = model.tokens;
// The same ids the TokenFactory side embeds: the vocabulary's begin/end tokens around ids spread over the vocabulary.
const begin = vocab.bos ?? null, end = model.vocabularyType === "wpm" ? vocab.sep : null;
const inputs = [];
for (let i = 0; i < count; i++) {
    const ids = [];
    for (let j = 0; j < length; j++) ids.push(1000 + ((i * 131 + j * 7) % 20000));
    if (begin != null) ids[0] = begin;
    if (end != null) ids[length - 1] = end;
    inputs.push(ids);
}
await context.getEmbeddingFor(inputs[0]); // warm-up
const start = performance.now();
for (const ids of inputs) await context.getEmbeddingFor(ids);
const seconds = (performance.now() - start) / 1000;
process.stdout.write(JSON.stringify({
    inputs_per_second: count / seconds,
    tokens_per_second: (count * length) / seconds,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    llama_cpp: `${version.llamaCppRelease} (${version.llamaCppCommit.slice(0, 10)})`
}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
