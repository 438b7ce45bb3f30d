// Transform matrices of Winograd F(4,3) and F(2,3) (Lavin & Gray 2015), private to CKernels: the spatial transforms
// of winograd.c apply them along rows and columns, those of winograd_time.c along time. Correlation as PyTorch's
// conv (no kernel flip): y[r] = Σ_k d[r + k] · g[k], Y = Aᵀ [(G g) ⊙ (Bᵀ d)].
#ifndef CK_WINOGRAD_TABLES_H
#define CK_WINOGRAD_TABLES_H

// F(4,3) with interpolation points 0, ±1, ±2, ∞ (the scaled form of Lavin & Gray).
static const float BT4[6][6] = {
    {4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const float G4[6][3] = {
    {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1}};
static const float AT4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
// F(2,3) with points 0, ±1, ∞.
static const float BT2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const float G2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const float AT2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

/// Element (i, k) of Bᵀ, G or Aᵀ for m = 4 (F(4,3)) or 2 (F(2,3)).
static inline float bt(int m, int i, int k) { return m == 4 ? BT4[i][k] : BT2[i][k]; }
static inline float gm(int m, int i, int k) { return m == 4 ? G4[i][k] : G2[i][k]; }
static inline float at(int m, int i, int k) { return m == 4 ? AT4[i][k] : AT2[i][k]; }

#endif
