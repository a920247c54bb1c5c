// Causal depthwise conv1d + SiLU + int8 requantization (spec §2.5 with the golden rules of §5.8).
#pragma once

#include <cstdint>

namespace qmsim {
namespace golden {

/// Scales of the quantized conv (QLayer conv_*; spec §2.1).
struct Conv1dScales {
  float weight_scale = 0;  // w_c
  float bias_scale = 0;    // b_c
  float input_scale = 0;   // s_xz
  float output_scale = 0;  // s_u
};

/// Token-major: x [L, E] int8, w [E, K] int8, bias [E] int8 (nullptr = no bias, taken as b_q = 0).
/// Per channel e, time t (x[t<0] = 0):
///   acc = Σ_{k=0..K-1} w[e,k]·x[t-(K-1)+k, e]                (exact int32)
///   v   = fma(fl32(w_c·s_xz), f32(acc), fl32(f32(b_q[e])·b_c))
///   v   = v / fl32(1 + exp(-v))                                (silu_f32, correctly rounded exp)
///   out[t,e] = sat8(RNA(v / s_u))
/// v_out (nullable, f32 [L, E]) receives the pre-quantizer v ("TRUE FP32", spec §4.2).
void conv1d_silu_quant(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                       const Conv1dScales& scales, int8_t* out, float* v_out, int threads);

/// Single-threaded scalar definition of conv1d_silu_quant (the optimized variants must equal it).
void conv1d_silu_quant_ref(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                           const Conv1dScales& s, int8_t* out, float* v_out);

}  // namespace golden
}  // namespace qmsim
