// Experiment modes (spec §4, §5.8; issue 6):
// - every built-in mode (and variant) changes exactly the tensors its file claims: captures of the
//   mode and of the claim's base mode on a real LAMBADA document of the default model, compared
//   tensor by tensor (2-0 == 0 and 5-0 == 0 bit for bit, 2-2 == 2-1, committed variants);
// - the u quantizers against hand-computed answers; the f32-input scan against the int8 scan;
//   the f32 linear against an independent loop;
// - the original's env-var aliases map to the same modes; malformed mode files give errors that
//   name the file and the key, also through the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include "qmsim/config/modes.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/golden/calibrate.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/golden/mode_ops.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/synth.h"
#include "qmsim/tokenizer.h"

namespace qmsim {
namespace {

using config::Mode;
using config::resolve_mode;

bool same(const golden::CapturedTensor& a, const golden::CapturedTensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.bytes == b.bytes;
}

// ------------------------------------------------------------------ claims on the default model

const std::string kModel = std::string(QMSIM_SOURCE_DIR) + "/models/mamba-tiny";

class ModeClaims : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::ifstream(kModel + "/w8a8/config.json")) return;
    model_ = new QModel(load_quant_model(kModel + "/w8a8"));
    const Tokenizer tok = Tokenizer::from_file(std::string(QMSIM_SOURCE_DIR) + "/data/gpt-neox-20b-tokenizer.json");
    const auto docs = eval::load_lambada(std::string(QMSIM_SOURCE_DIR) + "/data/lambada_test.jsonl");
    req_ = new eval::DocRequest(eval::make_request(tok, docs[0]));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete req_;
  }
  struct Run {
    golden::Capture cap;
    std::vector<float> logits;
  };
  static Run run(const golden::ModeSpec& spec) {
    Run r;
    golden::ForwardOptions o;
    o.threads = 2;
    o.capture = &r.cap;
    o.mode = spec;
    r.logits = golden::forward_w8a8(*model_, req_->input, req_->logit_positions, o);
    r.cap.put("logits", "float32", {static_cast<int64_t>(r.logits.size())}, r.logits.data(), r.logits.size());
    return r;
  }
  static QModel* model_;
  static eval::DocRequest* req_;
};
QModel* ModeClaims::model_ = nullptr;
eval::DocRequest* ModeClaims::req_ = nullptr;

TEST_F(ModeClaims, EveryModeChangesExactlyTheTensorsItClaims) {
  if (model_ == nullptr) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  int claims_checked = 0;
  for (const Mode& m : config::builtin_modes_and_variants()) {
    if (m.fp32_reference || m.label() == "0") continue;
    SCOPED_TRACE("mode " + m.label());
    ASSERT_FALSE(m.claims.empty()) << m.label() << " makes no claim";  // every W8A8 mode but the base 0 claims
    const Run r = run(m.spec);
    for (const config::Claim& c : m.claims) {
      const Run b = run(resolve_mode(c.base).spec);
      auto get = [](const Run& x, const std::string& n) {
        const golden::CapturedTensor* t = x.cap.find(n == "logits" ? n : "layers.0." + n);
        if (t == nullptr) ADD_FAILURE() << "no captured tensor " << n;
        return t;
      };
      for (const auto& n : c.unchanged) {
        if (n == "*") {
          for (const auto& name : b.cap.order())
            if (const golden::CapturedTensor* t = r.cap.find(name)) {
              EXPECT_TRUE(same(*t, *b.cap.find(name))) << name << " differs from mode " << c.base;
            }
          continue;
        }
        const auto *t = get(r, n), *tb = get(b, n);
        if (t && tb) {
          EXPECT_TRUE(same(*t, *tb)) << n << " differs from mode " << c.base;
        }
        ++claims_checked;
      }
      for (const auto& n : c.changed) {
        const auto *t = get(r, n), *tb = get(b, n);
        if (t && tb) {
          EXPECT_FALSE(same(*t, *tb)) << n << " equals mode " << c.base << "'s";
        }
        ++claims_checked;
      }
    }
  }
  EXPECT_GT(claims_checked, 60);
}

