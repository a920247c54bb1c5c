// Selective scan of the W8A8 mixer (spec §2.6) with the golden arithmetic of spec §5.8:
// correctly rounded exp/log1p, IEEE division, explicit FMAs, sequential recurrence in time.
#pragma once

#include <cstdint>

namespace qmsim {
namespace golden {

/// Scales of the quantized SSM (QLayer; spec §2.1).
struct SsmScales {
  float u = 0, dt = 0, B = 0, C = 0, z = 0;  // s_u, s_dt, s_xdbl, s_xdbl, s_xz
  float A = 0, D = 0, dt_bias = 0;           // A_scale, D_scale, dt_bias_scale
  float state = 0;                           // s_h (returned int8 state only)
};

/// Token-major inputs: u, dt, z [L, E]; B, C [L, N]; A_log [E, N]; D, dt_bias [E] (all int8).
/// Outputs: y_f16 [L, E] (f16 bits); state [E, N] f32 final h (nullable); state_q [E, N] int8 =
/// sat8(RNA(h / s_h)) (nullable). Per channel e (spec §2.6, §5.8):
///   Dv = fl32(s_D·D[e]); bias_dt = fl32(s_db·dt_bias[e]); h[n] = 0
///   for t: u' = fl32(s_u·u); dt' = softplus_thr20(fma(s_dt, f32(dt), bias_dt)); du = fl32(dt'·u')
///          yacc = fl32(Dv·u')
///          for n ascending: A = -exp(fl32(s_A·A_log[e,n])); a = exp(fl32(dt'·A))
///                           b = fl32(fl32(s_B·B[t,n])·du); h[n] = fma(a, h[n], b)
///                           yacc = fma(h[n], fl32(s_C·C[t,n]), yacc)
///          zf = fl32(s_z·z); y = f16_RNE(fl32(yacc·zf) / fl32(1 + exp(-zf)))
/// Parallel over channels; identical results for every thread count.
void selective_scan(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                    const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                    const SsmScales& scales, uint16_t* y_f16, float* state, int8_t* state_q, int threads);

/// The literal, single-threaded transcription of the formula list above (A recomputed at every
/// step, as the CUDA kernel does). selective_scan hoists the t-independent terms (A per (e, n),
/// Dv, bias_dt, the dequantized B and C per t) and must be bit-identical to this.
void selective_scan_ref(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                        const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                        const SsmScales& scales, uint16_t* y_f16, float* state, int8_t* state_q);

/// The same golden scan on inputs already in f32: the SSM of the modes with a TRUE-FP32 or
/// quantizer-shaped u, or f32 x_proj/dt_proj outputs (spec §5.8 "golden SSM with f32 u").
/// u [L, E] and Bf, Cf [L, N] are used verbatim; dt_pre [L, E] is the softplus argument with the
/// bias already added; z stays int8. Per channel e, with Dv and A as above:
///   dt' = softplus_thr20(dt_pre); du = fl32(dt'·u); yacc = fl32(Dv·u)
///   for n ascending: h[n] = fma(exp(fl32(dt'·A[n])), h[n], fl32(B[t,n]·du)); yacc = fma(h[n], C[t,n], yacc)
///   y = f16_RNE(fl32(yacc·zf) / fl32(1 + exp(-zf)))
/// selective_scan equals this op on u = fl32(s_u·u), dt_pre = fma(s_dt, f32(dt), fl32(s_db·q_db)),
/// Bf = fl32(s_B·B), Cf = fl32(s_C·C) (tests/selective_scan_test.cc checks it bit for bit).
void selective_scan_f32in(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf, const float* Cf,
                          const int8_t* z, const int8_t* A_log, const int8_t* D, const SsmScales& scales,
                          uint16_t* y_f16, float* state, int8_t* state_q, int threads);

}  // namespace golden
}  // namespace qmsim
