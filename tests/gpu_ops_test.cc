// gpu_ref per-kernel tests (qmsim/gpu/ops.h): every ops:: function runs ONE CUDA kernel on random
// host inputs (fixed seeds) and must equal its golden op bit for bit (floats compared as bit
// patterns). Shapes include odd ones (M = 1, K not a multiple of 4 or 16, partial tiles, L = 1),
// saturating scales and exact rounding ties; each tie / saturation case also checks that the test
// really produced ties or clipped outputs. CI has no GPU: the tests report SKIPPED with the
// reason; tools/device-test.sh runs them on a GPU machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "qmsim/eval/lambada.h"
#include "qmsim/golden/conv1d.h"
#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/linear_int8.h"
#include "qmsim/golden/lm_head.h"
#include "qmsim/golden/mode.h"
#include "qmsim/golden/mode_ops.h"
#include "qmsim/golden/rmsnorm_quant.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/golden/selective_scan_pseq.h"
#include "qmsim/gpu/gpu.h"
#include "qmsim/gpu/ops.h"
#include "qmsim/numerics.h"
#include "gpu_require.h"

namespace qmsim {
namespace {

using gpu::GemmKernel;
using num::Rounding;

constexpr int kThreads = 4;  // golden thread count (golden results are thread-count invariant)
const GemmKernel kGemmKernels[] = {GemmKernel::kNaive,      GemmKernel::kDp4a,    GemmKernel::kMma,
                                   GemmKernel::kMmaAsync,  GemmKernel::kMmaStaged, GemmKernel::kWgmma,
                                   GemmKernel::kMmaLean};

// ---------------------------------------------------------------- random inputs
std::vector<int8_t> rand_s8(std::mt19937& g, size_t n, int lo = -128, int hi = 127) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(d(g));
  return v;
}
std::vector<float> rand_f32(std::mt19937& g, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}
/// f16 bits of uniform values in [lo, hi] (RNE-rounded), a few exact zeros and f16 subnormals mixed in.
std::vector<uint16_t> rand_f16(std::mt19937& g, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t pick = g() % 64;
    if (pick == 0) v[i] = 0;
    else if (pick == 1) v[i] = static_cast<uint16_t>((1 + g() % 0x3FF) | (g() & 1 ? 0x8000 : 0));  // subnormal
    else v[i] = num::f32_to_f16_rne(d(g));
  }
  return v;
}
size_t sz(int a, int b) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

// ---------------------------------------------------------------- comparison
std::string show(int8_t v) { return std::to_string(static_cast<int>(v)); }
std::string show(uint16_t h) {  // always f16 bits in this API
  std::ostringstream os;
  os << std::setprecision(9) << num::f16_to_f32(h) << " (f16 0x" << std::hex << std::setw(4) << std::setfill('0') << h
     << ")";
  return os.str();
}
std::string show(float f) {
  std::ostringstream os;
  os << std::setprecision(9) << f << " (0x" << std::hex << std::setw(8) << std::setfill('0') << num::f32_bits(f)
     << ")";
  return os.str();
}

/// Element-wise bit comparison; on a mismatch reports the count and the first few [index] (or
/// [row, col] when cols > 0) with both values. Returns true when equal.
template <typename T>
bool expect_same_bits(const std::vector<T>& golden, const std::vector<T>& gpu, const std::string& what, int cols = 0) {
  if (golden.size() != gpu.size()) {
    ADD_FAILURE() << what << ": size golden " << golden.size() << " gpu " << gpu.size();
    return false;
  }
  if (golden.empty() || std::memcmp(golden.data(), gpu.data(), golden.size() * sizeof(T)) == 0) return true;
  size_t bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < golden.size(); ++i) {
    if (std::memcmp(&golden[i], &gpu[i], sizeof(T)) == 0) continue;
    if (bad < 10) {
      os << "\n  [" << i;
      if (cols > 0) os << " = " << i / static_cast<size_t>(cols) << "," << i % static_cast<size_t>(cols);
      os << "] golden " << show(golden[i]) << "  gpu " << show(gpu[i]);
    }
    ++bad;
  }
  ADD_FAILURE() << what << ": " << bad << " of " << golden.size() << " elements differ" << os.str();
  return false;
}
bool expect_same_bits(float golden, float gpu, const std::string& what) {
  return expect_same_bits(std::vector<float>{golden}, std::vector<float>{gpu}, what);
}

/// |x| has fractional part exactly 1/2 (an exact rounding tie of an integer rounding).
bool is_half(float x) {
  const float a = std::fabs(x);
  return std::isfinite(a) && a - std::floor(a) == 0.5f;
}
/// x lies exactly halfway between two adjacent f16 values (an f16 RNE tie).
bool is_f16_tie(float x) {
  const float r = num::round_to_f16(x);
  if (r == x || !std::isfinite(r)) return false;
  const float other = 2.0f * x - r;  // the other neighbour if x is the midpoint
  return num::round_to_f16(other) == other;
}

// ================================================================ GEMM
struct GemmData {
  int M, N, K, ldx;
  std::vector<int8_t> x;   // [M, ldx] as the kernel reads it (padding is garbage)
  std::vector<int8_t> xc;  // [M, K] compact, for golden
  std::vector<int8_t> W;   // [N, K]
};

GemmData make_gemm(uint32_t seed, int M, int N, int K, int ldx, int lo = -128, int hi = 127) {
  std::mt19937 g(seed);
  GemmData d{M, N, K, ldx, rand_s8(g, sz(M, ldx)), {}, rand_s8(g, sz(N, K), lo, hi)};
  std::uniform_int_distribution<int> v(lo, hi);
  d.xc.resize(sz(M, K));
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) d.x[sz(m, ldx) + k] = d.xc[sz(m, K) + k] = static_cast<int8_t>(v(g));
  return d;
}

struct GemmGolden {
  std::vector<int8_t> s8;     // two-scale epilogue, every row
  std::vector<uint16_t> f16;  // two-scale epilogue, every row
  std::vector<int8_t> s8_alpha;
  std::vector<uint16_t> f16_alpha;
};

/// Every GemmKernel x {int8, f16 out} x {row_alpha null, some rows (m % 3 == 1), all rows} against
/// golden linear_int8_{s8,f16}[_alpha], row by row. Returns the golden results for the case's checks.
GemmGolden check_gemm(const GemmData& d, float inner, float outer, float alpha, const std::string& what) {
  const int M = d.M, N = d.N, K = d.K;
  GemmGolden gg{std::vector<int8_t>(sz(M, N)), std::vector<uint16_t>(sz(M, N)), std::vector<int8_t>(sz(M, N)),
                std::vector<uint16_t>(sz(M, N))};
  golden::linear_int8_s8(M, N, K, d.xc.data(), d.W.data(), inner, outer, gg.s8.data(), kThreads);
  golden::linear_int8_f16(M, N, K, d.xc.data(), d.W.data(), inner, outer, gg.f16.data(), kThreads);
  golden::linear_int8_s8_alpha(M, N, K, d.xc.data(), d.W.data(), alpha, gg.s8_alpha.data(), kThreads);
  golden::linear_int8_f16_alpha(M, N, K, d.xc.data(), d.W.data(), alpha, gg.f16_alpha.data(), kThreads);

  struct AlphaRows {
    const char* name;
    std::vector<uint8_t> rows;  // empty: row_alpha = nullptr
  };
  std::vector<AlphaRows> variants = {{"row_alpha=null", {}}, {"row_alpha=m%3==1", {}}, {"row_alpha=all", {}}};
  for (int m = 0; m < M; ++m) {
    variants[1].rows.push_back(m % 3 == 1 ? 1 : 0);
    variants[2].rows.push_back(1);
  }
  for (const AlphaRows& var : variants) {
    std::vector<int8_t> want_s8(sz(M, N));
    std::vector<uint16_t> want_f16(sz(M, N));
    for (int m = 0; m < M; ++m) {
      const bool a = !var.rows.empty() && var.rows[static_cast<size_t>(m)] != 0;
      std::memcpy(&want_s8[sz(m, N)], &(a ? gg.s8_alpha : gg.s8)[sz(m, N)], static_cast<size_t>(N));
      std::memcpy(&want_f16[sz(m, N)], &(a ? gg.f16_alpha : gg.f16)[sz(m, N)], sz(N, 2));
    }
    const uint8_t* ra = var.rows.empty() ? nullptr : var.rows.data();
    for (GemmKernel k : kGemmKernels) {
      const std::string tag = what + " " + gpu::gemm_kernel_name(k) + " " + var.name;
      std::vector<int8_t> y_s8(sz(M, N), int8_t{0x5A});
      gpu::ops::gemm_s8(k, M, N, K, d.x.data(), d.ldx, d.W.data(), inner, outer, alpha, ra, false, y_s8.data());
      expect_same_bits(want_s8, y_s8, tag + " int8 out", N);
      std::vector<uint16_t> y_f16(sz(M, N), uint16_t{0x5A5A});
      gpu::ops::gemm_s8(k, M, N, K, d.x.data(), d.ldx, d.W.data(), inner, outer, alpha, ra, true, y_f16.data());
      expect_same_bits(want_f16, y_f16, tag + " f16 out", N);
    }
  }
  return gg;
}

/// Two scales giving outputs of about `target` in magnitude for full-range int8 inputs and depth K
/// (acc ~ 5461·sqrt(K)); inner is an arbitrary non-power-of-two so both products round.
void gemm_scales(int K, float target, float* inner, float* outer, float* alpha) {
  *inner = 0.0123f;
  *outer = static_cast<float>(target / (5461.0 * std::sqrt(static_cast<double>(K)) * 0.0123));
  *alpha = (*inner * *outer) * 1.01f;  // a different value, so a row on the wrong path differs
}

