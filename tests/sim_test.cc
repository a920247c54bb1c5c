// The SystemC ASIC model (sim/, issue 7):
// - unit level: each unit's lane arithmetic (sim/src/datapath.h) against the golden ops on random
//   tiles including saturation, ties and the Hadamard overflow;
// - TLM protocol: the memory answers address, command and byte-enable errors with the TLM error
//   responses (no DMI is offered: every payload has dmi_allowed false);
// - cross-check: golden vs sim, every captured intermediate `==`, on LAMBADA documents of the
//   default model with the default and the small hardware config (tiling, split K, spills), under
//   both numerics profiles, and on a synthetic mamba-130m-shaped model;
// - modes the hardware cannot run are errors naming the site.
// SystemC elaborates once per process, so every module is created in elaborate() before any test
// runs a simulation.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "datapath.h"
#include "modules.h"
#include "qmsim/config/hw.h"
#include "qmsim/config/modes.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/golden/calibrate.h"
#include "qmsim/golden/conv1d.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/linear_int8.h"
#include "qmsim/golden/lm_head.h"
#include "qmsim/golden/rmsnorm_quant.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/synth.h"
#include "qmsim/sim/sim.h"
#include "qmsim/tokenizer.h"

namespace qmsim {
namespace {

std::mt19937 rng(20261125);
std::vector<int8_t> rand_i8(size_t n) {
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}
std::vector<uint16_t> rand_f16(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = num::f32_to_f16_rne(d(rng));
  return v;
}

// ------------------------------------------------------------------ unit level

TEST(SimUnits, MacArrayTilesAndPostProcEqualGoldenLinear) {
  const int M = 7, N = 13, K = 45;
  const auto x = rand_i8(M * K), W = rand_i8(N * K);
  for (const auto& sc : std::vector<std::pair<float, float>>{{0.003f, 0.9f}, {0.05f, 3.0f} /* saturates */}) {
    std::vector<int8_t> gold(M * N);
    golden::linear_int8_s8(M, N, K, x.data(), W.data(), sc.first, sc.second, gold.data(), 1);
    // The array: 3x4 output tiles, K split into tiles of 16 (partial sums in int32).
    std::vector<int8_t> sim(M * N);
    for (int r0 = 0; r0 < M; r0 += 3)
      for (int c0 = 0; c0 < N; c0 += 4) {
        const int rr = std::min(3, M - r0), cc = std::min(4, N - c0);
        std::vector<int32_t> acc(12, 0);
        for (int k0 = 0; k0 < K; k0 += 16)
          sim::dp::mac_tile(rr, cc, std::min(16, K - k0), x.data() + r0 * K + k0, K, W.data() + c0 * K + k0, K, acc.data(), 4);
        for (int r = 0; r < rr; ++r)
          for (int c = 0; c < cc; ++c) sim[(r0 + r) * N + c0 + c] = sim::dp::post_s8(acc[r * 4 + c], sc.first, sc.second);
      }
    EXPECT_EQ(sim, gold);
    int saturated = 0;
    for (int8_t v : sim) saturated += (v == 127 || v == -128);
    if (sc.second > 1.0f) {
      EXPECT_GT(saturated, M * N / 4);
    }
  }
  // f16 and alpha epilogues.
  std::vector<uint16_t> gf(M * N);
  golden::linear_int8_f16(M, N, K, x.data(), W.data(), 0.01f, 0.2f, gf.data(), 1);
  std::vector<int8_t> ga(M * N);
  golden::linear_int8_s8_alpha(M, N, K, x.data(), W.data(), 0.0011f, ga.data(), 1);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      std::vector<int32_t> acc(1, 0);
      sim::dp::mac_tile(1, 1, K, x.data() + m * K, K, W.data() + n * K, K, acc.data(), 1);
      ASSERT_EQ(sim::dp::post_f16(acc[0], 0.01f, 0.2f), gf[m * N + n]);
      ASSERT_EQ(sim::dp::post_s8_alpha(acc[0], 0.0011f), ga[m * N + n]);
    }
}

TEST(SimUnits, ConvLanesEqualGoldenConv) {
  const int L = 19, E = 11, K = 4;
  const auto x = rand_i8(L * E), w = rand_i8(E * K), b = rand_i8(E);
  const golden::Conv1dScales s{0.004f, 0.02f, 0.05f, 0.011f};  // large enough to saturate some outputs
  std::vector<int8_t> gold(L * E), sim(L * E);
  golden::conv1d_silu_quant_ref(L, E, K, x.data(), w.data(), b.data(), s, gold.data(), nullptr);
  for (int e = 0; e < E; ++e)
    sim::dp::conv_channel(L, K, x.data() + e, E, w.data() + e * K, b[e], s.weight_scale, s.bias_scale, s.input_scale,
                          s.output_scale, sim.data() + e);
  EXPECT_EQ(sim, gold);
  int sat = 0;
  for (int8_t v : sim) sat += v == 127;
  EXPECT_GT(sat, 0);
}

TEST(SimUnits, ScanLanesEqualGoldenScan) {
  const int L = 17, E = 9, N = 16;
  const auto u = rand_i8(L * E), dt = rand_i8(L * E), z = rand_i8(L * E), B = rand_i8(L * N), C = rand_i8(L * N),
             A = rand_i8(E * N), D = rand_i8(E), db = rand_i8(E);
  golden::SsmScales s;
  s.u = 0.02f, s.dt = 0.015f, s.B = 0.03f, s.C = 0.025f, s.z = 0.04f, s.A = 0.02f, s.D = 0.01f, s.dt_bias = 0.05f, s.state = 0.001f;
  std::vector<uint16_t> gy(L * E), sy(L * E);
  std::vector<float> gst(E * N), sst(E * N);
  std::vector<int8_t> gq(E * N), sq(E * N);
  golden::selective_scan_ref(L, E, N, u.data(), dt.data(), B.data(), C.data(), z.data(), A.data(), D.data(), db.data(), s,
                             gy.data(), gst.data(), gq.data());
  const sim::dp::ScanScales ss{s.u, s.dt, s.B, s.C, s.z, s.A, s.D, s.dt_bias, s.state};
  for (int e = 0; e < E; ++e)
    sim::dp::scan_channel(L, N, u.data() + e, dt.data() + e, z.data() + e, E, B.data(), C.data(), A.data() + e * N, D[e],
                          db[e], ss, sy.data() + e, sst.data() + e * N, sq.data() + e * N);
  EXPECT_EQ(sy, gy);
  EXPECT_EQ(0, std::memcmp(sst.data(), gst.data(), gst.size() * 4));
  EXPECT_EQ(sq, gq);
}

TEST(SimUnits, NormsEqualGolden) {
  const int L = 5, D = 96;
  const auto h = rand_f16(L * D, -3, 3);
  std::vector<float> res(L * D);
  std::uniform_real_distribution<float> U(-2, 2);
  for (auto& r : res) r = U(rng);
  for (bool with_res : {false, true}) {
    std::vector<float> gr(L * D), sr(L * D);
    std::vector<int8_t> gq(L * D), sq(L * D);
    golden::rmsnorm_quant(L, D, h.data(), with_res ? res.data() : nullptr, nullptr, 1e-5f, 0.004f /* saturates */, gr.data(),
                          gq.data());
    for (int t = 0; t < L; ++t)
      sim::dp::rmsnorm_token(D, h.data() + t * D, with_res ? res.data() + t * D : nullptr, 1e-5f, 0.004f, sr.data() + t * D,
                             sq.data() + t * D);
    EXPECT_EQ(sq, gq);
    EXPECT_EQ(0, std::memcmp(sr.data(), gr.data(), gr.size() * 4));
  }
  const auto w = rand_f16(D, 0.5f, 1.5f);
  for (bool f16res : {false, true}) {
    std::vector<uint16_t> go(L * D), so(L * D);
    golden::rmsnorm_final_f16(L, D, h.data(), res.data(), w.data(), 1e-5f, f16res, go.data());
    for (int t = 0; t < L; ++t)
      sim::dp::final_norm_token(D, h.data() + t * D, res.data() + t * D, w.data(), 1e-5f, f16res, so.data() + t * D);
    EXPECT_EQ(so, go) << f16res;
  }
}

TEST(SimUnits, HadamardEqualsGoldenIncludingOverflowAndWrap) {
  for (int n : {256, 192 /* 12·16: the H_12 stage */}) {
    const int L = 4;
    const auto y = rand_f16(L * n, -4, 4);
    for (bool wrap : {false, true}) {
      std::vector<int8_t> g(L * n), s(L * n);
      int64_t gout = 0;
      golden::hadamard_quant(L, n, y.data(), 0.01f /* small: many outputs overflow */, wrap, g.data(), &gout, 1);
      int64_t sout = 0;
      for (int t = 0; t < L; ++t) sout += sim::dp::hadamard_token(n, y.data() + t * n, 0.01f, wrap, s.data() + t * n);
      EXPECT_EQ(s, g) << n << " wrap " << wrap;
      EXPECT_EQ(sout, gout);
      EXPECT_GT(sout, 0);
    }
  }
}

TEST(SimUnits, LmHeadDotEqualsGolden) {
  const int P = 2, V = 37, D = 64;
  const auto y = rand_f16(P * D, -2, 2), W = rand_f16(V * D, -1, 1);
  for (bool f16 : {false, true}) {
    std::vector<float> g(P * V);
    golden::lm_head_f16_ref(P, V, D, y.data(), W.data(), f16, g.data());
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) {
        float s = sim::dp::lm_head_dot(D, y.data() + p * D, W.data() + v * D);
        if (f16) s = num::round_to_f16(s);
        ASSERT_EQ(num::f32_bits(s), num::f32_bits(g[p * V + v])) << p << "," << v;
      }
  }
}

