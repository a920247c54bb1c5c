// AVX-512 batch exp_cr / log1p_cr (see vector_math.h).
#include <immintrin.h>

#include <cstddef>

#include "crmath_avx512.h"

namespace qmsim {
namespace golden {
namespace vector_math_detail {

void exp_cr_batch_avx512(const float* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, avx512::exp_cr_16(_mm512_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = num::exp_cr(x[i]);
}

void log1p_cr_batch_avx512(const float* x, float* y, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, avx512::log1p_cr_16(_mm512_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = num::log1p_cr(x[i]);
}

}  // namespace vector_math_detail
}  // namespace golden
}  // namespace qmsim
