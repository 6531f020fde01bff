#!/usr/bin/env node
// llama.cpp throughput reference via node-llama-cpp (CPU prebuilt binary).
// Prints one JSON object on stdout. See README.md.
//
// usage: node bench.mjs --model FILE --threads N [-p 512] [-n 128] [--reps 5] [--warmup 1]
//                       [--parallel K] [--flash-attention false|true|auto] [--json OUT]
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { fail, parseIntArg, parseFlashAttention, getVersionInfo, loadLlamaAndModel } from "./lib.mjs";

const USAGE = "usage: node bench.mjs --model FILE --threads N [-p 512] [-n 128] [--reps 5] [--warmup 1] " +
    "[--parallel K] [--flash-attention false|true|auto] [--json OUT]";

let args;
try {
    ({ values: args } = parseArgs({
        options: {
            model: { type: "string", short: "m" },
            threads: { type: "string", short: "t" },
            p: { type: "string", short: "p", default: "512" },
            n: { type: "string", short: "n", default: "128" },
            reps: { type: "string", short: "r", default: "5" },
            warmup: { type: "string", default: "1" },
            parallel: { type: "string", default: "1" },
            "flash-attention": { type: "string" },
            json: { type: "string" },
            help: { type: "boolean", short: "h" }
        },
        strict: true
    }));
} catch (err) {
    fail(`${err.message}\n${USAGE}`);
}
if (args.help) {
    process.stdout.write(USAGE + "\n");
    process.exit(0);
}
if (args.threads === undefined) fail(`--threads N is required\n${USAGE}`);
const threads = parseIntArg("threads", args.threads, { min: 1 });
const nPrompt = parseIntArg("p", args.p, { min: 0 });
const nGen = parseIntArg("n", args.n, { min: 0 });
const reps = parseIntArg("reps", args.reps, { min: 1 });
const warmup = parseIntArg("warmup", args.warmup, { min: 0 });
const parallel = parseIntArg("parallel", args.parallel, { min: 1 });
const flashAttention = parseFlashAttention(args["flash-attention"]);
if (nPrompt === 0 && nGen === 0) fail("nothing to measure: -p 0 and -n 0");

const { nlc, llama, model, modelSize } = await loadLlamaAndModel(args.model, threads);
const version = await getVersionInfo(nlc, llama);

// Fixed prompt token ids: BOS (if the model adds one) followed by the tokenization of a fixed English
// text, repeated until the prompt has exactly nPrompt tokens. Same ids every run.
const filler = model.tokenize(
    " Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.",
    false
);
if (filler.length === 0) fail("model tokenizer produced no tokens for the fixed benchmark text");
const promptTokens = [];
if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) promptTokens.push(model.tokens.bos);
while (promptTokens.length < nPrompt) promptTokens.push(filler[(promptTokens.length) % filler.length]);
promptTokens.length = nPrompt;
// text generation starts from a single token (BOS, or the first filler token when the model has no BOS)
const tgStart = model.tokens.bos ?? filler[0];

const perSeqContext = Math.max(nPrompt, nGen + 1) + 16;
let context;
try {
    context = await model.createContext({
        contextSize: perSeqContext,
        batchSize: Math.max(nPrompt, parallel, 1), // whole prompt in a single llama_decode
        sequences: parallel,
        threads: { ideal: threads, min: threads },
        flashAttention
    });
} catch (err) {
    fail(`cannot create llama.cpp context (ctx=${perSeqContext} x ${parallel} sequences): ${err.message}`);
}

function stats(values) {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.length > 1
        ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)
        : 0;
    return { mean, std: Math.sqrt(variance) };
}

// Prompt processing: fresh sequence, evaluate nPrompt fixed tokens in one go (one batch).
async function runPP() {
    const seq = context.getSequence();
    try {
        const t0 = performance.now();
        await seq.evaluateWithoutGeneratingNewTokens(promptTokens);
        const dt = (performance.now() - t0) / 1000;
        return nPrompt / dt;
    } finally {
        await seq.dispose();
    }
}

// Text generation: `parallel` fresh sequences, each decodes nGen tokens one at a time (greedy),
// concurrently; node-llama-cpp batches the concurrent single-token decodes into one llama_decode.
async function runTG() {
    const seqs = Array.from({ length: parallel }, () => context.getSequence());
    try {
        const t0 = performance.now();
        await Promise.all(seqs.map(async (seq) => {
            const it = seq.evaluate([tgStart], { temperature: 0 }); // greedy, no penalties
            for (let i = 0; i < nGen; i++) {
                const r = await it.next();
                if (r.done) throw new Error("generation ended early");
            }
            await it.return();
        }));
        const dt = (performance.now() - t0) / 1000;
        return (parallel * nGen) / dt;
    } finally {
        for (const seq of seqs) await seq.dispose();
    }
}

const ppRuns = [], tgRuns = [];
try {
    for (let i = 0; i < warmup; i++) {
        if (nPrompt > 0) await runPP();
        if (nGen > 0) await runTG();
    }
    for (let i = 0; i < reps; i++) {
        if (nPrompt > 0) ppRuns.push(await runPP());
        if (nGen > 0) tgRuns.push(await runTG());
    }
} catch (err) {
    fail(`benchmark failed: ${err.message}`);
}

const round = (x) => Math.round(x * 100) / 100;
const summary = (n, runs) => {
    const { mean, std } = stats(runs);
    return { n, mean: round(mean), std: round(std), runs: runs.map(round) };
};
const result = {
    engine: "llama.cpp",
    version: `${version.llamaCppRelease}${version.llamaCppCommit ? " (" + version.llamaCppCommit.slice(0, 12) + ")" : ""}`,
    nodeLlamaCpp: version.nodeLlamaCpp,
    model: path.basename(args.model),
    modelSize,
    threads,
    parallel,
    reps,
    flashAttention,
    pp: nPrompt > 0 ? summary(nPrompt, ppRuns) : null,
    tg: nGen > 0 ? summary(nGen, tgRuns) : null,
    units: "tokens/s; tg is aggregate over all parallel sequences"
};
const line = JSON.stringify(result);
process.stdout.write(line + "\n");
if (args.json) {
    fs.mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
    fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + "\n");
}
await context.dispose();
await model.dispose();
await llama.dispose();
