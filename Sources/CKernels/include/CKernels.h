#ifndef CKERNELS_H
#define CKERNELS_H
// SIMD kernels for the compute engine. Every function is safe to call on any x86-64 CPU:
// it dispatches at run time to AVX-512 / AVX2 code or a portable fallback.
#include <stddef.h>
#include <stdint.h>

/// Returns a bit set of the CPU features the kernels detected (1 = AVX2+FMA+F16C, 2 = AVX-512F/BW/VL, 4 = AVX-512 VNNI).
int ck_cpu_features(void);

#endif