// ------------------------------------------------------------------ elaboration (once per process)

const std::string kModel = std::string(QMSIM_SOURCE_DIR) + "/models/mamba-tiny/w8a8";
bool model_present() { return static_cast<bool>(std::ifstream(kModel + "/config.json")); }

struct ProbeTop : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<ProbeTop> out;
  sim::Counters ctr;
  config::HwConfig hw;
  sim::Memory mem;
  explicit ProbeTop(sc_core::sc_module_name n)
      : sc_module(n), out("out"), mem("probe_memory", sim::Memory::Kind::kDram, 0, hw, ctr) {
    out.bind(mem.socket);
    mem.bytes.assign(64, 7);
  }
};

// A target that breaks the base protocol: answers BEGIN_REQ with TLM_UPDATED and phase BEGIN_REQ.
struct RogueTarget : sc_core::sc_module {
  tlm_utils::multi_passthrough_target_socket<RogueTarget> in;
  explicit RogueTarget(sc_core::sc_module_name n) : sc_module(n), in("in") {
    in.register_nb_transport_fw(this, &RogueTarget::nb_fw);
    in.register_b_transport(this, &RogueTarget::b);
  }
  tlm::tlm_sync_enum nb_fw(int, tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time&) {
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    ph = tlm::BEGIN_REQ;  // illegal: a target never sends BEGIN_REQ
    return tlm::TLM_UPDATED;
  }
  void b(int, tlm::tlm_generic_payload& p, sc_core::sc_time&) { p.set_response_status(tlm::TLM_OK_RESPONSE); }
};

