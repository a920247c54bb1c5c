// Batch forms of the numerics header's special functions, vectorized where the CPU allows
// (AVX-512: golden/src/crmath_avx512.h). Every element equals the scalar num::exp_cr /
// num::log1p_cr bit for bit; exposed so tests can check the vector transcription directly.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qmsim {
namespace golden {

void exp_cr_batch(const float* x, float* y, size_t n);
void log1p_cr_batch(const float* x, float* y, size_t n);
void f32_to_f16_batch(const float* x, uint16_t* y, size_t n);
void f16_to_f32_batch(const uint16_t* x, float* y, size_t n);
/// quant_rna_wrap8 (wrap) or quant_rna_sat8 per element.
void quant_rna_batch(const float* x, size_t n, bool wrap, int8_t* y);
void quant_rne_sat8_batch(const float* x, size_t n, int8_t* y);
/// Name of the variant in use: "avx512" or "scalar".
const char* vector_math_isa();

}  // namespace golden
}  // namespace qmsim
