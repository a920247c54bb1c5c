// Tests of the scalar numerics header (qmsim/numerics.h): rounding, quantizers, f16/bf16
// conversion, and the correctly rounded exp_cr/log1p_cr. Every expected value comes from an
// independent source: the spec's measured answers (§5.1), hand-derived or mpmath known answers,
// the F16C instruction and the compiler's _Float16 conversion, or glibc's long double expl/log1pl.
#include <gtest/gtest.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "qmsim/numerics.h"

namespace {

namespace num = qmsim::num;

uint32_t bits(float f) { return num::f32_bits(f); }
float from_bits(uint32_t u) { return num::f32_from_bits(u); }

// Bit-exact float comparison (distinguishes -0 from +0; any NaN matches any NaN).
::testing::AssertionResult SameFloat(float got, float want) {
  if ((std::isnan(got) && std::isnan(want)) || bits(got) == bits(want)) return ::testing::AssertionSuccess();
  char text[128];
  std::snprintf(text, sizeof text, "got %a (0x%08x), want %a (0x%08x)", static_cast<double>(got),
                static_cast<unsigned>(bits(got)), static_cast<double>(want), static_cast<unsigned>(bits(want)));
  return ::testing::AssertionFailure() << text;
}

/// Round a long double reference (glibc expl/log1pl: a few ulp of 2^-63) to the nearest float.
/// Returns false where the value lies within 2^-56 (relative) of a rounding midpoint, so that long
/// double cannot decide; +-inf stands for +-2^128 as the neighbour of +-FLT_MAX.
bool decide_rounding(long double ref, float* out) {
  const float y = static_cast<float>(ref);
  *out = y;
  if (std::isnan(ref) || std::isinf(ref) || ref == 0 || static_cast<long double>(y) == ref) return true;
  const auto wide = [](float f) {
    return std::isinf(f) ? std::copysign(std::ldexp(1.0L, 128), static_cast<long double>(f))
                         : static_cast<long double>(f);
  };
  const float neighbour = std::nextafter(y, ref > y ? HUGE_VALF : -HUGE_VALF);
  const long double midpoint = (wide(y) + wide(neighbour)) / 2;
  return fabsl(ref - midpoint) > 0x1p-56L * fabsl(ref);
}

float exp_reference(float x) {
  float y = 0.0f;
  EXPECT_TRUE(decide_rounding(expl(static_cast<long double>(x)), &y)) << "expl undecided at " << std::hexfloat << x;
  return y;
}
float log1p_reference(float x) {
  float y = 0.0f;
  EXPECT_TRUE(decide_rounding(log1pl(static_cast<long double>(x)), &y)) << "log1pl undecided at " << std::hexfloat << x;
  return y;
}

/// Compare f with a long double reference on every stride-th binary32 input (all bit patterns).
template <typename F, typename R>
void check_sampled(F under_test, R reference, uint64_t stride) {
  uint64_t checked = 0, undecided = 0, mismatches = 0;
  for (uint64_t i = 0; i < (uint64_t{1} << 32); i += stride) {
    const float x = from_bits(static_cast<uint32_t>(i));
    float want = 0.0f;
    if (!decide_rounding(reference(static_cast<long double>(x)), &want)) {
      ++undecided;
      continue;
    }
    ++checked;
    if (!SameFloat(under_test(x), want) && ++mismatches <= 10)
      ADD_FAILURE() << "x = " << std::hexfloat << x << ": " << SameFloat(under_test(x), want).message();
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(undecided, 0u) << "inputs too close to a midpoint for long double; see tools/crmath_exhaustive";
  EXPECT_GT(checked, (uint64_t{1} << 32) / stride - 1);
}

// ------------------------------------------------------------------------------------- exp_cr

TEST(ExpCr, SpecialValues) {
  EXPECT_TRUE(SameFloat(num::exp_cr(0.0f), 1.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(-0.0f), 1.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(INFINITY), INFINITY));
  EXPECT_TRUE(SameFloat(num::exp_cr(-INFINITY), 0.0f));
  EXPECT_TRUE(std::isnan(num::exp_cr(NAN)));
  EXPECT_TRUE(std::isnan(num::exp_cr(from_bits(0x7F800001u))));  // signalling NaN
  EXPECT_TRUE(std::isnan(num::exp_cr(from_bits(0xFFC00000u))));
}

TEST(ExpCr, KnownAnswers) {
  EXPECT_TRUE(SameFloat(num::exp_cr(1.0f), 0x1.5bf0a8p+1f));   // e = 2.71828182845904...
  EXPECT_TRUE(SameFloat(num::exp_cr(-1.0f), 0x1.78b564p-2f));  // 1/e = 0.36787944117144...
  // 2^-24: e^x = 1 + 2^-24 + 2^-49 lies just above the midpoint 1 + 2^-24 and rounds up.
  EXPECT_TRUE(SameFloat(num::exp_cr(0x1p-24f), 0x1.000002p+0f));
  // -2^-25: e^x = 1 - 2^-25 + 2^-51 lies just above the midpoint 1 - 2^-25 and rounds to 1.
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1p-25f), 1.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1p-24f), 0x1.fffffep-1f));
  EXPECT_TRUE(SameFloat(num::exp_cr(1e-30f), 1.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(-1e-30f), 1.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(from_bits(1u)), 1.0f));  // smallest subnormal
}

