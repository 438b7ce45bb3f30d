#!/usr/bin/env bash
# The main job on the tiny CogVideoX-2b model in fixtures/: convert it to one Q8_0 GGUF file, validate that every key
# maps onto the Swift model, and generate a short GIF from a prompt with the quantized weights.
# Installs missing system packages first. Outputs go to ./out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/system-packages.sh
ensure_system_packages
ensure_swift

swift build -c release --product cogvideo-convert >&2
BIN="$(swift build -c release --show-bin-path)/cogvideo-convert"
MODEL=fixtures/tiny/cogvideox-2b
mkdir -p out
echo "== inspect $MODEL"
"$BIN" inspect "$MODEL" | tail -n 3
echo "== convert to out/tiny-2b-q8_0.gguf"
"$BIN" convert "$MODEL" -o out/tiny-2b-q8_0.gguf --type q8_0 --force
echo "== validate"
"$BIN" validate out/tiny-2b-q8_0.gguf
echo "== generate out/panda.gif"
"$BIN" generate --model out/tiny-2b-q8_0.gguf --prompt "a panda playing guitar in a bamboo forest" \
    --frames 9 --height 32 --width 48 --steps 8 --seed 42 -o out/panda.gif
ls -la out/panda.gif
