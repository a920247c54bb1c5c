// The arithmetic of the ASIC's units, lane by lane, written from the spec (§2.3-§2.11, golden rules
// §5.8) on the shared scalar numerics (numerics.h). The SystemC units call these on the tiles and
// lanes their dataflow produces; none of golden's op functions is used, so a golden-vs-sim
// cross-check tests the dataflow (tiling, K-tile partial sums, buffer addressing, lane order).
#pragma once

#include <cstdint>

#include "qmsim/numerics.h"

namespace qmsim {
namespace sim {
namespace dp {

/// MAC array, one K step of an output-stationary tile: acc[r][c] += Σ_{k<kt} a[r][k]·w[c][k]
/// (int8 x int8 -> int32, exact). a: rows x kt (stride lda), w: cols x kt (stride ldw).
void mac_tile(int rows, int cols, int kt, const int8_t* a, int lda, const int8_t* w, int ldw, int32_t* acc, int ldacc);

/// Post-processing unit (requant), spec §2.4, §2.8 with §5.8.
inline int8_t post_s8(int32_t acc, float inner, float outer) {
  return num::quant_rne_sat8(outer * (inner * num::i32_to_f32_rne(acc)));
}
inline int8_t post_s8_alpha(int32_t acc, float alpha) { return num::quant_rne_sat8(alpha * num::i32_to_f32_rne(acc)); }
inline uint16_t post_f16(int32_t acc, float inner, float outer) {
  return num::f32_to_f16_rne(outer * (inner * num::i32_to_f32_rne(acc)));
}
inline uint16_t post_f16_alpha(int32_t acc, float alpha) { return num::f32_to_f16_rne(alpha * num::i32_to_f32_rne(acc)); }

/// Conv unit, one channel over the sequence (spec §2.5, §5.8): x and out strided by `stride`.
/// v_out (nullable, same stride) receives the pre-quantizer TRUE FP32 value (spec §4.2).
void conv_channel(int L, int K, const int8_t* x, int stride, const int8_t* w, int8_t bias_q, float w_c, float b_c,
                  float s_xz, float s_u, int8_t* out, float* v_out = nullptr);

/// Scan unit, one channel e over the sequence (spec §2.6 with §5.8); inputs token-major with the
/// given strides; SFU functions (exp_cr, log1p_cr, division) from the numerics header.
struct ScanScales {
  float u, dt, B, C, z, A, D, dt_bias, state;
};
/// u_f (nullable): an f32 u (modes with TRUE FP32 or quantizer-shaped u) used verbatim instead of
/// fl32(s_u·u[t]).
void scan_channel(int L, int N, const int8_t* u, const int8_t* dt, const int8_t* z, int stride_e, const int8_t* B,
                  const int8_t* C, const int8_t* A_log_row, int8_t D_q, int8_t dt_bias_q, const ScanScales& s,
                  uint16_t* y, float* state_row, int8_t* state_q_row, const float* u_f = nullptr);
/// The golden scan lane on f32 dt (softplus argument with the bias added), B and C (modes with
/// f32 x_proj/dt_proj, 6-x): dt_pre, u_f strided by stride_e; Bf, Cf [L, N] with row stride ldbc.
void scan_channel_f32in(int L, int N, const float* u_f, const float* dt_pre, const int8_t* z, int stride_e, const float* Bf,
                        const float* Cf, int ldbc, const int8_t* A_log_row, int8_t D_q, const ScanScales& s, uint16_t* y,
                        float* state_row, int8_t* state_q_row);

/// The FP32 P-seq scan lane (spec §4.5; the FP32 SSM unit of the experiment modes): every op
/// rounded separately, Σ_n ascending from the first term; state_q = sat8(RNA(h / s_h)).
void scan_channel_pseq(int L, int N, const int8_t* u, const float* u_f, const int8_t* dt, const int8_t* z, int stride_e,
                       const int8_t* B, const int8_t* C, const int8_t* A_log_row, int8_t D_q, int8_t dt_bias_q,
                       const ScanScales& s, uint16_t* y, float* state_row, int8_t* state_q_row);

/// Norm unit (spec §2.3 QRMSNorm, §5.8): one token of D channels; residual in f32.
void rmsnorm_token(int D, const uint16_t* h, const float* res_in, float eps, float s_in, float* res_out, int8_t* q);
/// Final norm (spec §2.11, §5.8; f16_residual = the SE-fe5 variant of the quamba-compat profile).
void final_norm_token(int D, const uint16_t* h, const float* res_in, const uint16_t* w, float eps, bool f16_residual,
                      uint16_t* out);

/// Hadamard unit (spec §2.7 butterfly order, H_12 stage for 12·2^m) + RNA quantizer, one token.
/// Returns the number of outputs outside int8 before sat8 / wrap8.
int hadamard_token(int n, const uint16_t* y, float s_y, bool wrap, int8_t* out);

/// lm_head row on the MAC array's FP16 mode: Σ_k fl32(y_k·w_k) ascending from 0 (spec §5.8).
float lm_head_dot(int D, const uint16_t* y, const uint16_t* w);

}  // namespace dp
}  // namespace sim
}  // namespace qmsim
