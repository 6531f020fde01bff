#!/usr/bin/env bash
# Re-records the llama.cpp fixtures for the synthetic test models (every architecture × weight type at
# the tiny shape, stories260K's vocabulary, seed 1; Nemotron-H at its own tiny shapes). Run after changing what `synth` writes.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/tests/TokenFactory.Core.Tests/Fixtures/llama-cpp"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$root/tools/llama-ref/install.sh"
dotnet build "$root/src/TokenFactory.Cli" -c Release --nologo -v quiet >/dev/null
cli="$root/src/TokenFactory.Cli/bin/Release/net10.0/tokenfactory"
vocab="$root/../shared/models/stories260K.gguf"

for arch in llama qwen2 qwen3; do
  for type in F32 F16 Q8_0 Q4_0 Q4_K Q5_K Q6_K; do
    name="synth-$arch-tiny-$type-seed1"
    "$cli" synth --arch "$arch" --shape tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
    (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
      --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
    echo "recorded $name"
  done
done

# Qwen3 mixture of experts at its test shape (Q4_K_M: llama.cpp's mixture, experts' down matrices included).
for type in F32 Q8_0 Q4_K_M; do
  name="synth-qwen3moe-qwen3moe-tiny-$type-seed1"
  "$cli" synth --arch qwen3moe --shape qwen3moe-tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done

# mistral3 (YaRN and attention temperature) at the tiny shape.
for type in F32 Q8_0; do
  name="synth-mistral3-tiny-$type-seed1"
  "$cli" synth --arch mistral3 --shape tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done

# gemma3 (sliding-window and global layers, sandwich norms, GeGLU) at its six-block test shape.
for type in F32 Q8_0; do
  name="synth-gemma3-gemma3-tiny-$type-seed1"
  "$cli" synth --arch gemma3 --shape gemma3-tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done

# gpt-oss (sinks, alternating windows, biased router and experts, clamped SwiGLU, YaRN): F32, Q8_0, and MXFP4 as OpenAI ships it
# (experts MXFP4, the other matrices Q8_0).
for type in F32 Q8_0 MXFP4; do
  name="synth-gpt-oss-gpt-oss-tiny-$type-seed1"
  "$cli" synth --arch gpt-oss --shape gpt-oss-tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done

# The non-linear 4-bit formats (IQ4_NL, IQ4_XS, MXFP4) at the llama tiny shape.
for type in IQ4_NL IQ4_XS MXFP4; do
  name="synth-llama-tiny-$type-seed1"
  "$cli" synth --arch llama --shape tiny --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done

# Nemotron-H (hybrid Mamba-2 / attention / MLP or experts): their own test shapes, F32 and Q8_0.
for pair in nemotron_h:nemotron-h-tiny nemotron_h_moe:nemotron-h-moe-tiny; do
  arch="${pair%%:*}" shape="${pair#*:}"
  for type in F32 Q8_0; do
    name="synth-$arch-$shape-$type-seed1"
    "$cli" synth --arch "$arch" --shape "$shape" --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
    (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
      --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
    echo "recorded $name"
  done
done

# BERT encoders (embeddings): the bert-bge WordPiece vocabulary; pooled vectors from llama.cpp's embedding context.
emb="$root/tests/TokenFactory.Core.Tests/Fixtures/llama-cpp-embeddings"
bert_vocab="$root/../shared/fixtures/tokenizers/ggml-vocab-bert-bge.gguf"
for triple in bert-tiny:F32 bert-tiny:Q8_0 bge-small:F16; do
  shape="${triple%%:*}" type="${triple#*:}"
  name="synth-bert-$shape-$type-seed1"
  "$cli" synth --arch bert --shape "$shape" --type "$type" --vocab "$bert_vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record-embeddings.mjs --model "$work/$name.gguf" --out "$emb/$name.json" \
    --prompts-file prompts/embeddings.txt --threads 2 >/dev/null)
  echo "recorded $name"
done

# Qwen3.5 (gated DeltaNet blocks and gated attention; qwen35moe adds experts and a gated shared expert) at their test shapes.
for arch in qwen35 qwen35moe; do
  for type in F32 Q8_0 Q4_K_M; do
    name="synth-$arch-$arch-tiny-$type-seed1"
    "$cli" synth --arch "$arch" --shape "$arch-tiny" --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
    (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
      --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
    echo "recorded $name"
  done
done

# gemma4 (sliding and global blocks of their own head shapes, shared-KV blocks, per-layer embeddings, value norm) at its test
# shapes, dense and with experts beside each block's MLP.
for shape in gemma4-tiny gemma4-moe-tiny; do
  for type in F32 Q8_0; do
    name="synth-gemma4-$shape-$type-seed1"
    "$cli" synth --arch gemma4 --shape "$shape" --type "$type" --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
    (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
      --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
    echo "recorded $name"
  done
done

# Q4_K_M mixtures on the hybrid and gemma4 writers (down matrices and chosen values Q6_K, as llama.cpp's quantizer picks them).
for spec in nemotron_h:nemotron-h-tiny nemotron_h_moe:nemotron-h-moe-tiny gemma4:gemma4-tiny; do
  arch="${spec%%:*}"; shape="${spec##*:}"
  name="synth-$arch-$shape-Q4_K_M-seed1"
  "$cli" synth --arch "$arch" --shape "$shape" --type Q4_K_M --vocab "$vocab" --out "$work/$name.gguf" --seed 1 >/dev/null
  (cd "$root/tools/llama-ref" && node record.mjs --model "$work/$name.gguf" --out "$out/$name.json" \
    --prompts-file prompts/stories.txt --n 32 --top 10 --threads 2 >/dev/null)
  echo "recorded $name"
done
