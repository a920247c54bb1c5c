// Selective scan (spec §2.6, golden rules §5.8): known answers from tools/make_op_vectors.py,
// the hoisted/parallel kernel against the literal reference, thread-count invariance.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/selective_scan.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;

using test::load_vectors;
using test::f32_of;
using test::bits_of;

struct ScanCase {
  int L, E, N;
  std::vector<int8_t> u, dt, B, C, z, A_log, D, dt_bias;
  golden::SsmScales s;
};

struct ScanOut {
  std::vector<uint16_t> y;
  std::vector<float> state;
  std::vector<int8_t> state_q;
};

ScanOut run(const ScanCase& c, int threads) {  // threads = 0: the reference
  ScanOut o{std::vector<uint16_t>(static_cast<size_t>(c.L) * c.E), std::vector<float>(static_cast<size_t>(c.E) * c.N),
            std::vector<int8_t>(static_cast<size_t>(c.E) * c.N)};
  if (threads == 0)
    golden::selective_scan_ref(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                               c.A_log.data(), c.D.data(), c.dt_bias.data(), c.s, o.y.data(), o.state.data(),
                               o.state_q.data());
  else
    golden::selective_scan(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(), c.A_log.data(),
                           c.D.data(), c.dt_bias.data(), c.s, o.y.data(), o.state.data(), o.state_q.data(), threads);
  return o;
}

void expect_same(const ScanOut& a, const ScanOut& b) {
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(bits_of(a.state), bits_of(b.state));
  EXPECT_EQ(a.state_q, b.state_q);
}

TEST(SelectiveScan, KnownAnswerInt8Len9) {
  const json vec = load_vectors("selective_scan.json");
  ASSERT_EQ(vec["cases"].size(), 3u);
  for (const json& j : vec["cases"]) {
    SCOPED_TRACE(j["name"].get<std::string>());
    ScanCase c{j["L"], j["E"], j["N"], j["u"], j["dt"], j["B"], j["C"], j["z"], j["A_log"], j["D"], j["dt_bias"], {}};
    const json& s = j["scales_f32"];
    c.s.u = f32_of(s["u"]);
    c.s.dt = f32_of(s["dt"]);
    c.s.B = f32_of(s["B"]);
    c.s.C = f32_of(s["C"]);
    c.s.z = f32_of(s["z"]);
    c.s.A = f32_of(s["A"]);
    c.s.D = f32_of(s["D"]);
    c.s.dt_bias = f32_of(s["dt_bias"]);
    c.s.state = f32_of(s["state"]);
    for (int threads : {0, 1, 3}) {
      const ScanOut o = run(c, threads);
      EXPECT_EQ(o.y, j["y_f16"].get<std::vector<uint16_t>>()) << "threads " << threads;
      EXPECT_EQ(bits_of(o.state), j["state_f32"].get<std::vector<uint32_t>>()) << "threads " << threads;
      EXPECT_EQ(o.state_q, j["state_q"].get<std::vector<int8_t>>()) << "threads " << threads;
    }
  }
}

ScanCase random_case(int L, int E, int N, uint32_t seed) {
  ScanCase c{L, E, N, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  uint32_t st = seed;
  auto next = [&st](int lo, int hi) {
    st = st * 1664525u + 1013904223u;
    return static_cast<int8_t>(lo + static_cast<int>((st >> 8) % static_cast<uint32_t>(hi - lo + 1)));
  };
  for (int i = 0; i < L * E; ++i) {
    c.u.push_back(next(-128, 127));
    c.dt.push_back(next(-128, 127));
    c.z.push_back(next(-128, 127));
  }
  for (int i = 0; i < L * N; ++i) {
    c.B.push_back(next(-128, 127));
    c.C.push_back(next(-128, 127));
  }
  for (int i = 0; i < E * N; ++i) c.A_log.push_back(next(0, 127));
  for (int i = 0; i < E; ++i) {
    c.D.push_back(next(-127, 127));
    c.dt_bias.push_back(next(-127, -30));
  }
  c.s.u = 0.021f;
  c.s.dt = 0.01f;
  c.s.B = c.s.C = 0.013f;
  c.s.z = 0.037f;
  c.s.A = 0.0219f;
  c.s.D = 0.0083f;
  c.s.dt_bias = 0.054f;
  c.s.state = 0.003f;
  return c;
}

TEST(SelectiveScan, HoistedKernelEqualsReference) {
  const ScanCase c = random_case(37, 24, 16, 7);
  expect_same(run(c, 0), run(c, 1));
}

TEST(SelectiveScan, ThreadCountInvariant) {
  const ScanCase c = random_case(29, 40, 16, 11);
  const ScanOut one = run(c, 1);
  for (int threads : {2, 3, 7, 64}) {
    SCOPED_TRACE(threads);
    expect_same(one, run(c, threads));
  }
}

TEST(SelectiveScan, StateOutputsAreOptional) {
  const ScanCase c = random_case(5, 8, 4, 3);
  const ScanOut full = run(c, 2);
  std::vector<uint16_t> y(full.y.size());
  golden::selective_scan(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(), c.A_log.data(),
                         c.D.data(), c.dt_bias.data(), c.s, y.data(), nullptr, nullptr, 2);
  EXPECT_EQ(y, full.y);
}

// spec §2.6: the returned int8 state is sat8(RNA(h / s_h)).
TEST(SelectiveScan, ReturnedStateIsRnaSaturated) {
  const ScanCase c = random_case(11, 8, 4, 5);
  const ScanOut o = run(c, 1);
  for (size_t i = 0; i < o.state.size(); ++i) EXPECT_EQ(o.state_q[i], num::quant_rna_sat8(o.state[i] / c.s.state));
}

}  // namespace
}  // namespace qmsim

namespace qmsim {
namespace {

// The vectorized kernel (16 channels per vector, 8-lane exp) against the scalar reference over
// scales that push exp into every regime: underflow to 0 (dt·A < -104), |x| < 2^-26, the
// softplus threshold 20, and the rounding-test fallback.
TEST(SelectiveScan, VectorizedKernelEqualsReferenceAcrossRegimes) {
  struct Scales { float dt, A, dt_bias, z, u; };
  const Scales variants[] = {{0.01f, 0.0219f, 0.054f, 0.037f, 0.021f},
                             {0.5f, 0.06f, 0.3f, 0.9f, 0.5f},      // dt up to ~100: softplus identity, exp underflow
                             {1e-6f, 1e-4f, 1e-7f, 1e-9f, 1e-3f},  // tiny arguments: exp(x) = 1 shortcut
                             {0.2f, 0.04f, 0.15f, 0.8f, 0.05f}};
  uint32_t seed = 100;
  for (const Scales& v : variants) {
    for (int E : {16, 48, 53}) {
      ScanCase c = random_case(23, E, 16, seed++);
      c.s.dt = v.dt;
      c.s.A = v.A;
      c.s.dt_bias = v.dt_bias;
      c.s.z = v.z;
      c.s.u = v.u;
      SCOPED_TRACE(E);
      expect_same(run(c, 0), run(c, 2));
    }
  }
}

}  // namespace
}  // namespace qmsim
