// W8A8 linear layers: exact int32 GEMM + float epilogue (spec §2.4, §2.8, §5.8).
#include "qmsim/golden/linear_int8.h"

#include "kernels_avx512.h"

#include <cstddef>
#include <vector>

#include "qmsim/golden/gemm_int8.h"
#include "qmsim/golden/parallel.h"

namespace qmsim {
namespace golden {

bool linear_uses_alpha(LinearSite site, int M, const num::NumericsProfile& profile) {
  if (!profile.gemv_alpha_m1 || M != 1) return false;
  // spec §2.4: in_proj/dt_proj use to_seqlen_last in prefill (never GEMV); §2.4/§2.8: x_proj and
  // out_proj go through forward(), which takes the GEMV path when B·L == 1.
  return site == LinearSite::kXProj || site == LinearSite::kOutProj;
}

int8_t requant_two_scales_s8(int32_t acc, float inner_scale, float outer_scale) {
  const float t = inner_scale * num::i32_to_f32_rne(acc);  // spec §2.4: inner multiply, one rounding
  return num::quant_rne_sat8(outer_scale * t);            // spec §2.4: outer multiply; cvt.rni.sat.s8
}

uint16_t requant_two_scales_f16(int32_t acc, float inner_scale, float outer_scale) {
  const float t = inner_scale * num::i32_to_f32_rne(acc);  // spec §2.8: w_out · acc
  return num::f32_to_f16_rne(outer_scale * t);            // spec §2.8: s_y · (...), f16 RNE, overflow -> inf
}

namespace {

// Exact int32 accumulators acc[m, n] = Σ_k x[m,k]·W[n,k] (spec §2.4: never saturates for K ≤ 1536).
std::vector<int32_t> accumulate(int M, int N, int K, const int8_t* x, const int8_t* W, int threads) {
  std::vector<int32_t> acc(static_cast<size_t>(M) * N);
  if (acc.empty()) return acc;
  gemm_s8s8_s32(M, N, K, x, W, acc.data(), threads);
  return acc;
}

std::vector<int32_t> accumulate(int M, const int8_t* x, const PackedWeightsS8& W, int threads) {
  std::vector<int32_t> acc(static_cast<size_t>(M) * W.n);
  if (acc.empty()) return acc;
  gemm_s8s8_s32_packed(M, x, W, acc.data(), threads);
  return acc;
}

// The AVX-512 epilogue kernels compute the same function lane for lane (kernels_avx512.h).
bool vector_epilogue() {
#if defined(QMSIM_X86_DISPATCH)
  return avx512::usable();
#else
  return false;
#endif
}

template <class Epilogue, class Out>
void apply_epilogue(const std::vector<int32_t>& acc, Out* y, int threads, Epilogue epilogue) {
  parallel_for(static_cast<int64_t>(acc.size()), threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = epilogue(acc[static_cast<size_t>(i)]);
  });
}

}  // namespace

void linear_int8_s8(int M, int N, int K, const int8_t* x, const int8_t* W, float inner_scale, float outer_scale,
                    int8_t* y, int threads) {
  const auto acc = accumulate(M, N, K, x, W, threads);
  apply_epilogue(acc, y, threads, [&](int32_t a) { return requant_two_scales_s8(a, inner_scale, outer_scale); });
}

void linear_int8_s8_alpha(int M, int N, int K, const int8_t* x, const int8_t* W, float alpha, int8_t* y,
                          int threads) {
  const auto acc = accumulate(M, N, K, x, W, threads);
  // spec §2.4 GEMV path: one pre-multiplied scale, RNE + saturate.
  apply_epilogue(acc, y, threads, [&](int32_t a) { return num::quant_rne_sat8(alpha * num::i32_to_f32_rne(a)); });
}

void linear_int8_f16(int M, int N, int K, const int8_t* x, const int8_t* W, float inner_scale, float outer_scale,
                     uint16_t* y_f16, int threads) {
  const auto acc = accumulate(M, N, K, x, W, threads);
  apply_epilogue(acc, y_f16, threads, [&](int32_t a) { return requant_two_scales_f16(a, inner_scale, outer_scale); });
}

void linear_int8_f16_alpha(int M, int N, int K, const int8_t* x, const int8_t* W, float alpha, uint16_t* y_f16,
                           int threads) {
  const auto acc = accumulate(M, N, K, x, W, threads);
  // spec §2.8 (M == 1): f16_RNE(fl32(alpha · f32(acc))).
  apply_epilogue(acc, y_f16, threads, [&](int32_t a) { return num::f32_to_f16_rne(alpha * num::i32_to_f32_rne(a)); });
}

void linear_int8_s8(int M, const int8_t* x, const PackedWeightsS8& W, float inner_scale, float outer_scale, int8_t* y,
                    int threads) {
  const auto acc = accumulate(M, x, W, threads);
  if (vector_epilogue()) return avx512::requant_two_scales_s8_avx512(acc.data(), acc.size(), inner_scale, outer_scale, y);
  apply_epilogue(acc, y, threads, [&](int32_t a) { return requant_two_scales_s8(a, inner_scale, outer_scale); });
}

void linear_int8_s8_alpha(int M, const int8_t* x, const PackedWeightsS8& W, float alpha, int8_t* y, int threads) {
  const auto acc = accumulate(M, x, W, threads);
  if (vector_epilogue()) return avx512::requant_alpha_s8_avx512(acc.data(), acc.size(), alpha, y);
  apply_epilogue(acc, y, threads, [&](int32_t a) { return num::quant_rne_sat8(alpha * num::i32_to_f32_rne(a)); });
}

void linear_int8_f16(int M, const int8_t* x, const PackedWeightsS8& W, float inner_scale, float outer_scale,
                     uint16_t* y_f16, int threads) {
  const auto acc = accumulate(M, x, W, threads);
  if (vector_epilogue()) return avx512::requant_two_scales_f16_avx512(acc.data(), acc.size(), inner_scale, outer_scale, y_f16);
  apply_epilogue(acc, y_f16, threads, [&](int32_t a) { return requant_two_scales_f16(a, inner_scale, outer_scale); });
}

void linear_int8_f16_alpha(int M, const int8_t* x, const PackedWeightsS8& W, float alpha, uint16_t* y_f16,
                           int threads) {
  const auto acc = accumulate(M, x, W, threads);
  if (vector_epilogue()) return avx512::requant_alpha_f16_avx512(acc.data(), acc.size(), alpha, y_f16);
  apply_epilogue(acc, y_f16, threads, [&](int32_t a) { return num::f32_to_f16_rne(alpha * num::i32_to_f32_rne(a)); });
}

}  // namespace golden
}  // namespace qmsim