TEST_F(ModeClaims, AliasesComputeTheSameBits) {
  if (model_ == nullptr) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  for (const auto& [alias, name] : std::vector<std::pair<std::string, std::string>>{
           {"SSM_USE_PYTORCH_INT8+FLOAT_SIM_ASIC_INT8", "2-1"}, {"CONV1D_MODE3_FP32", "3"}, {"5", "5-1"}}) {
    const Run a = run(resolve_mode(alias).spec), b = run(resolve_mode(name).spec);
    EXPECT_EQ(0, std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4)) << alias;
  }
}

// ------------------------------------------------------------------ aliases and mode files

TEST(ModeNames, AliasesMapToTheSameModes) {
  EXPECT_EQ(resolve_mode("FLOAT_SIM_ASIC_INT8+SSM_USE_PYTORCH_INT8").label(), "2-1");
  EXPECT_EQ(resolve_mode("SSM_USE_PYTORCH_INT8,FLOAT_SIM_ASIC_INT8").label(), "2-1");  // order-free
  EXPECT_EQ(resolve_mode("FLOAT_SIM_ASIC_INT8=true+SSM_USE_CUDA_FOR_FP32=true").label(), "2-0");
  EXPECT_EQ(resolve_mode("FLOAT_SIM_ASIC_INT8").label(), "2-2");
  EXPECT_EQ(resolve_mode("FLOAT_SIM_ASIC_INT8+CONV1D_MODE23_FP32").label(), "2-3:documented");
  EXPECT_EQ(resolve_mode("FLOAT_SIM_ASIC_INT8+CONV1D_MODE24_FP32").label(), "2-4:documented");
  EXPECT_EQ(resolve_mode("CONV1D_MODE24_FP32+CONV1D_MODE4_SELECTIVE_GRID").label(), "4");
  EXPECT_TRUE(resolve_mode("1").fp32_reference);
  EXPECT_EQ(resolve_mode("5").label(), "5-1");
  // (2-3:committed equals 2-1 in bits, not in structure: grid u requantized; the claims test checks the bits.)
  EXPECT_TRUE(resolve_mode("2-4:committed").spec.same_computation(resolve_mode("2-2").spec));
  EXPECT_TRUE(resolve_mode("3:committed").spec.same_computation(resolve_mode("2-2").spec));
  EXPECT_FALSE(resolve_mode("2-3").spec.same_computation(resolve_mode("2-1").spec));
  // The environment, as the original's get_current_mode(): QUAMBA_MODE first, else the variable set.
  for (const auto& v : config::original_env_vars()) unsetenv(v.c_str());
  unsetenv("QUAMBA_MODE");
  EXPECT_EQ(resolve_mode("env").label(), "0");
  setenv("FLOAT_SIM_ASIC_INT8", "true", 1);
  setenv("SSM_USE_PYTORCH_INT8", "TRUE", 1);
  EXPECT_EQ(resolve_mode("env").label(), "2-1");
  setenv("QUAMBA_MODE", "5-4", 1);
  EXPECT_EQ(resolve_mode("env").label(), "5-4");
  unsetenv("QUAMBA_MODE");
  unsetenv("FLOAT_SIM_ASIC_INT8");
  unsetenv("SSM_USE_PYTORCH_INT8");
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const config::ConfigError& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

TEST(ModeNames, UnknownNamesAndSetsAreErrorsListingTheKnownOnes) {
  expect_error([] { resolve_mode("2-9"); }, {"2-9", "2-1", "6-4", "fp32"});
  expect_error([] { resolve_mode("2-1:documented"); }, {"2-1", "variants"});
  expect_error([] { resolve_mode("2-3:as-shipped"); }, {"as-shipped", "documented", "committed"});
  expect_error([] { resolve_mode("FLOAT_SIM_ASIC_INT8+CONV1D_MODE3_FP32"); }, {"no mode is selected"});
  expect_error([] { resolve_mode("FLOAT_SIM_ASIC_INT8+NOT_A_VAR"); }, {"NOT_A_VAR"});
}

TEST(ModeFiles, MalformedFilesNameTheFileAndKey) {
  const std::string f = "my-mode.yaml";
  auto parse = [&](const std::string& text) { config::parse_mode_yaml(text, f); };
  const std::string ok = "mode: x\nu: {source: v, quantizer: none, dtype: f32}\nlinears: {input: requant_v}\n";
  EXPECT_NO_THROW(parse(ok));
  expect_error([&] { parse("mode: x\nu: {source: v, quantiser: none}\n"); }, {f, "u.quantiser", "unknown key"});
  expect_error([&] { parse("mode: x\nu: {source: w}\n"); }, {f, "u.source", "'w'", "q, v"});
  expect_error([&] { parse("mode: x\nu: [source\n"); }, {f, "malformed YAML"});
  expect_error([&] { parse("u: {source: q}\n"); }, {f, "mode", "missing"});
  expect_error([&] { parse("mode: x\nssm: {arithmetic: pseq}\nu: {source: v, dtype: f32}\n"
                           "linears: {input: u, arithmetic: f32, output: f32}\n"); },
               {"ssm.arithmetic", "pseq"});
  expect_error([&] { parse("mode: x\nu: {source: v, quantizer: none, dtype: int8}\n"); }, {f, "u.dtype"});
  expect_error([&] { parse("mode: x\nu: {source: v, quantizer: two_level, dtype: f32}\nlinears: {input: requant_u}\n"); },
               {"u.fine_threshold"});
  expect_error([&] { parse("mode: x\nu: {source: v, quantizer: two_level, fine_threshold: -3, dtype: f32}\n"); },
               {"u.fine_threshold", "non-negative integer"});
  expect_error([&] { parse("mode: x\nvariants: {a: {ssm: {arithmetic: pseq}}}\n"); }, {f, "default_variant"});
  expect_error([&] { parse("mode: x\nenv: [FLOAT_SIM_ASIC_INT9]\n"); }, {f, "env", "FLOAT_SIM_ASIC_INT9"});
  expect_error([&] { config::load_mode_file("/nonexistent/m.yaml"); }, {"/nonexistent/m.yaml", "cannot open"});
}

TEST(ModeFiles, CliRejectsABadModeFileWithAClearErrorAndExitCode) {
  const std::string dir = ::testing::TempDir() + "/qmsim_modefile";
  std::system(("mkdir -p '" + dir + "'").c_str());
  std::ofstream(dir + "/bad.yaml") << "mode: mine\nlinears: {input: u, arithmetic: int8}\n";
  const std::string cmd = std::string(QMSIM_BIN_DIR) + "/qmsim eval --mode-file " + dir + "/bad.yaml --limit 1 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("bad.yaml"), std::string::npos) << out;
  EXPECT_NE(out.find("linears.input"), std::string::npos) << out;
}

TEST(ModeFiles, AUserModeFileRunsWithoutRecompiling) {
  // A new mode: int8 grid with outliers kept, RNE, P-seq scan: a mix no built-in mode has.
  const Mode m = config::parse_mode_yaml(
      "mode: my-4-rna\nu: {source: v, quantizer: grid_keep_outliers, rounding: rna, dtype: f32}\n"
      "linears: {input: requant_u, input_rounding: rna}\nssm: {arithmetic: pseq}\n",
      "user.yaml");
  EXPECT_EQ(m.spec.u_quantizer, golden::UQuantizer::kGridKeepOutliers);
  EXPECT_EQ(m.spec.u_rounding, golden::Rounding::kRna);
  EXPECT_EQ(m.spec.ssm_arithmetic, golden::ModeSpec::SsmArithmetic::kPseq);
  EXPECT_FALSE(m.spec.same_computation(resolve_mode("4").spec));
}

// ------------------------------------------------------------------ u quantizers: known answers

float uq(num::UQuantizer k, num::Rounding r, float s, float x, float s_o = 1, int T = 0, int F = 1) {
  num::UQuantParams p;
  p.kind = k;
  p.rounding = r;
  p.s = s;
  p.s_o = s_o;
  p.fine_threshold = T;
  p.fine_divisor = F;
  return num::u_quantize(p, x);
}

TEST(UQuantizers, HandComputedAnswers) {
  using num::Rounding;
  using num::UQuantizer;
  const Rounding RNE = Rounding::kRne, RNA = Rounding::kRna;
  // grid, s = 0.5: x = 0.25 is the tie r = 0.5.
  EXPECT_EQ(uq(UQuantizer::kGrid, RNA, 0.5f, 0.25f), 0.5f);
  EXPECT_EQ(uq(UQuantizer::kGrid, RNE, 0.5f, 0.25f), 0.0f);
  EXPECT_EQ(uq(UQuantizer::kGrid, RNE, 0.5f, 100.0f), 63.5f);  // saturates at 127
  EXPECT_EQ(uq(UQuantizer::kGrid, RNE, 0.5f, -100.0f), -64.0f);  // -128
  // keep outliers: r = 200 -> kept; r = 127.2 -> 127 -> 63.5; r = -128 counts as an outlier.
  EXPECT_EQ(uq(UQuantizer::kGridKeepOutliers, RNE, 0.5f, 100.0f), 100.0f);
  EXPECT_EQ(uq(UQuantizer::kGridKeepOutliers, RNE, 0.5f, 63.6f), 63.5f);
  EXPECT_EQ(uq(UQuantizer::kGridKeepOutliers, RNE, 0.5f, -64.0f), -64.0f);
  // requantized outliers with s_o = 1: 100 -> 100; 200 -> 127; inliers stay on the s grid.
  EXPECT_EQ(uq(UQuantizer::kGridRequantOutliers, RNE, 0.5f, 100.0f, 1.0f), 100.0f);
  EXPECT_EQ(uq(UQuantizer::kGridRequantOutliers, RNE, 0.5f, 200.0f, 1.0f), 127.0f);
  EXPECT_EQ(uq(UQuantizer::kGridRequantOutliers, RNE, 0.5f, 10.3f, 1.0f), 10.5f);
  // two-level, T = 32, F = 4, s = 0.5 (f = 0.125): 1.3/0.125 = 10.4 -> 10 -> 1.25; r = 40 -> 20;
  // r = 31.8 rounds to 32, which is not < 32 -> 16.
  EXPECT_EQ(uq(UQuantizer::kTwoLevel, RNA, 0.5f, 1.3f, 1, 32, 4), 1.25f);
  EXPECT_EQ(uq(UQuantizer::kTwoLevel, RNA, 0.5f, 20.0f, 1, 32, 4), 20.0f);
  EXPECT_EQ(uq(UQuantizer::kTwoLevel, RNA, 0.5f, 15.9f, 1, 32, 4), 16.0f);
  EXPECT_EQ(uq(UQuantizer::kTwoLevel, RNA, 0.5f, 15.7f, 1, 32, 4), 15.75f);  // r = 31.4 -> fine: 125.6 -> 126
  // log outliers (5-6), s = 1: fine grid 0.25 up to 8; 20: d = 12, ratio 48, k = 5 -> 8 + 8 = 16;
  // -9: ratio 4, k = 2 -> -(8 + 1); 8.1: d < f -> ratio 1, k = 0 -> 8.25.
  EXPECT_EQ(uq(UQuantizer::kLogOutliers, RNA, 1.0f, 3.3f), 3.25f);
  EXPECT_EQ(uq(UQuantizer::kLogOutliers, RNA, 1.0f, 8.0f), 8.0f);
  EXPECT_EQ(uq(UQuantizer::kLogOutliers, RNA, 1.0f, 20.0f), 16.0f);
  EXPECT_EQ(uq(UQuantizer::kLogOutliers, RNA, 1.0f, -9.0f), -9.0f);
  EXPECT_EQ(uq(UQuantizer::kLogOutliers, RNA, 1.0f, 8.1f), 8.25f);
  // three segments (5-7), s = 1: 2.6 -> 2.5; 15.9 -> 16; 100.4 -> 100; 150 -> 143 + 2·4 = 151;
  // 1000 -> 143 + 63·4 = 395; -150 -> -151; 17 (fine segment ends at 15.75) -> 17.
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 2.6f), 2.5f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 15.9f), 16.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 100.4f), 100.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 150.0f), 151.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 1000.0f), 395.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, -150.0f), -151.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 17.0f), 17.0f);
  EXPECT_EQ(uq(UQuantizer::kThreeSegment, RNA, 1.0f, 0.2f), 0.25f);
}

