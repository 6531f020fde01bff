// Verifies that node-llama-cpp's prebuilt CPU llama.cpp binary loads (used by install.sh).
// Prints nothing and exits 0 on success; prints the reason and exits 1 on failure.
import fs from "node:fs";
try {
    const pkg = JSON.parse(fs.readFileSync(new URL("./package.json", import.meta.url), "utf8"));
    for (const [name, want] of Object.entries(pkg.dependencies)) {
        const file = new URL(`./node_modules/${name}/package.json`, import.meta.url);
        const have = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")).version : "missing";
        if (have !== want) throw new Error(`${name}: installed ${have}, package.json pins ${want}`);
    }
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    const llama = await getLlama({
        build: "never", gpu: false, usePrebuiltBinaries: true, skipDownload: true,
        progressLogs: false, logLevel: LlamaLogLevel.error
    });
    if (llama.gpu !== false) throw new Error(`expected CPU backend, got gpu=${llama.gpu}`);
    if (process.argv.includes("--verbose"))
        console.log(`llama.cpp ${llama.llamaCppRelease.release} (${llama.buildType}); ${llama.systemInfo}`);
    await llama.dispose();
} catch (err) {
    console.error(`llama-ref check failed (node-llama-cpp / prebuilt CPU binary): ${err?.stack ?? err}`);
    process.exit(1);
}
