// W8A8 linear layers (spec §2.4, §2.8, §5.8): exact int32 GEMM, then a float epilogue.
//
// Layout: x [M, K] int8 (token-major), W [N, K] int8 (row-major [out, in]), y [M, N].
// Epilogue (two scales): v = fl32(outer · fl32(inner · f32(acc))). Which stored scale is inner
// depends on the call site (spec §2.4 table, §2.8):
//   in_proj, dt_proj : inner = a, outer = b        x_proj : inner = b, outer = a
//   out_proj (f16)   : inner = b (w_out), outer = a (s_y)
// GEMV epilogue (profile gemv_alpha_m1, M == 1 only): v = fl32(alpha · f32(acc)). In prefill only
// x_proj and out_proj take this path (spec §2.4: in_proj/dt_proj always go through
// to_seqlen_last); linear_uses_alpha() encodes that rule.
#pragma once

#include "qmsim/golden/gemm_int8.h"

#include <cstdint>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

/// The four W8A8 linear layers of a Mamba-1 mixer.
enum class LinearSite { kInProj, kXProj, kDtProj, kOutProj };

/// True when the prefill call of `site` with M rows uses the pre-multiplied alpha (spec §2.4, §2.8).
bool linear_uses_alpha(LinearSite site, int M, const num::NumericsProfile& profile);

/// int8 output: y = sat8(RNE(fl32(outer · fl32(inner · f32(acc))))). spec §2.4, §5.8.
void linear_int8_s8(int M, int N, int K, const int8_t* x, const int8_t* W, float inner_scale, float outer_scale,
                    int8_t* y, int threads);
/// int8 output, GEMV epilogue: y = sat8(RNE(fl32(alpha · f32(acc)))). spec §2.4 (M == 1 path).
void linear_int8_s8_alpha(int M, int N, int K, const int8_t* x, const int8_t* W, float alpha, int8_t* y,
                          int threads);
/// f16 output (out_proj): y = f16_RNE(fl32(outer · fl32(inner · f32(acc)))) as f16 bits; overflow
/// gives ±inf (spec §2.8, §5.5).
void linear_int8_f16(int M, int N, int K, const int8_t* x, const int8_t* W, float inner_scale, float outer_scale,
                     uint16_t* y_f16, int threads);
/// f16 output, GEMV epilogue: y = f16_RNE(fl32(alpha · f32(acc))). spec §2.8 (M == 1).
void linear_int8_f16_alpha(int M, int N, int K, const int8_t* x, const int8_t* W, float alpha, uint16_t* y_f16,
                           int threads);

/// The same four functions on weights packed once per model (gemm_int8.h: pack_weights_s8);
/// N and K come from the packed weights. Results are identical to the unpacked forms.
void linear_int8_s8(int M, const int8_t* x, const PackedWeightsS8& W, float inner_scale, float outer_scale, int8_t* y,
                    int threads);
void linear_int8_s8_alpha(int M, const int8_t* x, const PackedWeightsS8& W, float alpha, int8_t* y, int threads);
void linear_int8_f16(int M, const int8_t* x, const PackedWeightsS8& W, float inner_scale, float outer_scale,
                     uint16_t* y_f16, int threads);
void linear_int8_f16_alpha(int M, const int8_t* x, const PackedWeightsS8& W, float alpha, uint16_t* y_f16,
                           int threads);

/// Epilogue scalars, exposed for the known-answer tests and the twins' documentation.
int8_t requant_two_scales_s8(int32_t acc, float inner_scale, float outer_scale);
uint16_t requant_two_scales_f16(int32_t acc, float inner_scale, float outer_scale);

}  // namespace golden
}  // namespace qmsim
