#!/usr/bin/env bash
# Builds llama.cpp's own llama-bench natively for this CPU (GGML_NATIVE) from the source that node-llama-cpp ships
# (node_modules/node-llama-cpp/llama/gitRelease.bundle: the same release as the prebuilt binary), for
# `tokenfactory bench model --peer llama-bench=PATH`. Nothing is downloaded; needs git, cmake, a C/C++ compiler and
# ninja or make. About 25 minutes on 2 cores. Prints the path of llama-bench on success. Idempotent: an existing build
# is reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/native"
bin="$out/build/bin/llama-bench"
if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
fi
for tool in git cmake cc c++; do
    command -v "$tool" >/dev/null || { echo "llama-ref/build-native.sh: $tool is required" >&2; exit 1; }
done
"$here/install.sh"
bundle="$here/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[[ -f "$bundle" ]] || { echo "llama-ref/build-native.sh: $bundle is missing" >&2; exit 1; }
if [[ ! -d "$out/src/.git" ]]; then
    rm -rf "$out/src"
    git -c advice.detachedHead=false clone --quiet "$bundle" "$out/src"
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log="$out/build.log"
mkdir -p "$out"
if ! { cmake -S "$out/src" -B "$out/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF &&
       cmake --build "$out/build" --target llama-bench -j "$(nproc)"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "llama-ref/build-native.sh: build failed (log: $log)" >&2
    exit 1
fi
echo "$bin"
