#!/usr/bin/env bash
# Idempotent installer for the openai npm package the server tests drive. Quiet on success (prints
# nothing, exit 0); a fast path skips npm when node_modules already matches package-lock.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.openai-node-installed
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f node_modules/openai/package.json ]]; then
    exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "openai-node/install.sh: node and npm (Node >= 20) are required to run the openai npm client tests" >&2
    exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! npm ci --no-audit --no-fund >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "openai-node/install.sh: npm ci failed" >&2
    exit 1
fi
if ! node -e 'import("openai").then(m => { if (typeof m.default !== "function") process.exit(1); })' >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "openai-node/install.sh: the openai package does not load" >&2
    exit 1
fi
echo "$want" > "$stamp"
