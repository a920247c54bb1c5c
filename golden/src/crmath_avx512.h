// exp_cr and log1p_cr (qmsim/detail/crmath.h) on AVX-512: each fast path transcribed op for op in
// 8 double lanes (same constants, same operation order, one IEEE rounding per operation, no FMA
// where the scalar code has none), so every lane returns exactly the scalar function's value.
// Lanes outside a fast path's range or failing its rounding test are recomputed with the scalar
// num::exp_cr / num::log1p_cr.
// Internal to golden/src/*_avx512.cc (compiled with AVX-512 flags, selected at run time).
#pragma once

#include <immintrin.h>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace avx512 {

// exp_cr on 8 floats widened to double. Mirrors num::exp_cr: same constants, same op order.
inline __m256 exp_cr_8(__m256 xf) {
  const __m256i ux = _mm256_castps_si256(xf);
  const __m256i ax = _mm256_and_si256(ux, _mm256_set1_epi32(0x7FFFFFFF));
  // Lanes the fast path handles: 2^-26 <= |x| < 0x1.62e43p+6 (everything else: scalar).
  const __mmask8 in_range = _mm256_cmpge_epu32_mask(ax, _mm256_set1_epi32(0x32800000)) &
                            _mm256_cmplt_epu32_mask(ax, _mm256_set1_epi32(0x42B17218));
  const __m512d z = _mm512_cvtps_pd(xf);
  const __m512d shift = _mm512_set1_pd(0x1.8p52);
  const __m512d kd = _mm512_sub_pd(_mm512_add_pd(_mm512_mul_pd(z, _mm512_set1_pd(0x1.71547652b82fep+0)), shift), shift);
  const __m512d r_hi = _mm512_sub_pd(z, _mm512_mul_pd(kd, _mm512_set1_pd(0x1.62e42feep-1)));
  const __m512d r = _mm512_sub_pd(r_hi, _mm512_mul_pd(kd, _mm512_set1_pd(0x1.a39ef35793c76p-33)));
  auto mad = [](__m512d a, __m512d b, double c) { return _mm512_add_pd(_mm512_mul_pd(a, b), _mm512_set1_pd(c)); };
  const __m512d r2 = _mm512_mul_pd(r, r);
  const __m512d r4 = _mm512_mul_pd(r2, r2);
  const __m512d q01 = mad(r, _mm512_set1_pd(0x1.5555555555555p-3), 0.5);
  const __m512d q23 = mad(r, _mm512_set1_pd(0x1.1111111111111p-7), 0x1.5555555555555p-5);
  const __m512d q45 = mad(r, _mm512_set1_pd(0x1.a01a01a01a01ap-13), 0x1.6c16c16c16c17p-10);
  const __m512d q67 = mad(r, _mm512_set1_pd(0x1.71de3a556c734p-19), 0x1.a01a01a01a01ap-16);
  const __m512d q89 = mad(r, _mm512_set1_pd(0x1.ae64567f544e4p-26), 0x1.27e4fb7789f5cp-22);
  const __m512d q1011 = mad(r, _mm512_set1_pd(0x1.6124613a86d09p-33), 0x1.1eed8eff8d898p-29);
  const __m512d q03 = _mm512_add_pd(_mm512_mul_pd(r2, q23), q01);
  const __m512d q47 = _mm512_add_pd(_mm512_mul_pd(r2, q67), q45);
  const __m512d q811 = _mm512_add_pd(_mm512_mul_pd(r2, q1011), q89);
  const __m512d q = _mm512_add_pd(_mm512_mul_pd(r4, _mm512_add_pd(_mm512_mul_pd(r4, q811), q47)), q03);
  const __m512d y = _mm512_add_pd(_mm512_set1_pd(1.0), _mm512_add_pd(r, _mm512_mul_pd(r2, q)));
  // 2^k: k = (int)kd; out-of-range lanes are masked off, so clamp only to keep the bits sane.
  const __m256i k = _mm512_cvttpd_epi32(kd);
  const __m512i kb = _mm512_slli_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(k), _mm512_set1_epi64(1023)), 52);
  const __m512d v = _mm512_mul_pd(y, _mm512_castsi512_pd(kb));
  // round_if_unique(v, 2^-50): accept when v*(1 -+ 2^-50) round to the same float.
  const __m512d delta = _mm512_mul_pd(v, _mm512_set1_pd(0x1p-50));
  const __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(v, delta));
  const __m256 hi = _mm512_cvtpd_ps(_mm512_add_pd(v, delta));
  const __mmask8 unique = _mm256_cmp_ps_mask(lo, hi, _CMP_EQ_OQ);
  const __mmask8 good = in_range & unique;
  if (good == 0xFF) return lo;
  alignas(32) float xs[8], out[8];
  _mm256_store_ps(xs, xf);
  _mm256_store_ps(out, lo);
  for (int i = 0; i < 8; ++i)
    if (!((good >> i) & 1)) out[i] = num::exp_cr(xs[i]);
  return _mm256_load_ps(out);
}