TEST(ExpCr, HardToRoundCase) {
  // The binary32 input closest to a rounding midpoint (2^-28.7 ulp, found by
  // tools/crmath_exhaustive); expected value from mpmath at 400 bits.
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1.d2259ap+3f), 0x1.fa6636p-22f));
}

TEST(ExpCr, OverflowBoundary) {
  // ln(FLT_MAX + ulp/2) = 88.7228390...: 0x1.62e42ep+6 (88.7228317) is the last finite result.
  EXPECT_TRUE(std::isfinite(num::exp_cr(0x1.62e42ep+6f)));
  EXPECT_TRUE(SameFloat(num::exp_cr(0x1.62e42ep+6f), exp_reference(0x1.62e42ep+6f)));
  EXPECT_TRUE(SameFloat(num::exp_cr(0x1.62e430p+6f), INFINITY));
  EXPECT_TRUE(SameFloat(num::exp_cr(100.0f), INFINITY));
  EXPECT_TRUE(SameFloat(num::exp_cr(FLT_MAX), INFINITY));
}

TEST(ExpCr, UnderflowToSubnormalsAndZero) {
  // ln(2^-150) = -103.972077...: below it e^x rounds to +0; subnormal results round correctly.
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1.9fe368p+6f), exp_reference(-0x1.9fe368p+6f)));
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1.9fe36ap+6f), exp_reference(-0x1.9fe36ap+6f)));
  EXPECT_TRUE(SameFloat(num::exp_cr(-104.0f), 0.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(-FLT_MAX), 0.0f));
  EXPECT_TRUE(SameFloat(num::exp_cr(-0x1.9d1d9ep+6f), from_bits(1u)));  // ~ -103.28: e^x ~ 2^-149
  for (float x = -103.9f; x < -87.0f; x += 0.0137f) {  // the whole subnormal and FLT_MIN range
    EXPECT_TRUE(SameFloat(num::exp_cr(x), exp_reference(x))) << "x = " << std::hexfloat << x;
  }
}

TEST(ExpCr, MatchesLongDoubleReferenceSampled) {
  check_sampled(num::exp_cr, [](long double v) { return expl(v); }, 4099);
}

// ------------------------------------------------------------------------------------- exp_cr_ff

TEST(ExpCrFf, TableIsTwoToTheJOver64) {
  // kExp2J64[2j] + kExp2J64[2j+1] = 2^(j/64) within 2^-48 (relative), against glibc's exp2l; the
  // high part is the float nearest to 2^(j/64).
  for (int j = 0; j < 64; ++j) {
    const long double want = exp2l(static_cast<long double>(j) / 64);
    const float hi = num::crmath_detail::kExp2J64[2 * j], lo = num::crmath_detail::kExp2J64[2 * j + 1];
    EXPECT_EQ(hi, static_cast<float>(want)) << "j = " << j;
    EXPECT_LT(fabsl(static_cast<long double>(hi) + lo - want) / want, 0x1p-48L) << "j = " << j;
  }
}

TEST(ExpCrFf, SpecialValuesAndEdgesOfTheFastRange) {
  for (const float x : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 0x1p-26f, -0x1p-26f, 0x1.fffffep-27f, 87.0f,
                        -87.0f, 0x1.5c0002p+6f, -0x1.5c0002p+6f, 88.0f, -100.0f, 0x1.62e42ep+6f, -0x1.9d1d9ep+6f,
                        from_bits(1u), FLT_MAX, -FLT_MAX})
    EXPECT_TRUE(SameFloat(num::exp_cr_ff(x), num::exp_cr(x))) << std::hexfloat << x;
}

TEST(ExpCrFf, EqualsExpCrOnEveryNthInputAndADenseScanRange) {
  // Every 257th bit pattern (16.7 M inputs, all binades), and every float of [-0.5, -0.25) and
  // [-16, -8), binades the scan's e^(dt*A) lives in. tools/crmath_exhaustive --func exp_ff checks
  // all 2^32 inputs, and gpu_ops_test does on the GPU.
  uint64_t mismatches = 0;
  auto check = [&](uint32_t b) {
    const float x = from_bits(b);
    if (!SameFloat(num::exp_cr_ff(x), num::exp_cr(x)) && ++mismatches <= 10)
      ADD_FAILURE() << "x = " << std::hexfloat << x << ": " << SameFloat(num::exp_cr_ff(x), num::exp_cr(x)).message();
  };
  for (uint64_t i = 0; i < (uint64_t{1} << 32); i += 257) check(static_cast<uint32_t>(i));
  for (uint32_t b = bits(-0.25f); b < bits(-0.5f); ++b) check(b);
  for (uint32_t b = bits(-8.0f); b < bits(-16.0f); ++b) check(b);
  EXPECT_EQ(mismatches, 0u);
}

// ------------------------------------------------------------------------------------- log1p_cr

