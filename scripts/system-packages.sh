# Sourced by scripts/demo.sh and scripts/test.sh: installs the Debian/Ubuntu packages the project needs when
# they are missing. One list for everything; extend it here.
#   libjson-c-dev  JSON (the design card's choice)         zlib1g-dev   PNG/deflate
#   pkg-config     locates json-c for SwiftPM               ffmpeg       .mp4 output (optional at run time)
#   libopenblas0-pthread  fp32 GEMM with AVX-512 kernels (loaded at run time when present)
#   python3-pip    the Python interop tests (gguf-py, safetensors, pillow read what we write)
SYSTEM_PACKAGES=(libjson-c-dev zlib1g-dev pkg-config ffmpeg libopenblas0-pthread python3-pip)

ensure_system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing system packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: Swift 6 is required (https://www.swift.org/install/linux/); 'swift' is not on PATH" >&2
        exit 1
    fi
}
