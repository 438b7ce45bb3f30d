// Throughput of the Winograd product kernel (ck_winograd_gemm, fp32, one thread) against the FMA peak of the CPU:
// how much of a VAE decode's largest cost (≈ 55 % of its CPU time) is left to gain in the kernel itself.
//
//   gcc -O2 -I Sources/CKernels/include -I Sources/CKernels Benchmarks/winograd_gemm_peak.c
//       Sources/CKernels/winograd.c Sources/CKernels/cpu.c -lm -o /tmp/winograd_gemm_peak    (one command line)
//   /tmp/winograd_gemm_peak 256 256 256 3    # out channels, in channels, tiles, taps
//
// Prints the time per call (best of 5 × 20 calls) and GFLOP/s (2 · out · in · tiles · taps per call). The fp32 FMA
// peak per core is 32 FLOP per cycle on Zen 4 (two 256-bit FMA pipes; AVX-512 double-pumped), 64 on Zen 5 and on
// Intel parts with two 512-bit FMA units.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "CKernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s OUT_CHANNELS IN_CHANNELS TILES TAPS\n", argv[0]);
        return 2;
    }
    const int co = atoi(argv[1]), ci = atoi(argv[2]), tiles = atoi(argv[3]), kt = atoi(argv[4]);
    if (co < 1 || ci < 1 || tiles < 1 || kt < 1 || kt > 8) {
        fprintf(stderr, "channels and tiles must be positive, taps 1 … 8\n");
        return 2;
    }
    const int MR = CK_WG_MR, NR = CK_WG_NR;  // the kernel's packed strips: MR output channels, NR tiles
    const int strips = (co + MR - 1) / MR, ldp = (tiles + NR - 1) / NR * NR;
    const size_t uStrip = (size_t)kt * ci * MR, vTap = (size_t)ci * ldp;
    float *u = malloc(sizeof(float) * strips * uStrip), *v = malloc(sizeof(float) * kt * vTap);
    float *p = malloc(sizeof(float) * (size_t)strips * MR * ldp);
    if (!u || !v || !p) { fprintf(stderr, "out of memory\n"); return 1; }
    for (size_t i = 0; i < strips * uStrip; i++) u[i] = 1e-3f * (float)(i % 7);
    for (size_t i = 0; i < kt * vTap; i++) v[i] = 1e-3f * (float)(i % 5);
    const float *ut[8], *vt[8];
    for (int t = 0; t < kt; t++) { ut[t] = u + (size_t)t * ci * MR; vt[t] = v + (size_t)t * vTap; }

    ck_winograd_gemm(kt, ci, co, tiles, ut, uStrip, vt, p, ldp, 0);  // warm-up
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        const int reps = 20;
        double t0 = now();
        for (int r = 0; r < reps; r++) ck_winograd_gemm(kt, ci, co, tiles, ut, uStrip, vt, p, ldp, 0);
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    printf("out %d in %d tiles %d taps %d: %.3f ms per call, %.1f GFLOP/s\n", co, ci, tiles, kt, best * 1e3,
           2.0 * co * ci * tiles * kt / best / 1e9);
    free(u); free(v); free(p);
    return 0;
}
