// Selective scan, PyTorch "P-seq" arithmetic (spec §4.5; modes 2-1..2-4 and 3 of §5.8):
// known answers from tools/make_pseq_vectors.py (independent numpy float32), the int8-u form equals
// the f32-u form fed with fl32(q_u·s_u) (2-1 ≡ 2-2, §4.4), thread-count invariance, and P-seq is a
// different arithmetic from the mode-0 golden selective_scan.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/selective_scan.h"
#include "qmsim/golden/selective_scan_pseq.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;
using test::f32_of;
using test::load_vectors;

using test::bits_of;

struct Case {
  int L = 0, E = 0, N = 0;
  std::vector<int8_t> u_q;   // empty: f32 form
  std::vector<float> u_f32;  // used when u_q is empty
  std::vector<int8_t> dt, B, C, z, A_log, D, dt_bias;
  golden::SsmScales s;
};

struct Out {
  std::vector<uint16_t> y;
  std::vector<float> state;
};

Out run(const Case& c, int threads) {
  Out o{std::vector<uint16_t>(static_cast<size_t>(c.L) * c.E, 0xFFFF), std::vector<float>(static_cast<size_t>(c.E) * c.N, NAN)};
  golden::selective_scan_pseq(c.L, c.E, c.N, c.u_q.empty() ? nullptr : c.u_q.data(),
                              c.u_q.empty() ? c.u_f32.data() : nullptr, c.dt.data(), c.B.data(), c.C.data(),
                              c.z.data(), c.A_log.data(), c.D.data(), c.dt_bias.data(), c.s, o.y.data(),
                              o.state.data(), threads);
  return o;
}

// The f32-u form of an int8-u case: u = fl32(f32(q_u)·s_u).
Case as_f32_form(const Case& c) {
  Case f = c;
  f.u_f32.clear();
  for (int8_t q : c.u_q) f.u_f32.push_back(static_cast<float>(q) * c.s.u);
  f.u_q.clear();
  return f;
}

std::vector<int8_t> i8s(const json& j) {
  std::vector<int8_t> v;
  for (const auto& x : j) v.push_back(static_cast<int8_t>(x.get<int>()));
  return v;
}

Case from_json(const json& j) {
  Case c;
  c.L = j["L"];
  c.E = j["E"];
  c.N = j["N"];
  if (!j["u_q"].is_null()) c.u_q = i8s(j["u_q"]);
  if (!j["u_f32"].is_null())
    for (const auto& b : j["u_f32"]) c.u_f32.push_back(f32_of(b));
  c.dt = i8s(j["dt"]);
  c.B = i8s(j["B"]);
  c.C = i8s(j["C"]);
  c.z = i8s(j["z"]);
  c.A_log = i8s(j["A_log"]);
  c.D = i8s(j["D"]);
  c.dt_bias = i8s(j["dt_bias"]);
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
  return c;
}

Case random_case(uint32_t seed, int L, int E, int N, bool int8_u, float dt_scale = 0.004f) {
  std::mt19937 g(seed);
  auto i8 = [&](size_t n, int lo, int hi) {
    std::uniform_int_distribution<int> d(lo, hi);
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(d(g));
    return v;
  };
  const size_t LE = static_cast<size_t>(L) * E, LN = static_cast<size_t>(L) * N;
  Case c;
  c.L = L;
  c.E = E;
  c.N = N;
  if (int8_u) {
    c.u_q = i8(LE, -128, 127);
  } else {
    std::normal_distribution<float> nd(0.0f, 1.3f);
    for (size_t i = 0; i < LE; ++i) c.u_f32.push_back(nd(g));
  }
  c.dt = i8(LE, -128, 127);
  c.z = i8(LE, -128, 127);
  c.B = i8(LN, -128, 127);
  c.C = i8(LN, -128, 127);
  c.A_log = i8(static_cast<size_t>(E) * N, 0, 127);
  c.D = i8(E, -127, 127);
  c.dt_bias = i8(E, -127, -40);
  c.s.u = 0.021f;
  c.s.dt = dt_scale;
  c.s.B = 0.013f;
  c.s.C = 0.013f;
  c.s.z = 0.037f;
  c.s.A = std::log(static_cast<float>(N) + 1.05f) / 127.0f;
  c.s.D = 1.06f / 127.0f;
  c.s.dt_bias = 6.9f / 127.0f;
  c.s.state = 0.0029f;
  return c;
}

