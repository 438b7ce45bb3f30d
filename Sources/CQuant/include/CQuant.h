#ifndef CQUANT_H
#define CQUANT_H
// AVX-512 block quantizers for GGUFLike. Each returns 1 when it did the work, 0 when the CPU lacks AVX-512
// (the caller then uses its portable Swift path). Arithmetic is step for step gguf-py's quants.py
// (no fused multiply-add: built with -ffp-contract=off), so results are bit-identical to it.
#include <stddef.h>
#include <stdint.h>

int cq_quantize_q8_0(const float *x, uint8_t *out, size_t nblocks);
int cq_quantize_q4_0(const float *x, uint8_t *out, size_t nblocks);
int cq_dequantize_q8_0(const uint8_t *blocks, float *y, size_t nblocks);
int cq_dequantize_q4_0(const uint8_t *blocks, float *y, size_t nblocks);
/// The other 32-element formats (Q5_0, Q4_1, Q5_1) and the K-quant dequantizers Q5_K, Q6_K (Q4_K's Swift loop
/// already vectorizes).
int cq_quantize_q5_0(const float *x, uint8_t *out, size_t nblocks);
int cq_quantize_q4_1(const float *x, uint8_t *out, size_t nblocks);
int cq_quantize_q5_1(const float *x, uint8_t *out, size_t nblocks);
int cq_dequantize_q5_0(const uint8_t *blocks, float *y, size_t nblocks);
int cq_dequantize_q4_1(const uint8_t *blocks, float *y, size_t nblocks);
int cq_dequantize_q5_1(const uint8_t *blocks, float *y, size_t nblocks);
int cq_dequantize_q5_k(const uint8_t *blocks, float *y, size_t nblocks);
int cq_dequantize_q6_k(const uint8_t *blocks, float *y, size_t nblocks);
/// IEEE half ↔ single conversions (round to nearest even) and bf16 → single.
int cq_f16_to_f32(const uint16_t *x, float *y, size_t n);
int cq_f32_to_f16(const float *x, uint16_t *y, size_t n);
int cq_bf16_to_f32(const uint16_t *x, float *y, size_t n);

#endif