std::string gemm_name(const char* kind, const GemmData& d) {
  std::ostringstream os;
  os << kind << " M=" << d.M << " N=" << d.N << " K=" << d.K << " ldx=" << d.ldx;
  return os.str();
}

TEST(GpuOps, GemmS8RandomShapes) {
  REQUIRE_GPU();
  struct Shape {
    int M, N, K, ldx;
  };
  const Shape shapes[] = {
      {1, 1, 1, 1},         {1, 37, 5, 5},        {2, 5, 3, 3},          {3, 7, 13, 13},      {5, 200, 17, 20},
      {64, 64, 64, 64},     {128, 256, 96, 96},   {129, 130, 100, 100},  {200, 33, 33, 40},   {17, 300, 1536, 1536},
      {1, 48, 1536, 1536},  {257, 129, 200, 203}, {16, 8, 32, 32},       {33, 70, 31, 31},
      // the cp.async kernels (K % 16 == 0, ldx % 16 == 0): several row blocks, an odd last
      // column (scalar store after the pairs), dt_proj's K = 48 (one partial K tile), two whole tiles
      {257, 300, 192, 192}, {130, 129, 64, 64},   {300, 1536, 48, 48},   {200, 257, 128, 144},
      // 16 x 24 = 384 output tiles with partial last tiles and K = 208 (3 whole k-tiles and a
      // partial one)
      {2001, 3000, 208, 224},
  };
  uint32_t seed = 100;
  for (const Shape& s : shapes) {
    const GemmData d = make_gemm(seed++, s.M, s.N, s.K, s.ldx);
    float inner, outer, alpha;
    gemm_scales(s.K, 40.0f, &inner, &outer, &alpha);
    check_gemm(d, inner, outer, alpha, gemm_name("random", d));
  }
}

TEST(GpuOps, GemmS8Saturation) {
  REQUIRE_GPU();
  // int8: scales 50x too big, most outputs clip at 127 / -128.
  uint32_t seed = 200;
  const int sat_shapes[][3] = {{33, 70, 64}, {1, 130, 1536}, {130, 129, 47}};
  for (const auto& s : sat_shapes) {
    const GemmData d = make_gemm(seed++, s[0], s[1], s[2], s[2]);
    float inner, outer, alpha;
    gemm_scales(s[2], 2000.0f, &inner, &outer, &alpha);
    const GemmGolden gg = check_gemm(d, inner, outer, alpha, gemm_name("saturating", d));
    size_t sat = 0, sat_alpha = 0;
    for (size_t i = 0; i < gg.s8.size(); ++i) {
      sat += gg.s8[i] == 127 || gg.s8[i] == -128;
      sat_alpha += gg.s8_alpha[i] == 127 || gg.s8_alpha[i] == -128;
    }
    EXPECT_GT(sat, gg.s8.size() / 2) << "the case must saturate";
    EXPECT_GT(sat_alpha, gg.s8.size() / 2) << "the case must saturate (alpha)";
  }
  // f16: scales so large that outputs overflow to +-inf.
  const GemmData d = make_gemm(210, 9, 40, 64, 64);
  const GemmGolden gg = check_gemm(d, 1.0f, 8.0f, 8.0f, gemm_name("f16-overflow", d));
  size_t inf = 0;
  for (uint16_t h : gg.f16) inf += (h & 0x7FFF) == 0x7C00;
  EXPECT_GT(inf, 0u) << "the case must overflow f16";
}

TEST(GpuOps, GemmS8RoundingTies) {
  REQUIRE_GPU();
  // int8 RNE ties: inner = 0.5, outer = 1 (and alpha = 0.5): v = acc/2 exactly, k + 0.5 for odd acc.
  // Small operands keep |acc| < 256 so the ties are not hidden by saturation.
  uint32_t seed = 300;
  const int tie_shapes[][3] = {{40, 50, 16}, {1, 70, 15}, {130, 24, 7}};
  for (const auto& s : tie_shapes) {
    const GemmData d = make_gemm(seed++, s[0], s[1], s[2], s[2], -3, 3);
    check_gemm(d, 0.5f, 1.0f, 0.5f, gemm_name("int8-ties", d));
    size_t ties = 0;
    for (int m = 0; m < d.M; ++m)
      for (int n = 0; n < d.N; ++n) {
        int32_t acc = 0;
        for (int k = 0; k < d.K; ++k) acc += int32_t{d.xc[sz(m, d.K) + k]} * int32_t{d.W[sz(n, d.K) + k]};
        const float v = 0.5f * static_cast<float>(acc);
        ties += is_half(v) && std::fabs(v) < 127.0f;
      }
    EXPECT_GT(ties, 0u) << "the case must produce exact .5 ties";
  }
  // f16 RNE ties: inner = outer = 1, |acc| in [2048, 8192) where the f16 spacing is 2 or 4.
  const GemmData d = make_gemm(310, 20, 70, 8, 8, -40, 40);
  const GemmGolden gg = check_gemm(d, 1.0f, 1.0f, 1.0f, gemm_name("f16-ties", d));
  size_t ties = 0;
  for (int m = 0; m < d.M; ++m)
    for (int n = 0; n < d.N; ++n) {
      int32_t acc = 0;
      for (int k = 0; k < d.K; ++k) acc += int32_t{d.xc[sz(m, d.K) + k]} * int32_t{d.W[sz(n, d.K) + k]};
      ties += is_f16_tie(static_cast<float>(acc));
    }
  EXPECT_GT(ties, 0u) << "the case must produce f16 ties";
  (void)gg;
}

TEST(GpuOps, GemmS8ExtremeOperands) {
  REQUIRE_GPU();
  // Rows of x all -128 or all 127, W rows all -128 / all 127 / random {-128, 127} / random: the
  // int32 sums reach 16384·K (K = 1537: above 2^24, so the i32 -> f32 conversion rounds too).
  for (int K : {1536, 1537, 19}) {
    GemmData d = make_gemm(400 + static_cast<uint32_t>(K), 6, 40, K, K);
    std::mt19937 g(410 + static_cast<uint32_t>(K));
    for (int m = 0; m < d.M; ++m)
      for (int k = 0; k < K; ++k) d.x[sz(m, K) + k] = d.xc[sz(m, K) + k] = static_cast<int8_t>(m % 2 == 0 ? -128 : 127);
    for (int n = 0; n < d.N; ++n)
      for (int k = 0; k < K; ++k) {
        int8_t& w = d.W[sz(n, K) + k];
        switch (n % 4) {
          case 0: w = -128; break;
          case 1: w = 127; break;
          case 2: w = static_cast<int8_t>(g() % 2 ? 127 : -128); break;
          default: break;  // keep the random value
        }
      }
    const float target = 100.0f / (16384.0f * static_cast<float>(K));  // |acc| max -> ~100
    check_gemm(d, 0.001f, target / 0.001f, target * 1.01f, gemm_name("extreme", d));
  }
}

TEST(GpuOps, GemmS8LargePartialSumsCancel) {
  REQUIRE_GPU();
  // The int32 sums must be exact even where an f32 (or f16/tf32) accumulator would round: K = 4112,
  // the first 2048 products are +-16129 (odd), the next 2048 cancel them exactly, and a tail of 16
  // small products leaves |acc| < 160. With inner = 0.5, outer = 1 every unit of acc is visible
  // (the partial sums pass 2^24, where f32 spacing is 2).
  const int M = 6, N = 24, half = 2048, tail = 16, K = 2 * half + tail;
  GemmData d = make_gemm(450, M, N, K, K, -3, 3);  // the tails keep these random values
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < 2 * half; ++k) d.x[sz(m, K) + k] = d.xc[sz(m, K) + k] = static_cast<int8_t>(m % 2 ? -127 : 127);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < 2 * half; ++k) d.W[sz(n, K) + k] = static_cast<int8_t>((k < half) == (n % 2 == 0) ? 127 : -127);
  check_gemm(d, 0.5f, 1.0f, 0.5f, gemm_name("cancelling", d));
  // The case must be able to fail: an f32 accumulator in k order gives other outputs somewhere.
  size_t differ = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      int32_t acc = 0;
      float facc = 0.0f;
      for (int k = 0; k < K; ++k) {
        const int32_t p = int32_t{d.xc[sz(m, K) + k]} * int32_t{d.W[sz(n, K) + k]};
        acc += p;
        facc += static_cast<float>(p);
      }
      EXPECT_LT(std::abs(acc), 160) << "m " << m << " n " << n;
      differ += num::quant_rne_sat8(0.5f * facc) != num::quant_rne_sat8(0.5f * static_cast<float>(acc));
    }
  EXPECT_GT(differ, 0u) << "an f32 accumulator must be detectable by this case";
}

/// Sets (value) or unsets (nullptr) an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