TEST(UQuantizers, PerCallOutlierScaleAndCounts) {
  golden::ModeSpec m;
  m.u_source = golden::ModeSpec::USource::kV;
  m.u_quantizer = golden::UQuantizer::kGridRequantOutliers;
  m.u_rounding = golden::Rounding::kRna;
  m.u_int8 = false;
  // s = 1: outliers 200 and -254 -> s_o = max(254/127, 1) = 2; 200/2 = 100 -> 200; -254 -> -254.
  const std::vector<float> x = {3.4f, 200.0f, -254.0f, 127.4f};
  std::vector<float> u(x.size());
  const golden::UQuantStats st = golden::quantize_u(m, 1.0f, 0.0f, x.size(), x.data(), u.data(), nullptr);
  EXPECT_EQ(st.outliers, 2);
  EXPECT_EQ(st.s_o, 2.0f);
  EXPECT_EQ(u, (std::vector<float>{3.0f, 200.0f, -254.0f, 127.0f}));
  m.u_outlier_scale = golden::OutlierScale::kAlpha1;
  const golden::UQuantStats fb = golden::quantize_u(m, 1.0f, 0.0f, x.size(), x.data(), u.data(), nullptr);
  EXPECT_TRUE(fb.s_o_fallback);  // no alpha = 1 scale: s_u, the outliers saturate
  EXPECT_EQ(u[1], 127.0f);
}

