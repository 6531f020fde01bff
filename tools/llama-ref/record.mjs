#!/usr/bin/env node
// Record llama.cpp reference fixtures (tokenization, greedy continuation, raw top-k logits)
// through node-llama-cpp. See README.md for the JSON format.
//
// usage: node record.mjs --model FILE --out OUT.json [--prompt TEXT]... [--prompts-file FILE]
//                        [--n 64] [--positions 0,1,5,...] [--top 10] [--add-bos true|false]
//                        [--threads 2] [--ctx 512] [--flash-attention false|true|auto]
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import {
    fail, parseIntArg, parseBoolArg, parseFlashAttention, getVersionInfo, loadLlamaAndModel, stringifyCompact
} from "./lib.mjs";

const USAGE = "usage: node record.mjs --model FILE --out OUT.json [--prompt TEXT]... [--prompts-file FILE] " +
    "[--n 64] [--positions 0,1,5,...] [--top 10] [--add-bos true|false] [--threads 2] [--ctx 512] " +
    "[--flash-attention false|true|auto]";

let args;
try {
    ({ values: args } = parseArgs({
        options: {
            model: { type: "string" },
            out: { type: "string" },
            prompt: { type: "string", multiple: true },
            "prompts-file": { type: "string" },
            n: { type: "string", default: "64" },
            positions: { type: "string" },
            top: { type: "string", default: "10" },
            "add-bos": { type: "string" },
            threads: { type: "string", default: "2" },
            ctx: { type: "string" },
            "flash-attention": { type: "string" },
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
if (!args.out) fail(`--out is required\n${USAGE}`);

const nGen = parseIntArg("n", args.n, { min: 0 });
const topK = parseIntArg("top", args.top, { min: 1 });
const threads = parseIntArg("threads", args.threads, { min: 1 });
const addBosOverride = parseBoolArg("add-bos", args["add-bos"]);
const flashAttention = parseFlashAttention(args["flash-attention"]);
let explicitPositions = null;
if (args.positions !== undefined) {
    explicitPositions = args.positions.split(",").map((s) => s.trim()).filter((s) => s !== "")
        .map((s) => parseIntArg("positions", s, { min: 0 }));
    explicitPositions = [...new Set(explicitPositions)].sort((a, b) => a - b);
}

const prompts = [...(args.prompt ?? [])];
if (args["prompts-file"]) {
    let text;
    try {
        text = fs.readFileSync(args["prompts-file"], "utf8");
    } catch (err) {
        fail(`cannot read --prompts-file: ${err.message}`);
    }
    if (args["prompts-file"].endsWith(".json")) {
        const arr = JSON.parse(text);
        if (!Array.isArray(arr) || !arr.every((p) => typeof p === "string"))
            fail("--prompts-file .json must contain an array of strings");
        prompts.push(...arr);
    } else {
        // one prompt per line; empty lines ignored; no escaping
        prompts.push(...text.split(/\r?\n/).filter((l) => l.length > 0));
    }
}
if (prompts.length === 0) fail(`at least one --prompt or --prompts-file is required\n${USAGE}`);

const { nlc, llama, model, modelSize } = await loadLlamaAndModel(args.model, threads);
const version = await getVersionInfo(nlc, llama);
const addBos = addBosOverride ?? model.tokens.shouldPrependBosToken;
const bos = model.tokens.bos;
if (addBos && bos == null) fail("--add-bos requested but the model has no BOS token");

// Tokenize exactly like llama.cpp's llama_tokenize(add_special=false, parse_special=false),
// then prepend BOS when requested (this is what add_special=true does for SPM/llama vocabularies).
const tokenized = prompts.map((prompt) => {
    const t = model.tokenize(prompt, false);
    return addBos ? [bos, ...t] : t;
});
const maxLen = Math.max(...tokenized.map((t) => t.length)) + nGen + 1;
const contextSize = parseIntArg("ctx", args.ctx, { min: 1 }) ?? Math.max(512, Math.ceil(maxLen / 256) * 256);
if (maxLen > contextSize) fail(`--ctx ${contextSize} is too small for prompt + ${nGen} tokens (${maxLen})`);

let context;
try {
    context = await model.createContext({
        contextSize,
        batchSize: contextSize, // whole prompt (+ continuation) in one batch
        sequences: 1,
        threads: { ideal: threads, min: threads },
        flashAttention
    });
} catch (err) {
    fail(`cannot create llama.cpp context: ${err.message}`);
}
const seq = context.getSequence();

function argmax(logitsMap) {
    // first maximum in token-id order, like llama.cpp's greedy sampler scanning the candidate array
    let best = -1, bestLogit = -Infinity;
    for (const [tok, logit] of logitsMap)
        if (logit > bestLogit || (logit === bestLogit && tok < best)) {
            best = tok;
            bestLogit = logit;
        }
    return best;
}

function topOf(logitsMap, k) {
    return [...logitsMap].sort((a, b) => (b[1] - a[1]) || (a[0] - b[0])).slice(0, k)
        .map(([token, logit]) => ({ token, logit }));
}

const greedyNext = { generateNext: { token: true, logits: true } }; // sampler defaults: temperature 0 => greedy only
const results = [];
for (let p = 0; p < prompts.length; p++) {
    const tokens = tokenized[p];
    if (tokens.length === 0) fail(`prompt ${p} tokenizes to zero tokens (and no BOS); cannot evaluate`);

    // Phase 1: greedy generation, one token at a time (prompt in one batch, then single-token decodes).
    await seq.clearHistory();
    const greedy = [];
    const stepLogits = new Map(); // sequence position -> logits Map (incremental evaluation)
    let stoppedAtEog = false;
    let minMargin = Infinity; // smallest top1-top2 logit gap over all greedy steps
    let input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, greedyNext] : t));
    let lastPos = tokens.length - 1;
    while (greedy.length < nGen) {
        const out = await seq.controlledEvaluate(input);
        const next = out[input.length - 1]?.next;
        if (next?.logits == null) fail(`no logits returned at position ${lastPos}`);
        const tok = argmax(next.logits);
        if (next.token !== tok)
            fail(`sampler token ${next.token} != argmax ${tok} at position ${lastPos} (prompt ${p})`);
        stepLogits.set(lastPos, next.logits);
        const [first, second] = topOf(next.logits, 2);
        if (second != null) minMargin = Math.min(minMargin, first.logit - second.logit);
        greedy.push(tok);
        if (model.isEogToken(tok)) {
            stoppedAtEog = true;
            break;
        }
        input = [[tok, greedyNext]];
        lastPos++;
    }

    // Phase 2: evaluate prompt + greedy continuation once (single batch, fresh state) and
    // read the raw logits at the chosen positions.
    const evaluated = stoppedAtEog ? [...tokens, ...greedy.slice(0, -1)] : [...tokens, ...greedy];
    let positions = explicitPositions ?? [
        tokens.length - 1,
        ...Array.from({ length: Math.floor(nGen / 8) }, (_, k) => tokens.length - 1 + 8 * (k + 1))
    ];
    positions = positions.filter((pos) => pos < evaluated.length);
    const posSet = new Set(positions);
    await seq.clearHistory();
    const out = await seq.controlledEvaluate(
        evaluated.map((t, i) => (posSet.has(i) ? [t, { generateNext: { logits: true } }] : t))
    );
    const topLogits = [];
    let maxAbsDiff = 0;
    for (const pos of positions) {
        const logits = out[pos]?.next?.logits;
        if (logits == null) fail(`no logits returned at position ${pos}`);
        const gi = pos - (tokens.length - 1); // index into greedy of the token predicted here
        const predicted = gi >= 0 && gi < greedy.length ? greedy[gi] : null;
        const am = argmax(logits);
        if (predicted != null && am !== predicted)
            fail(`batch-evaluated argmax ${am} != greedy token ${predicted} at position ${pos} (prompt ${p})`);
        const inc = stepLogits.get(pos);
        if (inc != null)
            for (const [t, v] of logits) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - inc.get(t)));
        topLogits.push({ position: pos, token: evaluated[pos], next: predicted, top: topOf(logits, topK) });
    }

    results.push({
        prompt: prompts[p],
        tokens,
        greedy,
        stoppedAtEog,
        text: model.detokenize(greedy, false, tokens), // decoded as a continuation of the prompt tokens
        topLogits,
        greedyMinMargin: Number.isFinite(minMargin) ? minMargin : null,
        batchVsIncrementalMaxAbsDiff: maxAbsDiff
    });
}