// The scan timing probes (bench only) refuse what they cannot run before touching the device, so
// this runs without one too.
TEST(GpuOps, ScanProbeRejectsUnknownProbesAndShapes) {
  for (int bad : {-1, 3, 5, 12, 17, 30, 32, 64}) {
    try {
      gpu::ops::time_scan_probe_ms(bad, 1, 1, 12, 16, 1);
      ADD_FAILURE() << "probe " << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("probe " + std::to_string(bad)), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(gpu::ops::time_scan_probe_ms(0, 1, 1, 12, 8, 1), std::invalid_argument);  // N != 16
}

TEST(GpuOps, ScanProbeTimesEveryProbe) {
  REQUIRE_GPU();
  for (int probe : {0, 1, 2, 4, 8, 16, 31}) EXPECT_GT(gpu::ops::time_scan_probe_ms(probe, 64, 16, 48, 16, 1), 0.0) << probe;
}

TEST(GpuOps, GemmKernelNamesAndEnv) {
  REQUIRE_GPU();
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kNaive), "naive");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kDp4a), "dp4a");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kMma), "mma");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kMmaAsync), "mma-async");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kMmaStaged), "mma-staged");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kWgmma), "wgmma");
  EXPECT_STREQ(gpu::gemm_kernel_name(GemmKernel::kMmaLean), "mma-lean");
  {
    ScopedEnv unset("QMSIM_GPU_GEMM", nullptr);
    EXPECT_EQ(gpu::gemm_kernel_from_env(), GemmKernel::kWgmma);  // the default since run36 (kMmaLean from run30, kMmaStaged from run22)
  }
  {
    ScopedEnv gone("QMSIM_GPU_GEMM", "mma-wide");  // dropped (run17: 2x slower)
    EXPECT_THROW(gpu::gemm_kernel_from_env(), std::invalid_argument);
  }
  for (GemmKernel k : kGemmKernels) {
    ScopedEnv env("QMSIM_GPU_GEMM", gpu::gemm_kernel_name(k));
    EXPECT_EQ(gpu::gemm_kernel_from_env(), k) << gpu::gemm_kernel_name(k);
  }
  ScopedEnv env("QMSIM_GPU_GEMM", "bogus");
  try {
    gpu::gemm_kernel_from_env();
    ADD_FAILURE() << "QMSIM_GPU_GEMM=bogus accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("QMSIM_GPU_GEMM"), std::string::npos) << e.what();
  }
}

// ================================================================ norms
TEST(GpuOps, RmsnormQuant) {
  REQUIRE_GPU();
  const int shapes[][2] = {{1, 1}, {1, 7}, {5, 64}, {3, 768}, {37, 768}, {17, 1536}, {2, 1000}, {3, 6}};
  uint32_t seed = 500;
  for (const auto& sh : shapes) {
    const int L = sh[0], D = sh[1];
    std::mt19937 g(seed++);
    const std::vector<uint16_t> h = rand_f16(g, sz(L, D), -3.0f, 3.0f);
    const std::vector<float> res = rand_f32(g, sz(L, D), -8.0f, 8.0f);
    for (bool with_res : {false, true})
      for (float s_in : {4.0f / 127.0f, 0.004f}) {  // the second saturates
        std::ostringstream tag;
        tag << "rmsnorm_quant L=" << L << " D=" << D << " residual=" << with_res << " s_in=" << s_in;
        const float* r = with_res ? res.data() : nullptr;
        std::vector<float> ro_g(sz(L, D)), ro(sz(L, D), -1.0f);
        std::vector<int8_t> q_g(sz(L, D)), q(sz(L, D), int8_t{0x5A});
        golden::rmsnorm_quant(L, D, h.data(), r, nullptr, 1e-5f, s_in, ro_g.data(), q_g.data());
        for (gpu::NormKernel k : {gpu::NormKernel::kWarp, gpu::NormKernel::kTokens, gpu::NormKernel::kTokens8}) {
          std::fill(ro.begin(), ro.end(), -1.0f), std::fill(q.begin(), q.end(), int8_t{0x5A});
          gpu::ops::rmsnorm_quant(L, D, h.data(), r, 1e-5f, s_in, ro.data(), q.data(), k);
          const std::string kt = tag.str() + " " + gpu::norm_kernel_name(k);
          expect_same_bits(ro_g, ro, kt + " residual_out", D);
          expect_same_bits(q_g, q, kt + " q_out", D);
        }
      }
  }
}

TEST(GpuOps, RmsnormQuantRoundingTies) {
  REQUIRE_GPU();
  // D = 16, |x| = six 3s and ten 1s: Σx² = 64, ms = 4, eps = 0 -> r = 0.5 exactly, y = ±1.5 / ±0.5:
  // with s_in = 1 every output is an RNE tie (1.5 -> 2, 0.5 -> 0).
  const int L = 6, D = 16;
  std::mt19937 g(550);
  std::vector<uint16_t> h(sz(L, D));
  for (int t = 0; t < L; ++t) {
    std::vector<float> row(D, 1.0f);
    for (int j = 0; j < 6; ++j) row[static_cast<size_t>(j)] = 3.0f;
    std::shuffle(row.begin(), row.end(), g);
    for (int j = 0; j < D; ++j) h[sz(t, D) + j] = num::f32_to_f16_rne(g() % 2 ? -row[static_cast<size_t>(j)] : row[static_cast<size_t>(j)]);
  }
  std::vector<float> ro_g(sz(L, D)), ro(sz(L, D));
  std::vector<int8_t> q_g(sz(L, D)), q(sz(L, D), int8_t{0x5A});
  golden::rmsnorm_quant(L, D, h.data(), nullptr, nullptr, 0.0f, 1.0f, ro_g.data(), q_g.data());
  for (gpu::NormKernel k : {gpu::NormKernel::kWarp, gpu::NormKernel::kTokens, gpu::NormKernel::kTokens8}) {
    gpu::ops::rmsnorm_quant(L, D, h.data(), nullptr, 0.0f, 1.0f, ro.data(), q.data(), k);
    expect_same_bits(ro_g, ro, std::string("ties residual_out ") + gpu::norm_kernel_name(k), D);
    expect_same_bits(q_g, q, std::string("ties q_out ") + gpu::norm_kernel_name(k), D);
  }
  size_t ties = 0;
  for (size_t i = 0; i < ro_g.size(); ++i) ties += is_half(ro_g[i] * 0.5f) && (q_g[i] == 0 || std::abs(q_g[i]) == 2);
  EXPECT_EQ(ties, ro_g.size()) << "every output of this case is a tie";
}

TEST(GpuOps, RmsnormFinalF16) {
  REQUIRE_GPU();
  const int shapes[][2] = {{1, 7}, {4, 64}, {3, 768}, {9, 1000}};
  uint32_t seed = 600;
  for (const auto& sh : shapes) {
    const int L = sh[0], D = sh[1];
    std::mt19937 g(seed++);
    const std::vector<uint16_t> h = rand_f16(g, sz(L, D), -4.0f, 4.0f);
    const std::vector<float> res = rand_f32(g, sz(L, D), -30.0f, 30.0f);  // not on the f16 grid
    const std::vector<uint16_t> w = rand_f16(g, static_cast<size_t>(D), -1.5f, 1.5f);
    for (bool f16_res : {false, true})
      for (bool with_w : {false, true})
        for (bool with_res : {false, true}) {
          std::ostringstream tag;
          tag << "rmsnorm_final_f16 L=" << L << " D=" << D << " f16_residual=" << f16_res << " weight=" << with_w
              << " residual=" << with_res;
          std::vector<uint16_t> out_g(sz(L, D)), out(sz(L, D), uint16_t{0x5A5A});
          golden::rmsnorm_final_f16(L, D, h.data(), with_res ? res.data() : nullptr, with_w ? w.data() : nullptr, 1e-5f,
                                    f16_res, out_g.data());
          gpu::ops::rmsnorm_final_f16(L, D, h.data(), with_res ? res.data() : nullptr, with_w ? w.data() : nullptr,
                                      1e-5f, f16_res, out.data());
          expect_same_bits(out_g, out, tag.str(), D);
        }
  }
}

// ================================================================ conv1d
struct ConvRun {
  std::vector<int8_t> out;
  std::vector<float> v;
};

/// golden vs gpu for one conv case (bias null / not, v_out null / not); returns golden's out and v.
ConvRun check_conv(int L, int E, int K, const std::vector<int8_t>& x, const std::vector<int8_t>& w,
                   const std::vector<int8_t>& bias, const golden::Conv1dScales& s, const std::string& what) {
  ConvRun gr;
  for (bool with_bias : {false, true}) {
    const int8_t* b = with_bias ? bias.data() : nullptr;
    std::vector<int8_t> out_g(sz(L, E)), out(sz(L, E), int8_t{0x5A});
    std::vector<float> v_g(sz(L, E)), v(sz(L, E), -1.0f);
    golden::conv1d_silu_quant(L, E, K, x.data(), w.data(), b, s, out_g.data(), v_g.data(), kThreads);
    const std::string tag = what + " bias=" + (with_bias ? "yes" : "null");
    gpu::ops::conv1d_silu_quant(L, E, K, x.data(), w.data(), b, s, out.data(), v.data());
    expect_same_bits(out_g, out, tag + " out", E);
    expect_same_bits(v_g, v, tag + " v_out", E);
    for (gpu::ConvKernel k : {gpu::ConvKernel::kExact, gpu::ConvKernel::kFast, gpu::ConvKernel::kDp4a, gpu::ConvKernel::kStaged}) {
      std::vector<int8_t> out2(sz(L, E), int8_t{0x5A});
      gpu::ops::conv1d_silu_quant(L, E, K, x.data(), w.data(), b, s, out2.data(), nullptr, k);
      expect_same_bits(out_g, out2, tag + " out (v_out=null, " + gpu::conv_kernel_name(k) + ")", E);
    }
    if (with_bias) gr = {out_g, v_g};
  }
  return gr;
}

