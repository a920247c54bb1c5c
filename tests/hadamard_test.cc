// Hadamard transform and quantizer (spec §2.7, §5.8): the H_12 literal of the spec, one-hot
// inputs, known answers from tools/make_op_vectors.py, wrap vs saturation.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/hadamard.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;

using test::load_vectors;
using test::f32_of;

// spec §5.8, verbatim (row r, columns 0..11).
const char* const kSpecRows[12] = {"+-++++++++++", "--+-+-+-+-+-", "+++-++----++", "+---+--+-++-",
                                   "+++++-++----", "+-+---+--+-+", "++--+++-++--", "+--++---+--+",
                                   "++----+++-++", "+--+-++---+-", "++++----+++-", "+-+--+-++---"};

int h12(int r, int c) { return kSpecRows[r][c] == '+' ? 1 : -1; }
int sylvester(int i, int j) { return __builtin_popcount(static_cast<unsigned>(i & j)) % 2 ? -1 : 1; }

TEST(Hadamard, H12MatchesSpecAndIsSymmetricOrthogonal) {
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 12; ++c) {
      EXPECT_EQ(golden::kHadamard12[r][c], h12(r, c)) << r << "," << c;
      EXPECT_EQ(h12(r, c), h12(c, r)) << "symmetric " << r << "," << c;
    }
  for (int r = 0; r < 12; ++r)
    for (int s = 0; s < 12; ++s) {
      int dot = 0;
      for (int c = 0; c < 12; ++c) dot += h12(r, c) * h12(s, c);
      EXPECT_EQ(dot, r == s ? 12 : 0) << r << "," << s;
    }
}

// The transform of a one-hot vector e_j is column j of H_12 ⊗ H_{2^m} (element j = 2^m·c + p).
TEST(Hadamard, OneHotGivesMatrixColumn) {
  for (int n : {12, 48, 96, 16, 1}) {
    const bool twelve = n % 12 == 0;
    const int P = twelve ? n / 12 : n;
    for (int j = 0; j < n; ++j) {
      std::vector<float> x(n, 0.0f), y(n);
      x[j] = 1.0f;
      golden::hadamard_transform_f32(x.data(), y.data(), n, false);
      for (int i = 0; i < n; ++i) {
        const int expect = twelve ? h12(i / P, j / P) * sylvester(i % P, j % P) : sylvester(i, j);
        ASSERT_EQ(y[i], static_cast<float>(expect)) << "n=" << n << " i=" << i << " j=" << j;
      }
    }
  }
}

