// Shared helpers for the llama.cpp reference tools (record.mjs, bench.mjs).
// Uses only the public API of the npm package `node-llama-cpp` (CPU prebuilt binary).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export function fail(message, code = 2) {
    process.stderr.write(`error: ${message}\n`);
    process.exit(code);
}

export function parseIntArg(name, value, { min = -Infinity } = {}) {
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(String(value))) fail(`--${name} must be an integer, got '${value}'`);
    const n = Number.parseInt(value, 10);
    if (n < min) fail(`--${name} must be >= ${min}, got ${n}`);
    return n;
}

export function parseBoolArg(name, value) {
    if (value === undefined) return undefined;
    const v = String(value).toLowerCase();
    if (["true", "1", "yes", "on"].includes(v)) return true;
    if (["false", "0", "no", "off"].includes(v)) return false;
    fail(`--${name} must be true or false, got '${value}'`);
}

// Flash-attention flag: "auto" | true | false
export function parseFlashAttention(value) {
    if (value === undefined) return false;
    if (String(value).toLowerCase() === "auto") return "auto";
    return parseBoolArg("flash-attention", value);
}

async function importNodeLlamaCpp() {
    try {
        return await import("node-llama-cpp");
    } catch (err) {
        fail(`cannot import node-llama-cpp (${err.message}). Run tools/llama-ref/install.sh first.`);
    }
}

/** Version info of the llama.cpp build bundled with node-llama-cpp. */
export async function getVersionInfo(nlc, llama) {
    const info = {
        nodeLlamaCpp: await nlc.getModuleVersion(),
        llamaCppRepo: llama.llamaCppRelease.repo,
        llamaCppRelease: llama.llamaCppRelease.release,
        llamaCppCommit: null,
        buildType: llama.buildType
    };
    // The package ships the llama.cpp sources it was built from as a git bundle;
    // its header names the commit (text line "<sha> HEAD").
    try {
        // entry point is <pkg>/dist/index.js
        const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))), "..");
        const fd = fs.openSync(path.join(pkgDir, "llama", "gitRelease.bundle"), "r");
        const buf = Buffer.alloc(256);
        fs.readSync(fd, buf, 0, 256, 0);
        fs.closeSync(fd);
        const m = /^([0-9a-f]{40}) HEAD$/m.exec(buf.toString("latin1"));
        if (m) info.llamaCppCommit = m[1];
    } catch {
        // optional
    }
    return info;
}

/** Load the CPU-only llama.cpp binding and a model, with clear errors. */
export async function loadLlamaAndModel(modelPath, threads) {
    if (!modelPath) fail("--model FILE is required");
    let stat;
    try {
        stat = fs.statSync(modelPath);
    } catch {
        fail(`model file not found: ${modelPath}`);
    }
    if (!stat.isFile()) fail(`model path is not a file: ${modelPath}`);

    const nlc = await importNodeLlamaCpp();
    let llama;
    try {
        llama = await nlc.getLlama({
            build: "never", // never compile llama.cpp from source
            gpu: false, // CPU backend only
            usePrebuiltBinaries: true,
            skipDownload: true,
            progressLogs: false,
            logLevel: nlc.LlamaLogLevel.error,
            maxThreads: threads
        });
    } catch (err) {
        fail(`cannot load the llama.cpp prebuilt CPU binary: ${err.message}. Run tools/llama-ref/install.sh.`);
    }
    let model;
    try {
        model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
    } catch (err) {
        await llama.dispose().catch(() => {});
        fail(`llama.cpp failed to load model '${modelPath}': ${err.message}`);
    }
    return { nlc, llama, model, modelSize: stat.size };
}

/**
 * Serialize JSON with 2-space indentation, but keep arrays of scalars and
 * small flat objects on one line so fixtures stay readable and diffable.
 */
export function stringifyCompact(value, indent = "") {
    const inner = indent + "  ";
    const isScalar = (v) => v === null || typeof v !== "object";
    if (isScalar(value)) return JSON.stringify(value);
    if (Array.isArray(value)) {
        if (value.length === 0) return "[]";
        if (value.every(isScalar)) return "[" + value.map((v) => JSON.stringify(v)).join(", ") + "]";
        return "[\n" + value.map((v) => inner + stringifyCompact(v, inner)).join(",\n") + "\n" + indent + "]";
    }
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    if (entries.every(([, v]) => isScalar(v)) && entries.length <= 4)
        return "{ " + entries.map(([k, v]) => JSON.stringify(k) + ": " + JSON.stringify(v)).join(", ") + " }";
    return "{\n" + entries.map(([k, v]) => inner + JSON.stringify(k) + ": " + stringifyCompact(v, inner)).join(",\n") + "\n" + indent + "}";
}
