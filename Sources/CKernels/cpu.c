#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

/// Bit 0: AVX2 + FMA (+ F16C); bit 1: AVX-512 F/BW/VL; bit 2: AVX-512 VNNI; bit 3: bf16 dot products
/// (`vdpbf16ps`) are worth taking over fp32 FMAs by default (see `ck_bf16_products_fast`). `COGVIDEO_ISA=avx2` or
/// `scalar` in the environment caps what is used (read once), so that the AVX2 and portable kernels can be run and
/// tested on a CPU that has more; any other value, or none, uses everything the CPU has.
int ck_cpu_features(void) {
    static int cached = -1;
    int f = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (f >= 0) return f;
    f = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) f |= 1;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) f |= 2;
    if (__builtin_cpu_supports("avx512vnni")) f |= 4;
    if ((f & 2) && __builtin_cpu_supports("avx512bf16")) {
        const char *o = getenv("COGVIDEO_BF16_PRODUCTS");
        int fast = __builtin_cpu_is("amd");
        if (o && strcmp(o, "fast") == 0) fast = 1;
        else if (o && strcmp(o, "slow") == 0) fast = 0;
        if (fast) f |= 8;
    }
#endif
    const char *cap = getenv("COGVIDEO_ISA");
    if (cap && strcmp(cap, "avx2") == 0) f &= 1;
    else if (cap && strcmp(cap, "scalar") == 0) f = 0;
    __atomic_store_n(&cached, f, __ATOMIC_RELAXED);
    return f;
}

/// 1 when bf16 dot products (`vdpbf16ps`) are worth taking over fp32 FMAs by default: AVX-512 BF16 on an AMD CPU
/// (Zen 4/5 issue it on both vector pipes; measured 1.8x the fp32 attention rate on Zen 5), 0 elsewhere. Intel's
/// Sapphire/Emerald Rapids issue it on one port only, so it does no more work per cycle than two fp32 FMAs and the
/// operand conversion makes it slower (measured 0.69x the fp32 attention rate, 0.67x the VAE decode rate).
/// On a CPU with AVX-512 BF16, `COGVIDEO_BF16_PRODUCTS=fast|slow` overrides the guess (read once, with the rest of
/// `ck_cpu_features`).
int ck_bf16_products_fast(void) { return (ck_cpu_features() & 8) ? 1 : 0; }
