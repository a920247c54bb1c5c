// gpu_ref (issue 8), whole forwards: golden vs CUDA, every captured intermediate and the logits
// compared with ==, on the default model (every built-in W8A8 mode and variant, both numerics
// profiles, 1-token documents for the GEMV alpha path, lengths 1..600), the batched forward
// against per-document runs (per-call mode quantities are per document), every GEMM kernel, and a
// mamba-130m-shaped model (E = 1536 = 12·128: the H_12 Hadamard stage). Per-kernel tests on random
// inputs are in gpu_ops_test.cc. CI has no GPU: the tests report SKIPPED with the reason;
// tools/device-test.sh runs them on a GPU machine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <fstream>

#include "qmsim/config/modes.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/golden/calibrate.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/gpu/gpu.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/synth.h"
#include "qmsim/tokenizer.h"
#include "gpu_require.h"

namespace qmsim {
namespace {

// Golden and gpu on one document: logits and every tensor the gpu captures must be identical.
// Returns the number of elements compared.
int64_t expect_bit_exact(const QModel& q, gpu::GpuModel& g, const std::vector<int32_t>& toks,
                         const std::vector<int>& pos, const gpu::RunOptions& ro, const std::string& label) {
  golden::Capture cg, cs;
  golden::ForwardOptions o;
  o.threads = 4;
  o.profile = ro.profile;
  o.mode = ro.mode;
  o.alpha1_u_scales = ro.alpha1_u_scales;
  o.capture = &cg;
  const std::vector<float> lg = golden::forward_w8a8(q, toks, pos, o);
  const std::vector<float> ls = g.forward(toks, pos, ro, &cs);
  EXPECT_EQ(lg.size(), ls.size()) << label;
  if (lg.size() != ls.size()) return 0;
  int64_t n = static_cast<int64_t>(lg.size());
  EXPECT_EQ(0, std::memcmp(lg.data(), ls.data(), lg.size() * 4)) << label << ": logits";
  EXPECT_GT(cs.order().size(), 10u) << label;
  for (const std::string& name : cs.order()) {
    const golden::CapturedTensor* a = cg.find(name);
    if (a == nullptr) {
      ADD_FAILURE() << label << ": golden has no tensor " << name;
      continue;
    }
    const golden::CapturedTensor& b = cs.tensors().at(name);
    EXPECT_EQ(a->dtype, b.dtype) << label << " " << name;
    EXPECT_EQ(a->shape, b.shape) << label << " " << name;
    if (a->bytes != b.bytes) {
      size_t i = 0;
      while (i < a->bytes.size() && i < b.bytes.size() && a->bytes[i] == b.bytes[i]) ++i;
      ADD_FAILURE() << label << " " << name << " (" << b.dtype << "): first differing byte " << i;
    }
    n += static_cast<int64_t>(b.bytes.size());
  }
  return n;
}

std::vector<int32_t> random_doc(int n, int seed, int vocab) {
  std::vector<int32_t> t;
  uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(seed + 1);
  for (int i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    t.push_back(static_cast<int32_t>(s % static_cast<uint64_t>(vocab)));
  }
  return t;
}

struct DefaultModel {
  QModel q;
  std::vector<eval::DocRequest> reqs;
  bool ok = false;
};
const DefaultModel& default_model() {
  static DefaultModel m = [] {
    DefaultModel d;
    const std::string dir = std::string(QMSIM_SOURCE_DIR) + "/models/mamba-tiny/w8a8";
    if (!std::ifstream(dir + "/config.json")) return d;
    d.q = load_quant_model(dir);
    const Tokenizer tok = Tokenizer::from_file(std::string(QMSIM_SOURCE_DIR) + "/data/gpt-neox-20b-tokenizer.json");
    const auto docs = eval::load_lambada(std::string(QMSIM_SOURCE_DIR) + "/data/lambada_test.jsonl");
    for (int i = 0; i < 3; ++i) d.reqs.push_back(eval::make_request(tok, docs[static_cast<size_t>(i)]));
    d.ok = true;
    return d;
  }();
  return m;
}

// Every built-in W8A8 mode with each of its variants.
std::vector<config::Mode> all_w8a8_modes() {
  std::vector<config::Mode> out;
  for (const config::Mode& m : config::builtin_modes_and_variants())
    if (!m.fp32_reference) out.push_back(m);
  return out;
}

TEST(Gpu, DefaultModelMode0BothProfilesAndOneTokenDocuments) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  for (const auto& r : m.reqs)
    for (const auto& prof : {num::profile_golden(), num::profile_quamba_compat()}) {
      gpu::RunOptions ro;
      ro.profile = prof;
      expect_bit_exact(m.q, g, r.input, r.logit_positions, ro, "doc " + std::to_string(r.index));
    }
  gpu::RunOptions compat;
  compat.profile = num::profile_quamba_compat();
  expect_bit_exact(m.q, g, {12092}, {0}, compat, "1-token document (GEMV alpha path)");
}

TEST(Gpu, DefaultModelEveryModeAndVariant) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  const std::vector<config::Mode> modes = all_w8a8_modes();
  ASSERT_GE(modes.size(), 23u);
  for (const config::Mode& mode : modes) {
    for (const auto& prof : {num::profile_golden(), num::profile_quamba_compat()}) {
      gpu::RunOptions ro;
      ro.profile = prof;
      ro.mode = mode.spec;
      const eval::DocRequest& r = m.reqs[0];
      expect_bit_exact(m.q, g, r.input, r.logit_positions, ro, "mode " + mode.label());
      expect_bit_exact(m.q, g, {12092}, {0}, ro, "mode " + mode.label() + " 1-token");
    }
  }
}

