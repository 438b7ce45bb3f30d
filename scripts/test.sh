#!/usr/bin/env bash
# Runs every test: the Swift suites (release build, so parity tests on real fixtures are fast) and the Python
# interop checks (files we write must load in gguf-py / safetensors / pillow). Installs what is missing first.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/system-packages.sh
ensure_system_packages
ensure_swift

echo "== swift test (release)" >&2
set +e
swift test -c release -Xswiftc -enable-testing > .build-test.log 2>&1
status=$?
set -e
# The log without per-test "started" lines and compile progress; failures and the closing summary stay.
grep -vE "^(◇|↳|\[[0-9]+/[0-9]+\])" .build-test.log || true
if [ "$status" -ne 0 ]; then echo "swift test failed (exit $status); full log in .build-test.log" >&2; exit "$status"; fi

# The same suites on the lower kernel sets (COGVIDEO_ISA caps what the kernels use), so that an AVX-512 machine also
# checks the AVX2 kernels and every machine checks the portable ones. Only the summary line is printed.
for isa in avx2 scalar; do
    echo "== swift test (release, COGVIDEO_ISA=$isa)" >&2
    set +e
    COGVIDEO_ISA=$isa swift test -c release -Xswiftc -enable-testing --skip-build > ".build-test-$isa.log" 2>&1
    status=$?
    set -e
    grep -E "^✘|Test run with|error:" ".build-test-$isa.log" || true
    if [ "$status" -ne 0 ]; then echo "swift test with COGVIDEO_ISA=$isa failed (exit $status); full log in .build-test-$isa.log" >&2; exit "$status"; fi
done

shopt -s nullglob
interop=(Tests/interop/*.py)
if [ ${#interop[@]} -gt 0 ]; then
    echo "== Python interop tests" >&2
    python3 -m pip install -q --disable-pip-version-check gguf numpy safetensors pillow 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages gguf numpy safetensors pillow
    BIN="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/cogvideo-convert"
    passed=0; failed=0
    for t in "${interop[@]}"; do
        if COGVIDEO_CONVERT="$BIN" python3 "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t" >&2; fi
    done
    echo "interop: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] || exit 1
fi
