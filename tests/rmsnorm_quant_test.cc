// QRMSNorm and final norm (spec §2.3, §2.11, §5.8): known answers from tools/make_op_vectors.py
// (numpy float32, independent of qmsim) and hand-made rounding/saturation cases.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/rmsnorm_quant.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;

using test::load_vectors;
using test::f32_of;
std::vector<float> f32s_of(const json& bits) {
  std::vector<float> v;
  for (const auto& b : bits) v.push_back(f32_of(b));
  return v;
}
using test::bits_of;

TEST(RmsNormQuant, KnownAnswerInt8) {
  const json vec = load_vectors("rmsnorm_quant.json");
  ASSERT_EQ(vec["cases"].size(), 3u);
  for (const json& c : vec["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int L = c["L"], D = c["D"];
    const auto h = c["h_f16"].get<std::vector<uint16_t>>();
    const std::vector<float> res_in = c["residual_in_f32"].is_null() ? std::vector<float>() : f32s_of(c["residual_in_f32"]);
    const std::vector<float> w = c["weight_f32"].is_null() ? std::vector<float>() : f32s_of(c["weight_f32"]);
    std::vector<float> res_out(static_cast<size_t>(L) * D);
    std::vector<int8_t> q(res_out.size());
    golden::rmsnorm_quant(L, D, h.data(), res_in.empty() ? nullptr : res_in.data(), w.empty() ? nullptr : w.data(),
                          f32_of(c["eps_f32"]), f32_of(c["s_in_f32"]), res_out.data(), q.data());
    EXPECT_EQ(q, c["q"].get<std::vector<int8_t>>());
    EXPECT_EQ(bits_of(res_out), c["residual_out_f32"].get<std::vector<uint32_t>>());
  }
}

TEST(RmsNormQuant, KnownAnswerFinalNormF16) {
  const json vec = load_vectors("rmsnorm_quant.json");
  ASSERT_EQ(vec["final_cases"].size(), 2u);
  for (const json& c : vec["final_cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int L = c["L"], D = c["D"];
    const auto h = c["h_f16"].get<std::vector<uint16_t>>();
    const auto w = c["weight_f16"].get<std::vector<uint16_t>>();
    const std::vector<float> res = f32s_of(c["residual_in_f32"]);
    std::vector<uint16_t> out(static_cast<size_t>(L) * D);
    golden::rmsnorm_final_f16(L, D, h.data(), res.data(), w.data(), f32_of(c["eps_f32"]), c["f16_residual"].get<bool>(),
                              out.data());
    EXPECT_EQ(out, c["out_f16"].get<std::vector<uint16_t>>());
  }
}

TEST(RmsNormQuant, ResidualMayBeUpdatedInPlace) {
  const int L = 3, D = 8;
  std::vector<uint16_t> h;
  std::vector<float> res;
  for (int i = 0; i < L * D; ++i) {
    h.push_back(num::f32_to_f16_rne(0.1f * static_cast<float>(i % 7) - 0.3f));
    res.push_back(0.05f * static_cast<float>(i % 5));
  }
  std::vector<float> out(res.size()), inplace = res;
  std::vector<int8_t> q1(res.size()), q2(res.size());
  golden::rmsnorm_quant(L, D, h.data(), res.data(), nullptr, 1e-5f, 0.02f, out.data(), q1.data());
  golden::rmsnorm_quant(L, D, h.data(), inplace.data(), nullptr, 1e-5f, 0.02f, inplace.data(), q2.data());
  EXPECT_EQ(bits_of(out), bits_of(inplace));
  EXPECT_EQ(q1, q2);
}

TEST(RmsNormQuant, UnitWeightEqualsNoWeight) {
  const int L = 2, D = 16;
  std::vector<uint16_t> h;
  for (int i = 0; i < L * D; ++i) h.push_back(num::f32_to_f16_rne(0.37f * static_cast<float>(i % 11) - 1.7f));
  const std::vector<float> ones(D, 1.0f);
  std::vector<float> r1(h.size()), r2(h.size());
  std::vector<int8_t> q1(h.size()), q2(h.size());
  golden::rmsnorm_quant(L, D, h.data(), nullptr, nullptr, 1e-5f, 0.013f, r1.data(), q1.data());
  golden::rmsnorm_quant(L, D, h.data(), nullptr, ones.data(), 1e-5f, 0.013f, r2.data(), q2.data());
  EXPECT_EQ(q1, q2);
}

// spec §2.3: the quantizer rounds ties to even (rint), unlike the conv's RNA.
TEST(RmsNormQuant, QuantizerTieRoundsToEven) {
  int found = 0;
  for (int i = 1; i < 200 && found < 2; ++i) {
    const float x0 = static_cast<float>(i) / 64.0f;  // exact in f16
    const float x[2] = {x0, -x0};  // y = ±x0·r
    const float y = x0 * golden::rmsnorm_reciprocal(x, 2, 1e-5f);
    const float target = found == 0 ? 2.5f : 3.5f;
    const float s_in = y / target;
    if (y / s_in != target) continue;
    const uint16_t h[2] = {num::f32_to_f16_rne(x0), num::f32_to_f16_rne(-x0)};
    if (num::f16_to_f32(h[0]) != x0) continue;  // need x0 exactly representable in f16
    float res[2];
    int8_t q[2];
    golden::rmsnorm_quant(1, 2, h, nullptr, nullptr, 1e-5f, s_in, res, q);
    EXPECT_EQ(q[0], found == 0 ? 2 : 4) << "x0=" << x0;
    EXPECT_EQ(q[1], found == 0 ? -2 : -4) << "x0=" << x0;
    ++found;
  }
  EXPECT_EQ(found, 2) << "no exact tie found";
}

TEST(RmsNormQuant, Saturates) {
  const uint16_t h[4] = {num::f32_to_f16_rne(1.0f), num::f32_to_f16_rne(-1.0f), num::f32_to_f16_rne(0.5f),
                         num::f32_to_f16_rne(-0.5f)};
  float res[4];
  int8_t q[4];
  golden::rmsnorm_quant(1, 4, h, nullptr, nullptr, 1e-5f, 1e-3f, res, q);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -128);
  EXPECT_EQ(q[2], 127);
  EXPECT_EQ(q[3], -128);
}

}  // namespace
}  // namespace qmsim