TEST(Gpu, Mode64WithAnAlpha1Scale) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  gpu::RunOptions ro;
  ro.mode = config::resolve_mode("6-4").spec;
  for (const QLayer& l : m.q.layers) ro.alpha1_u_scales.push_back(3.0f * l.u_scale);  // a wider outlier grid
  const eval::DocRequest& r = m.reqs[1];
  expect_bit_exact(m.q, g, r.input, r.logit_positions, ro, "6-4 with alpha1 scales");
}

TEST(Gpu, DefaultModelLengthsOneTo600) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  for (const int L : {1, 2, 17, 90, 211, 600}) {
    std::vector<int> pos = {L - 1};
    if (L > 3) pos = {0, L / 2, L - 1};
    for (const auto& prof : {num::profile_golden(), num::profile_quamba_compat()}) {
      gpu::RunOptions ro;
      ro.profile = prof;
      expect_bit_exact(m.q, g, random_doc(L, L, m.q.cfg.vocab_size), pos, ro, "L=" + std::to_string(L));
    }
  }
}

// Batched (ragged, 1-token documents included) == per document == golden, in modes with per-call
// quantities (3: dynamic conv input scale; 5-3: outlier scale) and with every GEMM kernel (and,
// once, every kernel selection that is not the default).
// The kernel selections today's defaults replaced (run17): 4-channel shared-memory scan,
// register-staged mma GEMM (dp4a for K < 64), exact conv, warp norm, 64 x 64 lm_head; and the
// two-byte-lane Hadamard (2026-12-06). Read when a GpuModel is made.
const char* const kPrevEnv[][2] = {{"QMSIM_GPU_SCAN", "shared"}, {"QMSIM_GPU_GEMM", "mma"},
                                   {"QMSIM_GPU_CONV", "exact"},  {"QMSIM_GPU_NORM", "warp"},
                                   {"QMSIM_GPU_LM_HEAD", "tile64"}, {"QMSIM_GPU_HADAMARD", "lanes"}};

