// Exhaustive check of the correctly rounded qmsim::num::exp_cr / exp_cr_ff / log1p_cr (spec §5.8) over every
// binary32 input (or every Nth with --stride N), against an independent reference: glibc's long
// double expl/log1pl, and libquadmath's __float128 expq/log1pq wherever the long double value lies
// within 2^-56 (relative) of a binary32 rounding midpoint (exp beyond +-128 is +inf / +0 outright).
// Prints each mismatch (input bits, got, want), each input that needed __float128, and a summary
// with the input closest to a midpoint; exits non-zero on any mismatch or on an input that even
// __float128 cannot decide.
//
//   crmath_exhaustive [--func exp|exp_ff|log1p|all] [--stride N] [--threads N]
#include <quadmath.h>

#include <atomic>
#include <chrono>
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "qmsim/numerics.h"

namespace {

namespace num = qmsim::num;

constexpr uint64_t kNumInputs = uint64_t{1} << 32;
constexpr uint64_t kBlock = uint64_t{1} << 16;  // inputs per work item
constexpr int kMaxPrinted = 32;                 // mismatches / near-midpoint inputs printed per function

/// A reference value rounded to binary32 and how far it is from the nearest rounding midpoint.
struct Rounded {
  float value;
  bool decided;           // farther from a midpoint than the reference's error allowance
  double midpoint_dist;   // |ref - midpoint| / |ref|; +inf where the result is exact or special
};

long double to_wide(float f, long double) { return f; }
__float128 to_wide(float f, __float128) { return f; }
long double abs_wide(long double v) { return fabsl(v); }
__float128 abs_wide(__float128 v) { return fabsq(v); }
bool is_inf_wide(long double v) { return std::isinf(v); }
bool is_inf_wide(__float128 v) { return isinfq(v) != 0; }

/// RN-to-binary32 of a reference value `ref` known to relative accuracy `tolerance`.
template <typename Wide>
Rounded round_reference(Wide ref, Wide tolerance) {
  const float y = static_cast<float>(ref);  // RNE conversion (x87 / libgcc soft-float)
  const Rounded exact{y, true, HUGE_VAL};
  if (ref != ref || ref == 0 || is_inf_wide(ref) || to_wide(y, Wide{}) == ref) return exact;
  // The midpoint between y and its neighbour on ref's side; +-inf stands for +-2^128.
  const Wide two128 = to_wide(0x1p127f, Wide{}) * 2;
  const float neighbour = std::nextafter(y, ref > to_wide(y, Wide{}) ? HUGE_VALF : -HUGE_VALF);
  const Wide yv = std::isinf(y) ? (y > 0 ? two128 : -two128) : to_wide(y, Wide{});
  const Wide nv = std::isinf(neighbour) ? (neighbour > 0 ? two128 : -two128) : to_wide(neighbour, Wide{});
  const Wide midpoint = (yv + nv) / 2;  // exact: 25 bits
  const Wide dist = abs_wide(ref - midpoint) / abs_wide(ref);
  return Rounded{y, dist > tolerance, static_cast<double>(dist)};
}

struct Function {
  const char* name;
  float (*under_test)(float);
  long double (*reference_ld)(long double);
  __float128 (*reference_q)(__float128);
};

struct Tally {
  uint64_t checked = 0;
  uint64_t mismatches = 0;
  uint64_t quad_resolved = 0;  // inputs the long double reference could not decide
  uint64_t undecided = 0;      // inputs __float128 could not decide either
  double hardest_dist = HUGE_VAL;
  uint32_t hardest_input = 0;
};

std::mutex g_print_mutex;

void check_range(const Function& fn, uint64_t stride, uint64_t count, std::atomic<uint64_t>* next_block,
                 Tally* tally, std::atomic<int>* printed, std::atomic<int>* printed_near) {
  const long double tol_ld = 0x1p-56L;  // glibc expl/log1pl: a few ulp of 2^-63
  const __float128 tol_q = 0x1p-100;    // libquadmath: a few ulp of 2^-112
  for (;;) {
    const uint64_t begin = next_block->fetch_add(kBlock);
    if (begin >= count) return;
    const uint64_t end = begin + kBlock < count ? begin + kBlock : count;
    for (uint64_t i = begin; i < end; ++i) {
      const uint32_t bits = static_cast<uint32_t>(i * stride);
      const float x = num::f32_from_bits(bits);
      const float got = fn.under_test(x);
      Rounded want = round_reference<long double>(fn.reference_ld(x), tol_ld);
      if (!want.decided) {
        ++tally->quad_resolved;
        want = round_reference<__float128>(fn.reference_q(x), tol_q);
        if (!want.decided) ++tally->undecided;
        if (printed_near->fetch_add(1) < kMaxPrinted) {
          std::lock_guard<std::mutex> lock(g_print_mutex);
          std::printf("NEAR-MIDPOINT %s x=0x%08" PRIx32 " (%a): want %a, 2^%.1f from the midpoint (relative)%s\n",
                      fn.name, bits, static_cast<double>(x), static_cast<double>(want.value),
                      std::log2(want.midpoint_dist), want.decided ? "" : ", UNDECIDED");
        }
      }
      if (want.midpoint_dist < tally->hardest_dist) {
        tally->hardest_dist = want.midpoint_dist;
        tally->hardest_input = bits;
      }
      ++tally->checked;
      const bool both_nan = got != got && want.value != want.value;
      if (both_nan || num::f32_bits(got) == num::f32_bits(want.value)) continue;
      ++tally->mismatches;
      if (printed->fetch_add(1) < kMaxPrinted) {
        std::lock_guard<std::mutex> lock(g_print_mutex);
        std::printf("MISMATCH %s x=0x%08" PRIx32 " (%a): got 0x%08" PRIx32 " (%a) want 0x%08" PRIx32 " (%a)\n",
                    fn.name, bits, static_cast<double>(x), num::f32_bits(got), static_cast<double>(got),
                    num::f32_bits(want.value), static_cast<double>(want.value));
      }
    }
  }
}

bool run(const Function& fn, uint64_t stride, unsigned num_threads) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t count = (kNumInputs - 1) / stride + 1;
  std::atomic<uint64_t> next_block{0};
  std::atomic<int> printed{0};
  std::atomic<int> printed_near{0};
  std::vector<Tally> tallies(num_threads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < num_threads; ++t)
    threads.emplace_back(check_range, std::cref(fn), stride, count, &next_block, &tallies[t], &printed,
                         &printed_near);
  for (auto& th : threads) th.join();
  Tally total;
  for (const Tally& t : tallies) {
    total.checked += t.checked;
    total.mismatches += t.mismatches;
    total.quad_resolved += t.quad_resolved;
    total.undecided += t.undecided;
    if (t.hardest_dist < total.hardest_dist) {
      total.hardest_dist = t.hardest_dist;
      total.hardest_input = t.hardest_input;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const float hx = num::f32_from_bits(total.hardest_input);
  std::printf("%s: %" PRIu64 " inputs (stride %" PRIu64 "), %" PRIu64 " mismatches, %" PRIu64
              " resolved with __float128, %" PRIu64 " undecided; hardest input 0x%08" PRIx32
              " (%a -> %a), 2^%.1f from a midpoint (relative); %.1f s\n",
              fn.name, total.checked, stride, total.mismatches, total.quad_resolved, total.undecided,
              total.hardest_input, static_cast<double>(hx), static_cast<double>(fn.under_test(hx)),
              std::log2(total.hardest_dist), seconds);
  std::fflush(stdout);
  return total.mismatches == 0 && total.undecided == 0;
}

// expl takes ~180 ns where it over/underflows; there the answer follows from e^128 > 2^184:
// x >= 128 rounds to +inf (e^x > 2^128), x <= -128 to +0 (e^x < 2^-150).
long double ref_exp_ld(long double v) {
  if (fabsl(v) >= 128) return v > 0 ? HUGE_VALL : 0.0L;
  return expl(v);
}
long double ref_log1p_ld(long double v) { return log1pl(v); }
__float128 ref_exp_q(__float128 v) { return expq(v); }
__float128 ref_log1p_q(__float128 v) { return log1pq(v); }

int usage() {
  std::fprintf(stderr, "usage: crmath_exhaustive [--func exp|exp_ff|log1p|all] [--stride N] [--threads N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string func = "all";
  uint64_t stride = 1;
  unsigned num_threads = std::thread::hardware_concurrency();
  if (num_threads == 0) num_threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (arg == "--func") {
      func = value;
    } else if (arg == "--stride") {
      stride = std::strtoull(value, nullptr, 10);
    } else if (arg == "--threads") {
      num_threads = static_cast<unsigned>(std::strtoul(value, nullptr, 10));
    } else {
      return usage();
    }
  }
  if (stride == 0 || num_threads == 0 || (func != "exp" && func != "exp_ff" && func != "log1p" && func != "all")) return usage();

  const Function exp_fn{"exp", num::exp_cr, ref_exp_ld, ref_exp_q};
  const Function exp_ff_fn{"exp_ff", num::exp_cr_ff, ref_exp_ld, ref_exp_q};
  const Function log1p_fn{"log1p", num::log1p_cr, ref_log1p_ld, ref_log1p_q};
  bool ok = true;
  if (func == "exp" || func == "all") ok = run(exp_fn, stride, num_threads) && ok;
  if (func == "exp_ff" || func == "all") ok = run(exp_ff_fn, stride, num_threads) && ok;
  if (func == "log1p" || func == "all") ok = run(log1p_fn, stride, num_threads) && ok;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
