// Batch forms of the numerics header's special functions, vectorized where the CPU allows
// (AVX-512: golden/src/crmath_avx512.h). Every element equals the scalar num::exp_cr /
// num::log1p_cr bit for bit; exposed so tests can check the vector transcription directly.
#pragma once

#include <cstddef>

namespace qmsim {
namespace golden {

void exp_cr_batch(const float* x, float* y, size_t n);
void log1p_cr_batch(const float* x, float* y, size_t n);
/// Name of the variant in use: "avx512" or "scalar".
const char* vector_math_isa();

}  // namespace golden
}  // namespace qmsim
