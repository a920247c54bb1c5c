// W8A8 forward, mode 0 (spec §2.2, §5.8): every captured intermediate of a 2-layer toy model
// against tools/make_op_vectors.py (an independent numpy implementation of the whole datapath),
// under the golden and quamba-compat profiles; lm_head and embedding; a random-model smoke test
// with thread-count invariance of every capture.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/embedding.h"
#include "qmsim/golden/forward.h"
#include "qmsim/golden/lm_head.h"
#include "qmsim/numerics.h"
#include "test_util.h"

namespace qmsim {
namespace {

using nlohmann::json;

using test::load_vectors;
using test::f32_of;

QModel toy_model(const json& vec) {
  QModel m;
  const json& c = vec["config"];
  m.cfg.d_model = c["d_model"];
  m.cfg.n_layer = c["n_layer"];
  m.cfg.vocab_size = c["vocab_size"];
  m.cfg.d_state = c["d_state"];
  m.cfg.d_conv = c["d_conv"];
  m.cfg.expand = c["expand"];
  m.cfg.dt_rank = c["dt_rank"];
  m.cfg.norm_eps = f32_of(c["norm_eps_f32"]);
  m.cfg.tie_embeddings = false;
  m.embedding_f16 = vec["embedding_f16"].get<std::vector<uint16_t>>();
  m.lm_head_f16 = vec["lm_head_f16"].get<std::vector<uint16_t>>();
  m.norm_f_f16 = vec["norm_f_f16"].get<std::vector<uint16_t>>();
  for (const json& j : vec["layers"]) {
    QLayer l;
    const json& s = j["scales_f32"];
    auto f = [&s](const char* k) { return f32_of(s.at(k)); };
    l.norm_output_scale = f("norm_output_scale");
    l.in_proj_w = j["in_proj_w"].get<std::vector<int8_t>>();
    l.in_proj_a = f("in_proj_a"), l.in_proj_b = f("in_proj_b"), l.in_proj_alpha = f("in_proj_alpha");
    l.conv_w = j["conv_w"].get<std::vector<int8_t>>();
    l.conv_b = j["conv_b"].get<std::vector<int8_t>>();
    l.conv_weight_scale = f("conv_weight_scale"), l.conv_bias_scale = f("conv_bias_scale");
    l.conv_input_scale = f("conv_input_scale"), l.conv_output_scale = f("conv_output_scale");
    l.x_proj_w = j["x_proj_w"].get<std::vector<int8_t>>();
    l.x_proj_a = f("x_proj_a"), l.x_proj_b = f("x_proj_b"), l.x_proj_alpha = f("x_proj_alpha");
    l.dt_proj_w = j["dt_proj_w"].get<std::vector<int8_t>>();
    l.dt_proj_a = f("dt_proj_a"), l.dt_proj_b = f("dt_proj_b"), l.dt_proj_alpha = f("dt_proj_alpha");
    l.A_log_q = j["A_log_q"].get<std::vector<int8_t>>();
    l.A_scale = f("A_scale");
    l.D_q = j["D_q"].get<std::vector<int8_t>>();
    l.D_scale = f("D_scale");
    l.dt_bias_q = j["dt_bias_q"].get<std::vector<int8_t>>();
    l.dt_bias_scale = f("dt_bias_scale");
    l.u_scale = f("u_scale"), l.dt_scale = f("dt_scale"), l.B_scale = f("B_scale"), l.C_scale = f("C_scale");
    l.z_scale = f("z_scale"), l.ssm_state_scale = f("ssm_state_scale");
    l.had_output_scale = f("had_output_scale");
    l.out_proj_w = j["out_proj_w"].get<std::vector<int8_t>>();
    l.out_proj_a = f("out_proj_a"), l.out_proj_b = f("out_proj_b"), l.out_proj_alpha = f("out_proj_alpha");
    m.layers.push_back(std::move(l));
  }
  return m;
}

// The captured tensor's elements as JSON-comparable integers (int8 values or raw f16/f32 bits).
std::vector<int64_t> elements(const golden::CapturedTensor& t) {
  std::vector<int64_t> v;
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (t.dtype == "int8") v.push_back(t.as<int8_t>()[i]);
    else if (t.dtype == "float16") v.push_back(t.as<uint16_t>()[i]);
    else if (t.dtype == "float32") v.push_back(num::f32_bits(t.as<float>()[i]));
    else ADD_FAILURE() << "dtype " << t.dtype;
  }
  return v;
}

TEST(ForwardW8A8, KnownAnswerEveryIntermediateToyModel) {
  const json vec = load_vectors("forward_w8a8.json");
  const QModel model = toy_model(vec);
  ASSERT_EQ(vec["runs"].size(), 4u);
  for (const json& run : vec["runs"]) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE(run["name"].get<std::string>() + " threads " + std::to_string(threads));
      golden::Capture cap;
      golden::ForwardOptions opt;
      opt.threads = threads;
      opt.capture = &cap;
      const json& p = run["profile"];
      opt.profile.hadamard_wrap = p["hadamard_wrap"];
      opt.profile.gemv_alpha_m1 = p["gemv_alpha_m1"];
      opt.profile.f16_logits = p["f16_logits"];
      opt.profile.f16_residual_final_norm = p["f16_residual_final_norm"];
      const auto tokens = run["tokens"].get<std::vector<int32_t>>();
      const auto positions = run["logit_positions"].get<std::vector<int>>();
      const std::vector<float> logits = golden::forward_w8a8(model, tokens, positions, opt);
      for (const auto& [name, expected] : run["expected"].items()) {
        const golden::CapturedTensor* t = cap.find(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_EQ(elements(*t), expected.get<std::vector<int64_t>>()) << name;
      }
      std::vector<int64_t> lb;
      for (float f : logits) lb.push_back(num::f32_bits(f));
      EXPECT_EQ(lb, run["expected"]["logits"].get<std::vector<int64_t>>());
    }
  }
}

