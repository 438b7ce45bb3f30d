#!/usr/bin/env bash
# The main job on the tiny model in fixtures/: build, then inspect the checkpoint.
# (convert, validate and generate join here as they land.) Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/system-packages.sh
ensure_system_packages
ensure_swift

swift build -c release --product cogvideo-convert >&2
BIN="$(swift build -c release --show-bin-path)/cogvideo-convert"
MODEL=fixtures/tiny/cogvideox-2b
[ -d "$MODEL" ] || MODEL=fixtures/safetensors/sharded
echo "== inspect $MODEL"
"$BIN" inspect "$MODEL"
