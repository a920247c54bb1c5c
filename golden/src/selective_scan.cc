// Selective scan (spec §2.6) with the golden arithmetic of spec §5.8: exp/log1p correctly
// rounded, IEEE division, explicit FMAs, strictly sequential recurrence in t per (e, n).
#include "qmsim/golden/selective_scan.h"

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels_avx512.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

// spec §2.6 output gate: y = f16_RNE(fl32(yacc·zf) / fl32(1 + exp(-zf))).
uint16_t gate_to_f16(float yacc, float zf) {
  return num::f32_to_f16_rne((yacc * zf) / (1.0f + num::exp_cr(-zf)));
}

// spec §2.6 returned state: sat8(RNA(h / s_h)), IEEE division (§5.8).
void write_state(int N, size_t e, const float* h, float s_h, float* state, int8_t* state_q) {
  for (int n = 0; n < N; ++n) {
    if (state != nullptr) state[e * N + n] = h[n];
    if (state_q != nullptr) state_q[e * N + n] = num::quant_rna_sat8(h[n] / s_h);
  }
}

// Channels [e0, e1) of the scan after its t-independent terms are hoisted; load_u(te) gives u's
// f32 value, load_dt_pre(te, bias_dt) the softplus argument. Shared by the int8 and f32-input forms.
template <class LoadU, class LoadDtPre>
void scan_channels_scalar(int64_t e0, int64_t e1, int L, int E, int N, LoadU load_u, LoadDtPre load_dt_pre,
                          const float* Bf, const float* Cf, const int8_t* z, const int8_t* A_log, const int8_t* D,
                          const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q) {
  std::vector<float> h(static_cast<size_t>(N)), A(static_cast<size_t>(N));
  for (int64_t ei = e0; ei < e1; ++ei) {
    const size_t e = static_cast<size_t>(ei);
    const float Dv = s.D * static_cast<float>(D[e]);
    const float bias_dt = dt_bias != nullptr ? s.dt_bias * static_cast<float>(dt_bias[e]) : 0.0f;
    for (int n = 0; n < N; ++n) {
      A[n] = -num::exp_cr(s.A * static_cast<float>(A_log[e * N + n]));  // independent of t: hoisted
      h[n] = 0.0f;
    }
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e;
      const float uf = load_u(te);
      const float dtf = num::softplus_thr20_f32(load_dt_pre(te, bias_dt));
      const float du = dtf * uf;
      float yacc = Dv * uf;
      const float* Bt = Bf + static_cast<size_t>(t) * N;
      const float* Ct = Cf + static_cast<size_t>(t) * N;
      for (int n = 0; n < N; ++n) {
        h[n] = num::fma_f32(num::exp_cr(dtf * A[n]), h[n], Bt[n] * du);
        yacc = num::fma_f32(h[n], Ct[n], yacc);
      }
      y_f16[te] = gate_to_f16(yacc, s.z * static_cast<float>(z[te]));
    }
    write_state(N, e, h.data(), s.state, state, state_q);
  }
}

}  // namespace

#if defined(QMSIM_X86_DISPATCH)
namespace scan_avx512_detail {
void scan_blocks_avx512(int L, int E, int N, const int8_t* u, const int8_t* dt, const float* Bf, const float* Cf,
                        const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                        const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q, int64_t block_begin,
                        int64_t block_end);
void scan_blocks_f32in_avx512(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf,
                              const float* Cf, const int8_t* z, const int8_t* A_log, const int8_t* D,
                              const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q,
                              int64_t block_begin, int64_t block_end);
}
#endif