TEST(GpuOps, Conv1dSiluQuant) {
  REQUIRE_GPU();
  const int shapes[][3] = {{1, 5, 4}, {3, 1, 4}, {37, 64, 4}, {16, 96, 4}, {200, 48, 4}, {9, 7, 3}, {4, 33, 2}, {35, 1040, 4}};
  uint32_t seed = 700;
  size_t saturated = 0;  // over the s_u = 0.01 runs
  for (const auto& sh : shapes) {
    const int L = sh[0], E = sh[1], K = sh[2];
    std::mt19937 g(seed++);
    const std::vector<int8_t> x = rand_s8(g, sz(L, E)), w = rand_s8(g, sz(E, K)), bias = rand_s8(g, static_cast<size_t>(E));
    golden::Conv1dScales s;
    s.weight_scale = 0.0113f;
    s.bias_scale = 0.021f;
    s.input_scale = 0.049f;
    for (float s_u : {0.1f, 0.01f}) {  // the second saturates
      s.output_scale = s_u;
      std::ostringstream tag;
      tag << "conv L=" << L << " E=" << E << " K=" << K << " s_u=" << s_u;
      const ConvRun gr = check_conv(L, E, K, x, w, bias, s, tag.str());
      if (s_u == 0.01f) {
        for (int8_t o : gr.out) saturated += o == 127;
      }
    }
  }
  EXPECT_GT(saturated, 1000u) << "the s_u = 0.01 cases must saturate";
}

TEST(GpuOps, Conv1dSiluQuantRnaTies) {
  REQUIRE_GPU();
  // w_c = s_xz = b_c = 1: v = acc + b exactly; for v >= 17, 1 + exp(-v) rounds to 1 so silu(v) = v;
  // s_u = 2: odd v gives v/s_u = k + 0.5, an RNA tie (RNE would round half of them the other way).
  const int L = 40, E = 64, K = 4;
  std::mt19937 g(750);
  const std::vector<int8_t> x = rand_s8(g, sz(L, E), 1, 10), w = rand_s8(g, sz(E, K), 1, 8);
  const std::vector<int8_t> bias = rand_s8(g, static_cast<size_t>(E), -5, 5);
  golden::Conv1dScales s;
  s.weight_scale = s.bias_scale = s.input_scale = 1.0f;
  s.output_scale = 2.0f;
  const ConvRun gr = check_conv(L, E, K, x, w, bias, s, "conv rna-ties");
  size_t ties = 0;
  for (size_t i = 0; i < gr.v.size(); ++i) ties += is_half(gr.v[i] / 2.0f) && gr.v[i] / 2.0f < 127.0f;
  EXPECT_GT(ties, 0u) << "the case must produce exact .5 ties";
}

TEST(GpuOps, ConvFastQuantEqualsGoldenOnEveryInput) {
  REQUIRE_GPU();
  // k_conv4's quantizer (hardware ex2/rcp approximations, golden's definition within the
  // certified margin of a rounding boundary) against golden's quant_rna_sat8(silu_f32(y) / s_u)
  // for every binary32 y: the fast path must never decide a code golden would not.
  for (float s_u : {0.1f, 0.01f, 2.0f, 0.0371f, 1e-3f, 7.5f, 3e-5f, 0.2883f}) {
    uint32_t first = 0;
    uint64_t fallbacks = 0;
    const uint64_t bad = gpu::ops::conv_quant_mismatches_all_inputs(s_u, &first, &fallbacks);
    EXPECT_EQ(bad, 0u) << "s_u=" << s_u << ": first differing y bits 0x" << std::hex << first;
    // |y| <= 64 covers about 2·(127 - 0 + 1 + 6)·2^23 bit patterns; the margin fallbacks are a
    // small fraction of them, and some there must be (rounding boundaries are crossed).
    EXPECT_GT(fallbacks, 0u) << "s_u=" << s_u;
    EXPECT_LT(fallbacks, uint64_t{1} << 26) << "s_u=" << s_u << ": the margin takes too many inputs";
    std::printf("conv quantizer s_u=%g: 0 of 2^32 inputs differ, %llu margin fallbacks\n", s_u,
                static_cast<unsigned long long>(fallbacks));
  }
}

// ================================================================ selective scan
struct ScanIn {
  int L, E, N;
  std::vector<int8_t> u, dt, B, C, z, A_log, D, dt_bias;
};

ScanIn make_scan(uint32_t seed, int L, int E, int N) {
  std::mt19937 g(seed);
  ScanIn c{L, E, N, rand_s8(g, sz(L, E)), rand_s8(g, sz(L, E)), rand_s8(g, sz(L, N)), rand_s8(g, sz(L, N)),
           rand_s8(g, sz(L, E)), rand_s8(g, sz(E, N), 0, 127), rand_s8(g, static_cast<size_t>(E)),
           rand_s8(g, static_cast<size_t>(E))};
  return c;
}

golden::SsmScales realistic_scales() {
  golden::SsmScales s;
  s.u = 0.02f;
  s.dt = 0.05f;
  s.B = s.C = 0.03f;
  s.z = 0.05f;
  s.A = 0.03f;
  s.D = 0.01f;
  s.dt_bias = 0.02f;
  s.state = 0.05f;
  return s;
}

/// Scale sets: realistic; large dt (softplus argument up to ~40, both sides of the threshold 20);
/// a small state scale so state_q saturates.
std::vector<std::pair<std::string, golden::SsmScales>> scan_scale_sets() {
  std::vector<std::pair<std::string, golden::SsmScales>> v;
  v.emplace_back("realistic", realistic_scales());
  golden::SsmScales big = realistic_scales();
  big.dt = 0.3f;
  big.dt_bias = 0.05f;
  v.emplace_back("large-dt", big);
  golden::SsmScales sat = realistic_scales();
  sat.u = 0.2f;
  sat.state = 0.0005f;
  v.emplace_back("state-saturating", sat);
  return v;
}

// Every shape runs through both scan kernels (QMSIM_GPU_SCAN=channels and =states). Channel
// kernel: N = 16 with the compile-time state count, the others the run-time form. State kernel:
// groups of 16, 8 and 8 lanes with 3 idle (N = 5); N = 64 > 32 falls back to the channel kernel.
const int kScanShapes[][3] = {{1, 32, 16}, {7, 48, 16}, {33, 32, 8}, {64, 37, 16}, {5, 1, 8}, {1, 48, 8}, {9, 20, 5}, {3, 16, 64}};
// ... and, for the int8-dt scans, with and without the exp tables (QMSIM_GPU_SCAN_TABLE=on|off;
// kScanTableTokens would leave these short documents without them under auto), and through the
// shared-memory table kernel (N = 16; E = 37 leaves a block with one channel of four; with the
// tables off, or N != 16, or an f32 dt it must fall back to the channel kernel). The f32-dt scan
// has no tables: "on" must fall back to the per-token exps.
struct ScanVariant {
  const char* kernel;
  const char* table;
};
const ScanVariant kScanVariants[] = {{"channels", "off"}, {"states", "off"},  {"channels", "on"},
                                     {"states", "on"},    {"shared", "on"},   {"shared", "off"},
                                     {"shared12", "on"},  {"pipe", "on"},     {"stream-f32", "on"},
                                     {"stream-pair", "on"}};


TEST(GpuOps, SelectiveScanInt8) {
  REQUIRE_GPU();
  uint32_t seed = 800;
  for (const auto& sh : kScanShapes)
  for (const ScanVariant& var : kScanVariants) {
    ScopedEnv env("QMSIM_GPU_SCAN", var.kernel), env_t("QMSIM_GPU_SCAN_TABLE", var.table);
    const std::string kern = std::string(var.kernel) + ", table " + var.table;
    const ScanIn c = make_scan(seed++, sh[0], sh[1], sh[2]);
    for (const auto& [sname, s] : scan_scale_sets()) {
      std::ostringstream tag;
      tag << "selective_scan (" << kern << ") L=" << c.L << " E=" << c.E << " N=" << c.N << " " << sname;
      std::vector<uint16_t> y_g(sz(c.L, c.E)), y(sz(c.L, c.E), uint16_t{0x5A5A});
      std::vector<float> st_g(sz(c.E, c.N)), st(sz(c.E, c.N), -1.0f);
      std::vector<int8_t> sq_g(sz(c.E, c.N)), sq(sz(c.E, c.N), int8_t{0x5A});
      golden::selective_scan(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(), c.A_log.data(),
                             c.D.data(), c.dt_bias.data(), s, y_g.data(), st_g.data(), sq_g.data(), kThreads);
      gpu::ops::selective_scan(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                               c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y.data(), st.data(), sq.data());
      expect_same_bits(y_g, y, tag.str() + " y", c.E);
      expect_same_bits(st_g, st, tag.str() + " state", c.N);
      expect_same_bits(sq_g, sq, tag.str() + " state_q", c.N);
      std::vector<uint16_t> y2(sz(c.L, c.E), uint16_t{0x5A5A});
      gpu::ops::selective_scan(c.L, c.E, c.N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                               c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y2.data(), nullptr, nullptr);
      expect_same_bits(y_g, y2, tag.str() + " y (state, state_q null)", c.E);
      if (sname == "state-saturating") {
        size_t sat = 0;
        for (int8_t q : sq_g) sat += q == 127 || q == -128;
        EXPECT_GT(sat, 0u) << tag.str() << ": state_q must saturate";
      }
    }
  }
}

