// The embedded default model (models/mamba-tiny, issue 5): it loads through every loader, and its
// shipped W8A8 version is exactly what `qmsim calibrate` makes from the shipped FP model.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "qmsim/model/checkpoint.h"
#include "qmsim/model/quant_format.h"

namespace qmsim {
namespace {

const std::string kModel = std::string(QMSIM_SOURCE_DIR) + "/models/mamba-tiny";

bool model_present() { return std::ifstream(kModel + "/config.json").good(); }

TEST(DefaultModel, LoadsFpAndW8A8) {
  if (!model_present()) GTEST_SKIP() << "models/mamba-tiny is not in this checkout (issue 5)";
  const FpModel fp = load_fp_checkpoint(kModel);
  EXPECT_EQ(fp.cfg.vocab_size, 50280);
  EXPECT_EQ(fp.storage_dtype, "float16");
  const QModel q = load_quant_model(kModel + "/w8a8");
  EXPECT_EQ(q.cfg.d_model, fp.cfg.d_model);
  EXPECT_EQ(q.cfg.n_layer, fp.cfg.n_layer);
  EXPECT_EQ(q.numerics_profile, "golden");
  EXPECT_EQ(q.metadata["source_checkpoint_hash"], fp.source_hash);
}

TEST(DefaultModel, CalibratingAgainGivesTheShippedBytes) {
  if (!model_present()) GTEST_SKIP() << "models/mamba-tiny is not in this checkout (issue 5)";
  const std::string out = ::testing::TempDir() + "/qmsim_default_w8a8_" + std::to_string(getpid());
  // The command of models/mamba-tiny/README.md ("How the W8A8 model was made").
  const std::string cmd = std::string(QMSIM_BIN_DIR) + "/qmsim calibrate --model " + kModel + " --out " + out +
                          " --shard-mib 15 --threads 2 > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string diff = "diff -r -q '" + kModel + "/w8a8' '" + out + "'";
  EXPECT_EQ(std::system(diff.c_str()), 0) << diff;
  std::system(("rm -rf '" + out + "'").c_str());
}

}  // namespace
}  // namespace qmsim
