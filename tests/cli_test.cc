// The qmsim binary end to end: synth -> calibrate -> info -> eval (both modes) -> resume, and
// bad input (unknown mode, missing or malformed files) giving a clear error and a non-zero exit.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "qmsim/model/safetensors.h"

namespace {

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(QMSIM_BIN_DIR) + "/qmsim " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Per-process names: ctest runs the tests of this file in parallel processes.
std::string tmp(const std::string& name) {
  return ::testing::TempDir() + "/qmsim_cli_" + std::to_string(getpid()) + "_" + name;
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = tmp("model");
    std::system(("rm -rf '" + dir_ + "'").c_str());
    const Result s = run("synth --shape mamba-tiny-test --seed 3 --out " + dir_);
    ASSERT_EQ(s.status, 0) << s.output;
    const Result c = run("calibrate --model " + dir_ + " --out " + dir_ + "/w8a8 --docs 4 --seqlen 64 --threads 2");
    ASSERT_EQ(c.status, 0) << c.output;
  }
  static std::string dir_;
};
std::string Cli::dir_;

TEST_F(Cli, EvalBothModesWritesLmEvalJson) {
  for (const char* mode : {"0", "fp32"}) {
    const std::string out = tmp(std::string("eval_") + mode + ".json");
    const Result r = run("eval --model " + dir_ + " --mode " + mode + " --limit 6 --threads 2 --no-progress --output " + out);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("lambada_openai"), std::string::npos) << r.output;
    std::ifstream in(out);
    const nlohmann::json j = nlohmann::json::parse(in);
    const auto& res = j["results"]["lambada_openai"];
    for (const char* k : {"acc,none", "acc_stderr,none", "perplexity,none", "perplexity_stderr,none"})
      EXPECT_TRUE(res.contains(k)) << k;
    EXPECT_EQ(j["samples"]["lambada_openai"].size(), 6u);
    EXPECT_EQ(j["config"]["mode"], mode);
    EXPECT_EQ(j["config"]["numerics_profile"], "golden");
    EXPECT_EQ(j["config"]["limit"], 6);
    EXPECT_FALSE(j["config"]["model_hash"].get<std::string>().empty());
    const double acc = res["acc,none"];
    EXPECT_LE(j["qmsim"]["acc_wilson95"][0].get<double>(), acc);
    EXPECT_GE(j["qmsim"]["acc_wilson95"][1].get<double>(), acc);
    EXPECT_LE(j["qmsim"]["perplexity_bootstrap95"][0].get<double>(), j["qmsim"]["perplexity_bootstrap95"][1].get<double>());
  }
}

TEST_F(Cli, InfoShowsProfileAndScales) {
  const Result r = run("info --model " + dir_ + "/w8a8");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("numerics profile golden"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("s_xz"), std::string::npos) << r.output;
}

TEST_F(Cli, CalibrationIsDeterministic) {
  const std::string other = tmp("w8a8_again");
  const Result c = run("calibrate --model " + dir_ + " --out " + other + " --docs 4 --seqlen 64 --threads 1");
  ASSERT_EQ(c.status, 0) << c.output;
  const int same = std::system(("cmp -s '" + dir_ + "/w8a8/model.safetensors' '" + other + "/model.safetensors'").c_str());
  EXPECT_EQ(same, 0) << "calibrating twice (2 threads vs 1) gave different bytes";
}