TEST(GpuOps, SelectiveScanF32In) {
  REQUIRE_GPU();
  uint32_t seed = 900;
  for (const auto& sh : kScanShapes)
  for (const ScanVariant& var : kScanVariants) {
    ScopedEnv env("QMSIM_GPU_SCAN", var.kernel), env_t("QMSIM_GPU_SCAN_TABLE", var.table);
    const std::string kern = std::string(var.kernel) + ", table " + var.table;
    const int L = sh[0], E = sh[1], N = sh[2];
    const ScanIn c = make_scan(seed, L, E, N);
    std::mt19937 g(seed++ + 50);
    const std::vector<float> u = rand_f32(g, sz(L, E), -2.5f, 2.5f);
    const std::vector<float> dt_pre = rand_f32(g, sz(L, E), -6.0f, 26.0f);  // both sides of 20
    const std::vector<float> Bf = rand_f32(g, sz(L, N), -3.0f, 3.0f), Cf = rand_f32(g, sz(L, N), -3.0f, 3.0f);
    for (const auto& [sname, s] : scan_scale_sets()) {
      std::ostringstream tag;
      tag << "selective_scan_f32in (" << kern << ") L=" << L << " E=" << E << " N=" << N << " " << sname;
      std::vector<uint16_t> y_g(sz(L, E)), y(sz(L, E), uint16_t{0x5A5A});
      std::vector<float> st_g(sz(E, N)), st(sz(E, N), -1.0f);
      std::vector<int8_t> sq_g(sz(E, N)), sq(sz(E, N), int8_t{0x5A});
      golden::selective_scan_f32in(L, E, N, u.data(), dt_pre.data(), Bf.data(), Cf.data(), c.z.data(), c.A_log.data(),
                                   c.D.data(), s, y_g.data(), st_g.data(), sq_g.data(), kThreads);
      gpu::ops::selective_scan_f32in(L, E, N, u.data(), dt_pre.data(), Bf.data(), Cf.data(), c.z.data(),
                                     c.A_log.data(), c.D.data(), s, y.data(), st.data(), sq.data());
      expect_same_bits(y_g, y, tag.str() + " y", E);
      expect_same_bits(st_g, st, tag.str() + " state", N);
      expect_same_bits(sq_g, sq, tag.str() + " state_q", N);
    }
  }
}

TEST(GpuOps, SelectiveScanPseq) {
  REQUIRE_GPU();
  uint32_t seed = 1000;
  for (const auto& sh : kScanShapes)
  for (const ScanVariant& var : kScanVariants) {
    ScopedEnv env("QMSIM_GPU_SCAN", var.kernel), env_t("QMSIM_GPU_SCAN_TABLE", var.table);
    const std::string kern = std::string(var.kernel) + ", table " + var.table;
    const ScanIn c = make_scan(seed, sh[0], sh[1], sh[2]);
    std::mt19937 g(seed++ + 50);
    const std::vector<float> u_f32 = rand_f32(g, sz(c.L, c.E), -2.5f, 2.5f);
    for (const auto& [sname, s] : scan_scale_sets())
      for (bool int8_u : {true, false}) {
        std::ostringstream tag;
        tag << "selective_scan_pseq (" << kern << ") L=" << c.L << " E=" << c.E << " N=" << c.N << " " << sname
            << (int8_u ? " u_q" : " u_f32");
        const int8_t* uq = int8_u ? c.u.data() : nullptr;
        const float* uf = int8_u ? nullptr : u_f32.data();
        std::vector<uint16_t> y_g(sz(c.L, c.E)), y(sz(c.L, c.E), uint16_t{0x5A5A});
        std::vector<float> st_g(sz(c.E, c.N)), st(sz(c.E, c.N), -1.0f);
        golden::selective_scan_pseq(c.L, c.E, c.N, uq, uf, c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                                    c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y_g.data(), st_g.data(), kThreads);
        gpu::ops::selective_scan_pseq(c.L, c.E, c.N, uq, uf, c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                                      c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y.data(), st.data());
        expect_same_bits(y_g, y, tag.str() + " y", c.E);
        expect_same_bits(st_g, st, tag.str() + " state", c.N);
      }
  }
}

// The tables hold a value for each of dt's 256 codes (and z's): a document that walks through
// every code in every channel (shifted per channel so that the codes meet different states),
// through both kernels with tables, in kernel arithmetic and P-seq, against golden.
TEST(GpuOps, SelectiveScanTablesEveryCode) {
  REQUIRE_GPU();
  const int L = 256, E = 24, N = 16;
  ScanIn c = make_scan(1100, L, E, N);
  for (int t = 0; t < L; ++t)
    for (int e = 0; e < E; ++e) {
      c.dt[sz(t, E) + e] = static_cast<int8_t>((t + 11 * e) % 256 - 128);
      c.z[sz(t, E) + e] = static_cast<int8_t>((t + 5 * e) % 256 - 128);
    }
  for (const char* kern : {"channels", "states", "shared", "shared12", "pipe", "stream-f32", "stream-pair"}) {
    ScopedEnv env("QMSIM_GPU_SCAN", kern), env_t("QMSIM_GPU_SCAN_TABLE", "on");
    for (const auto& [sname, s] : scan_scale_sets()) {
      const std::string tag = std::string("tables, every code (") + kern + ") " + sname;
      std::vector<uint16_t> y_g(sz(L, E)), y(sz(L, E), uint16_t{0x5A5A});
      std::vector<float> st_g(sz(E, N)), st(sz(E, N), -1.0f);
      golden::selective_scan(L, E, N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(), c.A_log.data(),
                             c.D.data(), c.dt_bias.data(), s, y_g.data(), st_g.data(), nullptr, kThreads);
      gpu::ops::selective_scan(L, E, N, c.u.data(), c.dt.data(), c.B.data(), c.C.data(), c.z.data(), c.A_log.data(),
                               c.D.data(), c.dt_bias.data(), s, y.data(), st.data(), nullptr);
      expect_same_bits(y_g, y, tag + " y", E);
      expect_same_bits(st_g, st, tag + " state", N);
      golden::selective_scan_pseq(L, E, N, c.u.data(), nullptr, c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                                  c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y_g.data(), st_g.data(), kThreads);
      gpu::ops::selective_scan_pseq(L, E, N, c.u.data(), nullptr, c.dt.data(), c.B.data(), c.C.data(), c.z.data(),
                                    c.A_log.data(), c.D.data(), c.dt_bias.data(), s, y.data(), st.data());
      expect_same_bits(y_g, y, tag + " P-seq y", E);
      expect_same_bits(st_g, st, tag + " P-seq state", N);
    }
  }
}

// Which scan kernel a launch takes (plan_scan; host logic, runs without a GPU), against the rules
// ops.h documents: kAuto takes the state kernel below 32,768 (document, channel) pairs and the
// pipelined 12-channel kernel above; tables with an int8 dt and, under kAuto, >= 256 tokens; the
// shared-memory kernels only with tables and N = 16 (else the channel kernel).
TEST(GpuOps, ScanPlanFollowsTheDocumentedRules) {
  using K = gpu::ScanKernel;
  using Tb = gpu::ScanTable;
  // The 130m LAMBADA batches (512 documents, ~41k tokens) and the default model's (E = 256).
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 512, 41000, 1536, 16, true), "stream-f32+tables");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 512, 41000, 256, 16, true), "stream-f32+tables");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 21, 3000, 1536, 16, true), "states+tables");  // 32,256 pairs
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 22, 3000, 1536, 16, true), "stream-f32+tables");  // 33,792
  // The stream kernel indexes in 32 bits: (T + 1)·max(E, ld_z, ld_bc) must stay below 2^31, else
  // kPipe; in the forward z's rows are 2E wide (in_proj's output), so 2^31 / 3072 tokens.
  EXPECT_EQ(gpu::scan_plan(K::kStreamF32, Tb::kAuto, 512, 699049, 1536, 16, true), "stream-f32+tables");
  EXPECT_EQ(gpu::scan_plan(K::kStreamF32, Tb::kAuto, 512, 699050, 1536, 16, true), "pipe+tables");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 512, 699049, 1536, 16, true), "stream-f32+tables");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 512, 699050, 1536, 16, true), "pipe+tables");
  // Single documents (crosscheck): the state kernel, tables from 256 tokens.
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 1, 255, 1536, 16, true), "states");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kAuto, 1, 256, 1536, 16, true), "states+tables");
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kOn, 1, 5, 1536, 16, true), "states+tables");
  // A named shared kernel: with tables; without them (off, too few tokens) the channel kernel.
  EXPECT_EQ(gpu::scan_plan(K::kShared12Pipe, Tb::kOn, 1, 5, 1536, 16, true), "pipe+tables");
  EXPECT_EQ(gpu::scan_plan(K::kStreamF32, Tb::kOn, 1, 5, 1536, 16, true), "stream-f32+tables");
  EXPECT_EQ(gpu::scan_plan(K::kStreamF32, Tb::kOff, 1, 5, 1536, 16, true), "channels");
  EXPECT_EQ(gpu::scan_plan(K::kStreamPair, Tb::kOn, 1, 5, 1536, 16, true), "stream-pair+tables");
  EXPECT_EQ(gpu::scan_plan(K::kStreamPair, Tb::kAuto, 512, 699050, 1536, 16, true), "pipe+tables");
  EXPECT_EQ(gpu::scan_plan(K::kStreamPair, Tb::kOff, 1, 5, 1536, 16, true), "channels");
  EXPECT_EQ(gpu::scan_plan(K::kShared12, Tb::kOn, 1, 5, 1536, 16, true), "shared12+tables");
  EXPECT_EQ(gpu::scan_plan(K::kShared, Tb::kOn, 1, 5, 1536, 16, true), "shared+tables");
  EXPECT_EQ(gpu::scan_plan(K::kShared12Pipe, Tb::kOff, 512, 41000, 1536, 16, true), "channels");
  EXPECT_EQ(gpu::scan_plan(K::kShared12Pipe, Tb::kAuto, 1, 80, 1536, 16, true), "channels");
  EXPECT_EQ(gpu::scan_plan(K::kShared12Pipe, Tb::kOn, 512, 41000, 1536, 8, true), "channels+tables");  // N != 16
  // An f32 dt (modes 6-0 .. 6-3) has no tables.
  EXPECT_EQ(gpu::scan_plan(K::kAuto, Tb::kOn, 512, 41000, 1536, 16, false), "channels");
  EXPECT_EQ(gpu::scan_plan(K::kShared12Pipe, Tb::kOn, 512, 41000, 1536, 16, false), "channels");
  // Explicit plain kernels.
  EXPECT_EQ(gpu::scan_plan(K::kStates, Tb::kOff, 512, 41000, 1536, 16, true), "states");
  EXPECT_EQ(gpu::scan_plan(K::kChannels, Tb::kOn, 1, 5, 1536, 16, true), "channels+tables");
}

