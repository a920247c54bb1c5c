// FP32 golden forward against transformers' MambaForCausalLM on the shared fixture
// (../shared/data/reference/mamba-fixture: outputs computed by the Hugging Face library in
// float64 on the CPU, an implementation this project did not write).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "qmsim/golden/forward_fp32.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/model/synth.h"
#include "test_util.h"

namespace qmsim {
namespace {

std::vector<int32_t> doc_input(const nlohmann::json& ref) {
  std::vector<int32_t> all = ref["context_ids"].get<std::vector<int32_t>>();
  for (int32_t id : ref["continuation_ids"].get<std::vector<int32_t>>()) all.push_back(id);
  all.pop_back();  // model input = all tokens but the last (spec §6.3)
  return all;
}

class Fp32Fixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new FpModel(load_fp_checkpoint(test::fixture_dir()));
    refs_ = new std::vector<nlohmann::json>(test::load_jsonl(std::string(QMSIM_SHARED_DATA) + "/reference/tokenizer-ref-lambada.jsonl.xz"));
  }
  static void TearDownTestSuite() { delete model_; delete refs_; }
  static FpModel* model_;
  static std::vector<nlohmann::json>* refs_;
};
FpModel* Fp32Fixture::model_ = nullptr;
std::vector<nlohmann::json>* Fp32Fixture::refs_ = nullptr;

TEST_F(Fp32Fixture, LastPositionLogitsMatchTransformers) {
  const test::NpyArray ref = test::load_npy(test::fixture_dir() + "/ref_logits_last_pos_docs0-3.npy");
  ASSERT_EQ(ref.shape.size(), 2u);
  const size_t V = ref.shape[1];
  ASSERT_EQ(V, static_cast<size_t>(model_->cfg.vocab_size));
  golden::ForwardOptions opt;
  opt.threads = 2;
  for (int d = 0; d < 4; ++d) {
    const std::vector<int32_t> toks = doc_input((*refs_)[d]);
    const std::vector<float> logits = golden::forward_fp32(*model_, toks, {static_cast<int>(toks.size()) - 1}, opt);
    double num = 0, den = 0, maxrel = 0;
    for (size_t v = 0; v < V; ++v) {
      const double r = ref.data[d * V + v], g = logits[v];
      num += (g - r) * (g - r);
      den += r * r;
      maxrel = std::max(maxrel, std::fabs(g - r) / std::max(1.0, std::fabs(r)));
    }
    const double rel = std::sqrt(num / den);
    EXPECT_LT(rel, 1e-5) << "doc " << d;
    EXPECT_LT(maxrel, 1e-4) << "doc " << d;
  }
}

TEST_F(Fp32Fixture, FinalHiddenStatesMatchTransformers) {
  const test::NpyArray ref = test::load_npy(test::fixture_dir() + "/ref_final_hidden_doc0.npy");
  const std::vector<int32_t> toks = doc_input((*refs_)[0]);
  ASSERT_EQ(ref.shape[0], toks.size());
  golden::Capture cap({"norm_f.out"});
  golden::ForwardOptions opt;
  opt.capture = &cap;
  golden::forward_fp32(*model_, toks, {0}, opt);
  const golden::CapturedTensor* t = cap.find("norm_f.out");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(static_cast<size_t>(t->numel()), ref.data.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.data.size(); ++i) {
    const double g = t->as<float>()[i];
    num += (g - ref.data[i]) * (g - ref.data[i]);
    den += ref.data[i] * ref.data[i];
  }
  EXPECT_LT(std::sqrt(num / den), 1e-5);
}

TEST(Fp32Forward, ThreadCountInvariant) {
  MambaConfig cfg = shape_preset("mamba-tiny-test");
  const FpModel m = synth_model(cfg, 7);
  std::vector<int32_t> toks;
  for (int i = 0; i < 37; ++i) toks.push_back((i * 7919 + 13) % cfg.vocab_size);
  std::vector<int> pos = {0, 17, 36};
  std::vector<std::vector<float>> outs;
  for (int th : {1, 2, 3}) {
    golden::Capture cap;
    golden::ForwardOptions o;
    o.threads = th;
    o.capture = &cap;
    outs.push_back(golden::forward_fp32(m, toks, pos, o));
  }
  ASSERT_EQ(outs[0].size(), pos.size() * static_cast<size_t>(cfg.vocab_size));
  EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * 4));
  EXPECT_EQ(0, std::memcmp(outs[0].data(), outs[2].data(), outs[0].size() * 4));
}

