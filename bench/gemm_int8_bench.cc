// INT8 GEMM: reference vs the ISA variants on the mamba-130m GEMM shapes, M = 80 and 512 tokens,
// 1 and 2 threads, packed weights (pack_weights_s8 once) and unpacked (packed on every call).
// Counters, with ops = 2 M N K per iteration:
//   GOPS      ops per second of wall time;
//   GOPS_cpu  ops per second of (process CPU time / threads): what an otherwise idle machine would
//             give, robust to other processes sharing the cores;
//   of_peak   GOPS_cpu / (threads x the measured 1-thread peak): a register-only vpdpbusd loop
//             (12 chains) for ref/avx2/avx512, a register-only tdpbssd loop for amx.
// Rows "dispatched_<isa>" call the dispatched entry point, whose `threads` is an upper bound
// (small products run on one thread); they report GOPS only.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "qmsim/golden/gemm_int8.h"

namespace {

using qmsim::golden::GemmIsa;

struct Shape {
  const char* name;
  int n, k;
};
constexpr Shape kShapes[] = {
    {"in_proj", 3072, 768}, {"x_proj", 80, 1536}, {"dt_proj", 1536, 48}, {"out_proj", 768, 1536}};

std::vector<int8_t> random_int8(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int8_t> out(count);
  for (auto& v : out) v = static_cast<int8_t>(rng());
  return out;
}

double cpu_seconds(clockid_t clock) {
  timespec now;
  clock_gettime(clock, &now);
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

#if defined(__x86_64__)
// 12 independent vpdpbusd chains on registers only (latency 5, up to 2 per cycle), in one asm
// block so that the compiler keeps every accumulator in a register.
__attribute__((target("avx512f,avx512vnni"), noinline)) int vnni_chain(int64_t iterations) {
  __m512i c0 = _mm512_set1_epi32(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
          c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iterations; ++it) {
    __asm__ volatile(
        "vpdpbusd %[b], %[a], %[c0]\n\tvpdpbusd %[b], %[a], %[c1]\n\t"
        "vpdpbusd %[b], %[a], %[c2]\n\tvpdpbusd %[b], %[a], %[c3]\n\t"
        "vpdpbusd %[b], %[a], %[c4]\n\tvpdpbusd %[b], %[a], %[c5]\n\t"
        "vpdpbusd %[b], %[a], %[c6]\n\tvpdpbusd %[b], %[a], %[c7]\n\t"
        "vpdpbusd %[b], %[a], %[c8]\n\tvpdpbusd %[b], %[a], %[c9]\n\t"
        "vpdpbusd %[b], %[a], %[c10]\n\tvpdpbusd %[b], %[a], %[c11]"
        : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4),
          [c5] "+v"(c5), [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9),
          [c10] "+v"(c10), [c11] "+v"(c11)
        : [a] "v"(a), [b] "v"(b));
  }
  const __m512i sum = _mm512_add_epi32(
      _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                       _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7))),
      _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
  return _mm512_reduce_add_epi32(sum);
}

struct alignas(64) TileConfig {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

// 4 independent tdpbssd (16 x 16 x 64) on tiles only.
__attribute__((target("amx-tile,amx-int8"), noinline)) int amx_chain(int64_t iterations) {
  TileConfig config;
  std::memset(&config, 0, sizeof config);
  config.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.bytes_per_row[t] = 64;
  }
  __asm__ volatile("ldtilecfg %0" : : "m"(config));
  alignas(64) static int8_t operand[16 * 64];
  alignas(64) static int32_t out[16 * 16];
  std::memset(operand, 1, sizeof operand);
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  _tile_loadd(4, operand, 64); _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64); _tile_loadd(7, operand, 64);
  for (int64_t it = 0; it < iterations; ++it) {
    _tile_dpbssd(0, 4, 6); _tile_dpbssd(1, 4, 7); _tile_dpbssd(2, 5, 6); _tile_dpbssd(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}
#endif

// Best of 5 runs, in ops (2 per multiply-accumulate) per second of this thread's CPU time.
template <class Fn>
double measure_peak(Fn run, int64_t iterations, double ops_per_iteration) {
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    benchmark::DoNotOptimize(run(iterations));
    const double seconds = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - start;
    best = std::max(best, ops_per_iteration * double(iterations) / seconds);
  }
  return best;
}

double vnni_peak_ops() {
#if defined(__x86_64__)
  static const double peak = __builtin_cpu_supports("avx512vnni")
                                 ? measure_peak(vnni_chain, 2'000'000, 12 * 64 * 2.0)
                                 : 0.0;
  return peak;
#else
  return 0.0;
#endif
}