TEST(Log1pCr, SpecialValues) {
  EXPECT_TRUE(SameFloat(num::log1p_cr(0.0f), 0.0f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-0.0f), -0.0f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-1.0f), -INFINITY));
  EXPECT_TRUE(std::isnan(num::log1p_cr(-1.0000001f)));
  EXPECT_TRUE(std::isnan(num::log1p_cr(-2.0f)));
  EXPECT_TRUE(std::isnan(num::log1p_cr(-INFINITY)));
  EXPECT_TRUE(SameFloat(num::log1p_cr(INFINITY), INFINITY));
  EXPECT_TRUE(std::isnan(num::log1p_cr(NAN)));
  EXPECT_TRUE(std::isnan(num::log1p_cr(from_bits(0x7F800001u))));
}

TEST(Log1pCr, TinyInputsReturnThemselves) {
  // |x| < 2^-25: |log1p(x) - x| < x^2/2, less than half the distance to the next midpoint.
  for (const float x : {from_bits(1u), -from_bits(1u), FLT_MIN, -FLT_MIN, 1e-20f, -1e-20f, 0x1.fffffep-26f,
                        -0x1.fffffep-26f}) {
    EXPECT_TRUE(SameFloat(num::log1p_cr(x), x)) << std::hexfloat << x;
  }
}

TEST(Log1pCr, HardToRoundCases) {
  // Expected values from mpmath at 400 bits. The first three are the inputs that the long double
  // reference of tools/crmath_exhaustive cannot decide (+-0x1.80000xp-21 are the binary32 inputs
  // closest to a midpoint, 2^-42.8 ulp); the others are the inputs CORE-MATH's cr_log1pf singles
  // out (within 2^-28..2^-33 ulp of a midpoint, or right next to a float).
  EXPECT_TRUE(SameFloat(num::log1p_cr(0x1.800006p-21f), 0x1.7ffffep-21f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-0x1.7ffffap-21f), -0x1.800002p-21f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(0x1.b121a6p+76f), 0x1.a9a3f2p+5f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(0x1.fb035ap-2f), 0x1.9bddc2p-2f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(0x1.b7fd86p-4f), 0x1.a1ece2p-4f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-0x1.247ab0p-6f), -0x1.271f10p-6f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-0x1.3a415ep-5f), -0x1.407112p-5f));
  EXPECT_TRUE(SameFloat(num::log1p_cr(0x1.43c7e2p-6f), 0x1.409f80p-6f));
}

TEST(Log1pCr, KnownAnswers) {
  EXPECT_TRUE(SameFloat(num::log1p_cr(1.0f), 0x1.62e430p-1f));  // ln 2 = 0.693147180559945...
  EXPECT_TRUE(SameFloat(num::log1p_cr(FLT_MAX), log1p_reference(FLT_MAX)));
  EXPECT_TRUE(SameFloat(num::log1p_cr(-0x1.fffffep-1f), log1p_reference(-0x1.fffffep-1f)));  // 1 + x = 2^-24
}

TEST(Log1pCr, MatchesLongDoubleReferenceSampled) {
  check_sampled(num::log1p_cr, [](long double v) { return log1pl(v); }, 4099);
}

// ------------------------------------------------------------------------------------- silu / softplus

// Expected values use the same sequence of correctly rounded f32 operations as the definitions
// (spec §5.8), with exp/log1p from the long double reference instead of exp_cr/log1p_cr.
float silu_reference(float v) {
  const float e = exp_reference(-v);
  const float denominator = 1.0f + e;
  return v / denominator;
}
float softplus_thr20_reference(float dt) { return dt <= 20.0f ? log1p_reference(exp_reference(dt)) : dt; }

TEST(Silu, MatchesCorrectlyRoundedComposition) {
  for (const float v : {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.5f, -2.5f, 5.0f, -5.0f, 10.0f, -10.0f, 20.0f, -20.0f,
                        87.0f, -87.0f, 88.5f, -88.5f, 89.0f, -89.0f, 100.0f, -100.0f, 1e-6f, -1e-6f, 1e-40f,
                        0.3333333f, -7.123456f, FLT_MAX, -FLT_MAX}) {
    EXPECT_TRUE(SameFloat(num::silu_f32(v), silu_reference(v))) << "v = " << std::hexfloat << v;
  }
  EXPECT_TRUE(SameFloat(num::silu_f32(-100.0f), -0.0f));  // e^100 = inf: -100/inf
}

TEST(SoftplusThr20, MatchesCorrectlyRoundedComposition) {
  for (const float dt : {-100.0f, -20.0f, -10.0f, -1.0f, -1e-3f, 0.0f, 1e-3f, 1.0f, 5.0f, 15.0f, 19.99f, 20.0f,
                         20.0001f, 25.0f, 88.0f, 1e30f, 0.731f, -3.3f}) {
    EXPECT_TRUE(SameFloat(num::softplus_thr20_f32(dt), softplus_thr20_reference(dt))) << "dt = " << dt;
  }
  EXPECT_TRUE(SameFloat(num::softplus_thr20_f32(25.0f), 25.0f));  // above the threshold: identity
  EXPECT_TRUE(std::isnan(num::softplus_thr20_f32(NAN)));
}

// ------------------------------------------------------------------------------ scoring exp/log