struct RogueTop {
  config::HwConfig hw;
  sim::Counters ctr;
  RogueTarget target{"rogue_target"};
  std::unique_ptr<sim::Sequencer> seq;
  sim::Program program;
  RogueTop() {
    hw.approximately_timed = true;
    seq = std::make_unique<sim::Sequencer>("rogue_sequencer", hw, ctr);
    for (auto* s : {&seq->to_dma, &seq->to_mac, &seq->to_conv, &seq->to_scan, &seq->to_vector}) s->bind(target.in);
    program.instrs.resize(1);
    seq->program = &program;
  }
};

struct World {
  std::unique_ptr<QModel> tiny, big;
  std::unique_ptr<sim::SimRunner> tiny_default, tiny_small, tiny_compat, tiny_at, big_default;
  std::unique_ptr<RogueTop> rogue;
  std::unique_ptr<ProbeTop> probe;
  std::vector<eval::DocRequest> docs;
  std::vector<int32_t> big_tokens;
};

World& world() {
  static World* w = [] {
    auto* W = new World;
    W->probe = std::make_unique<ProbeTop>("probe");
    W->rogue = std::make_unique<RogueTop>();
    const config::HwConfig def = config::load_hw_file(std::string(QMSIM_SOURCE_DIR) + "/configs/hw/default.yaml");
    const config::HwConfig small = config::load_hw_file(std::string(QMSIM_SOURCE_DIR) + "/configs/hw/small.yaml");
    const golden::ModeSpec m0 = config::resolve_mode("0").spec;
    if (model_present()) {
      W->tiny = std::make_unique<QModel>(load_quant_model(kModel));
      W->tiny_default = std::make_unique<sim::SimRunner>(*W->tiny, def, m0, num::profile_golden());
      W->tiny_small = std::make_unique<sim::SimRunner>(*W->tiny, small, m0, num::profile_golden());
      W->tiny_compat = std::make_unique<sim::SimRunner>(*W->tiny, def, m0, num::profile_quamba_compat());
      config::HwConfig at = def;
      at.approximately_timed = true;
      W->tiny_at = std::make_unique<sim::SimRunner>(*W->tiny, at, m0, num::profile_golden());
      const Tokenizer tok = Tokenizer::from_file(std::string(QMSIM_SOURCE_DIR) + "/data/gpt-neox-20b-tokenizer.json");
      const auto docs = eval::load_lambada(std::string(QMSIM_SOURCE_DIR) + "/data/lambada_test.jsonl");
      for (int i = 0; i < 3; ++i) W->docs.push_back(eval::make_request(tok, docs[static_cast<size_t>(i)]));
    }
    // A synthetic mamba-130m-shaped model (d_model 768, 24 layers, vocab 50280), briefly calibrated:
    // about 10 s: skipped when this process runs one other test only (ctest runs each test in its
    // own process); a run of the whole binary builds it.
    const ::testing::UnitTest* ut = ::testing::UnitTest::GetInstance();
    const auto* info = ut->current_test_info();
    if (ut->test_to_run_count() == 1 && info != nullptr && std::string(info->name()).find("130m") == std::string::npos)
      return W;
    const FpModel fp = synth_model(shape_preset("mamba-130m"), 3);
    std::vector<std::vector<int32_t>> cal(2);
    for (int d = 0; d < 2; ++d)
      for (int t = 0; t < 24; ++t) cal[d].push_back((t * 7919 + d * 104729 + 11) % fp.cfg.vocab_size);
    golden::CalibrationOptions co;
    co.threads = 2;
    W->big = std::make_unique<QModel>(golden::calibrate(fp, cal, co));
    W->big_default = std::make_unique<sim::SimRunner>(*W->big, def, m0, num::profile_golden());
    for (int t = 0; t < 21; ++t) W->big_tokens.push_back((t * 48271 + 5) % fp.cfg.vocab_size);
    return W;
  }();
  return *w;
}