TEST(Gpu, BatchedEqualsPerDocumentEveryGemmKernel) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  const QModel& q = m.q;
  std::vector<std::vector<int32_t>> batch;
  std::vector<std::vector<int>> pos;
  for (int d = 0; d < 40; ++d) {
    const int L = d % 7 == 0 ? 1 : 5 + (d * 37) % 150;
    batch.push_back(random_doc(L, 500 + d, q.cfg.vocab_size));
    pos.push_back({L - 1});
  }
  // "mma prev": every kernel of kPrevEnv; "mma-async shared12": the scan pipe replaced on
  // 2026-12-06; "mma-staged pipe", "... stream-f32": the 12-channel scan kernels on this batch
  // (kAuto takes the state kernel for 40 x 256 pairs), with the f32 B, C rows of k_dequant_bc
  // (this model's int8 rows are not 16-byte aligned) and 1-token documents sharing warps with long
  // ones.
  std::map<std::string, std::vector<std::vector<float>>> gold_cache;
  // "wgmma": the default GEMM since run36; "mma-lean" (run30 to run35) and "mma-staged" (run22 to
  // run29): the ones it replaced; "VAR=value" extras: QMSIM_GPU_VAR=value (the conv, norm and
  // Hadamard kernels run31's and run33's defaults replaced).
  for (const char* kernel : {"wgmma", "mma-lean", "mma-staged", "mma-async", "mma", "mma prev", "mma-async shared12",
                             "mma-staged pipe", "wgmma stream-f32", "wgmma stream-pair", "wgmma CONV=fast", "wgmma CONV=dp4a",
                             "wgmma NORM=tokens", "wgmma HADAMARD=vec", "dp4a", "naive"}) {
    const std::string kname = std::string(kernel).substr(0, std::string(kernel).find(' '));
    const std::string extra = kname != kernel ? std::string(kernel).substr(kname.size() + 1) : "";
    setenv("QMSIM_GPU_GEMM", kname.c_str(), 1);
    if (extra == "prev")
      for (const auto& e : kPrevEnv) setenv(e[0], e[1], 1);
    const size_t eq = extra.find('=');
    if (eq != std::string::npos)
      setenv(("QMSIM_GPU_" + extra.substr(0, eq)).c_str(), extra.substr(eq + 1).c_str(), 1);
    else if (!extra.empty() && extra != "prev")
      setenv("QMSIM_GPU_SCAN", extra.c_str(), 1);
    gpu::GpuModel g(q);
    for (const auto& e : kPrevEnv) unsetenv(e[0]);  // every selection variable
    for (const char* mode_name : {"0", "3", "5-3", "6-1"})
      for (const bool compat : {false, true}) {
        const num::NumericsProfile prof = compat ? num::profile_quamba_compat() : num::profile_golden();
        gpu::RunOptions ro;
        ro.profile = prof;
        ro.mode = config::resolve_mode(mode_name).spec;
        const auto out = g.forward_batch(batch, pos, ro);
        ASSERT_EQ(out.size(), batch.size());
        // golden's logits, formed once per (mode, profile) and compared with every kernel's
        std::vector<std::vector<float>>& golds = gold_cache[std::string(mode_name) + (compat ? " compat" : "")];
        if (golds.empty())
          for (size_t d = 0; d < batch.size(); ++d) {
            golden::ForwardOptions o;
            o.threads = 4;
            o.profile = prof;
            o.mode = ro.mode;
            golds.push_back(golden::forward_w8a8(q, batch[d], pos[d], o));
          }
        for (size_t d = 0; d < batch.size(); ++d) {
          const std::vector<float>& gold = golds[d];
          ASSERT_EQ(gold.size(), out[d].size());
          EXPECT_EQ(0, std::memcmp(out[d].data(), gold.data(), gold.size() * 4))
              << "gemm " << kernel << " mode " << mode_name << " document " << d << " (L " << batch[d].size() << ")";
        }
      }
  }
}