namespace {
int64_t ulp_distance(double a, double b) {
  int64_t x, y;
  std::memcpy(&x, &a, 8), std::memcpy(&y, &b, 8);
  if (x < 0) x = INT64_MIN - x;
  if (y < 0) y = INT64_MIN - y;
  return x > y ? x - y : y - x;
}
}  // namespace

// The scoring's exp/log against the C library's (glibc: correctly rounded in nearly every case):
// within 3 ulp over the range the log-softmax uses (e^(x - max) <= 1, ln of a sum in [1, V]) and
// beyond; exact where the scoring relies on it.
TEST(ScoringExpLog, WithinThreeUlpOfTheCLibrary) {
  uint64_t z = 12345;
  auto next = [&z] {  // splitmix64
    uint64_t r = (z += 0x9E3779B97F4A7C15ull);
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
    return r ^ (r >> 31);
  };
  auto uni = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53; };
  int64_t worst_e = 0, worst_l = 0;
  for (int i = 0; i < 2000000; ++i) {
    const double y = i % 2 ? uni(-80.0, 0.0) : uni(-708.0, 709.7);
    worst_e = std::max(worst_e, ulp_distance(num::exp_f64(y), std::exp(y)));
    const double x = i % 2 ? uni(1.0, 60000.0) : std::exp(uni(-700.0, 700.0));
    worst_l = std::max(worst_l, ulp_distance(num::log_f64(x), std::log(x)));
  }
  EXPECT_LE(worst_e, 3);
  EXPECT_LE(worst_l, 3);
  for (const double x : {4.9406564584124654e-324, 1e-310, 2.2250738585072014e-308, 0.5, 1.5, 2.0, 1.4142135623730951,
                         1.4142135623730954, 1.7976931348623157e308})
    EXPECT_LE(ulp_distance(num::log_f64(x), std::log(x)), 3) << x;
}

TEST(ScoringExpLog, ExactAndSpecialValues) {
  EXPECT_EQ(num::exp_f64(0.0), 1.0);  // the max's own term: the sum starts at exactly 1
  EXPECT_EQ(num::exp_f64(-0.0), 1.0);
  EXPECT_EQ(num::log_f64(1.0), 0.0);
  EXPECT_EQ(num::exp_f64(-708.5), 0.0);  // below 2^-1021: 0 (vanishes in a sum >= 1)
  EXPECT_EQ(num::exp_f64(-INFINITY), 0.0);
  EXPECT_EQ(num::exp_f64(INFINITY), INFINITY);
  EXPECT_EQ(num::exp_f64(710.0), INFINITY);
  EXPECT_TRUE(std::isfinite(num::exp_f64(709.78)));
  EXPECT_TRUE(std::isnan(num::exp_f64(NAN)));
  EXPECT_EQ(num::log_f64(0.0), -INFINITY);
  EXPECT_EQ(num::log_f64(INFINITY), INFINITY);
  EXPECT_TRUE(std::isnan(num::log_f64(-1.0)));
  EXPECT_TRUE(std::isnan(num::log_f64(NAN)));
  for (int k = -20; k <= 20; ++k) EXPECT_EQ(num::log_f64(std::ldexp(1.0, k)), k * std::log(2.0)) << k;
}

// ------------------------------------------------------------------------------------- rounding

TEST(Rounding, PositiveTiesRoundToEven) {
  EXPECT_TRUE(SameFloat(num::round_rne(0.5f), 0.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(1.5f), 2.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(2.5f), 2.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(8388607.5f), 8388608.0f));
}

TEST(Rounding, NegativeTiesRoundToEven) {
  EXPECT_TRUE(SameFloat(num::round_rne(-0.5f), -0.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(-1.5f), -2.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(-2.5f), -2.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(-8388607.5f), -8388608.0f));
}

TEST(Rounding, PositiveTieRoundsAwayFromZero) {
  EXPECT_TRUE(SameFloat(num::round_rna(0.5f), 1.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(1.5f), 2.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(2.5f), 3.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(8388607.5f), 8388608.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(0.5f), 1.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(2.5f), 3.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(8388607.5f), 8388608.0f));
}

TEST(Rounding, NegativeTieRoundsAwayFromZero) {
  EXPECT_TRUE(SameFloat(num::round_rna(-0.5f), -1.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(-1.5f), -2.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(-2.5f), -3.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(-0.5f), -1.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(-2.5f), -3.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(-8388607.5f), -8388608.0f));
}

TEST(Rounding, JustBelowHalfDiffersBetweenRnaAndRnat) {
  // spec §4.6: 0.49999997f + 0.5f rounds to 1.0f in f32, so floor() gives 1; true RNA gives 0.
  EXPECT_TRUE(SameFloat(num::round_rna(0.49999997f), 0.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(0.49999997f), 1.0f));
  EXPECT_TRUE(SameFloat(num::round_rne(0.49999997f), 0.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(-0.49999997f), -0.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(-0.49999997f), -1.0f));
}