TEST_F(Cli, CaptureWritesNamedIntermediates) {
  const std::string out = tmp("capture.safetensors");
  const Result r = run("capture --model " + dir_ + " --doc 2 --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  const qmsim::SafetensorsFile f = qmsim::SafetensorsFile::open(out);
  const int64_t L = f.info("tokens").shape.at(0);
  EXPECT_EQ(f.info("layers.0.norm.out").dtype, qmsim::Dtype::I8);
  EXPECT_EQ(f.info("layers.0.norm.out").shape, (std::vector<int64_t>{L, 64}));
  EXPECT_EQ(f.info("layers.1.ssm.out").dtype, qmsim::Dtype::F16);
  EXPECT_EQ(f.info("logits").shape, (std::vector<int64_t>{1, 50280}));
  EXPECT_EQ(f.metadata().at("mode"), "0");
  const std::string only = tmp("capture_only.safetensors");
  ASSERT_EQ(run("capture --model " + dir_ + " --doc 2 --only 'layers.1.*' --out " + only).status, 0);
  for (const std::string& name : qmsim::SafetensorsFile::open(only).names())
    EXPECT_TRUE(name == "tokens" || name.rfind("layers.1.", 0) == 0) << name;
}

TEST_F(Cli, UnknownModeIsAClearError) {
  const Result r = run("eval --model " + dir_ + " --mode 7-7 --limit 1 --no-progress");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--mode 7-7"), std::string::npos) << r.output;
}

TEST_F(Cli, UnknownProfileIsAClearError) {
  const Result r = run("eval --model " + dir_ + " --profile fastest --limit 1 --no-progress");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("fastest"), std::string::npos) << r.output;
}

// crosscheck --mode all: every W8A8 mode and variant against the SystemC model. Its runners are
// all made before the first forward (SystemC elaborates once); hardware that lacks a mode's FP32
// unit is refused before any document runs.
TEST(CliCrosscheck, ModeAllRunsEveryModeOnTheSim) {
  const std::string small = std::string(QMSIM_SOURCE_DIR) + "/configs/hw/small.yaml";
  const Result r = run("crosscheck --paths golden,sim --mode all --limit 1 --threads 2 --hw " + small);
  if (r.output.find("built without SystemC") != std::string::npos) GTEST_SKIP() << r.output;
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("23 modes, 0 with mismatches - every mode bit-exact"), std::string::npos) << r.output;
  const Result d = run("crosscheck --paths golden,sim --mode all --limit 1");
  EXPECT_NE(d.status, 0);
  EXPECT_NE(d.output.find("fp32_units.conv_output"), std::string::npos) << d.output;
  EXPECT_EQ(d.output.find("crosscheck golden,sim mode"), std::string::npos) << d.output;
}

TEST(CliErrors, MissingModelFolderNamesIt) {
  const Result r = run("eval --model /nonexistent/qmsim_model --mode fp32 --limit 1 --no-progress");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("/nonexistent/qmsim_model"), std::string::npos) << r.output;
}

TEST(CliErrors, MalformedConfigJsonNamesFile) {
  const std::string d = tmp("badcfg");
  std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "'").c_str());
  std::ofstream(d + "/config.json") << "{\"hidden_size\": 64, ";
  const Result r = run("info --model " + d);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
}

TEST(CliErrors, TruncatedSafetensorsNamesFile) {
  const std::string d = tmp("trunc");
  std::system(("rm -rf '" + d + "'").c_str());
  ASSERT_EQ(run("synth --shape mamba-tiny-test --seed 1 --out " + d).status, 0);
  std::system(("truncate -s 100000 '" + d + "/model.safetensors'").c_str());
  const Result r = run("eval --model " + d + " --mode fp32 --limit 1 --no-progress");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
}

TEST_F(Cli, CorruptCorpusIsAClearError) {
  const std::string bad = tmp("corpus.txt.xz");
  std::ofstream(bad) << "this is not xz data";
  const Result r = run("calibrate --model " + dir_ + " --out " + tmp("never") + " --corpus " + bad + " --docs 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(bad), std::string::npos) << r.output;
}

TEST_F(Cli, MalformedLambadaNamesFileAndLine) {
  const std::string bad = tmp("lambada.jsonl");
  std::ofstream(bad) << "{\"text\": \"a b\"}\nnot json\n";
  const Result r = run("eval --model " + dir_ + " --lambada " + bad + " --no-progress");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(bad + ":2"), std::string::npos) << r.output;
}

}  // namespace