TEST(ModeOps, DynamicInputRequantAndRegrid) {
  // q·s_xz = {2, -4, 1}·0.5 -> max 2 -> s_dyn = 2/127; out = RNE(x / s_dyn) = {63.5 -> 64, -127, 32 (31.75)}.
  const std::vector<int8_t> q = {2, -4, 1};
  std::vector<int8_t> out(3);
  const float s = golden::dynamic_input_requant(3, q.data(), 0.5f, out.data());
  EXPECT_EQ(s, 2.0f / 127.0f);
  EXPECT_EQ(out, (std::vector<int8_t>{64, -127, 32}));
  std::vector<float> x = {0.26f, 0.24f, 1000.0f};
  golden::regrid_rne(x.size(), x.data(), 0.5f);
  EXPECT_EQ(x, (std::vector<float>{0.5f, 0.0f, 63.5f}));
}

TEST(ModeOps, LinearF32MatchesAnIndependentSequentialSum) {
  std::mt19937 rng(11);
  const int M = 5, K = 37, N = 19;
  std::vector<float> x(M * K);
  std::vector<int8_t> W(N * K);
  std::uniform_real_distribution<float> U(-3, 3);
  std::uniform_int_distribution<int> I(-128, 127);
  for (auto& v : x) v = U(rng);
  for (auto& w : W) w = static_cast<int8_t>(I(rng));
  const float ws = 0.0123f;
  for (int threads : {1, 3}) {
    std::vector<float> y(M * N);
    golden::linear_f32_deq(M, K, N, x.data(), W.data(), ws, y.data(), threads);
    for (int m = 0; m < M; ++m)
      for (int o = 0; o < N; ++o) {
        volatile float acc = 0.0f;  // one rounding per product and per sum, ascending k
        for (int k = 0; k < K; ++k) {
          volatile float w = static_cast<float>(W[o * K + k]) * ws;
          volatile float p = x[m * K + k] * w;
          acc = acc + p;
        }
        ASSERT_EQ(y[m * N + o], acc) << m << "," << o;
      }
  }
  // Small exact case: [1, 2] · dequant([[1, -1], [2, 3]]·0.5) = [1·0.5 + 2·(-0.5), 1·1 + 2·1.5] = [-0.5, 4].
  const std::vector<float> xs = {1, 2};
  const std::vector<int8_t> Ws = {1, -1, 2, 3};
  std::vector<float> ys(2);
  golden::linear_f32_deq(1, 2, 2, xs.data(), Ws.data(), 0.5f, ys.data(), 1);
  EXPECT_EQ(ys, (std::vector<float>{-0.5f, 4.0f}));
}