// Every intermediate the sim captures equals golden's (same names), and the logits too.
void expect_bit_exact(const QModel& q, sim::SimRunner& runner, const num::NumericsProfile& profile,
                      const std::vector<int32_t>& tokens, const std::vector<int>& pos,
                      const golden::ModeSpec& mode = golden::ModeSpec{}) {
  golden::Capture cg, cs;
  golden::ForwardOptions o;
  o.threads = 2;
  o.profile = profile;
  o.mode = mode;
  o.capture = &cg;
  const std::vector<float> lg = golden::forward_w8a8(q, tokens, pos, o);
  const std::vector<float> ls = runner.forward(tokens, pos, &cs);
  ASSERT_EQ(ls.size(), lg.size());
  EXPECT_EQ(0, std::memcmp(ls.data(), lg.data(), lg.size() * 4)) << "logits";
  int compared = 0;
  for (const std::string& name : cs.order()) {
    const golden::CapturedTensor* g = cg.find(name);
    ASSERT_NE(g, nullptr) << name << " has no golden counterpart";
    const golden::CapturedTensor& s = cs.tensors().at(name);
    EXPECT_EQ(s.dtype, g->dtype) << name;
    EXPECT_EQ(s.shape, g->shape) << name;
    EXPECT_TRUE(s.bytes == g->bytes) << name;
    ++compared;
  }
  EXPECT_GE(compared, 2 + 11 * q.cfg.n_layer + 1);  // embedding, 11 per layer, norm_f, logits (+ mode sites)
}

