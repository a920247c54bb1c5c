// gpu_ref kernels on the GPU (issue 8): the INT8 GEMM in its three forms (naive one thread per
// output, __dp4a tiles on CUDA cores, mma.sync tensor cores) at the GEMM shapes of a mamba-130m
// W8A8 forward over a batch of 32,768 tokens, and the selective scan. Times are GPU time from CUDA
// events (manual time); counters: TOPS = 2·M·N·K / time, and for the scan tokens/s; the scan with
// each of its kernels at 256 documents and at 1, with and without its exp tables (the
// table-building kernel included; the shared-memory kernel falls back to the channel kernel
// without them); the correctly rounded exp in its two device
// evaluations (exp_cr's binary64 fast path, exp_cr_ff's binary32 float-float one). Run on the
// device by tools/device-test.sh; without a GPU every benchmark reports an error and is skipped.
#include <benchmark/benchmark.h>

#include <string>
#include <utility>

#include "qmsim/gpu/gpu.h"
#include "qmsim/gpu/ops.h"

namespace {

using qmsim::gpu::GemmKernel;

// Marks the benchmark skipped (with the reason) when there is no CUDA device.
bool no_device(benchmark::State& state) {
  std::string why;
  if (qmsim::gpu::device_available(&why)) return false;
  state.SkipWithError(("SKIPPED: no CUDA device: " + why).c_str());
  return true;
}

void BM_Gemm(benchmark::State& state, GemmKernel k, int M, int N, int K, bool f16) {
  if (no_device(state)) return;
  double ms = 0;
  for (auto _ : state) {
    ms = qmsim::gpu::ops::time_gemm_ms(k, M, N, K, f16, k == GemmKernel::kNaive ? 2 : 20);
    state.SetIterationTime(ms / 1e3);
  }
  state.counters["TOPS"] = 2.0 * M * N * K / (ms / 1e3) / 1e12;
  state.counters["tokens/s"] = M / (ms / 1e3);
}

void BM_Scan(benchmark::State& state, qmsim::gpu::ScanKernel k, qmsim::gpu::ScanTable t, int docs, int L, int E,
             int N) {
  if (no_device(state)) return;
  double ms = 0;
  for (auto _ : state) {
    ms = qmsim::gpu::ops::time_scan_ms(k, t, docs, L, E, N, 5);
    state.SetIterationTime(ms / 1e3);
  }
  state.counters["tokens/s"] = static_cast<double>(docs) * L / (ms / 1e3);
  // Minimum DRAM traffic: u, dt, z int8 in, y f16 out (5 bytes per (t, e)) + B, C rows.
  state.counters["GB/s"] = (static_cast<double>(docs) * L * (5.0 * E + 2 * N)) / (ms / 1e3) / 1e9;
}

// The 12-channel scan with one stage of its loop replaced by register arithmetic (see
// gpu::ops::time_scan_probe_ms): its time against "kernel" (probe 0) is what that stage costs.
void BM_ScanProbe(benchmark::State& state, int probe, int docs, int L) {
  if (no_device(state)) return;
  double ms = 0;
  for (auto _ : state) {
    ms = qmsim::gpu::ops::time_scan_probe_ms(probe, docs, L, 1536, 16, 5);
    state.SetIterationTime(ms / 1e3);
  }
  state.counters["tokens/s"] = static_cast<double>(docs) * L / (ms / 1e3);
}

// Correctly rounded e^x throughput: 2^28 inputs in [-20, 0) (the scan's e^(dt·A) range).
void BM_Exp(benchmark::State& state, bool ff) {
  if (no_device(state)) return;
  const size_t n = size_t{1} << 28;
  double ms = 0;
  for (auto _ : state) {
    ms = qmsim::gpu::ops::time_exp_ms(ff, n, 5);
    state.SetIterationTime(ms / 1e3);
  }
  state.counters["Gexp/s"] = static_cast<double>(n) / (ms / 1e3) / 1e9;
}

constexpr int kM = 32768;  // tokens per batch
void register_all() {
  struct Shape {
    const char* name;
    int N, K;
    bool f16;
  };
  const Shape shapes[] = {{"in_proj", 3072, 768, false}, {"x_proj", 80, 1536, false},
                          {"dt_proj", 1536, 48, false},   {"out_proj", 768, 1536, true}};
  for (const GemmKernel k : {GemmKernel::kMmaAsync, GemmKernel::kMmaStaged, GemmKernel::kMmaLean,
                             GemmKernel::kWgmma, GemmKernel::kMma, GemmKernel::kDp4a, GemmKernel::kNaive})
    for (const Shape& s : shapes)
      benchmark::RegisterBenchmark((std::string("Gemm130m/") + qmsim::gpu::gemm_kernel_name(k) + "/" + s.name).c_str(),
                                   BM_Gemm, k, kM, s.N, s.K, s.f16)
          ->UseManualTime()
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond);
  using qmsim::gpu::ScanKernel;
  using qmsim::gpu::ScanTable;
  for (const ScanTable t : {ScanTable::kOff, ScanTable::kOn})
    for (const ScanKernel k : {ScanKernel::kChannels, ScanKernel::kStates, ScanKernel::kShared, ScanKernel::kShared12,
                               ScanKernel::kShared12Pipe, ScanKernel::kStreamF32,
                               ScanKernel::kStreamPair})
      for (const int docs : {256, 1})
        benchmark::RegisterBenchmark((std::string("Scan130m/") + qmsim::gpu::scan_kernel_name(k) + "/table_" +
                                      qmsim::gpu::scan_table_name(t) + "/docs" + std::to_string(docs) + "_L128")
                                         .c_str(),
                                     BM_Scan, k, t, docs, 128, 1536, 16)
            ->UseManualTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
  const std::pair<const char*, int> probes[] = {{"kernel", 0},         {"no_BC_loads", 1}, {"no_table_reads", 2},
                                                {"no_u_dt_z_loads", 4}, {"no_division", 8}, {"no_y_stores", 16},
                                                {"none_of_them", 31}};
  for (const auto& [name, probe] : probes)
    benchmark::RegisterBenchmark((std::string("ScanProbe130m/shared12/") + name + "/docs512_L80").c_str(), BM_ScanProbe,
                                 probe, 512, 80)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  for (const bool ff : {false, true})
    benchmark::RegisterBenchmark(ff ? "ExpCr/float-float(exp_cr_ff)" : "ExpCr/double(exp_cr)", BM_Exp, ff)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
