// Selective scan, AVX-512 variant: 16 channels per vector, the recurrence still strictly
// sequential in t for every (e, n). Every lane performs exactly the f32/f64 operations of the
// scalar selective_scan (same operands, same order, one rounding each, FMAs only where the scalar
// code calls fma_f32), so the result is the same bits; tests/selective_scan_test.cc checks it.
//
// exp_cr is evaluated by the vector transcription in exp_cr_avx512.h.
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "crmath_avx512.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace scan_avx512_detail {
namespace {

__m512 load_i8_as_f32(const int8_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))); }

// The 16-channel recurrence for channel blocks [block_begin, block_end). load_u(te) gives the
// f32 u of 16 channels at token-major offset te; load_dt_pre(te, bias_dt) the softplus argument.
template <class LoadU, class LoadDtPre>
void scan_blocks_core(int L, int E, int N, LoadU load_u, LoadDtPre load_dt_pre, const float* Bf, const float* Cf,
                      const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                      const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q, int64_t block_begin,
                      int64_t block_end) {
  constexpr int W = 16;
  std::vector<__m512> h(static_cast<size_t>(N)), A(static_cast<size_t>(N));
  alignas(64) float y_buf[W];
  alignas(64) float tmp[W];
  for (int64_t b = block_begin; b < block_end; ++b) {
    const int e0 = static_cast<int>(b) * W;
    const __m512 Dv = _mm512_mul_ps(_mm512_set1_ps(s.D), load_i8_as_f32(D + e0));
    const __m512 bias_dt =
        dt_bias != nullptr ? _mm512_mul_ps(_mm512_set1_ps(s.dt_bias), load_i8_as_f32(dt_bias + e0)) : _mm512_setzero_ps();
    for (int n = 0; n < N; ++n) {
      for (int i = 0; i < W; ++i) tmp[i] = s.A * static_cast<float>(A_log[static_cast<size_t>(e0 + i) * N + n]);
      A[n] = _mm512_xor_ps(avx512::exp_cr_16(_mm512_load_ps(tmp)), _mm512_set1_ps(-0.0f));  // A = -exp(A_scale·Aq)
      h[n] = _mm512_setzero_ps();
    }
    const __m512 sz = _mm512_set1_ps(s.z);
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e0;
      const __m512 uf = load_u(te);
      const __m512 dtf = avx512::softplus_thr20_16(load_dt_pre(te, bias_dt));
      const __m512 du = _mm512_mul_ps(dtf, uf);
      __m512 yacc = _mm512_mul_ps(Dv, uf);
      const float* Bt = Bf + static_cast<size_t>(t) * N;
      const float* Ct = Cf + static_cast<size_t>(t) * N;
      for (int n = 0; n < N; ++n) {
        const __m512 a_t = avx512::exp_cr_16(_mm512_mul_ps(dtf, A[n]));
        h[n] = _mm512_fmadd_ps(a_t, h[n], _mm512_mul_ps(_mm512_set1_ps(Bt[n]), du));
        yacc = _mm512_fmadd_ps(h[n], _mm512_set1_ps(Ct[n]), yacc);
      }
      // gate: f16_RNE(fl32(yacc·zf) / fl32(1 + exp(-zf)))
      const __m512 zf = _mm512_mul_ps(sz, load_i8_as_f32(z + te));
      const __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), avx512::exp_cr_16(_mm512_xor_ps(zf, _mm512_set1_ps(-0.0f))));
      _mm512_store_ps(y_buf, _mm512_div_ps(_mm512_mul_ps(yacc, zf), den));
      for (int i = 0; i < W; ++i) y_f16[te + i] = num::f32_to_f16_rne(y_buf[i]);
    }
    for (int n = 0; n < N; ++n) {
      _mm512_store_ps(tmp, h[n]);
      for (int i = 0; i < W; ++i) {
        const size_t idx = static_cast<size_t>(e0 + i) * N + n;
        if (state != nullptr) state[idx] = tmp[i];
        if (state_q != nullptr) state_q[idx] = num::quant_rna_sat8(tmp[i] / s.state);
      }
    }
  }
}

}  // namespace

/// Channels [16·block_begin, 16·block_end) of selective_scan; the caller handles the remainder.
void scan_blocks_avx512(int L, int E, int N, const int8_t* u, const int8_t* dt, const float* Bf, const float* Cf,
                        const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                        const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q, int64_t block_begin,
                        int64_t block_end) {
  const __m512 su = _mm512_set1_ps(s.u), sdt = _mm512_set1_ps(s.dt);
  auto load_u = [&](size_t te) { return _mm512_mul_ps(su, load_i8_as_f32(u + te)); };
  // dt = softplus(fma(s_dt, q_dt, bias)) (spec §2.6, §5.8)
  auto load_dt = [&](size_t te, __m512 bias) { return _mm512_fmadd_ps(sdt, load_i8_as_f32(dt + te), bias); };
  scan_blocks_core(L, E, N, load_u, load_dt, Bf, Cf, z, A_log, D, dt_bias, s, y_f16, state, state_q, block_begin,
                   block_end);
}