TEST(Rounding, NonTiesRoundToNearest) {
  for (const auto round : {num::round_rne, num::round_rna, num::round_rnat}) {
    EXPECT_TRUE(SameFloat(round(0.75f), 1.0f));
    EXPECT_TRUE(SameFloat(round(-0.75f), -1.0f));
    EXPECT_TRUE(SameFloat(round(2.25f), 2.0f));
    EXPECT_TRUE(SameFloat(round(-1e-30f), -0.0f));
    EXPECT_TRUE(SameFloat(round(4194303.25f), 4194303.0f));
  }
}

TEST(Rounding, LargeValuesAndSpecialsUnchanged) {
  for (const auto round : {num::round_rne, num::round_rna, num::round_rnat}) {
    for (const float v :
         {8388608.0f, 16777216.0f, 16777218.0f, 1e10f, -1e10f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY}) {
      EXPECT_TRUE(SameFloat(round(v), v)) << v;
    }
    EXPECT_TRUE(std::isnan(round(NAN)));
  }
  EXPECT_TRUE(SameFloat(num::round_rne(8388609.0f), 8388609.0f));
  EXPECT_TRUE(SameFloat(num::round_rna(-8388609.0f), -8388609.0f));
}

TEST(Rounding, RnatOfOddIntegerAbove2To23RoundsUp) {
  // RNAT adds 0.5 in f32 (spec §4.6): 8388609 + 0.5 is a tie in f32 and rounds to 8388610.
  EXPECT_TRUE(SameFloat(num::round_rnat(8388609.0f), 8388610.0f));
  EXPECT_TRUE(SameFloat(num::round_rnat(-8388609.0f), -8388610.0f));
}

// ------------------------------------------------------------------------------------- quantizers

TEST(QuantRnaWrap8, MeasuredWrapAnswers) {
  // spec §5.1: (int8_t)roundf(x) on the H100 = cvt.rzi.s32 + 8-bit truncation.
  EXPECT_EQ(num::quant_rna_wrap8(127.5f), -128);
  EXPECT_EQ(num::quant_rna_wrap8(128.0f), -128);
  EXPECT_EQ(num::quant_rna_wrap8(200.0f), -56);
  EXPECT_EQ(num::quant_rna_wrap8(300.0f), 44);
  EXPECT_EQ(num::quant_rna_wrap8(-128.6f), 127);
  EXPECT_EQ(num::quant_rna_wrap8(-300.0f), -44);
  EXPECT_EQ(num::quant_rna_wrap8(2.5f), 3);
  EXPECT_EQ(num::quant_rna_wrap8(-2.5f), -3);
}

TEST(QuantRnaWrap8, SaturatesToInt32BeforeWrapping) {
  EXPECT_EQ(num::quant_rna_wrap8(1e10f), -1);        // INT32_MAX = 0x7FFFFFFF -> 0xFF
  EXPECT_EQ(num::quant_rna_wrap8(-1e10f), 0);        // INT32_MIN = 0x80000000 -> 0x00
  EXPECT_EQ(num::quant_rna_wrap8(INFINITY), -1);
  EXPECT_EQ(num::quant_rna_wrap8(2147483520.0f), -128);  // 0x7FFFFF80, exact
  EXPECT_EQ(num::quant_rna_wrap8(NAN), 0);
}

TEST(QuantSat8, SaturatesAtInt8Limits) {
  for (const auto quant : {num::quant_rne_sat8, num::quant_rna_sat8, num::quant_rnat_sat8}) {
    EXPECT_EQ(quant(126.9f), 127);
    EXPECT_EQ(quant(127.0f), 127);
    EXPECT_EQ(quant(127.5f), 127);
    EXPECT_EQ(quant(300.0f), 127);
    EXPECT_EQ(quant(1e10f), 127);
    EXPECT_EQ(quant(INFINITY), 127);
    EXPECT_EQ(quant(-128.0f), -128);
    EXPECT_EQ(quant(-128.6f), -128);
    EXPECT_EQ(quant(-300.0f), -128);
    EXPECT_EQ(quant(-1e10f), -128);
    EXPECT_EQ(quant(-INFINITY), -128);
    EXPECT_EQ(quant(NAN), 0);
    EXPECT_EQ(quant(-NAN), 0);
  }
}

TEST(QuantSat8, TiesFollowTheNamedRounding) {
  EXPECT_EQ(num::quant_rne_sat8(2.5f), 2);
  EXPECT_EQ(num::quant_rne_sat8(-2.5f), -2);
  EXPECT_EQ(num::quant_rne_sat8(3.5f), 4);
  EXPECT_EQ(num::quant_rne_sat8(-126.5f), -126);
  EXPECT_EQ(num::quant_rna_sat8(2.5f), 3);
  EXPECT_EQ(num::quant_rna_sat8(-2.5f), -3);
  EXPECT_EQ(num::quant_rna_sat8(-126.5f), -127);
  EXPECT_EQ(num::quant_rnat_sat8(2.5f), 3);
  EXPECT_EQ(num::quant_rnat_sat8(-2.5f), -3);
  EXPECT_EQ(num::quant_rnat_sat8(0.49999997f), 1);
  EXPECT_EQ(num::quant_rna_sat8(0.49999997f), 0);
  EXPECT_EQ(num::quant_rne_sat8(0.49999997f), 0);
}

