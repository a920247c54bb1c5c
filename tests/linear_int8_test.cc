// W8A8 linear layers (spec §2.4, §2.8, §5.8): known answers from tools/make_op_vectors.py and
// hand-made epilogue rounding, saturation and f16 overflow cases.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/linear_int8.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;
using golden::LinearSite;

using test::load_vectors;
using test::f32_of;

TEST(LinearInt8, KnownAnswerAllEpilogues) {
  const json vec = load_vectors("linear_int8.json");
  ASSERT_EQ(vec["cases"].size(), 8u);
  for (const json& c : vec["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int M = c["M"], N = c["N"], K = c["K"];
    const auto x = c["x"].get<std::vector<int8_t>>();
    const auto W = c["W"].get<std::vector<int8_t>>();
    const float inner = f32_of(c["inner_f32"]), outer = f32_of(c["outer_f32"]), alpha = f32_of(c["alpha_f32"]);
    const std::string kind = c["kind"];
    for (int threads : {1, 3}) {
      if (kind == "s8" || kind == "s8_alpha") {
        std::vector<int8_t> y(static_cast<size_t>(M) * N);
        if (kind == "s8")
          golden::linear_int8_s8(M, N, K, x.data(), W.data(), inner, outer, y.data(), threads);
        else
          golden::linear_int8_s8_alpha(M, N, K, x.data(), W.data(), alpha, y.data(), threads);
        EXPECT_EQ(y, c["y"].get<std::vector<int8_t>>());
      } else {
        std::vector<uint16_t> y(static_cast<size_t>(M) * N);
        if (kind == "f16")
          golden::linear_int8_f16(M, N, K, x.data(), W.data(), inner, outer, y.data(), threads);
        else
          golden::linear_int8_f16_alpha(M, N, K, x.data(), W.data(), alpha, y.data(), threads);
        EXPECT_EQ(y, c["y"].get<std::vector<uint16_t>>());
      }
    }
  }
}

// spec §2.4: cvt.rni -> ties to even.
TEST(LinearInt8, EpilogueTieRoundsToEven) {
  EXPECT_EQ(golden::requant_two_scales_s8(5, 0.5f, 1.0f), 2);   // 2.5 -> 2
  EXPECT_EQ(golden::requant_two_scales_s8(7, 0.5f, 1.0f), 4);   // 3.5 -> 4
  EXPECT_EQ(golden::requant_two_scales_s8(-5, 0.5f, 1.0f), -2);
  EXPECT_EQ(golden::requant_two_scales_s8(-7, 1.0f, 0.5f), -4);
  const int8_t x[2] = {1, 1}, W[2] = {2, 3};  // acc = 5
  int8_t y = 0;
  golden::linear_int8_s8(1, 1, 2, x, W, 0.25f, 2.0f, &y, 1);
  EXPECT_EQ(y, 2);
}

TEST(LinearInt8, EpilogueSaturates) {
  EXPECT_EQ(golden::requant_two_scales_s8(1000, 1.0f, 1.0f), 127);
  EXPECT_EQ(golden::requant_two_scales_s8(-1000, 1.0f, 1.0f), -128);
  EXPECT_EQ(golden::requant_two_scales_s8(128, 1.0f, 1.0f), 127);
  EXPECT_EQ(golden::requant_two_scales_s8(-128, 1.0f, 1.0f), -128);
}

// spec §2.8, §5.5: out_proj has no saturation; |value| > 65504 becomes ±inf in f16.
TEST(LinearInt8, OutProjF16OverflowGivesInf) {
  const int8_t x[1] = {127}, W[2] = {127, -127};  // acc = ±16129
  uint16_t y[2];
  golden::linear_int8_f16(1, 2, 1, x, W, 1.0f, 100.0f, y, 1);
  EXPECT_EQ(y[0], 0x7C00u);
  EXPECT_EQ(y[1], 0xFC00u);
  EXPECT_EQ(golden::requant_two_scales_f16(65504, 1.0f, 1.0f), 0x7BFFu);  // max finite stays finite
}

// spec §2.4 / §2.8: which scale is inner changes the last f32 bit; the f16 epilogue is outer·(inner·acc).
TEST(LinearInt8, ScaleAssociationIsOuterTimesInnerTimesAcc) {
  int differing = 0;
  for (int32_t acc = 1; acc < 5000 && differing < 3; acc += 7) {
    const float a = 0.0123f, b = 0.00377f;
    const float ab = b * (a * static_cast<float>(acc)), ba = a * (b * static_cast<float>(acc));
    if (ab == ba) continue;
    ++differing;
    EXPECT_EQ(golden::requant_two_scales_f16(acc, a, b), num::f32_to_f16_rne(ab));
  }
  EXPECT_GT(differing, 0);
}

TEST(LinearInt8, GemvAlphaOnlyForXProjAndOutProjAtM1) {
  num::NumericsProfile compat = num::profile_quamba_compat(), golden_profile = num::profile_golden();
  EXPECT_FALSE(golden::linear_uses_alpha(LinearSite::kInProj, 1, compat));
  EXPECT_TRUE(golden::linear_uses_alpha(LinearSite::kXProj, 1, compat));
  EXPECT_FALSE(golden::linear_uses_alpha(LinearSite::kDtProj, 1, compat));
  EXPECT_TRUE(golden::linear_uses_alpha(LinearSite::kOutProj, 1, compat));
  EXPECT_FALSE(golden::linear_uses_alpha(LinearSite::kXProj, 2, compat));
  EXPECT_FALSE(golden::linear_uses_alpha(LinearSite::kOutProj, 1, golden_profile));
}

TEST(LinearInt8, ThreadCountInvariant) {
  const int M = 7, N = 37, K = 29;
  std::vector<int8_t> x(M * K), W(N * K);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>((i * 37 + 11) % 256 - 128);
  for (size_t i = 0; i < W.size(); ++i) W[i] = static_cast<int8_t>((i * 91 + 5) % 255 - 127);
  std::vector<int8_t> y1(M * N), y3(M * N);
  std::vector<uint16_t> f1(M * N), f3(M * N);
  golden::linear_int8_s8(M, N, K, x.data(), W.data(), 0.01f, 0.02f, y1.data(), 1);
  golden::linear_int8_s8(M, N, K, x.data(), W.data(), 0.01f, 0.02f, y3.data(), 3);
  golden::linear_int8_f16(M, N, K, x.data(), W.data(), 0.01f, 0.02f, f1.data(), 1);
  golden::linear_int8_f16(M, N, K, x.data(), W.data(), 0.01f, 0.02f, f3.data(), 3);
  EXPECT_EQ(y1, y3);
  EXPECT_EQ(f1, f3);
}

}  // namespace
}  // namespace qmsim
