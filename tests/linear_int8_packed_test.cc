// The packed-weight linear layers (used by the W8A8 plan; vectorized epilogues) equal the
// definition: reference GEMM + the scalar epilogue functions, on every element.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "qmsim/golden/gemm_int8.h"
#include "qmsim/golden/linear_int8.h"

namespace qmsim {
namespace {

TEST(LinearInt8Packed, EpiloguesEqualScalarDefinition) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> d(-128, 127);
  const int shapes[][3] = {{1, 80, 1536}, {7, 48, 33}, {80, 3072, 64}, {3, 17, 5}};
  // Scales that produce ties (inner·acc exact halves), saturation both ways, f16 overflow.
  const float scale_pairs[][2] = {{0.5f, 1.0f}, {0.001f, 0.7f}, {3.0f, 40.0f}, {1e-6f, 1e-3f}};
  for (const auto& sh : shapes) {
    const int M = sh[0], N = sh[1], K = sh[2];
    std::vector<int8_t> x(static_cast<size_t>(M) * K), W(static_cast<size_t>(N) * K);
    for (auto& v : x) v = static_cast<int8_t>(d(rng));
    for (auto& v : W) v = static_cast<int8_t>(d(rng));
    std::vector<int32_t> acc(static_cast<size_t>(M) * N);
    golden::gemm_s8s8_s32_ref(M, N, K, x.data(), W.data(), acc.data());
    const golden::PackedWeightsS8 P = golden::pack_weights_s8(N, K, W.data());
    for (const auto& sp : scale_pairs) {
      std::vector<int8_t> y8(acc.size());
      std::vector<uint16_t> y16(acc.size());
      golden::linear_int8_s8(M, x.data(), P, sp[0], sp[1], y8.data(), 2);
      for (size_t i = 0; i < acc.size(); ++i)
        ASSERT_EQ(y8[i], golden::requant_two_scales_s8(acc[i], sp[0], sp[1])) << i;
      golden::linear_int8_s8_alpha(M, x.data(), P, sp[0] * sp[1], y8.data(), 1);
      for (size_t i = 0; i < acc.size(); ++i)
        ASSERT_EQ(y8[i], num::quant_rne_sat8((sp[0] * sp[1]) * num::i32_to_f32_rne(acc[i]))) << i;
      golden::linear_int8_f16(M, x.data(), P, sp[0], sp[1], y16.data(), 3);
      for (size_t i = 0; i < acc.size(); ++i)
        ASSERT_EQ(y16[i], golden::requant_two_scales_f16(acc[i], sp[0], sp[1])) << i;
      golden::linear_int8_f16_alpha(M, x.data(), P, sp[1], y16.data(), 1);
      for (size_t i = 0; i < acc.size(); ++i)
        ASSERT_EQ(y16[i], num::f32_to_f16_rne(sp[1] * num::i32_to_f32_rne(acc[i]))) << i;
    }
  }
}

}  // namespace
}  // namespace qmsim