// ------------------------------------------------------------------------------------- f16

float float16_reference_to_f32(uint16_t h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return static_cast<float>(v);
}
uint16_t float16_reference_from_f32(float f) {
  const _Float16 v = static_cast<_Float16>(f);  // compiler/libgcc conversion, RNE
  uint16_t h;
  std::memcpy(&h, &v, 2);
  return h;
}
bool is_f16_nan(uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0; }

TEST(F16, WidenAllBitPatternsMatchesFloat16) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float got = num::f16_to_f32(static_cast<uint16_t>(h));
    EXPECT_TRUE(SameFloat(got, float16_reference_to_f32(static_cast<uint16_t>(h)))) << "h = 0x" << std::hex << h;
    if (is_f16_nan(static_cast<uint16_t>(h))) {
      EXPECT_TRUE(std::isnan(got)) << "h = 0x" << std::hex << h;
    }
  }
}

// The lm_head's one-FFMA accumulation (num::add_exact_product_f32, used by gpu_ref's lm_head
// kernels) against the spec's separate product and sum: every f16 value a times 512 f16
// values b (the extremes and specials among them) onto three accumulators each. The product is
// checked exact against double first; the negative control shows the helper is not the two-step
// sum for a product that needs rounding.
TEST(AddExactProduct, EqualsProductThenSumForEveryF16Product) {
  std::vector<uint16_t> bs = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00};
  uint32_t lcg = 12345;
  auto next = [&] { return lcg = lcg * 1664525u + 1013904223u; };
  while (bs.size() < 512) bs.push_back(static_cast<uint16_t>(next() >> 16));
  int64_t checked = 0;
  for (uint32_t ha = 0; ha < 0x10000u; ++ha) {
    const float a = num::f16_to_f32(static_cast<uint16_t>(ha));
    for (uint16_t hb : bs) {
      const float b = num::f16_to_f32(hb);
      volatile float prod = a * b;  // volatile: one rounding here, whatever the contraction flags
      if (std::isfinite(prod)) {
        ASSERT_EQ(static_cast<double>(prod), static_cast<double>(a) * static_cast<double>(b)) << ha << " " << hb;
      }
      for (float acc : {0.0f, -1.0f / 3.0f, from_bits(next() & 0xC7FFFFFFu)}) {  // |acc| < 2^17
        const float two_step = acc + prod;
        ASSERT_TRUE(SameFloat(num::add_exact_product_f32(acc, a, b), two_step)) << "a 0x" << std::hex << ha << " b 0x" << hb << " acc " << acc;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, int64_t{3} * 0x10000 * 512);
  // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 needs 25 significand bits: fused and two-step differ.
  const float x = 1.0f + std::ldexp(1.0f, -12), acc = -(1.0f + std::ldexp(1.0f, -11));
  volatile float p = x * x;
  EXPECT_EQ(num::add_exact_product_f32(acc, x, x), std::ldexp(1.0f, -24));
  EXPECT_EQ(acc + p, 0.0f);
}

TEST(F16, RoundTripAllBitPatterns) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t back = num::f32_to_f16_rne(num::f16_to_f32(static_cast<uint16_t>(h)));
    if (is_f16_nan(static_cast<uint16_t>(h))) {
      EXPECT_TRUE(is_f16_nan(back)) << "h = 0x" << std::hex << h;
    } else {
      EXPECT_EQ(back, h) << "h = 0x" << std::hex << h;
    }
  }
}

TEST(F16, KnownAnswers) {
  EXPECT_EQ(num::f32_to_f16_rne(1.0f), 0x3C00u);
  EXPECT_EQ(num::f32_to_f16_rne(-2.0f), 0xC000u);
  EXPECT_EQ(num::f32_to_f16_rne(65504.0f), 0x7BFFu);
  EXPECT_EQ(num::f32_to_f16_rne(65519.996f), 0x7BFFu);  // below the midpoint 65520
  EXPECT_EQ(num::f32_to_f16_rne(65520.0f), 0x7C00u);    // midpoint: ties to even = inf
  EXPECT_EQ(num::f32_to_f16_rne(-1e6f), 0xFC00u);
  EXPECT_EQ(num::f32_to_f16_rne(0x1p-24f), 0x0001u);    // smallest subnormal
  EXPECT_EQ(num::f32_to_f16_rne(0x1p-25f), 0x0000u);    // midpoint: ties to even = 0
  EXPECT_EQ(num::f32_to_f16_rne(0x1.000002p-25f), 0x0001u);
  EXPECT_EQ(num::f32_to_f16_rne(0x1.8p-24f), 0x0002u);  // 1.5 ulp: ties to even = 2
  EXPECT_EQ(num::f32_to_f16_rne(1.0f + 0x1p-11f), 0x3C00u);             // tie, even
  EXPECT_EQ(num::f32_to_f16_rne(1.0f + 0x1p-10f + 0x1p-11f), 0x3C02u);  // tie, odd -> up
  EXPECT_EQ(num::f32_to_f16_rne(-0.0f), 0x8000u);
  EXPECT_TRUE(is_f16_nan(num::f32_to_f16_rne(NAN)));
  EXPECT_TRUE(is_f16_nan(num::f32_to_f16_rne(from_bits(0x7F800001u))));  // NaN with payload below bit 13
}

