#ifndef CRANDOM_H
#define CRANDOM_H
// The AVX2 Box-Muller transform of PyTorch's CPU normal_ kernel (normal_fill_16_AVX2 with avx_mathfun's log and
// sincos), 8 lanes at a time, for TorchGenerator. Bit-identical to the scalar Swift emulation in
// Sources/Model/Random/TorchGenerator.swift: the same operations with the same fused multiply-adds (built with
// -ffp-contract=off so the compiler adds no others).
#include <stddef.h>

// 1 when the CPU has AVX2 and FMA (the vector path may be used), else 0.
int crandom_has_avx2_fma(void);

// Transforms `blocks` consecutive blocks of 16 uniforms in [0, 1) into standard normals in place
// (u1 = 1 - data[j], u2 = data[j + 8] for j < 8). Returns 0 without touching the data when the CPU lacks AVX2/FMA.
int crandom_normal16_avx2(float *data, size_t blocks);

#endif
