// Batch exp_cr / log1p_cr with run-time dispatch (see vector_math.h).
#include "qmsim/golden/vector_math.h"

#include <cstdlib>
#include <string>

#include "qmsim/numerics.h"
#include "kernels_avx512.h"

namespace qmsim {
namespace golden {

#if defined(QMSIM_X86_DISPATCH)
namespace vector_math_detail {
void exp_cr_batch_avx512(const float* x, float* y, size_t n);
void log1p_cr_batch_avx512(const float* x, float* y, size_t n);
}  // namespace vector_math_detail
#endif

namespace avx512 {
bool usable() {
#if defined(QMSIM_X86_DISPATCH)
  static const bool ok = [] {
    const char* env = std::getenv("QMSIM_ISA");
    if (env != nullptr && (std::string(env) == "ref" || std::string(env) == "avx2")) return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }();
  return ok;
#else
  return false;
#endif
}
}  // namespace avx512

namespace {
bool avx512_usable() { return avx512::usable(); }
}  // namespace

void exp_cr_batch(const float* x, float* y, size_t n) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return vector_math_detail::exp_cr_batch_avx512(x, y, n);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = num::exp_cr(x[i]);
}

void log1p_cr_batch(const float* x, float* y, size_t n) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return vector_math_detail::log1p_cr_batch_avx512(x, y, n);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = num::log1p_cr(x[i]);
}

void f32_to_f16_batch(const float* x, uint16_t* y, size_t n) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return avx512::f32_to_f16_batch_avx512(x, y, n);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = num::f32_to_f16_rne(x[i]);
}

void f16_to_f32_batch(const uint16_t* x, float* y, size_t n) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return avx512::f16_to_f32_batch_avx512(x, y, n);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = num::f16_to_f32(x[i]);
}

void quant_rna_batch(const float* x, size_t n, bool wrap, int8_t* y) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return avx512::quant_rna_batch_avx512(x, n, wrap, y);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = wrap ? num::quant_rna_wrap8(x[i]) : num::quant_rna_sat8(x[i]);
}

void quant_rne_sat8_batch(const float* x, size_t n, int8_t* y) {
#if defined(QMSIM_X86_DISPATCH)
  if (avx512_usable()) return avx512::quant_rne_sat8_batch_avx512(x, n, y);
#endif
  for (size_t i = 0; i < n; ++i) y[i] = num::quant_rne_sat8(x[i]);
}

const char* vector_math_isa() { return avx512_usable() ? "avx512" : "scalar"; }

}  // namespace golden
}  // namespace qmsim