#if defined(__x86_64__)
/// Hardware reference: the F16C instruction vcvtps2ph, round to nearest even, 8 floats at a time.
__attribute__((target("f16c,avx"))) void f16c_narrow8(const float* in, uint16_t* out) {
  const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), h);
}
bool have_f16c() { return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx"); }
#else
void f16c_narrow8(const float*, uint16_t*) {}
bool have_f16c() { return false; }
#endif

/// Count f32_to_f16_rne mismatches over the inputs i * stride, split over the available cores.
uint64_t narrow_mismatches(uint64_t stride, bool use_f16c) {
  const uint64_t count = ((uint64_t{1} << 32) - 1) / stride + 1;
  const uint64_t groups = (count + 7) / 8;  // 8 inputs per F16C conversion
  const unsigned num_threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<uint64_t> mismatches{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < num_threads; ++t) {
    threads.emplace_back([=, &mismatches] {
      uint64_t local = 0;
      float in[8];
      uint16_t want[8];
      for (uint64_t g = groups * t / num_threads; g < groups * (t + 1) / num_threads; ++g) {
        for (uint64_t j = 0; j < 8; ++j) in[j] = from_bits(static_cast<uint32_t>((8 * g + j) * stride));
        if (use_f16c) {
          f16c_narrow8(in, want);
        } else {
          for (int j = 0; j < 8; ++j) want[j] = float16_reference_from_f32(in[j]);
        }
        for (uint64_t j = 0; j < 8 && 8 * g + j < count; ++j) {
          const uint16_t got = num::f32_to_f16_rne(in[j]);
          if (got != want[j] && !(is_f16_nan(got) && is_f16_nan(want[j]))) ++local;
        }
      }
      mismatches += local;
    });
  }
  for (auto& th : threads) th.join();
  return mismatches.load();
}

TEST(F16, NarrowAllFloatsMatchesF16cHardware) {
  if (!have_f16c()) GTEST_SKIP() << "no F16C on this CPU; F16.NarrowSampledFloatsMatchesFloat16 still runs";
  EXPECT_EQ(narrow_mismatches(1, true), 0u);  // all 2^32 inputs
}

TEST(F16, NarrowSampledFloatsMatchesFloat16) {
  // The compiler's _Float16 conversion (libgcc soft-float here: ~0.4 us a call), every 4099th input.
  EXPECT_EQ(narrow_mismatches(4099, false), 0u);
}

// ------------------------------------------------------------------------------------- bf16

TEST(Bf16, KnownAnswers) {
  EXPECT_EQ(num::f32_to_bf16_rne(1.0f), 0x3F80u);
  EXPECT_EQ(num::f32_to_bf16_rne(-1.5f), 0xBFC0u);
  EXPECT_EQ(num::f32_to_bf16_rne(3.14159265f), 0x4049u);           // 0x40490FDB: rounds down
  EXPECT_EQ(num::f32_to_bf16_rne(from_bits(0x3F808000u)), 0x3F80u);  // tie, even stays
  EXPECT_EQ(num::f32_to_bf16_rne(from_bits(0x3F818000u)), 0x3F82u);  // tie, odd rounds up
  EXPECT_EQ(num::f32_to_bf16_rne(from_bits(0x3F808001u)), 0x3F81u);  // above the tie
  EXPECT_EQ(num::f32_to_bf16_rne(FLT_MAX), 0x7F80u);                 // rounds to +inf
  EXPECT_EQ(num::f32_to_bf16_rne(-INFINITY), 0xFF80u);
  EXPECT_EQ(num::f32_to_bf16_rne(from_bits(0x00008000u)), 0x0000u);  // subnormal tie, even
  EXPECT_EQ(num::f32_to_bf16_rne(from_bits(0x00018000u)), 0x0002u);  // subnormal tie, odd
  EXPECT_EQ(num::f32_to_bf16_rne(-0.0f), 0x8000u);
  // NaN stays NaN, also when the payload lies only in the low 16 bits (would round to inf).
  for (const uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu}) {
    const uint16_t b = num::f32_to_bf16_rne(from_bits(nan));
    EXPECT_EQ(b & 0x7F80u, 0x7F80u);
    EXPECT_NE(b & 0x007Fu, 0u) << std::hex << nan;
  }
  EXPECT_TRUE(SameFloat(num::bf16_to_f32(0x3F80u), 1.0f));
  EXPECT_TRUE(SameFloat(num::bf16_to_f32(0xC049u), -3.140625f));
  EXPECT_TRUE(SameFloat(num::bf16_to_f32(0x0001u), 0x1p-133f));
  EXPECT_TRUE(std::isnan(num::bf16_to_f32(0x7FC1u)));
}

}  // namespace