TEST(LmHead, KnownAnswerF32Accumulation) {
  const json vec = load_vectors("lm_head.json");
  for (const json& c : vec["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int P = c["P"], V = c["V"], D = c["D"];
    const auto y = c["y_f16"].get<std::vector<uint16_t>>();
    const auto W = c["W_f16"].get<std::vector<uint16_t>>();
    std::vector<float> fast(static_cast<size_t>(P) * V), ref(fast.size());
    golden::lm_head_f16(P, V, D, y.data(), W.data(), c["f16_logits"], fast.data(), 2);
    golden::lm_head_f16_ref(P, V, D, y.data(), W.data(), c["f16_logits"], ref.data());
    std::vector<uint32_t> fb, rb;
    for (size_t i = 0; i < fast.size(); ++i) {
      fb.push_back(num::f32_bits(fast[i]));
      rb.push_back(num::f32_bits(ref[i]));
    }
    EXPECT_EQ(fb, c["logits_f32"].get<std::vector<uint32_t>>());
    EXPECT_EQ(rb, c["logits_f32"].get<std::vector<uint32_t>>());
  }
}

TEST(LmHead, VectorizedEqualsScalarReference) {
  const int P = 3, V = 173, D = 96;  // V not a multiple of 16
  std::vector<uint16_t> y(P * D), W(V * D);
  uint32_t s = 1;
  auto rnd = [&s]() { s = s * 1664525u + 1013904223u; return static_cast<float>((s >> 9) % 20001) / 10000.0f - 1.0f; };
  for (auto& v : y) v = num::f32_to_f16_rne(rnd() * 4.0f);
  for (auto& v : W) v = num::f32_to_f16_rne(rnd() * 0.1f);
  y[5] = 0x3C01;  // a few exact special values: -0, subnormal, large
  W[7] = 0x8000;
  W[8] = 0x0001;
  W[9] = 0x7BFF;
  for (bool f16 : {false, true}) {
    std::vector<float> a(P * V), b(P * V);
    golden::lm_head_f16_ref(P, V, D, y.data(), W.data(), f16, a.data());
    for (int threads : {1, 4}) {
      golden::lm_head_f16(P, V, D, y.data(), W.data(), f16, b.data(), threads);
      for (int i = 0; i < P * V; ++i) ASSERT_EQ(num::f32_bits(a[i]), num::f32_bits(b[i])) << i;
    }
  }
}

TEST(Embedding, OutOfRangeTokenThrowsNamingTheId) {
  const std::vector<uint16_t> table(4 * 3, 0x3C00);
  const int32_t tokens[2] = {1, 4};
  std::vector<uint16_t> out(6);
  try {
    golden::embedding_lookup_f16(4, 3, table.data(), tokens, 2, out.data());
    FAIL() << "no throw";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("4"), std::string::npos) << e.what();
  }
  const int32_t neg[1] = {-1};
  std::vector<float> f(3);
  EXPECT_THROW(golden::embedding_lookup_f32(4, 3, table.data(), neg, 1, f.data()), std::out_of_range);
  const int32_t ok[1] = {2};
  golden::embedding_lookup_f32(4, 3, table.data(), ok, 1, f.data());
  EXPECT_EQ(f[0], 1.0f);
}