// score_batch (the eval path: log-softmax on the device) against golden's logits scored on the
// host by eval::score_row: == on every row's log-prob, the same greedy flags; f64 and f16
// log-probs; LAMBADA documents and random ones with several logit rows; bad targets refused.
TEST(Gpu, ScoreBatchEqualsGoldenScoring) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  const QModel& q = m.q;
  const int V = q.cfg.vocab_size;
  std::vector<std::vector<int32_t>> docs, targets;
  std::vector<std::vector<int>> pos;
  for (const auto& r : m.reqs) docs.push_back(r.input), pos.push_back(r.logit_positions), targets.push_back(r.continuation);
  for (int d = 0; d < 20; ++d) {
    const int L = 3 + (d * 53) % 200;
    docs.push_back(random_doc(L, 900 + d, V));
    pos.push_back({L - 3, L - 2, L - 1});
    const std::vector<int32_t> t = random_doc(3, 950 + d, V);
    targets.push_back(t);
  }
  targets[3][1] = 0;  // index 0 among the targets
  gpu::GpuModel g(q);
  for (const char* mode_name : {"0", "2-1"})
    for (const bool f16 : {false, true}) {
      gpu::RunOptions ro;
      ro.mode = config::resolve_mode(mode_name).spec;
      size_t rows = 0;
      for (const auto& p : pos) rows += p.size();
      std::vector<double> lp(rows, 7.0);
      std::vector<uint8_t> greedy(rows, 7);
      ASSERT_EQ(g.score_batch(docs, pos, targets, ro, f16, lp.data(), greedy.data(), rows), rows);
      size_t r = 0;
      for (size_t d = 0; d < docs.size(); ++d) {
        golden::ForwardOptions o;
        o.threads = 4;
        o.mode = ro.mode;
        const std::vector<float> lg = golden::forward_w8a8(q, docs[d], pos[d], o);
        for (size_t j = 0; j < pos[d].size(); ++j, ++r) {
          const eval::RowScore h = eval::score_row(lg.data() + j * V, V, targets[d][j], f16);
          EXPECT_EQ(h.logprob, lp[r]) << "mode " << mode_name << " f16 " << f16 << " document " << d << " row " << j;
          EXPECT_EQ(h.greedy, greedy[r] != 0) << "mode " << mode_name << " document " << d << " row " << j;
        }
      }
    }
  std::vector<double> lp(8);
  std::vector<uint8_t> gr(8);
  EXPECT_THROW(g.score_batch({{1, 2, 3}}, {{2}}, {{1, 2}}, gpu::RunOptions{}, false, lp.data(), gr.data(), 8),
               std::invalid_argument);  // two targets for one row
  EXPECT_THROW(g.score_batch({{1, 2, 3}}, {{2}}, {{V}}, gpu::RunOptions{}, false, lp.data(), gr.data(), 8),
               std::out_of_range);
  EXPECT_THROW(g.score_batch({{1, 2, 3}}, {{1, 2}}, {{4, 5}}, gpu::RunOptions{}, false, lp.data(), gr.data(), 1),
               std::invalid_argument);  // capacity
}