TEST(ModeOps, F32InputScanEqualsTheInt8ScanOnDequantizedInputs) {
  std::mt19937 rng(5);
  const int L = 23, E = 37, N = 16;  // E: two 16-channel vector blocks plus a scalar remainder
  std::uniform_int_distribution<int> I(-128, 127);
  auto vec = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(I(rng));
    v[0] = 127;
    if (n > 1) v[1] = -128;
    return v;
  };
  const auto u = vec(L * E), dt = vec(L * E), B = vec(L * N), C = vec(L * N), z = vec(L * E), A = vec(E * N), D = vec(E),
             db = vec(E);
  golden::SsmScales s;
  s.u = 0.021f, s.dt = 0.013f, s.B = 0.031f, s.C = 0.027f, s.z = 0.05f, s.A = 0.019f, s.D = 0.011f, s.dt_bias = 0.04f;
  s.state = 0.02f;
  std::vector<uint16_t> y_ref(L * E), y(L * E);
  std::vector<float> st_ref(E * N), st(E * N);
  std::vector<int8_t> sq_ref(E * N), sq(E * N);
  golden::selective_scan_ref(L, E, N, u.data(), dt.data(), B.data(), C.data(), z.data(), A.data(), D.data(), db.data(),
                             s, y_ref.data(), st_ref.data(), sq_ref.data());
  std::vector<float> uf(L * E), dtp(L * E), Bf(L * N), Cf(L * N);
  for (int t = 0; t < L; ++t)
    for (int e = 0; e < E; ++e) {
      uf[t * E + e] = s.u * static_cast<float>(u[t * E + e]);
      dtp[t * E + e] = std::fmaf(s.dt, static_cast<float>(dt[t * E + e]), s.dt_bias * static_cast<float>(db[e]));
    }
  for (int i = 0; i < L * N; ++i) {
    Bf[i] = s.B * static_cast<float>(B[i]);
    Cf[i] = s.C * static_cast<float>(C[i]);
  }
  for (int threads : {1, 4}) {
    golden::selective_scan_f32in(L, E, N, uf.data(), dtp.data(), Bf.data(), Cf.data(), z.data(), A.data(), D.data(), s,
                                 y.data(), st.data(), sq.data(), threads);
    EXPECT_EQ(y, y_ref);
    EXPECT_EQ(0, std::memcmp(st.data(), st_ref.data(), st.size() * 4));
    EXPECT_EQ(sq, sq_ref);
  }
}

