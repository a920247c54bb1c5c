// Built-in experiment modes change exactly the tensors they claim (spec §4.2, §4.4, §5.8):
// 2-0 equals 0 bit for bit; 2-1 equals 2-2 bit for bit; 2-1 differs from 0 from the scan on,
// while every tensor before the first scan is identical.
#include <gtest/gtest.h>

#include <cstring>

#include "qmsim/golden/calibrate.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/model/synth.h"

namespace qmsim {
namespace {

struct ModeRun {
  golden::Capture cap;
  std::vector<float> logits;
};

class Modes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MambaConfig cfg = shape_preset("mamba-tiny-test");
    const FpModel fp = synth_model(cfg, 5);
    std::vector<std::vector<int32_t>> docs(3);
    for (int d = 0; d < 3; ++d)
      for (int t = 0; t < 48; ++t) docs[d].push_back((t * 7919 + d * 104729 + 17) % cfg.vocab_size);
    golden::CalibrationOptions o;
    o.threads = 2;
    model_ = new QModel(golden::calibrate(fp, docs, o));
    for (int t = 0; t < 41; ++t) tokens_.push_back((t * 48271 + 3) % cfg.vocab_size);
  }
  static void TearDownTestSuite() { delete model_; }
  static ModeRun run(const std::string& mode, int threads = 1) {
    ModeRun r;
    golden::ForwardOptions o;
    o.threads = threads;
    o.capture = &r.cap;
    o.mode = golden::builtin_mode(mode);
    r.logits = golden::forward_w8a8(*model_, tokens_, {0, 20, 40}, o);
    return r;
  }
  static bool same(const golden::CapturedTensor& a, const golden::CapturedTensor& b) {
    return a.dtype == b.dtype && a.shape == b.shape && a.bytes == b.bytes;
  }
  static QModel* model_;
  static std::vector<int32_t> tokens_;
};
QModel* Modes::model_ = nullptr;
std::vector<int32_t> Modes::tokens_;

TEST_F(Modes, Mode20EqualsMode0BitForBit) {
  const ModeRun a = run("0"), b = run("2-0");
  for (const std::string& name : a.cap.order()) {
    ASSERT_NE(b.cap.find(name), nullptr) << name;
    EXPECT_TRUE(same(*a.cap.find(name), *b.cap.find(name))) << name;
  }
  // 2-0's requantized u is the conv's int8 output itself (spec §4.2: RNE(fl32(q·s)/s) == q).
  for (int i = 0; i < model_->cfg.n_layer; ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    EXPECT_TRUE(same(*b.cap.find(l + "ssm.u_requant"), *b.cap.find(l + "conv1d.out"))) << l;
  }
  EXPECT_EQ(0, std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4));
}

TEST_F(Modes, Mode21EqualsMode22BitForBit) {
  const ModeRun a = run("2-1"), b = run("2-2", 3);
  for (const std::string& name : a.cap.order()) EXPECT_TRUE(same(*a.cap.find(name), *b.cap.find(name))) << name;
  EXPECT_EQ(0, std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4));
}

TEST_F(Modes, Mode21ChangesOnlyTheScanOnward) {
  const ModeRun a = run("0"), b = run("2-1");
  // Layer 0 up to the scan's inputs is untouched by the mode.
  for (const char* op : {"norm.res", "norm.out", "in_proj.out", "conv1d.out", "x_proj.out", "dt_proj.out"})
    EXPECT_TRUE(same(*a.cap.find(std::string("layers.0.") + op), *b.cap.find(std::string("layers.0.") + op))) << op;
  // The scan arithmetic differs (no FMA, (dt·B)·u, separate gate): the f32 state must differ.
  EXPECT_FALSE(same(*a.cap.find("layers.0.ssm.state"), *b.cap.find("layers.0.ssm.state")));
}

TEST(ModeSpec, UnknownModeNamesKnownOnes) {
  try {
    golden::builtin_mode("2-9");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("2-9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("2-1"), std::string::npos);
  }
}

}  // namespace
}  // namespace qmsim