TEST(Gpu, Mamba130mShape) {
  REQUIRE_GPU();
  const FpModel fp = synth_model(shape_preset("mamba-130m"), 3);
  std::vector<std::vector<int32_t>> cal = {random_doc(24, 1, fp.cfg.vocab_size), random_doc(24, 2, fp.cfg.vocab_size)};
  golden::CalibrationOptions co;
  co.threads = 8;
  const QModel big = golden::calibrate(fp, cal, co);
  gpu::GpuModel g(big);
  for (const char* mode_name : {"0", "2-1", "3", "5-3", "5-7", "6-0", "6-4"})
    for (const int L : {1, 33, 120}) {
      gpu::RunOptions ro;
      ro.mode = config::resolve_mode(mode_name).spec;
      expect_bit_exact(big, g, random_doc(L, 100 + L, big.cfg.vocab_size), {L - 1}, ro,
                       std::string("130m mode ") + mode_name + " L=" + std::to_string(L));
    }
  // A batch of 24 documents (36,864 (document, channel) pairs: the scan's shared-memory table
  // kernel under auto, documents of different lengths in one warp) against golden per document.
  std::vector<std::vector<int32_t>> batch;
  std::vector<std::vector<int>> pos;
  for (int d = 0; d < 24; ++d) {
    const int L = 1 + (d * 71) % 190;
    batch.push_back(random_doc(L, 300 + d, big.cfg.vocab_size));
    pos.push_back({L - 1});
  }
  // The same batch through the kernels the defaults replaced (kPrevEnv).
  for (const auto& e : kPrevEnv) setenv(e[0], e[1], 1);
  gpu::GpuModel g_prev(big);
  for (const auto& e : kPrevEnv) unsetenv(e[0]);
  // The scan the default (pipe) replaced, shared12 (2026-12-06), and the opt-in stream-f32.
  auto with_env = [&](const char* var, const char* value) {
    setenv(var, value, 1);
    auto m = std::make_unique<gpu::GpuModel>(big);
    unsetenv(var);
    return m;
  };
  const auto g_s12 = with_env("QMSIM_GPU_SCAN", "shared12"), g_f32 = with_env("QMSIM_GPU_SCAN", "stream-f32");
  const auto g_pair = with_env("QMSIM_GPU_SCAN", "stream-pair");  // opt-in, written without a device
  // The kernels run30's and run31's defaults replaced (run28's defaults): "staged".
  setenv("QMSIM_GPU_CONV", "fast", 1), setenv("QMSIM_GPU_NORM", "tokens", 1), setenv("QMSIM_GPU_HADAMARD", "vec", 1);
  const auto g_staged = with_env("QMSIM_GPU_GEMM", "mma-staged");
  unsetenv("QMSIM_GPU_CONV"), unsetenv("QMSIM_GPU_NORM"), unsetenv("QMSIM_GPU_HADAMARD");
  std::map<std::string, std::vector<std::vector<float>>> gold_cache;  // golden's logits per mode
  for (const char* mode_name : {"0", "2-1", "6-4", "0 prev", "2-1 prev", "0 shared12", "6-4 shared12", "0 stream-f32",
                                "3 stream-f32", "6-4 stream-f32", "0 staged", "3 staged", "5-3 staged", "6-4 staged", "0 pair",
                                "2-1 pair", "3 pair", "5-3 pair", "6-4 pair"}) {
    const char* sp = std::strchr(mode_name, ' ');
    const std::string extra = sp ? sp + 1 : "";
    gpu::RunOptions ro;
    ro.mode = config::resolve_mode(std::string(mode_name).substr(0, std::string(mode_name).find(' '))).spec;
    gpu::GpuModel& run = extra == "prev" ? g_prev
                         : extra == "shared12" ? *g_s12
                         : extra == "stream-f32" ? *g_f32
                         : extra == "staged"     ? *g_staged
                         : extra == "pair"       ? *g_pair
                                               : g;
    const auto out = run.forward_batch(batch, pos, ro);
    std::vector<std::vector<float>>& golds = gold_cache[std::string(mode_name).substr(0, sp ? sp - mode_name : std::string::npos)];
    if (golds.empty())
      for (size_t d = 0; d < batch.size(); ++d) {
        golden::ForwardOptions o;
        o.threads = 16;
        o.mode = ro.mode;
        golds.push_back(golden::forward_w8a8(big, batch[d], pos[d], o));
      }
    for (size_t d = 0; d < batch.size(); ++d) {
      const std::vector<float>& gold = golds[d];
      ASSERT_EQ(gold.size(), out[d].size());
      EXPECT_EQ(0, std::memcmp(out[d].data(), gold.data(), gold.size() * 4))
          << "130m batch, mode " << mode_name << ", document " << d << " (L " << batch[d].size() << ")";
    }
  }
}

TEST(Gpu, KernelReportNamesTheKernels) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  g.set_profiling(true);
  g.forward(m.reqs[0].input, m.reqs[0].logit_positions, num::profile_golden());
  const std::vector<gpu::KernelStat> st = g.kernel_stats();
  bool gemm = false, scan = false;
  for (const auto& s : st) {
    gemm |= s.name.rfind("gemm in_proj (", 0) == 0 && s.launches == m.q.cfg.n_layer && s.ops > 0 && s.ms > 0;
    scan |= s.name == "scan" && s.launches == m.q.cfg.n_layer;
  }
  EXPECT_TRUE(gemm && scan) << g.kernel_report();
}

TEST(Gpu, ModeValidationAndBadInputs) {
  REQUIRE_GPU();
  const DefaultModel& m = default_model();
  if (!m.ok) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  gpu::GpuModel g(m.q);
  gpu::RunOptions ro;
  ro.mode.u_source = golden::ModeSpec::USource::kQ;
  ro.mode.u_quantizer = golden::UQuantizer::kGrid;  // invalid: q is already int8
  EXPECT_THROW(g.forward({1, 2, 3}, {2}, ro), std::invalid_argument);
  EXPECT_THROW(g.forward({1, 2, 3}, {3}, gpu::RunOptions{}), std::out_of_range);
  EXPECT_THROW(g.forward({1, m.q.cfg.vocab_size}, {1}, gpu::RunOptions{}), std::out_of_range);
  EXPECT_THROW(g.forward({}, {}, gpu::RunOptions{}), std::invalid_argument);
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
