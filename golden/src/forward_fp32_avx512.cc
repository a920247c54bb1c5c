// FP32 reference forward kernels, AVX-512 variants (selected at run time by forward_fp32.cc).
// Each output element / channel performs exactly the f32 operations of the scalar definition in
// forward_fp32.cc, in the same order, one rounding each and no FMA (separate _mm512_mul_ps and
// _mm512_add_ps; the build's -ffp-contract=off keeps them separate), so the results are the same
// bits; tests/forward_fp32_test.cc compares every captured tensor with forward_fp32_ref.
//  * linear: 16 output columns per vector, a 6-row x 64-column register tile; every output
//    accumulates acc = acc + x[m,k]·Wt[k,n] for k = 0..K-1 from acc = 0.
//  * conv + SiLU: 16 channels per vector; taps k ascending from 0, then + bias, then v/(1+exp(-v)).
//  * selective scan: 16 channels per vector, sequential in t; exp_cr / log1p_cr through the
//    vector transcriptions of crmath_avx512.h (bit-identical to num::exp_cr / num::log1p_cr).
// Compiled with AVX-512 flags by golden/CMakeLists.txt when x86 dispatch is on (QMSIM_NATIVE);
// otherwise empty (forward_fp32.cc then never calls it).
#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "crmath_avx512.h"
#include "qmsim/golden/forward_fp32.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace fp32_avx512_detail {

constexpr int kPanel = kFp32Panel;

namespace {

constexpr int kMr = 6;  // rows per register tile: 6 x 4 accumulators + 4 weights + 1 broadcast

// y[0..MR) x [0..16·NV) of one tile (the last vector masked with `last`): for every output,
// acc = 0, then acc = fl32(acc + fl32(x[r,k]·w[k,n])) for k = 0..K-1. The accumulators are named
// variables (an array of them is kept in memory by GCC); rows/vectors beyond MR/NV are dead code.
template <int MR, int NV>
void linear_tile(int K, const float* x, int ldx, const float* w, int ldw, float* y, int ldy, __mmask16 last,
                 bool pf_own, const char* pf_next) {
  static_assert(MR >= 1 && MR <= 6 && NV >= 1 && NV <= 4, "tile shape");
  const __m512 zero = _mm512_setzero_ps();
#define QMSIM_ACC_ROW(r) __m512 a##r##0 = zero, a##r##1 = zero, a##r##2 = zero, a##r##3 = zero;
  QMSIM_ACC_ROW(0) QMSIM_ACC_ROW(1) QMSIM_ACC_ROW(2) QMSIM_ACC_ROW(3) QMSIM_ACC_ROW(4) QMSIM_ACC_ROW(5)
#undef QMSIM_ACC_ROW
  const float* xr[6];
  for (int r = 0; r < 6; ++r) xr[r] = x + static_cast<size_t>(r < MR ? r : 0) * ldx;
  for (int k = 0; k < K; ++k) {
    const float* wk = w + static_cast<size_t>(k) * ldw;
    // Prefetches only (no effect on results; a prefetch never faults, so running past the end
    // of the weights is harmless): this tile's weights 32 rows ahead, and/or one line per k of
    // the next panel (into L2).
    if (pf_own) {
      const uintptr_t pf = reinterpret_cast<uintptr_t>(wk) + sizeof(float) * 32 * static_cast<size_t>(ldw);
      for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(pf + 64 * v), _MM_HINT_T0);
    }
    if (pf_next != nullptr) _mm_prefetch(pf_next + 64 * static_cast<size_t>(k), _MM_HINT_T1);
    const __m512 w0 = NV == 1 ? _mm512_maskz_loadu_ps(last, wk) : _mm512_loadu_ps(wk);
    const __m512 w1 = NV < 2 ? zero : NV == 2 ? _mm512_maskz_loadu_ps(last, wk + 16) : _mm512_loadu_ps(wk + 16);
    const __m512 w2 = NV < 3 ? zero : NV == 3 ? _mm512_maskz_loadu_ps(last, wk + 32) : _mm512_loadu_ps(wk + 32);
    const __m512 w3 = NV < 4 ? zero : _mm512_maskz_loadu_ps(last, wk + 48);
#define QMSIM_ACC_STEP(r)                                                              \
  if constexpr (MR > r) {                                                              \
    const __m512 xb = _mm512_set1_ps(xr[r][k]);                                        \
    a##r##0 = _mm512_add_ps(a##r##0, _mm512_mul_ps(xb, w0));                           \
    if constexpr (NV > 1) a##r##1 = _mm512_add_ps(a##r##1, _mm512_mul_ps(xb, w1));    \
    if constexpr (NV > 2) a##r##2 = _mm512_add_ps(a##r##2, _mm512_mul_ps(xb, w2));    \
    if constexpr (NV > 3) a##r##3 = _mm512_add_ps(a##r##3, _mm512_mul_ps(xb, w3));    \
  }
    QMSIM_ACC_STEP(0) QMSIM_ACC_STEP(1) QMSIM_ACC_STEP(2) QMSIM_ACC_STEP(3) QMSIM_ACC_STEP(4) QMSIM_ACC_STEP(5)
#undef QMSIM_ACC_STEP
  }
#define QMSIM_ACC_STORE(r)                                                                   \
  if constexpr (MR > r) {                                                                    \
    float* yr = y + static_cast<size_t>(r) * ldy;                                            \
    const __m512 acc[4] = {a##r##0, a##r##1, a##r##2, a##r##3};                              \
    for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(yr + 16 * v, acc[v]);                  \
    _mm512_mask_storeu_ps(yr + 16 * (NV - 1), last, acc[NV - 1]);                            \
  }
  QMSIM_ACC_STORE(0) QMSIM_ACC_STORE(1) QMSIM_ACC_STORE(2) QMSIM_ACC_STORE(3) QMSIM_ACC_STORE(4) QMSIM_ACC_STORE(5)
#undef QMSIM_ACC_STORE
}

using TileFn = void (*)(int, const float*, int, const float*, int, float*, int, __mmask16, bool, const char*);

template <int MR>
constexpr TileFn tile_for(int nv) {
  return nv == 1 ? &linear_tile<MR, 1> : nv == 2 ? &linear_tile<MR, 2> : nv == 3 ? &linear_tile<MR, 3> : &linear_tile<MR, 4>;
}

TileFn tile_fn(int mr, int nv) {
  switch (mr) {
    case 1: return tile_for<1>(nv);
    case 2: return tile_for<2>(nv);
    case 3: return tile_for<3>(nv);
    case 4: return tile_for<4>(nv);
    case 5: return tile_for<5>(nv);
    default: return tile_for<6>(nv);
  }
}

// A vector in a std::vector without -Wignored-attributes.
struct alignas(64) V16 {
  __m512 v;
};

inline __m512 neg(__m512 v) { return _mm512_xor_ps(v, _mm512_set1_ps(-0.0f)); }

// num::silu_f32 on 16 lanes: v / fl32(1 + exp(-v)).
inline __m512 silu_16(__m512 v) {
  return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), avx512::exp_cr_16(neg(v))));
}

}  // namespace