// A random W8A8 model with plausible scales (no calibration), D = 24, E = 48 (= 12·4).
QModel random_model(int n_layer, uint32_t seed) {
  QModel m;
  m.cfg.d_model = 24;
  m.cfg.n_layer = n_layer;
  m.cfg.vocab_size = 100;
  m.cfg.d_state = 16;
  m.cfg.d_conv = 4;
  m.cfg.expand = 2;
  m.cfg.dt_rank = 2;
  const int D = 24, E = 48, N = 16, K = 4, R = 2, X = R + 2 * N, V = 100;
  uint32_t s = seed;
  auto i8 = [&s](int lo, int hi) {
    s = s * 1664525u + 1013904223u;
    return static_cast<int8_t>(lo + static_cast<int>((s >> 8) % static_cast<uint32_t>(hi - lo + 1)));
  };
  auto fill = [&](std::vector<int8_t>& v, size_t n, int lo, int hi) {
    v.resize(n);
    for (auto& x : v) x = i8(lo, hi);
  };
  m.embedding_f16.resize(V * D);
  m.lm_head_f16.resize(V * D);
  for (auto& x : m.embedding_f16) x = num::f32_to_f16_rne(static_cast<float>(i8(-127, 127)) / 100.0f);
  for (auto& x : m.lm_head_f16) x = num::f32_to_f16_rne(static_cast<float>(i8(-127, 127)) / 300.0f);
  m.norm_f_f16.assign(D, 0x3C00);
  for (int i = 0; i < n_layer; ++i) {
    QLayer l;
    fill(l.in_proj_w, 2 * E * D, -127, 127);
    fill(l.conv_w, E * K, -127, 127);
    fill(l.conv_b, E, -127, 127);
    fill(l.x_proj_w, X * E, -127, 127);
    fill(l.dt_proj_w, E * R, -127, 127);
    fill(l.out_proj_w, D * E, -127, 127);
    fill(l.A_log_q, E * N, 0, 127);
    fill(l.D_q, E, -127, 127);
    fill(l.dt_bias_q, E, -127, -40);
    const float s_in = 0.021f, s_xz = 0.017f, s_u = 0.019f, s_xdbl = 0.006f, s_dt = 0.006f, s_y = 0.004f;
    const float w_in = 0.0021f, w_x = 0.0015f, w_dt = 0.0044f, w_out = 0.01f;
    l.norm_output_scale = s_in;
    l.in_proj_a = s_in / s_xz, l.in_proj_b = w_in, l.in_proj_alpha = (w_in * s_in) / s_xz;
    l.conv_weight_scale = 0.0045f, l.conv_bias_scale = 0.0008f, l.conv_input_scale = s_xz, l.conv_output_scale = s_u;
    l.x_proj_a = s_u / s_xdbl, l.x_proj_b = w_x, l.x_proj_alpha = (w_x * s_u) / s_xdbl;
    l.dt_proj_a = s_xdbl / s_dt, l.dt_proj_b = w_dt, l.dt_proj_alpha = (w_dt * s_xdbl) / s_dt;
    l.A_scale = 0.0219f, l.D_scale = 0.0083f, l.dt_bias_scale = 0.054f;
    l.u_scale = s_u, l.dt_scale = s_dt, l.B_scale = l.C_scale = s_xdbl, l.z_scale = s_xz, l.ssm_state_scale = 0.003f;
    l.had_output_scale = s_y;
    l.out_proj_a = s_y, l.out_proj_b = w_out, l.out_proj_alpha = w_out * s_y;
    m.layers.push_back(std::move(l));
  }
  return m;
}