/// Channels [16·block_begin, 16·block_end) of selective_scan_f32in.
void scan_blocks_f32in_avx512(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf,
                              const float* Cf, const int8_t* z, const int8_t* A_log, const int8_t* D,
                              const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q,
                              int64_t block_begin, int64_t block_end) {
  auto load_u = [&](size_t te) { return _mm512_loadu_ps(u + te); };
  auto load_dt = [&](size_t te, __m512) { return _mm512_loadu_ps(dt_pre + te); };
  scan_blocks_core(L, E, N, load_u, load_dt, Bf, Cf, z, A_log, D, nullptr, s, y_f16, state, state_q, block_begin,
                   block_end);
}

/// Channels [16·block_begin, 16·block_end) of selective_scan_pseq (spec §4.5: every op rounded
/// separately, no FMA; the scalar code's operations in its order, lane by lane). Bf, Cf: the
/// hoisted fl32(q·s_B), fl32(q·s_C) [L, N]; u: int8 u_q (u_f32 null) or f32 u_f32.
void scan_blocks_pseq_avx512(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                             const float* Bf, const float* Cf, const int8_t* z, const int8_t* A_log, const int8_t* D,
                             const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state,
                             int64_t block_begin, int64_t block_end) {
  constexpr int W = 16;
  std::vector<__m512> h(static_cast<size_t>(N)), A(static_cast<size_t>(N));
  alignas(64) float tmp[W];
  const __m512 su = _mm512_set1_ps(s.u), sdt = _mm512_set1_ps(s.dt), sz = _mm512_set1_ps(s.z);
  const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
  for (int64_t b = block_begin; b < block_end; ++b) {
    const int e0 = static_cast<int>(b) * W;
    const __m512 Dv = _mm512_mul_ps(load_i8_as_f32(D + e0), _mm512_set1_ps(s.D));                // fl32(q_D·s_D)
    const __m512 bias = _mm512_mul_ps(load_i8_as_f32(dt_bias + e0), _mm512_set1_ps(s.dt_bias));  // fl32(q_db·s_db)
    for (int n = 0; n < N; ++n) {
      for (int i = 0; i < W; ++i) tmp[i] = static_cast<float>(A_log[static_cast<size_t>(e0 + i) * N + n]) * s.A;
      A[n] = _mm512_xor_ps(avx512::exp_cr_16(_mm512_load_ps(tmp)), sign);  // -exp(fl32(q_A·s_A))
      h[n] = _mm512_setzero_ps();
    }
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e0;
      const __m512 uf = u_q != nullptr ? _mm512_mul_ps(load_i8_as_f32(u_q + te), su) : _mm512_loadu_ps(u_f32 + te);
      const __m512 dtr = _mm512_mul_ps(load_i8_as_f32(dt + te), sdt);      // mul, then add: no FMA
      const __m512 dtf = avx512::softplus_thr20_16(_mm512_add_ps(dtr, bias));
      const float* Bt = Bf + static_cast<size_t>(t) * N;
      const float* Ct = Cf + static_cast<size_t>(t) * N;
      __m512 y = _mm512_setzero_ps();
      for (int n = 0; n < N; ++n) {
        const __m512 dA = avx512::exp_cr_16(_mm512_mul_ps(dtf, A[n]));
        const __m512 dBu = _mm512_mul_ps(_mm512_mul_ps(dtf, _mm512_set1_ps(Bt[n])), uf);  // (dt·B)·u
        h[n] = _mm512_add_ps(_mm512_mul_ps(dA, h[n]), dBu);
        const __m512 term = _mm512_mul_ps(h[n], _mm512_set1_ps(Ct[n]));
        y = n == 0 ? term : _mm512_add_ps(y, term);  // ascending n from the first term
      }
      y = _mm512_add_ps(y, _mm512_mul_ps(uf, Dv));
      const __m512 zf = _mm512_mul_ps(load_i8_as_f32(z + te), sz);
      const __m512 den = _mm512_add_ps(one, avx512::exp_cr_16(_mm512_xor_ps(zf, sign)));
      y = _mm512_mul_ps(y, _mm512_div_ps(zf, den));
      _mm512_store_ps(tmp, y);
      for (int i = 0; i < W; ++i) y_f16[te + i] = num::f32_to_f16_rne(tmp[i]);
    }
    if (state != nullptr)
      for (int n = 0; n < N; ++n) {
        _mm512_store_ps(tmp, h[n]);
        for (int i = 0; i < W; ++i) state[static_cast<size_t>(e0 + i) * N + n] = tmp[i];
      }
  }
}

}  // namespace scan_avx512_detail
}  // namespace golden
}  // namespace qmsim