inline __m512 exp_cr_16(__m512 x) {
  const __m256 a = exp_cr_8(_mm512_castps512_ps256(x));
  const __m256 b = exp_cr_8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

// log1p_cr on 8 floats. Mirrors num::log1p_cr's fast path.
inline __m256 log1p_cr_8(__m256 xf) {
  const __m256i ux = _mm256_castps_si256(xf);
  const __m256i ax = _mm256_and_si256(ux, _mm256_set1_epi32(0x7FFFFFFF));
  // Fast-path lanes: |x| >= 2^-25, x > -1, finite.
  const __mmask8 in_range = _mm256_cmpge_epu32_mask(ax, _mm256_set1_epi32(0x33000000)) &
                            _mm256_cmplt_epu32_mask(ux, _mm256_set1_epi32(static_cast<int>(0xBF800000u))) &
                            _mm256_cmplt_epu32_mask(ax, _mm256_set1_epi32(0x7F800000));
  const __m512d x = _mm512_cvtps_pd(xf);
  const __m512d one = _mm512_set1_pd(1.0);
  // two_sum(1, x)
  const __m512d uh = _mm512_add_pd(one, x);
  const __m512d bb = _mm512_sub_pd(uh, one);
  const __m512d ul = _mm512_add_pd(_mm512_sub_pd(one, _mm512_sub_pd(uh, bb)), _mm512_sub_pd(x, bb));
  const __m512d c = _mm512_div_pd(ul, uh);
  const __m512i ub = _mm512_castpd_si512(uh);
  __m512i e = _mm512_sub_epi64(_mm512_srli_epi64(ub, 52), _mm512_set1_epi64(1023));
  __m512i m_bits = _mm512_and_si512(ub, _mm512_set1_epi64(0x000FFFFFFFFFFFFFll));
  const __mmask8 big = _mm512_cmpge_epu64_mask(m_bits, _mm512_set1_epi64(0x6A09E667F3BCDll));
  m_bits = _mm512_or_si512(m_bits, _mm512_mask_blend_epi64(big, _mm512_set1_epi64(0x3FF0000000000000ll),
                                                            _mm512_set1_epi64(0x3FE0000000000000ll)));
  e = _mm512_mask_add_epi64(e, big, e, _mm512_set1_epi64(1));
  const __m512d m = _mm512_castsi512_pd(m_bits);
  const __m512d s = _mm512_div_pd(_mm512_sub_pd(m, one), _mm512_add_pd(m, one));
  const __m512d s2 = _mm512_mul_pd(s, s);
  const __m512d s4 = _mm512_mul_pd(s2, s2);
  const __m512d s8 = _mm512_mul_pd(s4, s4);
  auto mad = [](__m512d a, double b, double c) { return _mm512_add_pd(_mm512_mul_pd(a, _mm512_set1_pd(b)), _mm512_set1_pd(c)); };
  const __m512d a01 = mad(s2, 0x1.999999999999ap-3, 0x1.5555555555555p-2);
  const __m512d a23 = mad(s2, 0x1.c71c71c71c71cp-4, 0x1.2492492492492p-3);
  const __m512d a45 = mad(s2, 0x1.3b13b13b13b14p-4, 0x1.745d1745d1746p-4);
  const __m512d a67 = mad(s2, 0x1.e1e1e1e1e1e1ep-5, 0x1.1111111111111p-4);
  const __m512d a89 = mad(s2, 0x1.8618618618618p-5, 0x1.af286bca1af28p-5);
  const __m512d a03 = _mm512_add_pd(_mm512_mul_pd(s4, a23), a01);
  const __m512d a47 = _mm512_add_pd(_mm512_mul_pd(s4, a67), a45);
  const __m512d a = _mm512_add_pd(_mm512_mul_pd(s8, _mm512_add_pd(_mm512_mul_pd(s8, a89), a47)), a03);
  const __m512d two_s = _mm512_add_pd(s, s);
  const __m512d log_m = _mm512_add_pd(two_s, _mm512_mul_pd(_mm512_mul_pd(two_s, s2), a));
  const __m512d ed = _mm512_cvtepi64_pd(e);
  const __m512d v = _mm512_add_pd(_mm512_mul_pd(ed, _mm512_set1_pd(0x1.62e42feep-1)),
                                  _mm512_add_pd(log_m, _mm512_add_pd(_mm512_mul_pd(ed, _mm512_set1_pd(0x1.a39ef35793c76p-33)), c)));
  const __m512d delta = _mm512_mul_pd(v, _mm512_set1_pd(0x1p-49));
  const __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(v, delta));
  const __m256 hi = _mm512_cvtpd_ps(_mm512_add_pd(v, delta));
  const __mmask8 good = in_range & _mm256_cmp_ps_mask(lo, hi, _CMP_EQ_OQ);
  if (good == 0xFF) return lo;
  alignas(32) float xs[8], out[8];
  _mm256_store_ps(xs, xf);
  _mm256_store_ps(out, lo);
  for (int i = 0; i < 8; ++i)
    if (!((good >> i) & 1)) out[i] = num::log1p_cr(xs[i]);
  return _mm256_load_ps(out);
}

