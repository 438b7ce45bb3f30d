#!/usr/bin/env bash
# Runs the side-by-side benchmarks of issues 4, 5 and 6 one after the other (nothing else should run meanwhile: the
# ratios hold within one run, absolute times drift) and keeps each driver's output in OUT/NAME.log.
#
#   Benchmarks/sweep.sh [OUT] [STEP ...]      (default OUT: /tmp/cogvideo-sweep; default: every step)
#
# Steps: gemm gemm-builtin attention t5 transformer-1606 transformer-block transformer-17776 vae-240 vae-480
# Builds cogvideo-bench and cogvideo-convert (release) first, so that no step runs a stale binary (`swift build`
# builds only the last of several --product options). Needs a Python with torch, diffusers and transformers
# (PYTHON, default /work/venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/cogvideo-sweep}
shift || true
STEPS=${*:-gemm gemm-builtin attention t5 transformer-1606 transformer-block transformer-17776 vae-240 vae-480}
PY=${PYTHON:-/work/venv/bin/python}
mkdir -p "$OUT"
for product in cogvideo-bench cogvideo-convert; do swift build -c release --product "$product" >&2; done

run() {  # NAME COMMAND...
    local name=$1; shift
    echo "== $name: $* ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT/$name.log"
    "$@" 2>&1 | tee -a "$OUT/$name.log"
}

for step in $STEPS; do
    case $step in
        gemm) run gemm "$PY" Benchmarks/gemm.py --types f32,f16,bf16,q8_0,q4_0 ;;
        gemm-builtin) run gemm-builtin env COGVIDEO_GEMM=builtin "$PY" Benchmarks/gemm.py --types f32 ;;
        attention) run attention "$PY" Benchmarks/attention.py ;;
        t5) run t5 "$PY" Benchmarks/t5_encoder.py --dir "$OUT/t5" ;;
        transformer-1606) run transformer-1606 "$PY" Benchmarks/transformer.py model --tmp "$OUT" ;;
        transformer-block) run transformer-block "$PY" Benchmarks/transformer.py block --torch --types f32,q8_0+f32attn,q8_0+bf16attn --tmp "$OUT" ;;
        transformer-17776) run transformer-17776 "$PY" Benchmarks/transformer.py model --frames 49 --height 480 --width 720 --repeats 1 --tmp "$OUT" ;;
        vae-240) run vae-240 "$PY" Benchmarks/vae_decode.py --frames 4 --height 240 --width 368 --types f32,f16,bf16 --workdir "$OUT/vae" ;;
        vae-480) run vae-480 "$PY" Benchmarks/vae_decode.py --frames 13 --height 480 --width 720 --tile --types f32 --reuse-diffusers --workdir "$OUT/vae" ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
