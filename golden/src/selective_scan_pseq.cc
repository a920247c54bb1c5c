// Selective scan, PyTorch "P-seq" arithmetic (spec §4.5): every op rounded separately, no FMA
// (the build has -ffp-contract=off), exp/log1p correctly rounded (spec §5.8), sequential in t.
#include "qmsim/golden/selective_scan_pseq.h"

#include <cstddef>
#include <vector>

#include "kernels_avx512.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

#if defined(QMSIM_X86_DISPATCH)
namespace scan_avx512_detail {
void scan_blocks_pseq_avx512(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                             const float* Bf, const float* Cf, const int8_t* z, const int8_t* A_log, const int8_t* D,
                             const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state,
                             int64_t block_begin, int64_t block_end);
}
#endif

namespace {

// Dequantized B, C per (t, n): the same f32 every channel computes (hoisted, not reassociated).
void dequant_bc(int L, int N, const int8_t* B, const int8_t* C, const SsmScales& s, std::vector<float>& Bf,
                std::vector<float>& Cf) {
  const size_t LN = static_cast<size_t>(L) * N;
  Bf.resize(LN), Cf.resize(LN);
  for (size_t i = 0; i < LN; ++i) {
    Bf[i] = static_cast<float>(B[i]) * s.B;  // fl32(q_B·s_B)
    Cf[i] = static_cast<float>(C[i]) * s.C;  // fl32(q_C·s_C)
  }
}

// Channels [e0, e1): the definition, one channel at a time.
void pseq_channels(int64_t e0, int64_t e1, int L, int E, int N, const int8_t* u_q, const float* u_f32,
                   const int8_t* dt, const std::vector<float>& Bf, const std::vector<float>& Cf, const int8_t* z,
                   const int8_t* A_log, const int8_t* D, const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16,
                   float* state) {
  std::vector<float> h(static_cast<size_t>(N)), A(static_cast<size_t>(N));
  for (int64_t ei = e0; ei < e1; ++ei) {
    const size_t e = static_cast<size_t>(ei);
    const float Dv = static_cast<float>(D[e]) * s.D;             // fl32(q_D·s_D)
    const float bias = static_cast<float>(dt_bias[e]) * s.dt_bias;  // fl32(q_db·s_db)
    for (int n = 0; n < N; ++n) {
      A[n] = -num::exp_cr(static_cast<float>(A_log[e * N + n]) * s.A);  // -exp(fl32(q_A·s_A))
      h[n] = 0.0f;
    }
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e;
      const float uf = u_q != nullptr ? static_cast<float>(u_q[te]) * s.u : u_f32[te];
      const float dtr = static_cast<float>(dt[te]) * s.dt;  // mul, then add: no FMA
      const float dtf = num::softplus_thr20_f32(dtr + bias);   // dt <= 20 ? log1p(exp(dt)) : dt
      const float* Bt = Bf.data() + static_cast<size_t>(t) * N;
      const float* Ct = Cf.data() + static_cast<size_t>(t) * N;
      float y = 0.0f;
      for (int n = 0; n < N; ++n) {
        const float dA = num::exp_cr(dtf * A[n]);
        const float dBu = (dtf * Bt[n]) * uf;  // (dt·B)·u, left to right
        const float dAh = dA * h[n];
        h[n] = dAh + dBu;
        const float term = h[n] * Ct[n];
        y = n == 0 ? term : y + term;  // ascending n from the first term (fixed order)
      }
      const float uD = uf * Dv;
      y = y + uD;
      const float zf = static_cast<float>(z[te]) * s.z;
      const float den = 1.0f + num::exp_cr(-zf);
      const float silu = zf / den;
      y = y * silu;
      y_f16[te] = num::f32_to_f16_rne(y);
    }
    if (state != nullptr)
      for (int n = 0; n < N; ++n) state[e * N + n] = h[n];
  }
}

}  // namespace

void selective_scan_pseq_ref(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                             const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                             const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state) {
  if (L <= 0 || E <= 0 || N <= 0) return;
  std::vector<float> Bf, Cf;
  dequant_bc(L, N, B, C, s, Bf, Cf);
  pseq_channels(0, E, L, E, N, u_q, u_f32, dt, Bf, Cf, z, A_log, D, dt_bias, s, y_f16, state);
}

void selective_scan_pseq(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                         const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                         const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state, int threads) {
  if (L <= 0 || E <= 0 || N <= 0) return;
  std::vector<float> Bf, Cf;
  dequant_bc(L, N, B, C, s, Bf, Cf);
  auto scalar_channels = [&](int64_t e0, int64_t e1) {
    pseq_channels(e0, e1, L, E, N, u_q, u_f32, dt, Bf, Cf, z, A_log, D, dt_bias, s, y_f16, state);
  };
#if defined(QMSIM_X86_DISPATCH)
  if (avx512::usable() && E >= 16) {
    // 16-channel vectors (the same operations lane by lane); the < 16 remaining channels scalar.
    const int64_t blocks = E / 16;
    parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
      scan_avx512_detail::scan_blocks_pseq_avx512(L, E, N, u_q, u_f32, dt, Bf.data(), Cf.data(), z, A_log, D, dt_bias,
                                                  s, y_f16, state, b0, b1);
    });
    scalar_channels(blocks * 16, E);
    return;
  }
#endif
  parallel_for(E, threads, scalar_channels);
}

}  // namespace golden
}  // namespace qmsim