/// Output-column panels [p0, p1) (kPanel columns each, the last one possibly narrower), all M rows.
/// Column n of the weight is at W[(n / kPanel)·panel_stride + k·ldw + n % kPanel].
void linear_panels_avx512(int M, int N, int K, const float* x, const float* W, size_t panel_stride, size_t ldw,
                          float* y, int64_t p0, int64_t p1) {
  for (int64_t p = p0; p < p1; ++p) {
    const int n0 = static_cast<int>(p) * kPanel;
    const int nb = std::min(kPanel, N - n0);
    const int nv = (nb + 15) / 16;
    const __mmask16 last = (nb % 16) != 0 ? static_cast<__mmask16>((1u << (nb % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
    const float* Wp = W + static_cast<size_t>(p) * panel_stride;
    // The panel's weights are read from memory by the first row tile (which prefetches ahead)
    // and from L2 by the others. With a contiguous (packed) panel of K·kPanel floats = 4K lines
    // and at least 5 row tiles, tiles 1..4 also prefetch the next panel into L2, K lines each.
    const int tiles = (M + kMr - 1) / kMr;
    const bool pf_next_panel = ldw == static_cast<size_t>(kPanel) && panel_stride == static_cast<size_t>(K) * kPanel &&
                               tiles >= 5 && p + 1 < p1;
    const char* next = reinterpret_cast<const char*>(Wp + panel_stride);
    for (int i = 0; i < tiles; ++i) {
      const int m0 = i * kMr;
      const int mr = std::min(kMr, M - m0);
      const char* pf_next = pf_next_panel && i >= 1 && i <= 4 ? next + static_cast<size_t>(i - 1) * K * 64 : nullptr;
      tile_fn(mr, nv)(K, x + static_cast<size_t>(m0) * K, K, Wp, static_cast<int>(ldw),
                      y + static_cast<size_t>(m0) * N + n0, N, last, i == 0, pf_next);
    }
  }
}

/// Channels [16·b0, 16·b1) of conv_silu_channels_ref.
void conv_silu_blocks_avx512(int L, int E, int K, const float* xz, const float* w, const float* bias, float* xc,
                             int64_t b0, int64_t b1) {
  constexpr int W = 16;
  std::vector<V16> wk(static_cast<size_t>(K));
  alignas(64) float tmp[W];
  for (int64_t b = b0; b < b1; ++b) {
    const int e0 = static_cast<int>(b) * W;
    for (int k = 0; k < K; ++k) {
      for (int i = 0; i < W; ++i) tmp[i] = w[static_cast<size_t>(e0 + i) * K + k];
      wk[k].v = _mm512_load_ps(tmp);
    }
    const __m512 vb = bias != nullptr ? _mm512_loadu_ps(bias + e0) : _mm512_setzero_ps();
    for (int t = 0; t < L; ++t) {
      __m512 acc = _mm512_setzero_ps();
      for (int k = std::max(0, K - 1 - t); k < K; ++k) {  // taps with src = t-K+1+k >= 0, k ascending
        const int src = t - (K - 1) + k;
        acc = _mm512_add_ps(acc, _mm512_mul_ps(wk[k].v, _mm512_loadu_ps(xz + static_cast<size_t>(src) * 2 * E + e0)));
      }
      _mm512_storeu_ps(xc + static_cast<size_t>(t) * E + e0, silu_16(_mm512_add_ps(acc, vb)));
    }
  }
}

/// Channels [16·b0, 16·b1) of scan_channels_ref. flatten: inline exp_cr_8 (GCC otherwise calls it
/// out of line, twice per vector, and cannot interleave the two halves).
__attribute__((flatten)) void scan_blocks_avx512(int L, int E, int N, int X, int R, const float* dt, const float* xu, const float* xdbl,
                        const float* xz, const float* Am, const float* Dvec, const float* bdt_vec, float* y,
                        float* state, int64_t b0, int64_t b1) {
  constexpr int W = 16;
  std::vector<V16> hv(static_cast<size_t>(N)), Av(static_cast<size_t>(N)), dAv(static_cast<size_t>(N));
  V16* const h = hv.data();
  V16* const A = Av.data();
  V16* const dA = dAv.data();
  alignas(64) float tmp[W];
  for (int64_t b = b0; b < b1; ++b) {
    const int e0 = static_cast<int>(b) * W;
    for (int n = 0; n < N; ++n) {
      for (int i = 0; i < W; ++i) tmp[i] = Am[static_cast<size_t>(e0 + i) * N + n];
      A[n].v = _mm512_load_ps(tmp);
      h[n].v = _mm512_setzero_ps();
    }
    const __m512 Dv = _mm512_loadu_ps(Dvec + e0);
    const __m512 bdt = _mm512_loadu_ps(bdt_vec + e0);
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e0;
      const __m512 dtv = avx512::softplus_thr20_16(_mm512_add_ps(_mm512_loadu_ps(dt + te), bdt));
      const __m512 u = _mm512_loadu_ps(xu + te);
      const float* B = xdbl + static_cast<size_t>(t) * X + R;
      const float* C = B + N;
      __m512 yacc = _mm512_setzero_ps();
      // The N exponentials are independent: evaluate them first (instruction-level parallelism
      // across the long exp_cr chains), then run the recurrence.
      for (int n = 0; n < N; ++n) dA[n].v = avx512::exp_cr_16(_mm512_mul_ps(dtv, A[n].v));
      for (int n = 0; n < N; ++n) {
        const __m512 dBu = _mm512_mul_ps(_mm512_mul_ps(dtv, _mm512_set1_ps(B[n])), u);
        const __m512 hn = _mm512_add_ps(_mm512_mul_ps(dA[n].v, h[n].v), dBu);
        h[n].v = hn;
        yacc = _mm512_add_ps(yacc, _mm512_mul_ps(hn, _mm512_set1_ps(C[n])));
      }
      yacc = _mm512_add_ps(yacc, _mm512_mul_ps(Dv, u));
      const __m512 z = _mm512_loadu_ps(xz + static_cast<size_t>(t) * 2 * E + E + e0);
      _mm512_storeu_ps(y + te, _mm512_mul_ps(yacc, silu_16(z)));
    }
    for (int n = 0; n < N; ++n) {
      _mm512_store_ps(tmp, h[n].v);
      for (int i = 0; i < W; ++i) state[static_cast<size_t>(e0 + i) * N + n] = tmp[i];
    }
  }
}

}  // namespace fp32_avx512_detail
}  // namespace golden
}  // namespace qmsim

#endif  // AVX-512
