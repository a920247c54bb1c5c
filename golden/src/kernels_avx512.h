// Internal: AVX-512 elementwise kernels (golden/src/kernels_avx512.cc), each equal lane for lane
// to the scalar numerics-header function it names. Only called after a run-time AVX-512 check.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace avx512 {

/// True when AVX-512 F/DQ/VL/BW are present and QMSIM_ISA does not disable them (ref|avx2).
bool usable();

/// y = quant_rne_sat8(fl32(outer·fl32(inner·f32(acc)))) (spec §2.4 epilogue).
void requant_two_scales_s8_avx512(const int32_t* acc, size_t n, float inner, float outer, int8_t* y);
/// y = quant_rne_sat8(fl32(alpha·f32(acc))) (GEMV epilogue).
void requant_alpha_s8_avx512(const int32_t* acc, size_t n, float alpha, int8_t* y);
/// y = f32_to_f16_rne(fl32(outer·fl32(inner·f32(acc)))) (spec §2.8).
void requant_two_scales_f16_avx512(const int32_t* acc, size_t n, float inner, float outer, uint16_t* y);
void requant_alpha_f16_avx512(const int32_t* acc, size_t n, float alpha, uint16_t* y);
/// Hadamard quantizer row: out = (wrap ? wrap8 : sat8)(int32_sat(RNA(fl32(v·scale)))); returns the
/// number of values outside [-128, 127] before saturation/wrapping.
int64_t quant_rna_row_avx512(const float* v, size_t n, float scale, bool wrap, int8_t* out);

/// lm_head over 16-output f16 tiles [b0, b1): logits[p, v] = Σ_k fl32(y[p,k]·f32(W[v,k])) ascending k.
void lm_head_tiles_avx512(int P, const float* y, int D, int V, const uint16_t* tiles, int64_t b0, int64_t b1,
                          float* logits);
void f32_to_f16_batch_avx512(const float* x, uint16_t* y, size_t n);
void f16_to_f32_batch_avx512(const uint16_t* x, float* y, size_t n);
void quant_rna_batch_avx512(const float* x, size_t n, bool wrap, int8_t* y);
void quant_rne_sat8_batch_avx512(const float* x, size_t n, int8_t* y);

}  // namespace avx512
}  // namespace golden
}  // namespace qmsim
