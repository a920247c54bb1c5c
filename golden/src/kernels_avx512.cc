// AVX-512 variants of the elementwise quantizers and conversions (see kernels_avx512.h). Each
// lane computes exactly what the scalar numerics-header function computes:
//   quant_rne_sat8  : roundscale(RNE) then clamp to [-128, 127], NaN -> 0
//   quant_rna_*     : RNA = trunc(|x|) + (frac >= 0.5), sign restored; int32 saturation, NaN -> 0
//   f32_to_f16_rne  : vcvtps2ph with RNE (IEEE overflow to inf, gradual underflow)
//   f16_to_f32      : vcvtph2ps (exact)
// Tested against the scalar functions in tests/vector_math_test.cc.
#include "kernels_avx512.h"

#include <immintrin.h>

#include <algorithm>

#include "crmath_avx512.h"

namespace qmsim {
namespace golden {
namespace avx512 {

void requant_two_scales_s8_avx512(const int32_t* acc, size_t n, float inner, float outer, int8_t* y) {
  const __m512 vi = _mm512_set1_ps(inner), vo = _mm512_set1_ps(outer);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + i));
    const __m512 v = _mm512_mul_ps(vo, _mm512_mul_ps(vi, a));
    store_i8(y + i, clamp_int8_nan0(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  }
  for (; i < n; ++i) y[i] = num::quant_rne_sat8(outer * (inner * num::i32_to_f32_rne(acc[i])));
}

void requant_alpha_s8_avx512(const int32_t* acc, size_t n, float alpha, int8_t* y) {
  const __m512 va = _mm512_set1_ps(alpha);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_mul_ps(va, _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + i)));
    store_i8(y + i, clamp_int8_nan0(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  }
  for (; i < n; ++i) y[i] = num::quant_rne_sat8(alpha * num::i32_to_f32_rne(acc[i]));
}

void requant_two_scales_f16_avx512(const int32_t* acc, size_t n, float inner, float outer, uint16_t* y) {
  const __m512 vi = _mm512_set1_ps(inner), vo = _mm512_set1_ps(outer);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_mul_ps(vo, _mm512_mul_ps(vi, _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + i))));
    store_f16_16(y + i, v);
  }
  for (; i < n; ++i) y[i] = num::f32_to_f16_rne(outer * (inner * num::i32_to_f32_rne(acc[i])));
}

void requant_alpha_f16_avx512(const int32_t* acc, size_t n, float alpha, uint16_t* y) {
  const __m512 va = _mm512_set1_ps(alpha);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) store_f16_16(y + i, _mm512_mul_ps(va, _mm512_cvtepi32_ps(_mm512_loadu_si512(acc + i))));
  for (; i < n; ++i) y[i] = num::f32_to_f16_rne(alpha * num::i32_to_f32_rne(acc[i]));
}

int64_t quant_rna_row_avx512(const float* v, size_t n, float scale, bool wrap, int8_t* out) {
  const __m512 vs = _mm512_set1_ps(scale);
  int64_t out_of_range = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 r = round_rna16(_mm512_mul_ps(_mm512_loadu_ps(v + i), vs));
    const __mmask16 oor = _mm512_cmp_ps_mask(r, _mm512_set1_ps(-128.0f), _CMP_LT_OQ) |
                          _mm512_cmp_ps_mask(r, _mm512_set1_ps(127.0f), _CMP_GT_OQ);
    out_of_range += __builtin_popcount(oor);
    if (!wrap || oor == 0) {
      store_i8(out + i, clamp_int8_nan0(r));
    } else {
      // wrap8(int32_sat(r)): |r| < 2^31 converts exactly; >= 2^31 -> INT32_MAX; NaN -> 0.
      __m512i q = _mm512_cvttps_epi32(r);  // 0x80000000 for NaN and |r| >= 2^31
      const __mmask16 pos_big = _mm512_cmp_ps_mask(r, _mm512_set1_ps(2147483648.0f), _CMP_GE_OQ);
      const __mmask16 nan = _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q);
      q = _mm512_mask_mov_epi32(q, pos_big, _mm512_set1_epi32(0x7FFFFFFF));
      q = _mm512_mask_mov_epi32(q, nan, _mm512_setzero_si512());
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(q));
    }
  }
  for (; i < n; ++i) {
    const float scaled = v[i] * scale;
    const int32_t rounded = num::f32_to_i32_sat(num::round_rna(scaled));
    if (rounded < num::kInt8Min || rounded > num::kInt8Max) ++out_of_range;
    out[i] = wrap ? num::wrap8(rounded) : num::sat8(rounded);
  }
  return out_of_range;
}

void lm_head_tiles_avx512(int P, const float* y, int D, int V, const uint16_t* tiles, int64_t b0, int64_t b1,
                          float* logits) {
  constexpr int kLanes = 16, kRows = 4;  // 4 positions share each loaded weight vector
  for (int64_t b = b0; b < b1; ++b) {
    const uint16_t* tile = tiles + static_cast<size_t>(b) * D * kLanes;
    const int v0 = static_cast<int>(b) * kLanes;
    const __mmask16 lanes = static_cast<__mmask16>(V - v0 >= kLanes ? 0xFFFF : ((1u << (V - v0)) - 1u));
    for (int p0 = 0; p0 < P; p0 += kRows) {
      const int rows = std::min(kRows, P - p0);
      __m512 acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
      for (int k = 0; k < D; ++k) {
        const __m512 w = load_f16_16(tile + static_cast<size_t>(k) * kLanes);
        for (int r = 0; r < rows; ++r)
          acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_set1_ps(y[static_cast<size_t>(p0 + r) * D + k]), w));
      }
      for (int r = 0; r < rows; ++r) _mm512_mask_storeu_ps(logits + static_cast<size_t>(p0 + r) * V + v0, lanes, acc[r]);
    }
  }
}

void f32_to_f16_batch_avx512(const float* x, uint16_t* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) store_f16_16(y + i, _mm512_loadu_ps(x + i));
  for (; i < n; ++i) y[i] = num::f32_to_f16_rne(x[i]);
}

void f16_to_f32_batch_avx512(const uint16_t* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, load_f16_16(x + i));
  for (; i < n; ++i) y[i] = num::f16_to_f32(x[i]);
}

void quant_rna_batch_avx512(const float* x, size_t n, bool wrap, int8_t* y) { quant_rna_row_avx512(x, n, 1.0f, wrap, y); }

void quant_rne_sat8_batch_avx512(const float* x, size_t n, int8_t* y) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    store_i8(y + i, clamp_int8_nan0(_mm512_roundscale_ps(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  for (; i < n; ++i) y[i] = num::quant_rne_sat8(x[i]);
}

}  // namespace avx512
}  // namespace golden
}  // namespace qmsim