TEST(SimCrosscheck, DefaultModelBitExactOnDefaultAndSmallHardware) {
  World& w = world();
  if (!w.tiny) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  for (const auto& r : w.docs) {
    expect_bit_exact(*w.tiny, *w.tiny_default, num::profile_golden(), r.input, r.logit_positions);
    expect_bit_exact(*w.tiny, *w.tiny_small, num::profile_golden(), r.input, r.logit_positions);
  }
  // The small config spills activations past its SRAM and splits K: both happened.
  EXPECT_GT(w.tiny_small->stats().spill_bytes, 0);
  EXPECT_GT(w.tiny_small->stats().sim_ns, w.tiny_default->stats().sim_ns);
}

TEST(SimCrosscheck, QuambaCompatProfileAndSingleTokenGemv) {
  World& w = world();
  if (!w.tiny) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  expect_bit_exact(*w.tiny, *w.tiny_compat, num::profile_quamba_compat(), w.docs[0].input, w.docs[0].logit_positions);
  expect_bit_exact(*w.tiny, *w.tiny_compat, num::profile_quamba_compat(), {w.docs[0].input[0]}, {0});  // M = 1: alpha path
}

TEST(SimCrosscheck, SyntheticMamba130mShapeBitExact) {
  World& w = world();
  ASSERT_TRUE(w.big_default) << "the 130m-shaped model is built for this test only";
  expect_bit_exact(*w.big, *w.big_default, num::profile_golden(), w.big_tokens, {0, 10, 20});
}

TEST(SimModes, EveryModeTheSmallHardwareDeclaresIsBitExact) {
  World& w = world();
  if (!w.tiny) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  int modes = 0;
  for (const config::Mode& m : config::builtin_modes_and_variants()) {
    if (m.fp32_reference) continue;
    SCOPED_TRACE("mode " + m.label());
    w.tiny_small->set_mode(m.spec);
    expect_bit_exact(*w.tiny, *w.tiny_small, num::profile_golden(), w.docs[1].input, w.docs[1].logit_positions, m.spec);
    ++modes;
  }
  w.tiny_small->set_mode(golden::ModeSpec{});
  EXPECT_EQ(modes, 23);  // 0, 2-0..2-2, 2-3 x2, 2-4 x2, 3 x2, 4, 5-0..5-4, 5-6, 5-7, 6-0..6-4
  EXPECT_THROW(w.tiny_default->set_mode(config::resolve_mode("6-1").spec), std::invalid_argument);
}

TEST(SimModes, HardwareWithoutTheUnitNamesTheSite) {
  const config::HwConfig def = config::load_hw_file(std::string(QMSIM_SOURCE_DIR) + "/configs/hw/default.yaml");
  EXPECT_EQ(sim::SimRunner::unsupported_reason(config::resolve_mode("0").spec, def), "");
  const std::string r21 = sim::SimRunner::unsupported_reason(config::resolve_mode("2-1").spec, def);
  EXPECT_NE(r21.find("ssm"), std::string::npos) << r21;
  EXPECT_NE(r21.find("fp32_units.ssm_pseq"), std::string::npos) << r21;
  const std::string r51 = sim::SimRunner::unsupported_reason(config::resolve_mode("5-1").spec, def);
  EXPECT_NE(r51.find("conv output"), std::string::npos) << r51;
  EXPECT_NE(r51.find("fp32_units.conv_output"), std::string::npos) << r51;
  EXPECT_NE(r51.find("default.yaml"), std::string::npos) << r51;
  const std::string r61 = sim::SimRunner::unsupported_reason(config::resolve_mode("6-1").spec, def);
  EXPECT_NE(r61.find("fp32_units.linears"), std::string::npos) << r61;
}