double amx_peak_ops() {
#if defined(__x86_64__)
  static const double peak = qmsim::golden::gemm_isa_available(GemmIsa::kAmx)
                                 ? measure_peak(amx_chain, 200'000, 4 * 16 * 16 * 64 * 2.0)
                                 : 0.0;
  return peak;
#else
  return 0.0;
#endif
}

void BM_Peak(benchmark::State& state, bool amx) {
  const double peak = amx ? amx_peak_ops() : vnni_peak_ops();
  for (auto _ : state) benchmark::DoNotOptimize(peak);
  state.counters["GOPS"] = peak * 1e-9;
}

enum class Form { kRefDefinition, kUnpacked, kPacked, kDispatchedPacked };

void BM_Gemm(benchmark::State& state, Shape shape, int M, GemmIsa isa, Form form, int threads) {
  const int N = shape.n, K = shape.k;
  const auto A = random_int8(size_t(M) * K, 1), W = random_int8(size_t(N) * K, 2);
  std::vector<int32_t> C(size_t(M) * N);
  vnni_peak_ops();  // measured before the timed loop
  amx_peak_ops();
  qmsim::golden::PackedWeightsS8 packed;
  if (form == Form::kPacked || form == Form::kDispatchedPacked) {
    packed = qmsim::golden::pack_weights_s8(N, K, W.data(), threads);
  }
  const double cpu_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (auto _ : state) {
    switch (form) {
      case Form::kRefDefinition:
        qmsim::golden::gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), C.data());
        break;
      case Form::kUnpacked:
        qmsim::golden::gemm_s8s8_s32_with(isa, M, N, K, A.data(), W.data(), C.data(), threads);
        break;
      case Form::kPacked:
        qmsim::golden::gemm_s8s8_s32_packed_with(isa, M, A.data(), packed, C.data(), threads);
        break;
      case Form::kDispatchedPacked:  // threads is an upper bound here
        qmsim::golden::gemm_s8s8_s32_packed(M, A.data(), packed, C.data(), threads);
        break;
    }
    benchmark::ClobberMemory();
  }
  const double cpu_per_thread = (cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start) / threads;
  const double ops = 2.0 * M * N * K;
  state.counters["GOPS"] =
      benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (form == Form::kDispatchedPacked) return;  // its thread count is the library's choice
  const double gops_cpu = ops * double(state.iterations()) / cpu_per_thread * 1e-9;
  state.counters["GOPS_cpu"] = gops_cpu;
  const double peak = isa == GemmIsa::kAmx ? amx_peak_ops() : vnni_peak_ops();
  if (peak > 0) state.counters["of_peak"] = gops_cpu / (threads * peak * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  GemmIsa dispatched = GemmIsa::kRef;  // for the peak the dispatched rows are compared with
  for (GemmIsa isa : {GemmIsa::kRef, GemmIsa::kAvx2, GemmIsa::kAvx512, GemmIsa::kAmx}) {
    if (std::string(qmsim::golden::gemm_isa_name(isa)) == qmsim::golden::gemm_s8s8_s32_isa()) {
      dispatched = isa;
    }
  }
  benchmark::RegisterBenchmark("peak/vnni_vpdpbusd/threads:1", BM_Peak, false)->Iterations(1);
  if (qmsim::golden::gemm_isa_available(GemmIsa::kAmx)) {
    benchmark::RegisterBenchmark("peak/amx_tdpbssd/threads:1", BM_Peak, true)->Iterations(1);
  }
  for (int M : {80, 512}) {
    for (const Shape& shape : kShapes) {
      const std::string prefix = std::string(shape.name) + "/M:" + std::to_string(M);
      benchmark::RegisterBenchmark((prefix + "/ref/definition/threads:1").c_str(), BM_Gemm, shape,
                                   M, GemmIsa::kRef, Form::kRefDefinition, 1)
          ->UseRealTime()->Unit(benchmark::kMicrosecond);
      for (int threads : {1, 2}) {
        const std::string name = prefix + "/dispatched_" + qmsim::golden::gemm_s8s8_s32_isa() +
                                 "/packed/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, shape, M, dispatched,
                                     Form::kDispatchedPacked, threads)
            ->UseRealTime()->Unit(benchmark::kMicrosecond);
      }
      for (GemmIsa isa : {GemmIsa::kRef, GemmIsa::kAvx2, GemmIsa::kAvx512, GemmIsa::kAmx}) {
        if (!qmsim::golden::gemm_isa_available(isa)) continue;
        for (int threads : {1, 2}) {
          for (Form form : {Form::kUnpacked, Form::kPacked}) {
            if (isa == GemmIsa::kRef && (threads > 1 || form == Form::kPacked)) continue;
            const std::string isa_name =
                isa == GemmIsa::kRef ? "portable" : qmsim::golden::gemm_isa_name(isa);
            const std::string name = prefix + "/" + isa_name +
                                     (form == Form::kPacked ? "/packed" : "/unpacked") +
                                     "/threads:" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, shape, M, isa, form, threads)
                ->UseRealTime()->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
