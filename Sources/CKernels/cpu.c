#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

/// Bit 0: AVX2 + FMA (+ F16C); bit 1: AVX-512 F/BW/VL; bit 2: AVX-512 VNNI. `COGVIDEO_ISA=avx2` or `scalar` in the
/// environment caps what is used (read once), so that the AVX2 and portable kernels can be run and tested on a CPU
/// that has more; any other value, or none, uses everything the CPU has.
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
#endif
    const char *cap = getenv("COGVIDEO_ISA");
    if (cap && strcmp(cap, "avx2") == 0) f &= 1;
    else if (cap && strcmp(cap, "scalar") == 0) f = 0;
    __atomic_store_n(&cached, f, __ATOMIC_RELAXED);
    return f;
}