TEST(Fp32Forward, RejectsOutOfVocabularyToken) {
  MambaConfig cfg = shape_preset("mamba-tiny-test");
  const FpModel m = synth_model(cfg, 1);
  golden::ForwardOptions o;
  EXPECT_THROW(golden::forward_fp32(m, {1, cfg.vocab_size}, {1}, o), std::out_of_range);
  EXPECT_THROW(golden::forward_fp32(m, {1, 2}, {2}, o), std::out_of_range);
}


// ---- the dispatched forward (AVX-512 kernels where available) against the scalar definition ----

void expect_same_bits(const golden::Capture& ref, const golden::Capture& got, const std::string& what) {
  ASSERT_EQ(ref.order(), got.order()) << what;
  for (const std::string& name : ref.order()) {
    const golden::CapturedTensor* a = ref.find(name);
    const golden::CapturedTensor* b = got.find(name);
    ASSERT_NE(b, nullptr) << what << " " << name;
    EXPECT_EQ(a->dtype, b->dtype) << what << " " << name;
    EXPECT_EQ(a->shape, b->shape) << what << " " << name;
    ASSERT_EQ(a->bytes.size(), b->bytes.size()) << what << " " << name;
    size_t first = a->bytes.size();
    for (size_t i = 0; i < a->bytes.size(); ++i)
      if (a->bytes[i] != b->bytes[i]) { first = i; break; }
    EXPECT_EQ(first, a->bytes.size()) << what << " " << name << ": first differing byte";
  }
}

// forward_fp32 with 1 and 3 threads == forward_fp32_ref on every captured tensor and the logits.
void check_dispatch_matches_ref(const FpModel& m, const std::vector<int32_t>& toks, const std::vector<int>& pos,
                                const std::string& what) {
  const auto plan = golden::make_fp32_plan(m, 2);
  golden::Capture ref_cap;
  golden::ForwardOptions ro;
  ro.capture = &ref_cap;
  const std::vector<float> ref = golden::forward_fp32_ref(m, *plan, toks, pos, ro);
  ASSERT_EQ(ref.size(), pos.size() * static_cast<size_t>(m.cfg.vocab_size));
  for (int th : {1, 3}) {
    golden::Capture cap;
    golden::ForwardOptions o;
    o.threads = th;
    o.capture = &cap;
    const std::vector<float> got = golden::forward_fp32(m, *plan, toks, pos, o);
    const std::string w = what + " threads=" + std::to_string(th);
    ASSERT_EQ(got.size(), ref.size()) << w;
    EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * 4)) << w;
    expect_same_bits(ref_cap, cap, w);
  }
}

std::vector<int32_t> test_tokens(int n, int vocab, int salt) {
  std::vector<int32_t> toks;
  for (int i = 0; i < n; ++i) toks.push_back(static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13 + salt) % vocab));
  return toks;
}

TEST(Fp32Dispatch, ReportsIsa) {
  std::printf("forward_fp32 kernels: %s\n", golden::fp32_avx512_active() ? "avx512" : "scalar (reference)");
}

TEST(Fp32Dispatch, TinyModelMatchesReference) {
  const MambaConfig cfg = shape_preset("mamba-tiny-test");
  const FpModel m = synth_model(cfg, 7);
  check_dispatch_matches_ref(m, test_tokens(37, cfg.vocab_size, 0), {0, 17, 36}, "tiny");
  check_dispatch_matches_ref(m, test_tokens(1, cfg.vocab_size, 5), {0}, "tiny L=1");
}

TEST(Fp32Dispatch, SmallModelMatchesReference) {
  const MambaConfig cfg = shape_preset("mamba-small-test");
  const FpModel m = synth_model(cfg, 3);
  std::vector<int> pos;
  for (int p = 0; p < 53; p += 4) pos.push_back(p);  // 14 rows: full and partial lm_head row tiles
  check_dispatch_matches_ref(m, test_tokens(53, cfg.vocab_size, 1), pos, "small");
}

TEST(Fp32Dispatch, HadamardRotatedMatchesReference) {
  const MambaConfig cfg = shape_preset("mamba-tiny-test");
  FpModel m = synth_model(cfg, 11);
  m.hadamard_rotated = true;
  check_dispatch_matches_ref(m, test_tokens(20, cfg.vocab_size, 2), {19}, "rotated");
}

