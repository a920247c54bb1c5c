// FP32 golden forward against transformers' MambaForCausalLM on the shared fixture
// (../shared/data/reference/mamba-fixture: outputs computed by the Hugging Face library in
// float64 on the CPU, an implementation this project did not write).
#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace qmsim