TEST(SimConfig, MalformedHardwareFilesNameTheKey) {
  auto err = [](const std::string& text) {
    try {
      config::parse_hw_yaml(text, "hw.yaml");
    } catch (const config::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string ok = "name: x\nclock_mhz: 100\nmac_array: {rows: 2, cols: 2}\n"
                         "sram: {weight_kib: 1, activation_kib: 1, accumulator_kib: 1, bytes_per_cycle: 4}\n"
                         "dram: {bandwidth_gbps: 1, latency_ns: 10}\n";
  EXPECT_EQ(err(ok), "no error");
  EXPECT_NE(err(ok + "sfu: {ops: 3}\n").find("sfu.ops"), std::string::npos);
  std::string slow = ok;
  slow.replace(slow.find("clock_mhz: 100"), 14, "clock_mhz: fast");
  EXPECT_NE(err(slow).find("clock_mhz"), std::string::npos);
  EXPECT_NE(err("name: x\n").find("clock_mhz: missing"), std::string::npos);
  EXPECT_NE(err(ok + "timing: {style: exact}\n").find("timing.style"), std::string::npos);
  std::string big_array = ok;
  big_array.replace(big_array.find("rows: 2, cols: 2"), 16, "rows: 64, cols: 64");
  EXPECT_NE(err(big_array).find("accumulator_kib"), std::string::npos);
}

// ------------------------------------------------------------------ TLM protocol

TEST(SimTlm, ApproximatelyTimedRunIsBitExactWithLegalPhasesAndTheSameTiming) {
  World& w = world();
  if (!w.tiny) GTEST_SKIP() << "models/mamba-tiny is not in this checkout";
  w.tiny_at->reset_stats();
  w.tiny_default->reset_stats();
  expect_bit_exact(*w.tiny, *w.tiny_at, num::profile_golden(), w.docs[2].input, w.docs[2].logit_positions);
  expect_bit_exact(*w.tiny, *w.tiny_default, num::profile_golden(), w.docs[2].input, w.docs[2].logit_positions);
  const sim::SimStats& at = w.tiny_at->stats();
  EXPECT_EQ(at.protocol_errors, 0);
  const int64_t instrs = 1 + 8 * w.tiny->cfg.n_layer + 2;  // embed, 8 per layer, final norm, lm_head
  EXPECT_EQ(at.at_phases, 2 * instrs);                      // BEGIN_REQ out, BEGIN_RESP back
  EXPECT_EQ(at.sim_ns, w.tiny_default->stats().sim_ns);      // in-order issue: the same cycles as LT
  EXPECT_EQ(w.tiny_default->stats().at_phases, 0);
}

TEST(SimTlm, IllegalPhaseIsDetected) {
  World& w = world();
  RogueTop& r = *w.rogue;
  if (sc_core::sc_get_status() == sc_core::SC_ELABORATION) sc_core::sc_start(sc_core::SC_ZERO_TIME);  // initialize
  r.seq->done = false;
  r.seq->start.notify(sc_core::SC_ZERO_TIME);
  sc_core::sc_start();
  EXPECT_TRUE(r.seq->done);
  EXPECT_GE(r.ctr.protocol_errors, 1);
  ASSERT_FALSE(r.ctr.trace.empty());
  EXPECT_NE(r.ctr.trace.front().find("illegal phase"), std::string::npos) << r.ctr.trace.front();
}

TEST(SimTlm, MemoryAnswersErrorsWithTlmResponses) {
  World& w = world();
  ProbeTop& p = *w.probe;
  uint8_t buf[16] = {0};
  auto run = [&](tlm::tlm_command cmd, uint64_t addr, unsigned len, unsigned char* be) {
    tlm::tlm_generic_payload t;
    t.set_command(cmd);
    t.set_address(addr);
    t.set_data_ptr(buf);
    t.set_data_length(len);
    t.set_streaming_width(len);
    t.set_byte_enable_ptr(be);
    t.set_byte_enable_length(be ? len : 0);
    t.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    p.out->b_transport(t, d);
    EXPECT_FALSE(t.is_dmi_allowed());
    return std::make_pair(t.get_response_status(), d);
  };
  const auto ok = run(tlm::TLM_READ_COMMAND, 8, 16, nullptr);
  EXPECT_EQ(ok.first, tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(buf[0], 7);
  EXPECT_GT(ok.second, sc_core::SC_ZERO_TIME);  // DRAM latency annotated
  EXPECT_EQ(run(tlm::TLM_READ_COMMAND, 60, 16, nullptr).first, tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_EQ(run(tlm::TLM_IGNORE_COMMAND, 0, 4, nullptr).first, tlm::TLM_COMMAND_ERROR_RESPONSE);
  unsigned char be[16];
  std::memset(be, 0xff, sizeof be);
  EXPECT_EQ(run(tlm::TLM_WRITE_COMMAND, 0, 16, be).first, tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
}

}  // namespace
}  // namespace qmsim