void selective_scan_ref(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                        const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                        const SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q) {
  std::vector<float> h(static_cast<size_t>(N));
  for (size_t e = 0; e < static_cast<size_t>(E); ++e) {
    const float Dv = s.D * static_cast<float>(D[e]);                   // spec §2.6: Dv = fl32(D_scale·Dq)
    const float bias_dt = s.dt_bias * static_cast<float>(dt_bias[e]);  // spec §2.6
    for (int n = 0; n < N; ++n) h[n] = 0.0f;                           // spec §2.6: h_{-1} = 0
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e;
      const float uf = s.u * static_cast<float>(u[te]);                            // dequant u
      float dtf = num::fma_f32(s.dt, static_cast<float>(dt[te]), bias_dt);         // spec §2.6: one FMA
      dtf = num::softplus_thr20_f32(dtf);                                          // spec §5.8: exp, log1p CR
      const float du = dtf * uf;
      float yacc = Dv * uf;                                                        // spec §2.6: D skip first
      for (int n = 0; n < N; ++n) {
        const size_t tn = static_cast<size_t>(t) * N + n;
        const float A = -num::exp_cr(s.A * static_cast<float>(A_log[e * N + n]));  // A = -exp(A_log)
        const float a_t = num::exp_cr(dtf * A);
        const float b_t = (s.B * static_cast<float>(B[tn])) * du;                  // spec §2.6: (s_B·Bq)·du
        h[n] = num::fma_f32(a_t, h[n], b_t);                                       // spec §5.8: sequential
        yacc = num::fma_f32(h[n], s.C * static_cast<float>(C[tn]), yacc);          // n ascending
      }
      const float zf = s.z * static_cast<float>(z[te]);
      y_f16[te] = gate_to_f16(yacc, zf);
    }
    write_state(N, e, h.data(), s.state, state, state_q);
  }
}

void selective_scan(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                    const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias, const SsmScales& s,
                    uint16_t* y_f16, float* state, int8_t* state_q, int threads) {
  // t-independent and e-independent terms hoisted; every value is the same f32 the reference computes.
  const size_t LN = static_cast<size_t>(L) * N;
  std::vector<float> Bf(LN), Cf(LN);
  for (size_t i = 0; i < LN; ++i) {
    Bf[i] = s.B * static_cast<float>(B[i]);
    Cf[i] = s.C * static_cast<float>(C[i]);
  }
  auto scalar_channels = [&](int64_t e0, int64_t e1) {
    scan_channels_scalar(
        e0, e1, L, E, N, [&](size_t te) { return s.u * static_cast<float>(u[te]); },
        [&](size_t te, float bias_dt) { return num::fma_f32(s.dt, static_cast<float>(dt[te]), bias_dt); }, Bf.data(),
        Cf.data(), z, A_log, D, dt_bias, s, y_f16, state, state_q);
  };
#if defined(QMSIM_X86_DISPATCH)
  if (avx512::usable() && E >= 16) {
    // 16-channel vectors; the < 16 remaining channels take the scalar loop.
    const int64_t blocks = E / 16;
    parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
      scan_avx512_detail::scan_blocks_avx512(L, E, N, u, dt, Bf.data(), Cf.data(), z, A_log, D, dt_bias, s, y_f16,
                                             state, state_q, b0, b1);
    });
    scalar_channels(blocks * 16, E);
    return;
  }
#endif
  parallel_for(E, threads, scalar_channels);
}

void selective_scan_f32in(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf, const float* Cf,
                          const int8_t* z, const int8_t* A_log, const int8_t* D, const SsmScales& s, uint16_t* y_f16,
                          float* state, int8_t* state_q, int threads) {
  auto scalar_channels = [&](int64_t e0, int64_t e1) {
    scan_channels_scalar(
        e0, e1, L, E, N, [&](size_t te) { return u[te]; }, [&](size_t te, float) { return dt_pre[te]; }, Bf, Cf, z,
        A_log, D, nullptr, s, y_f16, state, state_q);
  };
#if defined(QMSIM_X86_DISPATCH)
  if (avx512::usable() && E >= 16) {
    const int64_t blocks = E / 16;
    parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
      scan_avx512_detail::scan_blocks_f32in_avx512(L, E, N, u, dt_pre, Bf, Cf, z, A_log, D, s, y_f16, state, state_q,
                                                   b0, b1);
    });
    scalar_channels(blocks * 16, E);
    return;
  }
#endif
  parallel_for(E, threads, scalar_channels);
}

}  // namespace golden
}  // namespace qmsim