// ------------------------------------------------------------------ synthetic model (no default model needed)

TEST(ModesSynthetic, Mode20And50EqualMode0AndEveryModeRuns) {
  MambaConfig cfg = shape_preset("mamba-tiny-test");
  const FpModel fp = synth_model(cfg, 5);
  std::vector<std::vector<int32_t>> docs(3);
  for (int d = 0; d < 3; ++d)
    for (int t = 0; t < 48; ++t) docs[d].push_back((t * 7919 + d * 104729 + 17) % cfg.vocab_size);
  golden::CalibrationOptions co;
  co.threads = 2;
  const QModel q = golden::calibrate(fp, docs, co);
  std::vector<int32_t> tokens;
  for (int t = 0; t < 41; ++t) tokens.push_back((t * 48271 + 3) % cfg.vocab_size);
  auto logits = [&](const golden::ModeSpec& m) {
    golden::ForwardOptions o;
    o.threads = 2;
    o.mode = m;
    return golden::forward_w8a8(q, tokens, {0, 20, 40}, o);
  };
  const std::vector<float> l0 = logits(resolve_mode("0").spec);
  EXPECT_EQ(logits(resolve_mode("2-0").spec), l0);
  EXPECT_EQ(logits(resolve_mode("5-0").spec), l0);
  for (const Mode& m : config::builtin_modes_and_variants()) {
    if (m.fp32_reference) continue;
    const std::vector<float> l = logits(m.spec);
    for (float v : l) ASSERT_TRUE(std::isfinite(v)) << m.label();
  }
}

}  // namespace
}  // namespace qmsim