TEST(GpuOps, ScanKernelNamesAndEnv) {
  REQUIRE_GPU();
  for (const gpu::ScanKernel k : {gpu::ScanKernel::kAuto, gpu::ScanKernel::kChannels, gpu::ScanKernel::kStates,
                                  gpu::ScanKernel::kShared, gpu::ScanKernel::kShared12, gpu::ScanKernel::kShared12Pipe,
                                  gpu::ScanKernel::kStreamF32, gpu::ScanKernel::kStreamPair}) {
    ScopedEnv env("QMSIM_GPU_SCAN", gpu::scan_kernel_name(k));
    EXPECT_EQ(gpu::scan_kernel_from_env(), k);
  }
  for (const gpu::ScanTable t : {gpu::ScanTable::kAuto, gpu::ScanTable::kOn, gpu::ScanTable::kOff}) {
    ScopedEnv env("QMSIM_GPU_SCAN_TABLE", gpu::scan_table_name(t));
    EXPECT_EQ(gpu::scan_table_from_env(), t);
  }
  {
    ScopedEnv unset("QMSIM_GPU_SCAN_TABLE", nullptr);
    EXPECT_EQ(gpu::scan_table_from_env(), gpu::ScanTable::kAuto);
  }
  ScopedEnv env("QMSIM_GPU_SCAN", "bogus"), env_t("QMSIM_GPU_SCAN_TABLE", "bogus");
  try {
    gpu::scan_kernel_from_env();
    ADD_FAILURE() << "QMSIM_GPU_SCAN=bogus accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("QMSIM_GPU_SCAN"), std::string::npos) << e.what();
  }
  try {
    gpu::scan_table_from_env();
    ADD_FAILURE() << "QMSIM_GPU_SCAN_TABLE=bogus accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("QMSIM_GPU_SCAN_TABLE"), std::string::npos) << e.what();
  }
}

TEST(GpuOps, ConvNormLmHeadKernelNamesAndEnv) {
  REQUIRE_GPU();
  {
    ScopedEnv a("QMSIM_GPU_CONV", nullptr), b("QMSIM_GPU_NORM", nullptr), c("QMSIM_GPU_LM_HEAD", nullptr);
    EXPECT_EQ(gpu::conv_kernel_from_env(), gpu::ConvKernel::kStaged);  // the defaults: the faster kernels (run33)
    EXPECT_EQ(gpu::norm_kernel_from_env(), gpu::NormKernel::kTokens8);
    EXPECT_EQ(gpu::lm_head_kernel_from_env(), gpu::LmHeadKernel::kTile128);
    ScopedEnv d("QMSIM_GPU_HADAMARD", nullptr);
    EXPECT_EQ(gpu::hadamard_kernel_from_env(), gpu::HadamardKernel::kVecLean);
  }
  for (gpu::ConvKernel k : {gpu::ConvKernel::kExact, gpu::ConvKernel::kFast, gpu::ConvKernel::kDp4a, gpu::ConvKernel::kStaged}) {
    ScopedEnv env("QMSIM_GPU_CONV", gpu::conv_kernel_name(k));
    EXPECT_EQ(gpu::conv_kernel_from_env(), k);
  }
  for (gpu::NormKernel k : {gpu::NormKernel::kWarp, gpu::NormKernel::kTokens, gpu::NormKernel::kTokens8}) {
    ScopedEnv env("QMSIM_GPU_NORM", gpu::norm_kernel_name(k));
    EXPECT_EQ(gpu::norm_kernel_from_env(), k);
  }
  for (gpu::LmHeadKernel k : {gpu::LmHeadKernel::kTile64, gpu::LmHeadKernel::kTile128}) {
    ScopedEnv env("QMSIM_GPU_LM_HEAD", gpu::lm_head_kernel_name(k));
    EXPECT_EQ(gpu::lm_head_kernel_from_env(), k);
  }
  for (gpu::HadamardKernel k : {gpu::HadamardKernel::kVec, gpu::HadamardKernel::kLanes, gpu::HadamardKernel::kVecLean}) {
    ScopedEnv env("QMSIM_GPU_HADAMARD", gpu::hadamard_kernel_name(k));
    EXPECT_EQ(gpu::hadamard_kernel_from_env(), k);
  }
  ScopedEnv a("QMSIM_GPU_CONV", "bogus"), b("QMSIM_GPU_NORM", "bogus"), c("QMSIM_GPU_LM_HEAD", "bogus"),
      d("QMSIM_GPU_HADAMARD", "bogus");
  EXPECT_THROW(gpu::hadamard_kernel_from_env(), std::invalid_argument);
  EXPECT_THROW(gpu::conv_kernel_from_env(), std::invalid_argument);
  EXPECT_THROW(gpu::norm_kernel_from_env(), std::invalid_argument);
  EXPECT_THROW(gpu::lm_head_kernel_from_env(), std::invalid_argument);
}

// ================================================================ correctly rounded exp
// The device's exp_cr_ff (binary32 float-float) against exp_cr (binary64) on every binary32
// input: the scan and the conv use the former, golden the latter (tools/crmath_exhaustive proves
// exp_cr correctly rounded on the host).
TEST(GpuOps, ExpCrFfEqualsExpCrOnEveryInput) {
  REQUIRE_GPU();
  uint32_t first = 0;
  const uint64_t bad = gpu::ops::exp_ff_mismatches_all_inputs(&first);
  EXPECT_EQ(bad, 0u) << "first differing input 0x" << std::hex << first << " ("
                     << std::hexfloat << num::f32_from_bits(first) << "): exp_cr " << num::exp_cr(num::f32_from_bits(first));
}

// The device's f16 and float->int32 conversions (cvt instructions) give the portable
// definitions' bits on every input, NaN payloads included.
TEST(GpuOps, CvtConversionsEqualPortableOnEveryInput) {
  REQUIRE_GPU();
  uint32_t first = 0;
  const uint64_t bad = gpu::ops::f16_conversion_mismatches_all_inputs(&first);
  EXPECT_EQ(bad, 0u) << "first differing input 0x" << std::hex << first;
}

// ================================================================ Hadamard
TEST(GpuOps, HadamardQuant) {
  REQUIRE_GPU();
  uint32_t seed = 1100;
  // Warp kernels (both layouts): 64, 128, 256, 512, 1024, 2048 (1 block: 2, 4, 8, 16, 32, 64
  // elements a lane: every vector load and store width), 384, 768, 1536 (12 blocks: 1, 2, 4 a
  // lane); block kernel: 12, 192 (block < 32), 4096 (128 elements per lane). L = 1, 3, 9: partly
  // filled 4-warp blocks.
  for (int n : {64, 256, 192, 1536, 12, 768, 2048, 384, 4096, 128, 512, 1024})
    for (int L : {1, 3, 9}) {
      std::mt19937 g(seed++);
      const std::vector<uint16_t> y = rand_f16(g, sz(L, n), -1.0f, 1.0f);
      for (float s_y : {0.02f, 0.0007f})  // the second saturates (or wraps)
        for (bool wrap : {false, true}) {
          std::ostringstream tag;
          tag << "hadamard_quant n=" << n << " L=" << L << " s_y=" << s_y << " wrap=" << wrap;
          std::vector<int8_t> out_g(sz(L, n)), out(sz(L, n), int8_t{0x5A});
          int64_t oor_g = -1, oor = -2;
          golden::hadamard_quant(L, n, y.data(), s_y, wrap, out_g.data(), &oor_g, kThreads);
          for (gpu::HadamardKernel k : {gpu::HadamardKernel::kVec, gpu::HadamardKernel::kLanes, gpu::HadamardKernel::kVecLean}) {
            const std::string kt = tag.str() + " " + gpu::hadamard_kernel_name(k);
            std::fill(out.begin(), out.end(), int8_t{0x5A});
            oor = -2;
            gpu::ops::hadamard_quant(L, n, y.data(), s_y, wrap, out.data(), &oor, k);
            expect_same_bits(out_g, out, kt + " out", n);
            EXPECT_EQ(oor_g, oor) << kt << " out_of_range";
            std::vector<int8_t> out2(sz(L, n), int8_t{0x5A});
            gpu::ops::hadamard_quant(L, n, y.data(), s_y, wrap, out2.data(), nullptr, k);
            expect_same_bits(out_g, out2, kt + " out (out_of_range=null)", n);
          }
          if (s_y < 0.001f) {
            EXPECT_GT(oor_g, 0) << tag.str() << ": the case must leave the int8 range";
          }
        }
    }
}