TEST(ForwardW8A8, SmokeRandomModelShapesDeterminismThreads) {
  const QModel model = random_model(3, 42);
  std::vector<int32_t> tokens;
  for (int t = 0; t < 17; ++t) tokens.push_back((t * 37 + 5) % 100);
  const std::vector<int> positions = {16, 0, 8};
  const int L = 17, D = 24, E = 48, N = 16, X = 34;
  std::vector<golden::Capture> caps(4);
  std::vector<std::vector<float>> logits;
  const int thread_counts[4] = {1, 2, 3, 1};
  for (int r = 0; r < 4; ++r) {
    golden::ForwardOptions opt;
    opt.threads = thread_counts[r];
    opt.capture = &caps[r];
    logits.push_back(golden::forward_w8a8(model, tokens, positions, opt));
  }
  ASSERT_EQ(logits[0].size(), 3u * 100u);
  for (float f : logits[0]) EXPECT_TRUE(std::isfinite(f));
  const std::map<std::string, std::vector<int64_t>> shapes = {
      {"norm.res", {L, D}},     {"norm.out", {L, D}},  {"in_proj.out", {L, 2 * E}}, {"conv1d.out", {L, E}},
      {"x_proj.out", {L, X}},   {"dt_proj.out", {L, E}}, {"ssm.out", {L, E}},       {"ssm.state", {E, N}},
      {"hadamard.out", {L, E}}, {"out_proj.out", {L, D}}};
  for (int i = 0; i < 3; ++i)
    for (const auto& [op, shape] : shapes) {
      const golden::CapturedTensor* t = caps[0].find("layers." + std::to_string(i) + "." + op);
      ASSERT_NE(t, nullptr) << op;
      EXPECT_EQ(t->shape, shape) << op;
    }
  ASSERT_NE(caps[0].find("norm_f.out"), nullptr);
  EXPECT_EQ(caps[0].find("norm_f.out")->shape, (std::vector<int64_t>{L, D}));
  EXPECT_EQ(caps[0].find("logits")->shape, (std::vector<int64_t>{3, 100}));
  // the residual stream must actually move: out_proj outputs are finite and not all zero
  const golden::CapturedTensor* out = caps[0].find("layers.2.out_proj.out");
  int nonzero = 0;
  for (int64_t k = 0; k < out->numel(); ++k) {
    const float v = num::f16_to_f32(out->as<uint16_t>()[k]);
    EXPECT_TRUE(std::isfinite(v));
    nonzero += v != 0.0f;
  }
  EXPECT_GT(nonzero, out->numel() / 2);
  for (int r = 1; r < 4; ++r) {
    SCOPED_TRACE("run " + std::to_string(r) + " threads " + std::to_string(thread_counts[r]));
    ASSERT_EQ(caps[r].order(), caps[0].order());
    for (const auto& name : caps[0].order()) EXPECT_EQ(caps[r].find(name)->bytes, caps[0].find(name)->bytes) << name;
  }
}

TEST(ForwardW8A8, RejectsBadPositionsAndTokens) {
  const QModel model = random_model(1, 3);
  golden::ForwardOptions opt;
  EXPECT_THROW(golden::forward_w8a8(model, {1, 2, 3}, {3}, opt), std::out_of_range);
  EXPECT_THROW(golden::forward_w8a8(model, {1, 100}, {0}, opt), std::out_of_range);
  QModel broken = model;
  broken.layers[0].x_proj_w.pop_back();
  EXPECT_THROW(golden::forward_w8a8(broken, {1, 2}, {0}, opt), std::invalid_argument);
}

}  // namespace
}  // namespace qmsim
