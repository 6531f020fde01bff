#!/usr/bin/env bash
# Idempotent installer for the llama.cpp reference tooling (node-llama-cpp, CPU prebuilt binary only).
# Quiet on success (prints nothing, exit 0). Fast path (no npm, no node) when node_modules was already
# installed and verified for the current package-lock.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.llama-ref-installed
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f node_modules/node-llama-cpp/package.json ]]; then
    exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "llama-ref/install.sh: node and npm (Node >= 20) are required" >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
show_log() { tail -n 40 "$log" >&2; }

# --omit=optional   CPU only: skips the GPU / other-platform binary packages.
# --ignore-scripts  node-llama-cpp's postinstall could try to download or build llama.cpp; we only
#                   use the prebuilt binary from @node-llama-cpp/linux-x64 (a regular dependency here).
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
if [[ ! -d node_modules/node-llama-cpp || ! -d node_modules/@node-llama-cpp/linux-x64 || -f "$stamp" ]]; then
    if ! npm ci --omit=optional --ignore-scripts --no-audit --no-fund >"$log" 2>&1; then
        # `npm ci` refuses the lock when the registry in use cannot resolve some of node-llama-cpp's
        # optional platform packages (they are then absent from package-lock.json). `npm install`
        # still installs exactly the locked versions/integrity hashes; --no-save keeps the lock untouched.
        if ! npm install --omit=optional --ignore-scripts --no-save --no-audit --no-fund >"$log" 2>&1; then
            show_log
            echo "llama-ref/install.sh: npm ci / npm install failed" >&2
            exit 1
        fi
    fi
fi
if ! node check.mjs >"$log" 2>&1; then
    show_log
    exit 1
fi
echo "$want" > "$stamp"