// NaN and infinite halves: every kernel's int8 outputs equal golden's (a NaN reaches each output
// of its token as NaN, which the quantizer maps to 0, whatever its payload; inf - inf is NaN), and
// the other tokens are untouched. vec-lean converts NaN halves by cvt (canonical NaN bits).
TEST(GpuOps, HadamardQuantNanAndInfInputs) {
  REQUIRE_GPU();
  uint32_t seed = 1190;
  for (int n : {1536, 256, 768})
    for (int variant = 0; variant < 4; ++variant) {
      const int L = 4;
      std::mt19937 g(seed++);
      std::vector<uint16_t> y = rand_f16(g, sz(L, n), -1.0f, 1.0f);
      const uint16_t specials[4][2] = {{0x7E00u, 0x7E00u}, {0x7C01u, 0xFD55u}, {0x7C00u, 0x7C00u}, {0x7C00u, 0xFC00u}};
      y[sz(1, n) + 5] = specials[variant][0];             // token 1: a NaN (payloads 0x200, 0x001, 0x155) or +inf
      y[sz(1, n) + static_cast<size_t>(n) - 3] = specials[variant][1];  // and a second one, or -inf
      y[sz(3, n) + 7] = specials[variant][0];             // token 3: one special only
      for (bool wrap : {false, true}) {
        std::ostringstream tag;
        tag << "hadamard_quant specials n=" << n << " variant=" << variant << " wrap=" << wrap;
        std::vector<int8_t> out_g(sz(L, n));
        int64_t oor_g = -1;
        golden::hadamard_quant(L, n, y.data(), 0.02f, wrap, out_g.data(), &oor_g, kThreads);
        for (gpu::HadamardKernel k : {gpu::HadamardKernel::kVec, gpu::HadamardKernel::kLanes, gpu::HadamardKernel::kVecLean}) {
          std::vector<int8_t> out(sz(L, n), int8_t{0x5A});
          int64_t oor = -2;
          gpu::ops::hadamard_quant(L, n, y.data(), 0.02f, wrap, out.data(), &oor, k);
          expect_same_bits(out_g, out, tag.str() + " " + gpu::hadamard_kernel_name(k), n);
          EXPECT_EQ(oor_g, oor) << tag.str() << " " << gpu::hadamard_kernel_name(k);
        }
      }
    }
}

// ================================================================ lm_head
TEST(GpuOps, LmHeadF16) {
  REQUIRE_GPU();
  const int shapes[][3] = {{1, 1000, 128}, {3, 1000, 128}, {2, 17, 64}, {4, 256, 7}, {1, 50, 768}, {5, 1, 1}, {130, 300, 72}, {129, 257, 768}};
  uint32_t seed = 1200;
  for (const auto& sh : shapes) {
    const int P = sh[0], V = sh[1], D = sh[2];
    std::mt19937 g(seed++);
    const std::vector<uint16_t> y = rand_f16(g, sz(P, D), -2.0f, 2.0f);
    const std::vector<uint16_t> W = rand_f16(g, sz(V, D), -0.2f, 0.2f);
    for (bool f16_logits : {false, true}) {
      std::ostringstream tag;
      tag << "lm_head_f16 P=" << P << " V=" << V << " D=" << D << " f16_logits=" << f16_logits;
      std::vector<float> lg_g(sz(P, V)), lg(sz(P, V), -1.0f);
      golden::lm_head_f16(P, V, D, y.data(), W.data(), f16_logits, lg_g.data(), kThreads);
      for (gpu::LmHeadKernel k : {gpu::LmHeadKernel::kTile64, gpu::LmHeadKernel::kTile128}) {
        std::fill(lg.begin(), lg.end(), -1.0f);
        gpu::ops::lm_head_f16(P, V, D, y.data(), W.data(), f16_logits, lg.data(), k);
        expect_same_bits(lg_g, lg, tag.str() + " " + gpu::lm_head_kernel_name(k), V);
      }
    }
  }
}

// ================================================================ scoring (log-softmax)
// The device's scoring kernel against eval::score_row on rows with ties (several maxima, the
// target among them or after them), -inf entries, a NaN at index 0 and later, rows of one entry
// and vocabularies that are not multiples of 32, with f64 and f16 log-probs: == on the log-prob,
// the same greedy flag.
// Rows without logits are refused before any device work (runs without a GPU too).
TEST(GpuOps, ScoreRowsRejectsRowsWithoutLogits) {
  const float x = 0.0f;
  const int32_t t = 0;
  double lp = 0.0;
  uint8_t gr = 0;
  EXPECT_THROW(gpu::ops::score_rows(1, 0, &x, &t, false, &lp, &gr), std::invalid_argument);
  EXPECT_THROW(gpu::ops::score_rows(-1, 4, &x, &t, false, &lp, &gr), std::invalid_argument);
}

TEST(GpuOps, ScoreRowsEqualsHostScoring) {
  REQUIRE_GPU();
  for (const int V : {1, 31, 33, 1000, 50280}) {
    std::mt19937 g(1300 + V);
    std::normal_distribution<float> nd(0.0f, 6.0f);
    const int P = 12;
    std::vector<float> x(sz(P, V));
    for (float& v : x) v = nd(g);
    std::vector<int32_t> target(P);
    for (int p = 0; p < P; ++p) target[p] = static_cast<int32_t>(g() % V);
    float* r = x.data();
    if (V > 3) {
      r[sz(1, V) + 2] = r[sz(1, V) + V - 1] = 100.0f, target[1] = V - 1;  // tie: target the later maximum
      r[sz(2, V) + 2] = r[sz(2, V) + V - 1] = 100.0f, target[2] = 2;      // tie: target the first
      r[sz(3, V) + 0] = NAN;                                               // NaN at 0: greedy iff target 0
      r[sz(4, V) + V / 2] = NAN;                                           // NaN later
      r[sz(5, V) + 1] = -INFINITY;
      for (int v = 0; v < V; ++v) r[sz(6, V) + v] = 0.0f;                  // uniform: argmax 0
      target[6] = 0;
      r[sz(7, V) + V - 1] = 80.0f, target[7] = V - 1;                      // dominant last entry
    }
    for (bool f16 : {false, true}) {
      std::vector<double> lp(P, 7.0);
      std::vector<uint8_t> gr(P, 7);
      gpu::ops::score_rows(P, V, x.data(), target.data(), f16, lp.data(), gr.data());
      for (int p = 0; p < P; ++p) {
        const eval::RowScore h = eval::score_row(x.data() + sz(p, V), V, target[p], f16);
        const bool same = h.logprob == lp[p] || (std::isnan(h.logprob) && std::isnan(lp[p]));
        EXPECT_TRUE(same) << "score V=" << V << " row " << p << " f16=" << f16 << ": host " << std::setprecision(17)
                          << h.logprob << " gpu " << lp[p];
        EXPECT_EQ(h.greedy, gr[p] != 0) << "greedy V=" << V << " row " << p << " f16=" << f16;
      }
      if (V > 3) {
        EXPECT_EQ(gr[1], 0) << "a later maximum is not the argmax";
        EXPECT_EQ(gr[2], 1) << "the first maximum is the argmax";
        EXPECT_EQ(gr[6], 1);
      }
    }
  }
}

// num::exp_f64 / log_f64 give the host's bits on the device (they are the scoring's e^x and ln x).
TEST(GpuOps, ScoringExpLogEqualHost) {
  REQUIRE_GPU();
  std::mt19937_64 g(77);
  std::vector<double> x;
  for (int i = 0; i < 1 << 20; ++i) {
    const double u = static_cast<double>(g() >> 11) * 0x1.0p-53;
    x.push_back(i % 3 == 0 ? -750.0 + 1470.0 * u : i % 3 == 1 ? -60.0 * u : std::exp(-700.0 + 1400.0 * u));
  }
  for (const double v : {0.0, -0.0, 1.0, -708.0, 709.78, 1e-310, 4.9406564584124654e-324, 1.7976931348623157e308,
                         static_cast<double>(INFINITY), -static_cast<double>(INFINITY), static_cast<double>(NAN)})
    x.push_back(v);
  const int n = static_cast<int>(x.size());
  std::vector<double> e(n), l(n);
  gpu::ops::exp_log_f64(n, x.data(), e.data(), l.data());
  int bad = 0;
  for (int i = 0; i < n && bad < 10; ++i) {
    const double he = num::exp_f64(x[i]), hl = num::log_f64(x[i]);
    const bool ok_e = std::memcmp(&he, &e[i], 8) == 0 || (std::isnan(he) && std::isnan(e[i]));
    const bool ok_l = std::memcmp(&hl, &l[i], 8) == 0 || (std::isnan(hl) && std::isnan(l[i]));
    if (!ok_e || !ok_l) {
      ++bad;
      ADD_FAILURE() << std::setprecision(17) << "x = " << x[i] << ": exp host " << he << " gpu " << e[i] << ", log host "
                    << hl << " gpu " << l[i];
    }
  }
}

// ================================================================ mode ops
/// x = s·r, r uniform in [-300, 300], plus exact ties s·(k + 0.5) of the int8 grid (s a power of
/// two makes them exact) and of the fine grid s/4 (kTwoLevel, kLogOutliers, kThreeSegment), ±0.
std::vector<float> u_inputs(uint32_t seed, float s, int n_random) {
  std::mt19937 g(seed);
  std::vector<float> x;
  std::uniform_real_distribution<float> d(-300.0f, 300.0f);
  for (int i = 0; i < n_random; ++i) x.push_back(s * d(g));
  for (int k = -140; k <= 140; ++k) x.push_back(s * (static_cast<float>(k) + 0.5f));
  for (int k = -70; k <= 70; ++k) x.push_back((s / 4.0f) * (static_cast<float>(k) + 0.5f));
  x.push_back(0.0f);
  x.push_back(-0.0f);
  std::shuffle(x.begin(), x.end(), g);
  return x;
}