bool f16_finite(uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }

TEST(SelectiveScanPseq, KnownAnswers) {
  const json vec = load_vectors("selective_scan_pseq.json");
  ASSERT_EQ(vec["op"], "selective_scan_pseq");
  ASSERT_EQ(vec["cases"].size(), 5u);
  int int8_cases = 0, f32_cases = 0, l1_cases = 0;
  for (const json& j : vec["cases"]) {
    SCOPED_TRACE(j["name"].get<std::string>());
    const Case c = from_json(j);
    (c.u_q.empty() ? f32_cases : int8_cases)++;
    if (c.L == 1) ++l1_cases;
    std::vector<uint16_t> y_exp;
    for (const auto& b : j["y_f16"]) y_exp.push_back(static_cast<uint16_t>(b.get<int>()));
    std::vector<uint32_t> st_exp;
    for (const auto& b : j["state_f32"]) st_exp.push_back(b.get<uint32_t>());
    for (int threads : {1, 3}) {
      const Out o = run(c, threads);
      EXPECT_EQ(o.y, y_exp);
      EXPECT_EQ(bits_of(o.state), st_exp);
    }
    // state is nullable
    std::vector<uint16_t> y(y_exp.size());
    golden::selective_scan_pseq(c.L, c.E, c.N, c.u_q.empty() ? nullptr : c.u_q.data(),
                                c.u_q.empty() ? c.u_f32.data() : nullptr, c.dt.data(), c.B.data(), c.C.data(),
                                c.z.data(), c.A_log.data(), c.D.data(), c.dt_bias.data(), c.s, y.data(), nullptr, 2);
    EXPECT_EQ(y, y_exp);
  }
  EXPECT_GE(int8_cases, 2);
  EXPECT_GE(f32_cases, 2);
  EXPECT_GE(l1_cases, 2);
}

// spec §4.4: modes 2-1 (int8 u) and 2-2 (u = fl32(q·s_u) as f32) are the same arithmetic.
TEST(SelectiveScanPseq, Int8FormEqualsF32FormOnGrid) {
  const json vec = load_vectors("selective_scan_pseq.json");
  int checked = 0;
  for (const json& j : vec["cases"]) {
    const Case c = from_json(j);
    if (c.u_q.empty()) continue;
    SCOPED_TRACE(j["name"].get<std::string>());
    const Out a = run(c, 1), b = run(as_f32_form(c), 1);
    EXPECT_EQ(a.y, b.y);
    EXPECT_EQ(bits_of(a.state), bits_of(b.state));
    ++checked;
  }
  EXPECT_GE(checked, 2);
  for (uint32_t seed : {1u, 2u, 3u}) {
    const Case c = random_case(seed, 33, 29, 16, true, seed == 3 ? 0.2f : 0.004f);
    const Out a = run(c, 4), b = run(as_f32_form(c), 4);
    EXPECT_EQ(a.y, b.y);
    EXPECT_EQ(bits_of(a.state), bits_of(b.state));
  }
}

TEST(SelectiveScanPseq, ThreadCountInvariant) {
  for (bool int8_u : {true, false}) {
    const Case c = random_case(int8_u ? 11u : 12u, 24, 37, 16, int8_u);
    const Out ref = run(c, 1);
    for (int threads : {2, 3, 5, 8, 37, 64}) {
      const Out o = run(c, threads);
      EXPECT_EQ(o.y, ref.y) << "threads=" << threads;
      EXPECT_EQ(bits_of(o.state), bits_of(ref.state)) << "threads=" << threads;
    }
  }
}

