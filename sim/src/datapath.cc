// Unit arithmetic of the ASIC model. See datapath.h.
#include "datapath.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace qmsim {
namespace sim {
namespace dp {

void mac_tile(int rows, int cols, int kt, const int8_t* a, int lda, const int8_t* w, int ldw, int32_t* acc,
              int ldacc) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      int32_t s = 0;
      const int8_t* ar = a + static_cast<size_t>(r) * lda;
      const int8_t* wc = w + static_cast<size_t>(c) * ldw;
      for (int k = 0; k < kt; ++k) s += static_cast<int32_t>(ar[k]) * static_cast<int32_t>(wc[k]);
      acc[static_cast<size_t>(r) * ldacc + c] += s;
    }
}

void conv_channel(int L, int K, const int8_t* x, int stride, const int8_t* w, int8_t bias_q, float w_c, float b_c,
                  float s_xz, float s_u, int8_t* out, float* v_out) {
  const float scale = w_c * s_xz;                        // fl32(w_c·s_xz)
  const float bias = static_cast<float>(bias_q) * b_c;  // fl32(b_q·b_c)
  for (int t = 0; t < L; ++t) {
    int32_t acc = 0;
    for (int k = 0; k < K; ++k) {  // causal window x[t-(K-1) .. t], zeros before the sequence
      const int ti = t - (K - 1) + k;
      if (ti >= 0) acc += static_cast<int32_t>(w[k]) * static_cast<int32_t>(x[static_cast<size_t>(ti) * stride]);
    }
    const float v = num::silu_f32(num::fma_f32(scale, num::i32_to_f32_rne(acc), bias));
    out[static_cast<size_t>(t) * stride] = num::quant_rna_sat8(v / s_u);
    if (v_out) v_out[static_cast<size_t>(t) * stride] = v;
  }
}

void scan_channel(int L, int N, const int8_t* u, const int8_t* dt, const int8_t* z, int stride_e, const int8_t* B,
                  const int8_t* C, const int8_t* A_log_row, int8_t D_q, int8_t dt_bias_q, const ScanScales& s,
                  uint16_t* y, float* state_row, int8_t* state_q_row, const float* u_f) {
  std::vector<float> h(static_cast<size_t>(N), 0.0f), A(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) A[n] = -num::exp_cr(s.A * static_cast<float>(A_log_row[n]));
  const float Dv = s.D * static_cast<float>(D_q);
  const float bias_dt = s.dt_bias * static_cast<float>(dt_bias_q);
  for (int t = 0; t < L; ++t) {
    const size_t te = static_cast<size_t>(t) * stride_e;
    const float uf = u_f ? u_f[te] : s.u * static_cast<float>(u[te]);
    const float dtf = num::softplus_thr20_f32(num::fma_f32(s.dt, static_cast<float>(dt[te]), bias_dt));
    const float du = dtf * uf;
    float yacc = Dv * uf;
    for (int n = 0; n < N; ++n) {
      const size_t tn = static_cast<size_t>(t) * N + n;
      const float b = (s.B * static_cast<float>(B[tn])) * du;
      h[n] = num::fma_f32(num::exp_cr(dtf * A[n]), h[n], b);
      yacc = num::fma_f32(h[n], s.C * static_cast<float>(C[tn]), yacc);
    }
    const float zf = s.z * static_cast<float>(z[te]);
    y[te] = num::f32_to_f16_rne((yacc * zf) / (1.0f + num::exp_cr(-zf)));
  }
  for (int n = 0; n < N; ++n) {
    if (state_row) state_row[n] = h[n];
    if (state_q_row) state_q_row[n] = num::quant_rna_sat8(h[n] / s.state);
  }
}

void scan_channel_f32in(int L, int N, const float* u_f, const float* dt_pre, const int8_t* z, int stride_e, const float* Bf,
                        const float* Cf, int ldbc, const int8_t* A_log_row, int8_t D_q, const ScanScales& s, uint16_t* y,
                        float* state_row, int8_t* state_q_row) {
  std::vector<float> h(static_cast<size_t>(N), 0.0f), A(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) A[n] = -num::exp_cr(s.A * static_cast<float>(A_log_row[n]));
  const float Dv = s.D * static_cast<float>(D_q);
  for (int t = 0; t < L; ++t) {
    const size_t te = static_cast<size_t>(t) * stride_e;
    const float uf = u_f[te];
    const float dtf = num::softplus_thr20_f32(dt_pre[te]);
    const float du = dtf * uf;
    float yacc = Dv * uf;
    for (int n = 0; n < N; ++n) {
      const size_t tn = static_cast<size_t>(t) * ldbc + n;
      h[n] = num::fma_f32(num::exp_cr(dtf * A[n]), h[n], Bf[tn] * du);
      yacc = num::fma_f32(h[n], Cf[tn], yacc);
    }
    const float zf = s.z * static_cast<float>(z[te]);
    y[te] = num::f32_to_f16_rne((yacc * zf) / (1.0f + num::exp_cr(-zf)));
  }
  for (int n = 0; n < N; ++n) {
    if (state_row) state_row[n] = h[n];
    if (state_q_row) state_q_row[n] = num::quant_rna_sat8(h[n] / s.state);
  }
}

