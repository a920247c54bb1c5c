// Batch exp_cr / log1p_cr with run-time dispatch (see vector_math.h).
#include "qmsim/golden/vector_math.h"

#include <cstdlib>
#include <string>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

#if defined(QMSIM_X86_DISPATCH)
namespace vector_math_detail {
void exp_cr_batch_avx512(const float* x, float* y, size_t n);
void log1p_cr_batch_avx512(const float* x, float* y, size_t n);
}  // namespace vector_math_detail
#endif

namespace {
bool avx512_usable() {
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

const char* vector_math_isa() { return avx512_usable() ? "avx512" : "scalar"; }

}  // namespace golden
}  // namespace qmsim