inline __m512 log1p_cr_16(__m512 x) {
  const __m256 a = log1p_cr_8(_mm512_castps512_ps256(x));
  const __m256 b = log1p_cr_8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

/// num::softplus_thr20_f32 on 16 lanes: dt <= 20 ? log1p(exp(dt)) : dt.
inline __m512 softplus_thr20_16(__m512 dt) {
  const __mmask16 small = _mm512_cmp_ps_mask(dt, _mm512_set1_ps(20.0f), _CMP_LE_OQ);
  if (small == 0) return dt;
  // Lanes above the threshold keep dt; clamp their exp argument so they take no slow path.
  const __m512 arg = _mm512_mask_blend_ps(small, _mm512_set1_ps(1.0f), dt);
  return _mm512_mask_blend_ps(small, dt, log1p_cr_16(exp_cr_16(arg)));
}

// f16 <-> f32 on 16 lanes with hardware conversion (RNE, IEEE); NaN lanes use the scalar rule.
inline void store_f16_16(uint16_t* out, __m512 v) {
  // NaN lanes go through the scalar conversion so the payload rule is the numerics header's.
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (nan) {
    alignas(64) float tmp[16];
    _mm512_store_ps(tmp, v);
    for (int i = 0; i < 16; ++i)
      if ((nan >> i) & 1) out[i] = num::f32_to_f16_rne(tmp[i]);
  }
}

inline __m512 load_f16_16(const uint16_t* in) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
  __m512 v = _mm512_cvtph_ps(h);
  // NaN codes (exponent 31, mantissa != 0) through the scalar widening.
  const __m256i ah = _mm256_and_si256(h, _mm256_set1_epi16(0x7FFF));
  const __mmask16 nan = _mm256_cmpgt_epu16_mask(ah, _mm256_set1_epi16(0x7C00));
  if (nan) {
    alignas(64) float tmp[16];
    _mm512_store_ps(tmp, v);
    for (int i = 0; i < 16; ++i)
      if ((nan >> i) & 1) tmp[i] = num::f16_to_f32(in[i]);
    v = _mm512_load_ps(tmp);
  }
  return v;
}

// Quantizer building blocks on 16 lanes (lane for lane the numerics-header semantics).
inline __m512 clamp_int8_nan0(__m512 r) {
  const __mmask16 nan = _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q);
  const __m512 c = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
  return _mm512_mask_blend_ps(nan, c, _mm512_setzero_ps());
}

inline void store_i8(int8_t* out, __m512 integral_in_range) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(integral_in_range)));
}

inline void store_i8_masked(int8_t* out, __m512 integral_in_range, __mmask16 m) {
  _mm_mask_storeu_epi8(out, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(integral_in_range)));
}

// round_rna on 16 lanes (NaN, inf and |x| >= 2^23 returned unchanged, as the scalar function).
inline __m512 round_rna16(__m512 x) {
  const __m512 sign = _mm512_and_ps(x, _mm512_set1_ps(-0.0f));
  const __m512 ax = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
  const __mmask16 small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(8388608.0f), _CMP_LT_OQ);
  __m512 t = _mm512_roundscale_ps(ax, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(ax, t), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  t = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0f));
  return _mm512_mask_blend_ps(small, x, _mm512_or_ps(t, sign));
}

}  // namespace avx512
}  // namespace golden
}  // namespace qmsim