// Hashed in chunks: readFileSync refuses files over 2 GiB (the 30B synthetic models are ~18 GB).
const modelHash = crypto.createHash("sha256");
{
    const fd = fs.openSync(args.model, "r");
    const chunk = Buffer.allocUnsafe(16 << 20);
    let n;
    while ((n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0) modelHash.update(chunk.subarray(0, n));
    fs.closeSync(fd);
}
const doc = {
    generator: "tools/llama-ref/record.mjs",
    engine: "llama.cpp",
    version: `${version.llamaCppRelease}${version.llamaCppCommit ? " (" + version.llamaCppCommit.slice(0, 12) + ")" : ""}`,
    llamaCpp: { repo: version.llamaCppRepo, release: version.llamaCppRelease, commit: version.llamaCppCommit },
    nodeLlamaCpp: version.nodeLlamaCpp,
    model: {
        file: path.basename(args.model),
        size: modelSize,
        sha256: modelHash.digest("hex"),
        vocabularyType: model.vocabularyType,
        bos: model.tokens.bos,
        eos: model.tokens.eos
    },
    settings: {
        addBos,
        parseSpecial: false,
        n: nGen,
        top: topK,
        threads,
        contextSize: context.contextSize,
        batchSize: context.batchSize,
        flashAttention,
        kvCacheType: { k: nlc.GgmlType[context.kvCacheKeyType] ?? String(context.kvCacheKeyType), v: nlc.GgmlType[context.kvCacheValueType] ?? String(context.kvCacheValueType) },
        sampling: "greedy argmax over raw logits (ties -> lowest token id); no penalties, no temperature",
        logits: "raw llama_get_logits_ith output from a single batch evaluation of prompt+greedy tokens"
    },
    prompts: results
};

fs.mkdirSync(path.dirname(path.resolve(args.out)), { recursive: true });
fs.writeFileSync(args.out, stringifyCompact(doc) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
process.stderr.write(`wrote ${args.out}: ${results.length} prompt(s)\n`);
