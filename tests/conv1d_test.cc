// Causal conv1d + SiLU + RNA requant (spec §2.5, §5.8): known answers from
// tools/make_op_vectors.py and hand-made tie/saturation/causality cases.
#include <gtest/gtest.h>

#include <cstring>

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/conv1d.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;

using test::load_vectors;
using test::f32_of;

TEST(Conv1d, KnownAnswerInt8Len5) {
  const json vec = load_vectors("conv1d.json");
  ASSERT_EQ(vec["cases"].size(), 3u);
  for (const json& c : vec["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int L = c["L"], E = c["E"], K = c["K"];
    const auto x = c["x"].get<std::vector<int8_t>>();
    const auto w = c["w"].get<std::vector<int8_t>>();
    const std::vector<int8_t> b = c["bias"].is_null() ? std::vector<int8_t>() : c["bias"].get<std::vector<int8_t>>();
    golden::Conv1dScales s;
    s.weight_scale = f32_of(c["weight_scale_f32"]);
    s.bias_scale = f32_of(c["bias_scale_f32"]);
    s.input_scale = f32_of(c["input_scale_f32"]);
    s.output_scale = f32_of(c["output_scale_f32"]);
    for (int threads : {1, 2, 5}) {
      std::vector<int8_t> out(static_cast<size_t>(L) * E);
      std::vector<float> v(out.size());
      golden::conv1d_silu_quant(L, E, K, x.data(), w.data(), b.empty() ? nullptr : b.data(), s, out.data(), v.data(),
                                threads);
      EXPECT_EQ(out, c["out"].get<std::vector<int8_t>>());
      std::vector<uint32_t> vb;
      for (float f : v) vb.push_back(num::f32_bits(f));
      EXPECT_EQ(vb, c["v_f32"].get<std::vector<uint32_t>>());
    }
  }
}

// One channel, K = 1, w = 1, no bias: v = silu(fl32(w_c·s_xz)·acc) for acc = x[t].
float conv_v(int8_t x, const golden::Conv1dScales& s) {
  const int8_t w = 1;
  int8_t q;
  float v;
  golden::conv1d_silu_quant(1, 1, 1, &x, &w, nullptr, s, &q, &v, 1);
  return v;
}

// spec §2.5: the conv quantizer is roundf (RNA): v / s_u exactly 2.5 -> 3, -2.5 -> -3.
TEST(Conv1d, QuantizerTieRoundsAwayFromZero) {
  golden::Conv1dScales s{0.01f, 0.0f, 1.0f, 1.0f};
  int found_pos = 0, found_neg = 0;
  for (int x = -127; x <= 127; ++x) {
    const float v = conv_v(static_cast<int8_t>(x), s);
    if (v == 0.0f) continue;
    const float target = v > 0 ? 2.5f : -2.5f;
    golden::Conv1dScales t = s;
    t.output_scale = v / target;
    if (v / t.output_scale != target) continue;
    const int8_t xi = static_cast<int8_t>(x), w = 1;
    int8_t q;
    golden::conv1d_silu_quant(1, 1, 1, &xi, &w, nullptr, t, &q, nullptr, 1);
    EXPECT_EQ(q, v > 0 ? 3 : -3) << "x=" << x;
    (v > 0 ? found_pos : found_neg)++;
  }
  EXPECT_GT(found_pos, 0);
  EXPECT_GT(found_neg, 0);
}

TEST(Conv1d, QuantizerSaturates) {
  const golden::Conv1dScales s{0.01f, 0.0f, 1.0f, 1e-4f};
  const int8_t x[2] = {127, -127}, w = 1;
  int8_t q[2];
  // silu of a large positive value ~ value; of a small negative value a small negative number
  golden::conv1d_silu_quant(2, 1, 1, x, &w, nullptr, s, q, nullptr, 1);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -128);
}

TEST(Conv1d, OutputAtTDependsOnlyOnPastInputs) {
  const int L = 6, E = 3, K = 4;
  std::vector<int8_t> x(L * E), w(E * K), b(E, 5);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>(i * 13 % 200 - 100);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i * 29 % 200 - 100);
  const golden::Conv1dScales s{0.003f, 0.001f, 0.04f, 0.02f};
  std::vector<int8_t> a(L * E), c(L * E);
  golden::conv1d_silu_quant(L, E, K, x.data(), w.data(), b.data(), s, a.data(), nullptr, 1);
  for (int e = 0; e < E; ++e) x[4 * E + e] = static_cast<int8_t>(-x[4 * E + e] - 1);
  golden::conv1d_silu_quant(L, E, K, x.data(), w.data(), b.data(), s, c.data(), nullptr, 1);
  for (int i = 0; i < 4 * E; ++i) EXPECT_EQ(a[i], c[i]) << i;
}

// spec §1.3 (a): w[e, K-1] multiplies the current token, w[e, 0] the token K-1 steps back.
TEST(Conv1d, KernelIndexConvention) {
  const int L = 4, K = 4;
  const int8_t x[L] = {1, 0, 0, 0};                 // impulse at t = 0
  const int8_t w[K] = {10, 20, 30, 40};
  const golden::Conv1dScales s{1.0f, 0.0f, 1.0f, 1.0f};
  int8_t q[L];
  float v[L];
  golden::conv1d_silu_quant(L, 1, K, x, w, nullptr, s, q, v, 1);
  EXPECT_EQ(v[0], num::silu_f32(40.0f));
  EXPECT_EQ(v[3], num::silu_f32(10.0f));
}

}  // namespace
}  // namespace qmsim

namespace qmsim {
namespace {

// The dispatched (AVX-512 where available) conv equals the scalar definition, including the
// TRUE-FP32 pre-quantizer output, over scales that saturate, tie and underflow SiLU's exp.
TEST(Conv1d, VectorizedKernelEqualsReference) {
  uint32_t st = 9;
  auto next = [&st](int lo, int hi) {
    st = st * 1664525u + 1013904223u;
    return static_cast<int8_t>(lo + static_cast<int>((st >> 8) % static_cast<uint32_t>(hi - lo + 1)));
  };
  const float in_scales[] = {0.02f, 0.5f, 1e-5f, 3.0f};
  for (float si : in_scales) {
    for (int E : {16, 40, 64}) {
      const int L = 19, K = 4;
      std::vector<int8_t> x(static_cast<size_t>(L) * E), w(static_cast<size_t>(E) * K), b(E);
      for (auto& v : x) v = next(-128, 127);
      for (auto& v : w) v = next(-127, 127);
      for (auto& v : b) v = next(-127, 127);
      const golden::Conv1dScales s{0.004f, 0.01f, si, 0.03f};
      std::vector<int8_t> q_ref(x.size()), q(x.size());
      std::vector<float> v_ref(x.size()), v(x.size());
      golden::conv1d_silu_quant_ref(L, E, K, x.data(), w.data(), b.data(), s, q_ref.data(), v_ref.data());
      golden::conv1d_silu_quant(L, E, K, x.data(), w.data(), b.data(), s, q.data(), v.data(), 2);
      EXPECT_EQ(q_ref, q) << "E=" << E << " s_in=" << si;
      EXPECT_EQ(0, std::memcmp(v_ref.data(), v.data(), v.size() * 4)) << "E=" << E << " s_in=" << si;
    }
  }
}

}  // namespace
}  // namespace qmsim