// E = 72 (four 16-channel vectors + 8 scalar channels), d_state 5, d_conv 3, no conv bias, odd
// vocabulary, and parameters pushed into the exp / log1p slow paths and the softplus threshold:
// dt + b > 20 (softplus passes dt through, exp(dt·A) underflows), tiny dt (|dt·A| < 2^-26), large
// |z| (exp(-z) overflows or underflows in SiLU), large conv inputs.
TEST(Fp32Dispatch, OddShapesAndSlowPathsMatchReference) {
  MambaConfig cfg = shape_preset("mamba-tiny-test");
  cfg.d_model = 36;
  cfg.d_state = 5;
  cfg.d_conv = 3;
  cfg.dt_rank = 3;
  cfg.vocab_size = 1003;
  cfg.conv_bias = false;
  FpModel m = synth_model(cfg, 5);
  const int D = cfg.d_model, E = cfg.d_inner();
  for (auto& l : m.layers) {
    for (int e = 0; e < E; e += 5) l.dt_proj_b[e] = 25.0f;   // softplus threshold, exp underflow
    for (int e = 2; e < E; e += 7) l.dt_proj_b[e] = -40.0f;  // softplus -> ~4e-18: tiny exp args
    for (int e = 1; e < 2 * E; e += 3)                       // in_proj rows x40: large x and z
      for (int d = 0; d < D; ++d) l.in_proj[static_cast<size_t>(e) * D + d] *= 40.0f;
  }
  check_dispatch_matches_ref(m, test_tokens(29, cfg.vocab_size, 3), {0, 5, 28}, "odd");
}

TEST(Fp32Dispatch, LinearMatchesReference) {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int M : {1, 5, 6, 7, 13, 31}) {
    for (int N : {1, 15, 16, 17, 63, 64, 65, 80, 200}) {
      for (int K : {1, 3, 48, 129}) {
        std::vector<float> x(static_cast<size_t>(M) * K), wt(static_cast<size_t>(K) * N), w(wt.size());
        for (float& v : x) v = nd(rng);
        for (float& v : wt) v = nd(rng);
        for (int k = 0; k < K; ++k)
          for (int n = 0; n < N; ++n) w[static_cast<size_t>(n) * K + k] = wt[static_cast<size_t>(k) * N + n];
        const golden::Fp32PackedWeight packed = golden::pack_fp32_weight(w.data(), N, K);
        // The definition, written out: acc = 0; acc = fl32(acc + fl32(x·w)) for k ascending.
        std::vector<float> def(static_cast<size_t>(M) * N);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) {
            volatile float acc = 0.0f;
            for (int k = 0; k < K; ++k) {
              volatile float prod = x[static_cast<size_t>(m) * K + k] * wt[static_cast<size_t>(k) * N + n];
              acc = acc + prod;
            }
            def[static_cast<size_t>(m) * N + n] = acc;
          }
        const std::string shape = std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
        std::vector<float> got(def.size());
        for (int th : {1, 3}) {
          std::fill(got.begin(), got.end(), -1.0f);
          golden::linear_f32_fixed_order_ref(M, N, K, x.data(), wt.data(), got.data(), th);
          EXPECT_EQ(0, std::memcmp(got.data(), def.data(), def.size() * 4)) << "fixed_order_ref " << shape << " t" << th;
          std::fill(got.begin(), got.end(), -1.0f);
          golden::linear_f32_fixed_order(M, N, K, x.data(), wt.data(), got.data(), th);
          EXPECT_EQ(0, std::memcmp(got.data(), def.data(), def.size() * 4)) << "fixed_order " << shape << " t" << th;
          std::fill(got.begin(), got.end(), -1.0f);
          golden::linear_f32_packed_ref(M, x.data(), packed, got.data(), th);
          EXPECT_EQ(0, std::memcmp(got.data(), def.data(), def.size() * 4)) << "packed_ref " << shape << " t" << th;
          std::fill(got.begin(), got.end(), -1.0f);
          golden::linear_f32_packed(M, x.data(), packed, got.data(), th);
          EXPECT_EQ(0, std::memcmp(got.data(), def.data(), def.size() * 4)) << "packed " << shape << " t" << th;
        }
      }
    }
  }
}

}  // namespace
}  // namespace qmsim