// selective_scan_pseq (16-channel AVX-512 vectors where the CPU has them, the remainder scalar,
// several threads) against the scalar definition selective_scan_pseq_ref, for int8 and f32 u, over
// scales that push exp into every regime: underflow to 0 (dt·A < -104), tiny arguments, the
// softplus threshold 20 (dt up to ~100), and the rounding-test fallback; E = 16, 48 (whole
// vectors) and 53 (5 scalar channels). On a CPU without AVX-512 both sides are scalar.
TEST(SelectiveScanPseq, VectorizedEqualsReferenceAcrossRegimes) {
  struct Scales { float dt, A, dt_bias, z, u; };
  const Scales variants[] = {{0.004f, 0.0219f, 0.054f, 0.037f, 0.021f},
                             {0.5f, 0.06f, 0.3f, 0.9f, 0.5f},
                             {1e-6f, 1e-4f, 1e-7f, 1e-9f, 1e-3f},
                             {0.2f, 0.04f, 0.15f, 0.8f, 0.05f}};
  uint32_t seed = 300;
  int compared = 0;
  for (const Scales& v : variants)
    for (int E : {16, 48, 53})
      for (bool int8_u : {true, false}) {
        Case c = random_case(seed++, 23, E, 16, int8_u);
        c.s.dt = v.dt, c.s.A = v.A, c.s.dt_bias = v.dt_bias, c.s.z = v.z, c.s.u = v.u;
        SCOPED_TRACE("E=" + std::to_string(E) + (int8_u ? " u_q" : " u_f32") + " dt scale " + std::to_string(v.dt));
        Out ref{std::vector<uint16_t>(static_cast<size_t>(c.L) * c.E, 0xFFFF),
                std::vector<float>(static_cast<size_t>(c.E) * c.N, NAN)};
        golden::selective_scan_pseq_ref(c.L, c.E, c.N, c.u_q.empty() ? nullptr : c.u_q.data(),
                                        c.u_q.empty() ? c.u_f32.data() : nullptr, c.dt.data(), c.B.data(), c.C.data(),
                                        c.z.data(), c.A_log.data(), c.D.data(), c.dt_bias.data(), c.s, ref.y.data(),
                                        ref.state.data());
        const Out o = run(c, 3);
        EXPECT_EQ(o.y, ref.y);
        EXPECT_EQ(bits_of(o.state), bits_of(ref.state));
        ++compared;
      }
  EXPECT_EQ(compared, 24);
}

// P-seq (no FMA, (dt·B)·u, y·silu(z)) is not the mode-0 CUDA-kernel arithmetic (spec §4.5 "Differences").
TEST(SelectiveScanPseq, DiffersFromMode0Scan) {
  const Case c = random_case(21u, 32, 48, 16, true);
  const Out p = run(c, 2);
  std::vector<uint16_t> y0(p.y.size());
  std::vector<float> st0(p.state.size());
  std::vector<int8_t> stq0(p.state.size());
  golden::selective_scan(c.L, c.E, c.N, c.u_q.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                         c.A_log.data(), c.D.data(), c.dt_bias.data(), c.s, y0.data(), st0.data(), stq0.data(), 2);
  size_t differ = 0;
  for (size_t i = 0; i < y0.size(); ++i) {
    ASSERT_TRUE(f16_finite(p.y[i])) << i;
    ASSERT_TRUE(f16_finite(y0[i])) << i;
    if (p.y[i] != y0[i]) ++differ;
  }
  size_t state_differ = 0;
  for (size_t i = 0; i < st0.size(); ++i) {
    ASSERT_TRUE(std::isfinite(p.state[i]));
    ASSERT_TRUE(std::isfinite(st0[i]));
    if (num::f32_bits(p.state[i]) != num::f32_bits(st0[i])) ++state_differ;
  }
  EXPECT_GE(state_differ, 1u);
  EXPECT_GE(differ, 1u);
  RecordProperty("differing_outputs", static_cast<int>(differ));
  std::printf("P-seq vs mode-0: %zu of %zu f16 outputs, %zu of %zu f32 final states differ\n", differ, y0.size(),
              state_differ, st0.size());
}

}  // namespace
}  // namespace qmsim