TEST(Hadamard, KnownAnswerTransformAndQuant) {
  const json vec = load_vectors("hadamard.json");
  ASSERT_EQ(vec["cases"].size(), 5u);
  for (const json& c : vec["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int L = c["L"], n = c["n"];
    const auto y = c["y_f16"].get<std::vector<uint16_t>>();
    const float s_y = f32_of(c["s_y_f32"]);
    EXPECT_EQ(num::f32_bits(golden::hadamard_quant_scale(n, s_y)), c["scale_h_f32"].get<uint32_t>());
    std::vector<uint32_t> tr;
    for (int t = 0; t < L; ++t) {
      std::vector<float> v(n), out(n);
      for (int j = 0; j < n; ++j) v[j] = num::f16_to_f32(y[static_cast<size_t>(t) * n + j]);
      golden::hadamard_transform_f32(v.data(), out.data(), n, false);
      for (float f : out) tr.push_back(num::f32_bits(f));
    }
    EXPECT_EQ(tr, c["transform_f32"].get<std::vector<uint32_t>>());
    for (int threads : {1, 2}) {
      std::vector<int8_t> q(static_cast<size_t>(L) * n);
      int64_t oor = -1;
      golden::hadamard_quant(L, n, y.data(), s_y, false, q.data(), &oor, threads);
      EXPECT_EQ(q, c["q_sat"].get<std::vector<int8_t>>());
      EXPECT_EQ(oor, c["out_of_range"].get<int64_t>());
      golden::hadamard_quant(L, n, y.data(), s_y, true, q.data(), &oor, threads);
      EXPECT_EQ(q, c["q_wrap"].get<std::vector<int8_t>>());
      EXPECT_EQ(oor, c["out_of_range"].get<int64_t>());
    }
  }
}

// spec §2.7: the original quantizer wraps modulo 256 (130 -> -126); golden saturates (127).
TEST(Hadamard, WrapsModulo256UnderQuambaCompat) {
  const int n = 16;  // scale_h = (1/4) / 0.25 = 1 exactly
  ASSERT_EQ(golden::hadamard_quant_scale(n, 0.25f), 1.0f);
  std::vector<uint16_t> y(n, 0);
  y[0] = num::f32_to_f16_rne(130.0f);  // one-hot: every output is ±130
  std::vector<int8_t> sat(n), wrap(n);
  int64_t oor_sat = 0, oor_wrap = 0;
  golden::hadamard_quant(1, n, y.data(), 0.25f, false, sat.data(), &oor_sat, 1);
  golden::hadamard_quant(1, n, y.data(), 0.25f, true, wrap.data(), &oor_wrap, 1);
  for (int j = 0; j < n; ++j) {
    EXPECT_EQ(sat[j], 127);
    EXPECT_EQ(wrap[j], -126);
  }
  EXPECT_EQ(oor_sat, n);
  EXPECT_EQ(oor_wrap, n);
  y[0] = num::f32_to_f16_rne(-130.0f);
  golden::hadamard_quant(1, n, y.data(), 0.25f, false, sat.data(), nullptr, 1);
  golden::hadamard_quant(1, n, y.data(), 0.25f, true, wrap.data(), nullptr, 1);
  EXPECT_EQ(sat[0], -128);
  EXPECT_EQ(wrap[0], 126);
}

// spec §2.7: RNA at the quantizer (2.5 -> 3, -2.5 -> -3), and 127.5 wraps to -128.
TEST(Hadamard, QuantizerRoundsTiesAwayFromZero) {
  const int n = 4;  // scale_h = (1/2) / 0.5 = 1
  std::vector<uint16_t> y(n, 0);
  std::vector<int8_t> q(n);
  y[0] = num::f32_to_f16_rne(2.5f);
  golden::hadamard_quant(1, n, y.data(), 0.5f, false, q.data(), nullptr, 1);
  EXPECT_EQ(q, (std::vector<int8_t>{3, 3, 3, 3}));
  y[0] = num::f32_to_f16_rne(-2.5f);
  golden::hadamard_quant(1, n, y.data(), 0.5f, false, q.data(), nullptr, 1);
  EXPECT_EQ(q, (std::vector<int8_t>{-3, -3, -3, -3}));
  y[0] = num::f32_to_f16_rne(127.5f);
  golden::hadamard_quant(1, n, y.data(), 0.5f, true, q.data(), nullptr, 1);
  EXPECT_EQ(q[0], -128);
}

TEST(Hadamard, NormalizedTransformIsScaledUnnormalized) {
  for (int n : {24, 32, 1536}) {
    std::vector<float> x(n), u(n), v(n), back(n);
    for (int j = 0; j < n; ++j) x[j] = std::sin(0.37f * static_cast<float>(j)) * 3.0f;
    golden::hadamard_transform_f32(x.data(), u.data(), n, false);
    golden::hadamard_transform_f32(x.data(), v.data(), n, true);
    const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
    for (int j = 0; j < n; ++j) ASSERT_EQ(v[j], u[j] * norm);
    golden::hadamard_transform_f32(v.data(), back.data(), n, true);  // symmetric orthonormal: H·H = I
    for (int j = 0; j < n; ++j) EXPECT_NEAR(back[j], x[j], 1e-5f);
    golden::hadamard_transform_f32(x.data(), x.data(), n, false);  // in place
    for (int j = 0; j < n; ++j) ASSERT_EQ(x[j], u[j]);
  }
}

TEST(Hadamard, RejectsUnsupportedSize) {
  EXPECT_FALSE(golden::hadamard_size_supported(20));
  EXPECT_FALSE(golden::hadamard_size_supported(36));
  EXPECT_TRUE(golden::hadamard_size_supported(1536));
  EXPECT_TRUE(golden::hadamard_size_supported(768));
  std::vector<float> x(20, 1.0f);
  EXPECT_THROW(golden::hadamard_transform_f32(x.data(), x.data(), 20, false), std::invalid_argument);
  std::vector<uint16_t> y(36, 0);
  std::vector<int8_t> q(36);
  EXPECT_THROW(golden::hadamard_quant(1, 36, y.data(), 1.0f, false, q.data(), nullptr, 1), std::invalid_argument);
}

}  // namespace
}  // namespace qmsim
