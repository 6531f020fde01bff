#!/usr/bin/env node
// Record llama.cpp embedding fixtures through node-llama-cpp: for each input, the token ids llama.cpp feeds the model
// (its tokenization plus the beginning/end tokens node-llama-cpp adds) and the pooled embedding it returns
// (llama_get_embeddings_seq: pooled as the file's pooling_type says, not normalized).
//
// usage: node record-embeddings.mjs --model FILE --out OUT.json --prompts-file FILE [--threads 2] [--ctx 512]
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { fail, parseIntArg, getVersionInfo, loadLlamaAndModel, stringifyCompact } from "./lib.mjs";

const USAGE = "usage: node record-embeddings.mjs --model FILE --out OUT.json --prompts-file FILE [--threads 2] [--ctx 512]";
let args;
try {
    ({ values: args } = parseArgs({
        options: {
            model: { type: "string" },
            out: { type: "string" },
            "prompts-file": { type: "string" },
            threads: { type: "string", default: "2" },
            ctx: { type: "string", default: "512" }
        },
        strict: true
    }));
} catch (err) {
    fail(`${err.message}\n${USAGE}`);
}
if (!args.out || !args["prompts-file"]) fail(USAGE);
const threads = parseIntArg("threads", args.threads, { min: 1 });
const contextSize = parseIntArg("ctx", args.ctx, { min: 8 });
const prompts = fs.readFileSync(args["prompts-file"], "utf8").split("\n").filter((l) => l !== "");

const { nlc, llama, model } = await loadLlamaAndModel(args.model, threads);
const version = await getVersionInfo(nlc, llama);
const context = await model.createEmbeddingContext({ contextSize, batchSize: contextSize, threads });
const cases = [];
for (const prompt of prompts) {
    // The same ids getEmbeddingFor evaluates: tokenize without special tokens, then the context adds the
    // vocabulary's beginning/end tokens ([CLS] … [SEP] for WordPiece).
    const tokens = Array.from(model.tokenize(prompt, false));
    context._prepareInput(tokens);
    const embedding = await context.getEmbeddingFor(prompt);
    const fromTokens = await context.getEmbeddingFor(tokens);
    const same = embedding.vector.every((v, i) => v === fromTokens.vector[i]);
    if (!same) fail(`the embedding of "${prompt}" differs when given as its tokens: the recorded ids are not what llama.cpp evaluated`);
    cases.push({ input: prompt, tokens, embedding: embedding.vector.map((v) => Number(v.toPrecision(8))) });
}
const modelBytes = fs.readFileSync(args.model);
const fixture = {
    model: path.basename(args.model),
    model_sha256: crypto.createHash("sha256").update(modelBytes).digest("hex"),
    llama_cpp: version,
    pooling: "as the file's pooling_type; not normalized",
    threads,
    cases
};
fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
fs.writeFileSync(args.out, stringifyCompact(fixture) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