void scan_channel_pseq(int L, int N, const int8_t* u, const float* u_f, const int8_t* dt, const int8_t* z, int stride_e,
                       const int8_t* B, const int8_t* C, const int8_t* A_log_row, int8_t D_q, int8_t dt_bias_q,
                       const ScanScales& s, uint16_t* y, float* state_row, int8_t* state_q_row) {
  std::vector<float> h(static_cast<size_t>(N), 0.0f), A(static_cast<size_t>(N));
  for (int n = 0; n < N; ++n) A[n] = -num::exp_cr(static_cast<float>(A_log_row[n]) * s.A);
  const float Dv = static_cast<float>(D_q) * s.D;
  const float bias = static_cast<float>(dt_bias_q) * s.dt_bias;
  for (int t = 0; t < L; ++t) {
    const size_t te = static_cast<size_t>(t) * stride_e;
    const float uf = u_f ? u_f[te] : static_cast<float>(u[te]) * s.u;
    const float dtr = static_cast<float>(dt[te]) * s.dt;
    const float dtf = num::softplus_thr20_f32(dtr + bias);
    float acc = 0.0f;
    for (int n = 0; n < N; ++n) {
      const size_t tn = static_cast<size_t>(t) * N + n;
      const float Bn = static_cast<float>(B[tn]) * s.B, Cn = static_cast<float>(C[tn]) * s.C;
      const float dA = num::exp_cr(dtf * A[n]);
      const float dBu = (dtf * Bn) * uf;
      const float dAh = dA * h[n];
      h[n] = dAh + dBu;
      const float term = h[n] * Cn;
      acc = n == 0 ? term : acc + term;
    }
    const float uD = uf * Dv;
    acc = acc + uD;
    const float zf = static_cast<float>(z[te]) * s.z;
    const float den = 1.0f + num::exp_cr(-zf);
    const float silu = zf / den;
    acc = acc * silu;
    y[te] = num::f32_to_f16_rne(acc);
  }
  for (int n = 0; n < N; ++n) {
    if (state_row) state_row[n] = h[n];
    if (state_q_row) state_q_row[n] = num::quant_rna_sat8(h[n] / s.state);
  }
}

namespace {
float reciprocal_rms(const float* x, int D, float eps) {
  float ss = 0.0f;
  for (int j = 0; j < D; ++j) ss = ss + x[j] * x[j];
  return 1.0f / num::sqrt_f32(ss / static_cast<float>(D) + eps);
}
}  // namespace

void rmsnorm_token(int D, const uint16_t* h, const float* res_in, float eps, float s_in, float* res_out, int8_t* q) {
  std::vector<float> x(static_cast<size_t>(D));
  for (int j = 0; j < D; ++j) x[j] = res_in ? num::f16_to_f32(h[j]) + res_in[j] : num::f16_to_f32(h[j]);
  const float r = reciprocal_rms(x.data(), D, eps);
  for (int j = 0; j < D; ++j) {
    res_out[j] = x[j];
    q[j] = num::quant_rne_sat8((x[j] * r) / s_in);
  }
}

void final_norm_token(int D, const uint16_t* h, const float* res_in, const uint16_t* w, float eps, bool f16_residual,
                      uint16_t* out) {
  std::vector<float> x(static_cast<size_t>(D));
  for (int j = 0; j < D; ++j) {
    const float hf = num::f16_to_f32(h[j]);
    if (!res_in)
      x[j] = hf;
    else if (f16_residual)
      x[j] = num::round_to_f16(hf + num::round_to_f16(res_in[j]));
    else
      x[j] = hf + res_in[j];
  }
  const float r = reciprocal_rms(x.data(), D, eps);
  for (int j = 0; j < D; ++j) {
    const float wf = w ? num::f16_to_f32(w[j]) : 1.0f;
    const float y = f16_residual ? num::round_to_f16(x[j] * r) : x[j] * r;
    out[j] = num::f32_to_f16_rne(y * wf);
  }
}

namespace {
bool pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }
}  // namespace

int hadamard_token(int n, const uint16_t* y, float s_y, bool wrap, int8_t* out) {
  const int blocks = pow2(n) ? 1 : 12, block = n / blocks;
  if (!pow2(block) || block * blocks != n) throw std::invalid_argument("hadamard unit: unsupported size " + std::to_string(n));
  std::vector<float> v(static_cast<size_t>(n));
  for (int j = 0; j < n; ++j) v[j] = num::f16_to_f32(y[j]);
  for (int c = 0; c < blocks; ++c)  // stage 1: butterflies on bit b ascending of p (spec §2.7)
    for (int half = 1; half < block; half <<= 1)
      for (int p = 0; p < block; ++p)
        if (!(p & half)) {
          float& lo = v[static_cast<size_t>(c) * block + p];
          float& hi = v[static_cast<size_t>(c) * block + (p | half)];
          const float a = lo, b = hi;
          lo = a + b;
          hi = a - b;
        }
  if (blocks == 12) {  // stage 2: the 12-vector over c times H_12, sums left to right
    const std::vector<float> in = v;
    for (int r = 0; r < 12; ++r)
      for (int p = 0; p < block; ++p) {
        float acc = num::kHadamard12[r][0] > 0 ? in[p] : -in[p];
        for (int c = 1; c < 12; ++c) {
          const float x = in[static_cast<size_t>(c) * block + p];
          acc = num::kHadamard12[r][c] > 0 ? acc + x : acc - x;
        }
        v[static_cast<size_t>(r) * block + p] = acc;
      }
  }
  const float scale = static_cast<float>((1.0 / std::sqrt(static_cast<double>(n))) / static_cast<double>(s_y));
  int outside = 0;
  for (int j = 0; j < n; ++j) {
    const int32_t k = num::f32_to_i32_sat(num::round_rna(v[j] * scale));
    outside += (k < -128 || k > 127);
    out[j] = wrap ? num::wrap8(k) : num::sat8(k);
  }
  return outside;
}

float lm_head_dot(int D, const uint16_t* y, const uint16_t* w) {
  float acc = 0.0f;
  for (int k = 0; k < D; ++k) acc = acc + num::f16_to_f32(y[k]) * num::f16_to_f32(w[k]);
  return acc;
}

}  // namespace dp
}  // namespace sim
}  // namespace qmsim