TEST(GpuOps, QuantizeU) {
  REQUIRE_GPU();
  using golden::OutlierScale;
  using golden::UQuantizer;
  struct Kind {
    const char* name;
    UQuantizer q;
    OutlierScale os;
    float s_alpha1;
  };
  const Kind kinds[] = {
      {"none", UQuantizer::kNone, OutlierScale::kPerCallMax, 0.0f},
      {"grid", UQuantizer::kGrid, OutlierScale::kPerCallMax, 0.0f},
      {"grid_keep_outliers", UQuantizer::kGridKeepOutliers, OutlierScale::kPerCallMax, 0.0f},
      {"grid_requant_outliers/per_call_max", UQuantizer::kGridRequantOutliers, OutlierScale::kPerCallMax, 0.0f},
      {"grid_requant_outliers/alpha1", UQuantizer::kGridRequantOutliers, OutlierScale::kAlpha1, 0.0917f},
      {"grid_requant_outliers/alpha1=0 (fallback)", UQuantizer::kGridRequantOutliers, OutlierScale::kAlpha1, 0.0f},
      {"two_level T=16 F=4", UQuantizer::kTwoLevel, OutlierScale::kPerCallMax, 0.0f},
      {"log_outliers", UQuantizer::kLogOutliers, OutlierScale::kPerCallMax, 0.0f},
      {"three_segment", UQuantizer::kThreeSegment, OutlierScale::kPerCallMax, 0.0f},
  };
  uint32_t seed = 1300;
  for (const Kind& kd : kinds)
    for (Rounding r : {Rounding::kRne, Rounding::kRna})
      for (float s_u : {0.015625f, 0.0213f})
        for (int n_random : {1000, 1}) {
          golden::ModeSpec m;
          m.u_quantizer = kd.q;
          m.u_rounding = r;
          m.u_outlier_scale = kd.os;
          if (kd.q == UQuantizer::kTwoLevel) {
            m.u_fine_threshold = 16;
            m.u_fine_divisor = 4;
          }
          // n_random = 1: a one-element call tensor (an outlier), the reduction's edge case.
          std::vector<float> x = n_random == 1 ? std::vector<float>{s_u * -211.3f} : u_inputs(seed++, s_u, n_random);
          const int n = static_cast<int>(x.size());
          std::ostringstream tag;
          tag << "quantize_u " << kd.name << " " << golden::to_string(r) << " s_u=" << s_u << " n=" << n;
          std::vector<float> val_g(x.size()), val(x.size(), -1.0f);
          std::vector<int8_t> code_g(x.size()), code(x.size(), int8_t{0x5A});
          const golden::UQuantStats st = golden::quantize_u(m, s_u, kd.s_alpha1, x.size(), x.data(), val_g.data(),
                                                            code_g.data());
          const float s_o = gpu::ops::quantize_u(m, s_u, kd.s_alpha1, n, x.data(), val.data(), code.data());
          expect_same_bits(val_g, val, tag.str() + " value");
          expect_same_bits(code_g, code, tag.str() + " code");
          expect_same_bits(st.s_o, s_o, tag.str() + " s_o");
          // Nullable outputs: value only, code only.
          std::vector<float> val2(x.size(), -1.0f);
          std::vector<int8_t> code2(x.size(), int8_t{0x5A});
          expect_same_bits(st.s_o, gpu::ops::quantize_u(m, s_u, kd.s_alpha1, n, x.data(), val2.data(), nullptr),
                           tag.str() + " s_o (code=null)");
          expect_same_bits(st.s_o, gpu::ops::quantize_u(m, s_u, kd.s_alpha1, n, x.data(), nullptr, code2.data()),
                           tag.str() + " s_o (value=null)");
          expect_same_bits(val_g, val2, tag.str() + " value (code=null)");
          expect_same_bits(code_g, code2, tag.str() + " code (value=null)");
          if (kd.q == UQuantizer::kGridRequantOutliers) {
            EXPECT_GT(st.s_o, 0.0f) << tag.str();
          }
          if (s_u == 0.015625f && n_random > 1) {
            size_t ties = 0;
            for (float v : x) ties += is_half(v / s_u);
            EXPECT_GT(ties, 100u) << tag.str() << ": the inputs must contain exact ties";
          }
        }
}

/// Random values, exact ties of s = 2^-6 and s·(k + 0.5) for the other scale, far out-of-range
/// values and the specials (±0, ±inf, NaN, a subnormal).
std::vector<float> requant_inputs(uint32_t seed, float s) {
  std::mt19937 g(seed);
  std::vector<float> x = rand_f32(g, 2000, -6.0f, 6.0f);
  for (int k = -135; k <= 135; ++k) x.push_back(s * (static_cast<float>(k) + 0.5f));
  for (float v : {0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()})
    x.push_back(v);
  std::shuffle(x.begin(), x.end(), g);
  return x;
}

TEST(GpuOps, RequantS8) {
  REQUIRE_GPU();
  uint32_t seed = 1400;
  for (Rounding r : {Rounding::kRne, Rounding::kRna})
    for (float s : {0.015625f, 0.037f}) {
      const std::vector<float> x = requant_inputs(seed++, s);
      std::ostringstream tag;
      tag << "requant_s8 " << golden::to_string(r) << " s=" << s;
      std::vector<int8_t> out_g(x.size()), out(x.size(), int8_t{0x5A});
      golden::requant_s8(r, x.size(), x.data(), s, out_g.data());
      gpu::ops::requant_s8(r, static_cast<int>(x.size()), x.data(), s, out.data());
      expect_same_bits(out_g, out, tag.str());
      size_t ties = 0, sat = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        ties += is_half(x[i] / s);
        sat += out_g[i] == 127 || out_g[i] == -128;
      }
      if (s == 0.015625f) {
        EXPECT_GT(ties, 100u) << tag.str() << ": the inputs must contain exact ties";
      }
      EXPECT_GT(sat, 0u) << tag.str() << ": the inputs must saturate";
    }
}

TEST(GpuOps, RegridRne) {
  REQUIRE_GPU();
  uint32_t seed = 1500;
  for (float s : {0.015625f, 0.037f}) {
    const std::vector<float> x = requant_inputs(seed++, s);
    std::vector<float> want = x, got = x;
    golden::regrid_rne(want.size(), want.data(), s);
    gpu::ops::regrid_rne(static_cast<int>(got.size()), got.data(), s);
    std::ostringstream tag;
    tag << "regrid_rne s=" << s;
    expect_same_bits(want, got, tag.str());
  }
}

TEST(GpuOps, DynamicInputRequant) {
  REQUIRE_GPU();
  uint32_t seed = 1600;
  struct Case {
    const char* name;
    int n, lo, hi;
  };
  // "zeros": every x_f is 0 -> s_dyn = s_xz and every out 0. "small": max |q| = 3 (s_dyn far below
  // s_xz). "min": one -128 decides the maximum.
  const Case cases[] = {{"random", 1000, -128, 127}, {"random", 12293, -128, 127}, {"random", 1, -128, 127},
                        {"small", 777, -3, 3},       {"zeros", 64, 0, 0},          {"zeros", 1, 0, 0},
                        {"min", 300, -100, 100}};
  for (const Case& c : cases)
    for (float s_xz : {0.05f, 0.0137f}) {
      std::mt19937 g(seed++);
      std::vector<int8_t> q = rand_s8(g, static_cast<size_t>(c.n), c.lo, c.hi);
      if (std::string(c.name) == "min") q[static_cast<size_t>(c.n) / 2] = -128;
      std::ostringstream tag;
      tag << "dynamic_input_requant " << c.name << " n=" << c.n << " s_xz=" << s_xz;
      std::vector<int8_t> out_g(q.size()), out(q.size(), int8_t{0x5A});
      const float s_g = golden::dynamic_input_requant(q.size(), q.data(), s_xz, out_g.data());
      const float s = gpu::ops::dynamic_input_requant(c.n, q.data(), s_xz, out.data());
      expect_same_bits(s_g, s, tag.str() + " s_dyn");
      expect_same_bits(out_g, out, tag.str() + " out");
      if (std::string(c.name) == "zeros") {
        EXPECT_EQ(num::f32_bits(s), num::f32_bits(s_xz)) << tag.str() << ": all-zero input returns s_xz";
      }
    }
}

TEST(GpuOps, LinearF32Deq) {
  REQUIRE_GPU();
  const int shapes[][3] = {{5, 256, 40}, {1, 8, 256}, {3, 1536, 48}, {7, 13, 5}, {1, 1, 1}, {64, 33, 130}};
  uint32_t seed = 1700;
  for (const auto& sh : shapes) {
    const int M = sh[0], K = sh[1], Nout = sh[2];
    std::mt19937 g(seed++);
    const std::vector<float> x = rand_f32(g, sz(M, K), -1.5f, 1.5f);
    const std::vector<int8_t> W = rand_s8(g, sz(Nout, K));
    for (float w_scale : {0.0071f, 0.5f}) {
      std::ostringstream tag;
      tag << "linear_f32_deq M=" << M << " K=" << K << " Nout=" << Nout << " w_scale=" << w_scale;
      std::vector<float> y_g(sz(M, Nout)), y(sz(M, Nout), -1.0f);
      golden::linear_f32_deq(M, K, Nout, x.data(), W.data(), w_scale, y_g.data(), kThreads);
      gpu::ops::linear_f32_deq(M, K, Nout, x.data(), W.data(), w_scale, y.data());
      expect_same_bits(y_g, y, tag.str(), Nout);
    }
  }
}

}  // namespace
}  // namespace qmsim
