// Golden-model throughput on a mamba-130m-shaped W8A8 model (24 layers, d_model 768, vocab 50280)
// with random int8 weights and plausible scales, and reference-vs-optimized ratios of the hot ops.
// Documents of 80 tokens (the mean LAMBADA model input is 80.2 tokens), logits at the last position.
//
//   build/bin/forward_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "qmsim/golden/conv1d.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/golden/gemm_int8.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/model/synth.h"

namespace {

using namespace qmsim;

std::vector<int8_t> random_i8(size_t n, std::mt19937& rng, int lo = -127, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

QModel random_qmodel_130m() {
  MambaConfig c = shape_preset("mamba-130m");
  const int D = c.d_model, E = c.d_inner(), N = c.d_state, K = c.d_conv, R = c.dt_rank, X = c.xproj_rows();
  std::mt19937 rng(42);
  QModel m;
  m.cfg = c;
  std::normal_distribution<float> nd(0.0f, 0.02f);
  m.embedding_f16.resize(static_cast<size_t>(c.vocab_size) * D);
  for (auto& h : m.embedding_f16) h = num::f32_to_f16_rne(nd(rng));
  m.norm_f_f16.assign(D, num::f32_to_f16_rne(1.0f));
  m.layers.resize(c.n_layer);
  for (QLayer& l : m.layers) {
    l.norm_output_scale = 0.03f;
    l.in_proj_w = random_i8(static_cast<size_t>(2 * E) * D, rng);
    l.in_proj_a = 0.03f / 0.05f; l.in_proj_b = 0.0015f; l.in_proj_alpha = l.in_proj_a * l.in_proj_b;
    l.conv_w = random_i8(static_cast<size_t>(E) * K, rng);
    l.conv_b = random_i8(E, rng);
    l.conv_weight_scale = 0.004f; l.conv_bias_scale = 0.002f; l.conv_input_scale = 0.05f; l.conv_output_scale = 0.02f;
    l.x_proj_w = random_i8(static_cast<size_t>(X) * E, rng);
    l.x_proj_a = 0.02f / 0.04f; l.x_proj_b = 0.001f; l.x_proj_alpha = l.x_proj_a * l.x_proj_b;
    l.dt_proj_w = random_i8(static_cast<size_t>(E) * R, rng);
    l.dt_proj_a = 0.04f / 0.03f; l.dt_proj_b = 0.002f; l.dt_proj_alpha = l.dt_proj_a * l.dt_proj_b;
    l.A_log_q = random_i8(static_cast<size_t>(E) * N, rng, 0, 127);
    l.A_scale = 0.0219f;
    l.D_q = random_i8(E, rng);
    l.D_scale = 0.01f;
    l.dt_bias_q = random_i8(E, rng, -127, -30);
    l.dt_bias_scale = 0.05f;
    l.u_scale = 0.02f; l.dt_scale = 0.03f; l.B_scale = l.C_scale = 0.04f; l.z_scale = 0.05f; l.ssm_state_scale = 0.01f;
    l.had_output_scale = 0.01f;
    l.out_proj_w = random_i8(static_cast<size_t>(D) * E, rng);
    l.out_proj_a = 0.01f; l.out_proj_b = 0.0012f; l.out_proj_alpha = l.out_proj_a * l.out_proj_b;
  }
  return m;
}

const QModel& model130m() {
  static const QModel m = random_qmodel_130m();
  return m;
}

void BM_ForwardW8A8_130m(benchmark::State& state) {
  const int L = static_cast<int>(state.range(0));
  const QModel& m = model130m();
  static const auto plan = golden::make_w8a8_plan(m, 2);
  std::mt19937 rng(1);
  std::vector<int32_t> toks(L);
  for (auto& t : toks) t = static_cast<int32_t>(rng() % 50000);
  golden::ForwardOptions o;
  o.threads = 1;
  for (auto _ : state) benchmark::DoNotOptimize(golden::forward_w8a8(m, *plan, toks, {L - 1}, o));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(L) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ForwardW8A8_130m)->Arg(80)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

// One layer's selective scan (E = 1536, N = 16) at L = 80: scalar reference vs dispatched.
struct ScanInputs {
  int L = 80, E = 1536, N = 16;
  std::vector<int8_t> u, dt, B, C, z, A, D, db;
  golden::SsmScales s{0.02f, 0.03f, 0.04f, 0.04f, 0.05f, 0.0219f, 0.01f, 0.05f, 0.01f};
  ScanInputs() {
    std::mt19937 rng(5);
    u = random_i8(L * E, rng); dt = random_i8(L * E, rng); z = random_i8(L * E, rng);
    B = random_i8(L * N, rng); C = random_i8(L * N, rng);
    A = random_i8(E * N, rng, 0, 127); D = random_i8(E, rng); db = random_i8(E, rng, -127, -30);
  }
};

void BM_SelectiveScan(benchmark::State& state) {
  static const ScanInputs in;
  const bool ref = state.range(0) == 0;
  std::vector<uint16_t> y(static_cast<size_t>(in.L) * in.E);
  for (auto _ : state) {
    if (ref)
      golden::selective_scan_ref(in.L, in.E, in.N, in.u.data(), in.dt.data(), in.B.data(), in.C.data(), in.z.data(),
                                 in.A.data(), in.D.data(), in.db.data(), in.s, y.data(), nullptr, nullptr);
    else
      golden::selective_scan(in.L, in.E, in.N, in.u.data(), in.dt.data(), in.B.data(), in.C.data(), in.z.data(),
                             in.A.data(), in.D.data(), in.db.data(), in.s, y.data(), nullptr, nullptr, 1);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(ref ? "reference" : "dispatched");
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(in.L) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SelectiveScan)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_Conv1d(benchmark::State& state) {
  static const ScanInputs in;
  const bool ref = state.range(0) == 0;
  std::mt19937 rng(6);
  static const std::vector<int8_t> w = random_i8(static_cast<size_t>(in.E) * 4, rng), b = random_i8(in.E, rng);
  const golden::Conv1dScales s{0.004f, 0.002f, 0.05f, 0.02f};
  std::vector<int8_t> out(static_cast<size_t>(in.L) * in.E);
  for (auto _ : state) {
    if (ref) golden::conv1d_silu_quant_ref(in.L, in.E, 4, in.u.data(), w.data(), b.data(), s, out.data(), nullptr);
    else golden::conv1d_silu_quant(in.L, in.E, 4, in.u.data(), w.data(), b.data(), s, out.data(), nullptr, 1);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(ref ? "reference" : "dispatched");
}
BENCHMARK(BM_Conv1d)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// in_proj of one layer at L = 80: reference triple loop vs dispatched packed GEMM.
void BM_InProjGemm(benchmark::State& state) {
  const bool ref = state.range(0) == 0;
  std::mt19937 rng(7);
  const int M = 80, N = 3072, K = 768;
  static const std::vector<int8_t> A = random_i8(static_cast<size_t>(M) * K, rng), W = random_i8(static_cast<size_t>(N) * K, rng);
  static const golden::PackedWeightsS8 P = golden::pack_weights_s8(N, K, W.data());
  std::vector<int32_t> C(static_cast<size_t>(M) * N);
  for (auto _ : state) {
    if (ref) golden::gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), C.data());
    else golden::gemm_s8s8_s32_packed(M, A.data(), P, C.data(), 1);
    benchmark::DoNotOptimize(C.data());
  }
  state.SetLabel(ref ? "reference" : golden::gemm_s8s8_s32_isa());
  state.counters["GOPS"] = benchmark::Counter(2.0 * M * N * K * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_InProjGemm)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