// ---------------------------------------------------------------- conv fast-path decision
// num::conv_code_from_approx decides the conv code from an approximation r of silu_f32(y)/s_u
// whose error is within |r|·(2^-20 + |y|·2^-23.5) (gpu_ref's k_conv4, hardware ex2/rcp). Here the
// approximations are adversarial: golden's quotient moved by up to 4x that bound in either
// direction (and the float neighbours of those), for random y and for y within 1000 ulp of every
// point where golden's quotient crosses a rounding boundary k + 1/2. Whatever the function accepts
// must be golden's code; near the boundaries it must decline (the caller then evaluates golden).
namespace {
struct ConvDecisionStats {
  uint64_t accepted = 0, declined = 0, wrong = 0;
};
void check_conv_decision(float y, float s_u, ConvDecisionStats* st) {
  const float rg = num::silu_f32(y) / s_u;
  const int8_t want = num::quant_rna_sat8(rg);
  const double b = std::ldexp(1.0, -20) + std::fabs(static_cast<double>(y)) * std::pow(2.0, -23.5);
  for (double f : {-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0}) {
    const float r = static_cast<float>(static_cast<double>(rg) * (1.0 + f * b));
    for (float rr : {r, std::nextafter(r, -INFINITY), std::nextafter(r, INFINITY)}) {
      int8_t q = 0;
      if (num::conv_code_from_approx(y, rr, &q)) {
        ++st->accepted;
        if (q != want) {
          if (st->wrong++ == 0)
            ADD_FAILURE() << "y " << std::hexfloat << y << " s_u " << s_u << " r " << rr << " golden " << rg
                          << ": code " << int{q} << ", golden " << int{want};
        }
      } else {
        ++st->declined;
      }
    }
  }
}
// Ordered integer image of a float (monotone over all non-NaN floats) and back.
int64_t ord(float f) {
  const int32_t i = static_cast<int32_t>(num::f32_bits(f));
  return i >= 0 ? i : -static_cast<int64_t>(i & 0x7FFFFFFF);
}
float unord(int64_t o) {
  return o >= 0 ? num::f32_from_bits(static_cast<uint32_t>(o)) : num::f32_from_bits(static_cast<uint32_t>(-o) | 0x80000000u);
}
}  // namespace

TEST(ConvCodeFromApprox, AdversarialApproximationsNeverChangeTheCode) {
  ConvDecisionStats random_st, edge_st;
  uint64_t crossings = 0, crossing_declined = 0;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  for (float s_u : {0.1f, 0.01f, 2.0f, 0.0371f, 1e-3f, 7.5f, 3e-5f, 0.2883f}) {
    for (int i = 0; i < 200000; ++i) {  // random bit patterns with |y| <= 64
      const uint32_t u = static_cast<uint32_t>(next());
      const float y = num::f32_from_bits((u & 0x80000000u) | ((u & 0x7FFFFFFFu) % 0x42800001u));
      check_conv_decision(y, s_u, &random_st);
    }
    // Every crossing of a boundary k + 1/2 by golden's quotient on the three monotone pieces
    // (SiLU falls on [-64, -1.2785] and rises on [-1.2785, 0] and [0, 64]), by bisection on the
    // float order, then the 2001 floats around it.
    const float pieces[3][2] = {{-64.0f, -1.2785f}, {-1.2785f, 0.0f}, {0.0f, 64.0f}};
    for (const auto& pc : pieces) {
      const float lo_y = pc[0], hi_y = pc[1];
      const float r_lo = num::silu_f32(lo_y) / s_u, r_hi = num::silu_f32(hi_y) / s_u;
      const float r_min = std::min(r_lo, r_hi), r_max = std::max(r_lo, r_hi);
      for (int k = -300; k <= 300; ++k) {
        const float bnd = static_cast<float>(k) + 0.5f;
        if (!(bnd > r_min && bnd < r_max)) continue;
        int64_t a = ord(lo_y), c = ord(hi_y);
        const bool rising = r_hi > r_lo;
        while (c - a > 1) {
          const int64_t m = a + (c - a) / 2;
          const float r = num::silu_f32(unord(m)) / s_u;
          ((r < bnd) == rising ? a : c) = m;
        }
        for (int64_t o = a - 1000; o <= a + 1000; ++o) check_conv_decision(unord(o), s_u, &edge_st);
        for (int64_t o : {a, c}) {  // the two floats around the crossing: golden's own quotient declined
          if (std::fabs(bnd) > 190.0f) break;  // (saturated beyond 192 either way)
          int8_t q = 0;
          ++crossings;
          crossing_declined += !num::conv_code_from_approx(unord(o), num::silu_f32(unord(o)) / s_u, &q);
        }
      }
    }
  }
  EXPECT_EQ(random_st.wrong + edge_st.wrong, 0u);
  // The random inputs are nearly all decided; at the crossings themselves the function declines.
  EXPECT_GT(random_st.accepted, 1000 * random_st.declined) << random_st.accepted << " accepted, " << random_st.declined;
  EXPECT_GT(crossings, 1000u);
  EXPECT_EQ(crossing_declined, crossings);
  std::printf("conv decision: random %llu accepted / %llu declined; near boundaries %llu / %llu\n",
              static_cast<unsigned long long>(random_st.accepted), static_cast<unsigned long long>(random_st.declined),
              static_cast<unsigned long long>(edge_st.accepted), static_cast<unsigned long long>(edge_st.declined));
}
