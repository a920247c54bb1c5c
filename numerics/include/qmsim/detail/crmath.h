// Correctly rounded binary32 exp and log1p (spec §5.8), for host C++ and CUDA device code.
// Included by qmsim/numerics.h (which provides QMSIM_HD, f32_bits, <math.h>, <string.h>).
//
// Method after CORE-MATH cr_expf / cr_log1pf (A. Sibidanov, https://core-math.gitlabpages.inria.fr/):
// a fast double-precision evaluation with a bounded relative error, a rounding test that accepts
// the result only if every value within that bound rounds to the same float, and otherwise an
// accurate double-double evaluation (error < 2^-78) rounded through round-to-odd. No CORE-MATH code
// or tables are copied: both functions here are table-free (no device memory needed).
// Checked exhaustively over all 2^32 inputs by tools/crmath_exhaustive.cc: the binary32 inputs
// closest to a rounding midpoint lie 2^-52.6 (exp) and 2^-66.4 (log1p) from it, relative, far
// outside the accurate paths' error, and the fast paths' largest error is 2^-52.5 (exp, test at
// 2^-50) and 2^-51.9 (log1p, test at 2^-49); the accurate paths run for 8 and 75 inputs.
//
// Valid in round-to-nearest mode only (qmsim never changes it), with IEEE subnormals: host code
// without -ffast-math and with -ffp-contract=off (numerics.h build rule); device code without
// -ftz=true (--use_fast_math), which would flush subnormal exp results. On the device every double
// operation goes through a __d*_rn intrinsic, which nvcc never contracts into an FMA, so host and
// device evaluate the same operations with the same roundings whatever --fmad says.
#pragma once

namespace qmsim {
namespace num {
namespace crmath_detail {

QMSIM_HD uint64_t f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
QMSIM_HD double f64_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

// ---------------------------------------------------------------- IEEE double ops, one rounding each
#if defined(__CUDA_ARCH__)
QMSIM_HD double dadd(double a, double b) { return __dadd_rn(a, b); }
QMSIM_HD double dsub(double a, double b) { return __dsub_rn(a, b); }
QMSIM_HD double dmul(double a, double b) { return __dmul_rn(a, b); }
QMSIM_HD double ddiv(double a, double b) { return __ddiv_rn(a, b); }
QMSIM_HD double dfma(double a, double b, double c) { return __fma_rn(a, b, c); }
#else
QMSIM_HD double dadd(double a, double b) { return a + b; }
QMSIM_HD double dsub(double a, double b) { return a - b; }
QMSIM_HD double dmul(double a, double b) { return a * b; }
QMSIM_HD double ddiv(double a, double b) { return a / b; }
QMSIM_HD double dfma(double a, double b, double c) { return ::fma(a, b, c); }
#endif

// ---------------------------------------------------------------- double-double arithmetic
/// Unevaluated sum hi + lo with |lo| <= ulp(hi)/2.
struct DD {
  double hi;
  double lo;
};
/// Exact a + b (Knuth TwoSum).
QMSIM_HD DD two_sum(double a, double b) {
  const double s = dadd(a, b);
  const double bb = dsub(s, a);
  return DD{s, dadd(dsub(a, dsub(s, bb)), dsub(b, bb))};
}
/// Exact a + b for |a| >= |b| or a == 0 (Dekker FastTwoSum).
QMSIM_HD DD fast_two_sum(double a, double b) {
  const double s = dadd(a, b);
  return DD{s, dsub(b, dsub(s, a))};
}
/// Exact a * b (no underflow here: all operands are far from 2^-969).
QMSIM_HD DD two_prod(double a, double b) {
  const double p = dmul(a, b);
  return DD{p, dfma(a, b, -p)};
}
/// a * b, relative error < 2^-102.
QMSIM_HD DD dd_mul(DD a, DD b) {
  const DD p = two_prod(a.hi, b.hi);
  return fast_two_sum(p.hi, dadd(p.lo, dadd(dmul(a.hi, b.lo), dmul(a.lo, b.hi))));
}
/// a + b, relative error < 2^-102 when a and b do not cancel by more than a factor 2.
QMSIM_HD DD dd_add(DD a, DD b) {
  const DD s = two_sum(a.hi, b.hi);
  return fast_two_sum(s.hi, dadd(s.lo, dadd(a.lo, b.lo)));
}
/// RN_float(v.hi + v.lo) for a normalized DD (hi = RN(hi + lo)) with hi normal and nonzero:
/// round to odd at 53 bits, then to nearest float (exact double rounding since 53 >= 24 + 2,
/// also onto the subnormal float grid).
QMSIM_HD float dd_to_f32_rn(DD v) {
  uint64_t u = f64_bits(v.hi);
  if (v.lo != 0.0) {
    if ((v.lo < 0.0) != (v.hi < 0.0)) --u;  // truncate |hi + lo| toward zero
    u |= 1u;                                // sticky bit: inexact
  }
  return static_cast<float>(f64_from_bits(u));
}
/// The float nearest to v if every value within v * (1 +- rel_err) rounds to it, else NaN.
/// The test's own roundings shrink the interval by at most 2^-52 relative.
QMSIM_HD float round_if_unique(double v, double rel_err) {
  const double delta = dmul(v, rel_err);
  const float lo = static_cast<float>(dsub(v, delta));
  const float hi = static_cast<float>(dadd(v, delta));
  return lo == hi ? lo : f32_from_bits(0x7FC00000u);
}

// ln 2 = kLn2Hi + kLn2Lo + kLn2Lo2 (error < 2^-139); kLn2Hi has 32 bits, so n * kLn2Hi is exact
// for |n| < 2^21.
constexpr double kLn2Hi = 0x1.62e42feep-1;
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
constexpr double kLn2Lo2 = 0x1.cc01f97b57a08p-87;

// ---------------------------------------------------------------- exp
/// exp(r_hi - kd*(kLn2Lo + kLn2Lo2)) * 2^k as a double-double, relative error < 2^-84.
/// r_hi = x - kd*kLn2Hi exactly, |r| <= 0.3466 (Taylor to degree 18, remainder < 2^-85).
QMSIM_HD float exp_accurate(double r_hi, double kd, int k) {
  const DD t = two_prod(kd, kLn2Lo);
  DD r = two_sum(r_hi, -t.hi);
  r = fast_two_sum(r.hi, dsub(r.lo, dadd(t.lo, dmul(kd, kLn2Lo2))));  // reduced argument, error < 2^-105
  // Terms r^n/n! for n >= 10 stay below 2^-37: a double Horner tail is accurate enough.
  double tail = 0x1.6827863b97d97p-53;                   // 1/18!
  tail = dadd(dmul(tail, r.hi), 0x1.952c77030ad4ap-49);  // 1/17!
  tail = dadd(dmul(tail, r.hi), 0x1.ae7f3e733b81fp-45);  // 1/16!
  tail = dadd(dmul(tail, r.hi), 0x1.ae7f3e733b81fp-41);  // 1/15!
  tail = dadd(dmul(tail, r.hi), 0x1.93974a8c07c9dp-37);  // 1/14!
  tail = dadd(dmul(tail, r.hi), 0x1.6124613a86d09p-33);  // 1/13!
  tail = dadd(dmul(tail, r.hi), 0x1.1eed8eff8d898p-29);  // 1/12!
  tail = dadd(dmul(tail, r.hi), 0x1.ae64567f544e4p-26);  // 1/11!
  tail = dadd(dmul(tail, r.hi), 0x1.27e4fb7789f5cp-22);  // 1/10!
  // Double-double Horner for n = 9 .. 0 with 1/n! split into hi + lo.
  DD p{tail, 0.0};
  p = dd_add(dd_mul(p, r), DD{0x1.71de3a556c734p-19, -0x1.c154f8ddc6c00p-73});  // 1/9!
  p = dd_add(dd_mul(p, r), DD{0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-76});   // 1/8!
  p = dd_add(dd_mul(p, r), DD{0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-73});   // 1/7!
  p = dd_add(dd_mul(p, r), DD{0x1.6c16c16c16c17p-10, -0x1.f49f49f49f49fp-65});  // 1/6!
  p = dd_add(dd_mul(p, r), DD{0x1.1111111111111p-7, 0x1.1111111111111p-63});    // 1/5!
  p = dd_add(dd_mul(p, r), DD{0x1.5555555555555p-5, 0x1.5555555555555p-59});    // 1/4!
  p = dd_add(dd_mul(p, r), DD{0x1.5555555555555p-3, 0x1.5555555555555p-57});    // 1/3!
  p = dd_add(dd_mul(p, r), DD{0.5, 0.0});
  p = dd_add(dd_mul(p, r), DD{1.0, 0.0});
  p = dd_add(dd_mul(p, r), DD{1.0, 0.0});
  const double scale = f64_from_bits(static_cast<uint64_t>(k + 1023) << 52);  // 2^k, k in [-150, 128]
  return dd_to_f32_rn(DD{dmul(p.hi, scale), dmul(p.lo, scale)});
}

// ---------------------------------------------------------------- log1p
/// log(2^e * m) + c as a double-double, relative error < 2^-78, rounded to float.
/// m in [sqrt(2)/2, sqrt(2)), c = log1p correction of the low part of 1 + x (|c| <= 2^-53).
QMSIM_HD float log1p_accurate(double m, int e, double c) {
  // s = (m - 1)/(m + 1) as a double-double; m - 1 is exact, m + 1 exact as a DD.
  const double f = dsub(m, 1.0);
  const DD d = two_sum(m, 1.0);
  const double s_hi = ddiv(f, d.hi);
  const double remainder = dsub(dfma(-s_hi, d.hi, f), dmul(s_hi, d.lo));  // fma part exact
  const DD s = fast_two_sum(s_hi, ddiv(remainder, d.hi));
  const DD s2 = dd_mul(s, s);  // <= 0.02944
  // log m = 2 atanh s = 2 s sum_k s^2k/(2k+1); truncated after k = 15 (remainder < 2^-80).
  // Terms k >= 5 stay below 2^-28 relative: a double Horner tail is accurate enough.
  double tail = 0x1.0842108421084p-5;                    // 1/31
  tail = dadd(dmul(tail, s2.hi), 0x1.1a7b9611a7b96p-5);  // 1/29
  tail = dadd(dmul(tail, s2.hi), 0x1.2f684bda12f68p-5);  // 1/27
  tail = dadd(dmul(tail, s2.hi), 0x1.47ae147ae147bp-5);  // 1/25
  tail = dadd(dmul(tail, s2.hi), 0x1.642c8590b2164p-5);  // 1/23
  tail = dadd(dmul(tail, s2.hi), 0x1.8618618618618p-5);  // 1/21
  tail = dadd(dmul(tail, s2.hi), 0x1.af286bca1af28p-5);  // 1/19
  tail = dadd(dmul(tail, s2.hi), 0x1.e1e1e1e1e1e1ep-5);  // 1/17
  tail = dadd(dmul(tail, s2.hi), 0x1.1111111111111p-4);  // 1/15
  tail = dadd(dmul(tail, s2.hi), 0x1.3b13b13b13b14p-4);  // 1/13
  tail = dadd(dmul(tail, s2.hi), 0x1.745d1745d1746p-4);  // 1/11
  DD p{tail, 0.0};
  p = dd_add(dd_mul(p, s2), DD{0x1.c71c71c71c71cp-4, 0x1.c71c71c71c71cp-58});   // 1/9
  p = dd_add(dd_mul(p, s2), DD{0x1.2492492492492p-3, 0x1.2492492492492p-57});   // 1/7
  p = dd_add(dd_mul(p, s2), DD{0x1.999999999999ap-3, -0x1.999999999999ap-57});  // 1/5
  p = dd_add(dd_mul(p, s2), DD{0x1.5555555555555p-2, 0x1.5555555555555p-56});   // 1/3
  p = dd_add(dd_mul(p, s2), DD{1.0, 0.0});
  const DD half_log_m = dd_mul(p, s);
  const DD log_m{dadd(half_log_m.hi, half_log_m.hi), dadd(half_log_m.lo, half_log_m.lo)};
  // e * ln 2 as a double-double (e * kLn2Hi exact, |e| <= 128).
  const double ed = static_cast<double>(e);
  const DD e_lo = two_prod(ed, kLn2Lo);
  DD e_ln2 = fast_two_sum(dmul(ed, kLn2Hi), e_lo.hi);
  e_ln2.lo = dadd(e_ln2.lo, dadd(e_lo.lo, dmul(ed, kLn2Lo2)));
  // |log m| <= 0.347 <= |e ln 2| / 2 unless e == 0 (then e_ln2 == 0): cancellation at most 2x.
  const DD sum = dd_add(e_ln2, log_m);
  return dd_to_f32_rn(fast_two_sum(sum.hi, dadd(sum.lo, c)));
}

}  // namespace crmath_detail

/// Correctly rounded binary32 e^x (round to nearest even), every input: exp(+-0) = 1,
/// exp(+inf) = +inf, exp(-inf) = +0, overflow to +inf for x > 0x1.62e42ep+6 (88.7228317),
/// gradual underflow to subnormals, +0 below -103.97; a NaN input is returned quieted.
QMSIM_HD float exp_cr(float x) {
  using namespace crmath_detail;
  const uint32_t ux = f32_bits(x);
  const uint32_t ax = ux & 0x7FFFFFFFu;
  if (ax >= 0x42B17218u) {                                  // |x| >= 0x1.62e43p+6 (88.7228394), inf, NaN
    if (ax > 0x7F800000u) return f32_from_bits(ux | 0x00400000u);  // NaN, quieted
    if ((ux >> 31) == 0) return f32_from_bits(0x7F800000u);        // e^x > FLT_MAX + ulp/2: +inf
    if (ax >= 0x42D00000u) return 0.0f;  // x <= -104: e^x < 2^-150, rounds to +0
  }
  if (ax < 0x32800000u) return 1.0f;  // |x| < 2^-26: |e^x - 1| < 2^-25.9, rounds to 1
  const double z = static_cast<double>(x);
  constexpr double kInvLn2 = 0x1.71547652b82fep+0;
  constexpr double kRoundShift = 0x1.8p52;  // adding it rounds |v| < 2^51 to an integer (RNE)
  const double kd = dsub(dadd(dmul(z, kInvLn2), kRoundShift), kRoundShift);  // k = round(x/ln2), |k| <= 150
  // Cody-Waite: kd * kLn2Hi is exact and so is the subtraction (|r_hi| <= 0.3466, ulp >= 2^-45).
  const double r_hi = dsub(z, dmul(kd, kLn2Hi));
  const double r = dsub(r_hi, dmul(kd, kLn2Lo));  // |error| <= 2^-55 + 150*2^-86
  // e^r = 1 + r + r^2 q(r), q = Taylor series of degree 11 (to 1/13!): remainder < 2^-56.7
  // relative. Estrin's scheme (shorter dependency chain than Horner, same error bound).
  const double r2 = dmul(r, r);
  const double r4 = dmul(r2, r2);
  const double q01 = dadd(dmul(r, 0x1.5555555555555p-3), 0.5);                   // 1/2!, 1/3!
  const double q23 = dadd(dmul(r, 0x1.1111111111111p-7), 0x1.5555555555555p-5);   // 1/4!, 1/5!
  const double q45 = dadd(dmul(r, 0x1.a01a01a01a01ap-13), 0x1.6c16c16c16c17p-10);  // 1/6!, 1/7!
  const double q67 = dadd(dmul(r, 0x1.71de3a556c734p-19), 0x1.a01a01a01a01ap-16);  // 1/8!, 1/9!
  const double q89 = dadd(dmul(r, 0x1.ae64567f544e4p-26), 0x1.27e4fb7789f5cp-22);  // 1/10!, 1/11!
  const double q1011 = dadd(dmul(r, 0x1.6124613a86d09p-33), 0x1.1eed8eff8d898p-29);  // 1/12!, 1/13!
  const double q03 = dadd(dmul(r2, q23), q01);
  const double q47 = dadd(dmul(r2, q67), q45);
  const double q811 = dadd(dmul(r2, q1011), q89);
  const double q = dadd(dmul(r4, dadd(dmul(r4, q811), q47)), q03);
  const double y = dadd(1.0, dadd(r, dmul(r2, q)));  // relative error < 2^-51.8 (analysis), 2^-52.5 seen
  const int k = static_cast<int>(kd);
  const double scale = f64_from_bits(static_cast<uint64_t>(k + 1023) << 52);  // 2^k, normal double
  const float fast = round_if_unique(dmul(y, scale), 0x1p-50);
  if (fast == fast) return fast;
  return exp_accurate(r_hi, kd, k);
}

// ---------------------------------------------------------------- exp_cr_ff: the same function, faster
namespace crmath_detail {
// 2^(j/64) = kExp2J64[2j] + kExp2J64[2j+1] for j = 0..63, relative error < 2^-49.2 (each part the
// float nearest to what remains; tools/gen made them with 60-digit decimal arithmetic and
// numerics_test checks them against expl).
#define QMSIM_EXP2_J64_TABLE \
    0x1p0f, 0.0f, 0x1.02c9a4p0f, -0x1.887fap-28f, \
    0x1.059b0ep0f, -0x1.9d4f52p-25f, 0x1.087452p0f, -0x1.e2990ep-26f, \
    0x1.0b5586p0f, 0x1.9f3122p-25f, 0x1.0e3ec4p0f, -0x1.a585ccp-25f, \
    0x1.11301ep0f, -0x1.fdb496p-25f, 0x1.1429aap0f, 0x1.d525bcp-25f, \
    0x1.172b84p0f, -0x1.c15742p-27f, 0x1.1a35bep0f, 0x1.6df96ep-25f, \
    0x1.1d4874p0f, -0x1.d2e8cap-25f, 0x1.2063b8p0f, 0x1.0c519ap-25f, \
    0x1.2387a6p0f, 0x1.ceac48p-25f, 0x1.26b456p0f, 0x1.789f38p-26f, \
    0x1.29e9ep0f, -0x1.5c0424p-25f, 0x1.2d285ap0f, 0x1.b900c2p-26f, \
    0x1.306fep0f, 0x1.4636e2p-25f, 0x1.33c08cp0f, -0x1.b37d2p-25f, \
    0x1.371a74p0f, -0x1.18aac6p-25f, 0x1.3a7db4p0f, -0x1.634c02p-25f, \
    0x1.3dea64p0f, 0x1.824684p-25f, 0x1.4160a2p0f, 0x1.f72e2ap-28f, \
    0x1.44e086p0f, 0x1.8624b4p-30f, 0x1.486a2cp0f, -0x1.47d866p-25f, \
    0x1.4bfdaep0f, -0x1.593abcp-25f, 0x1.4f9b28p0f, -0x1.2c5a6cp-25f, \
    0x1.5342b6p0f, -0x1.2c561p-25f, 0x1.56f474p0f, -0x1.295b04p-25f, \
    0x1.5ab07ep0f, -0x1.5bd5ecp-27f, 0x1.5e76f2p0f, -0x1.4a5bd6p-25f, \
    0x1.6247ecp0f, -0x1.f8b55p-25f, 0x1.662388p0f, 0x1.2a9112p-27f, \
    0x1.6a09e6p0f, 0x1.9fcef4p-26f, 0x1.6dfb24p0f, -0x1.cd72e8p-27f, \
    0x1.71f75ep0f, 0x1.1d8beep-25f, 0x1.75feb6p0f, -0x1.37b306p-25f, \
    0x1.7a1148p0f, -0x1.829fdp-25f, 0x1.7e2f34p0f, -0x1.261634p-25f, \
    0x1.82589ap0f, -0x1.accc7cp-26f, 0x1.868d9ap0f, -0x1.2edb44p-26f, \
    0x1.8ace54p0f, 0x1.15506ep-27f, 0x1.8f1aeap0f, -0x1.baa232p-26f, \
    0x1.93737cp0f, -0x1.e64744p-25f, 0x1.97d82ap0f, -0x1.0d8d84p-31f, \
    0x1.9c4918p0f, 0x1.51f848p-27f, 0x1.a0c668p0f, -0x1.2886a6p-26f, \
    0x1.a5503cp0f, -0x1.b83b54p-25f, 0x1.a9e6b6p0f, -0x1.50c048p-25f, \
    0x1.ae89fap0f, -0x1.a94b14p-26f, 0x1.b33a2cp0f, -0x1.ec3a82p-26f, \
    0x1.b7f77p0f, -0x1.a09438p-25f, 0x1.bcc1eap0f, -0x1.f687c6p-25f, \
    0x1.c199bep0f, -0x1.3d56b2p-27f, 0x1.c67f12p0f, 0x1.cafa2ap-25f, \
    0x1.cb720ep0f, -0x1.8837ccp-27f, 0x1.d072d4p0f, 0x1.40f13p-25f, \
    0x1.d5818ep0f, -0x1.822dbcp-27f, 0x1.da9e6p0f, 0x1.ed9942p-27f, \
    0x1.dfc974p0f, -0x1.908c94p-25f, 0x1.e502eep0f, 0x1.e2cffep-26f, \
    0x1.ea4afap0f, 0x1.52486cp-27f, 0x1.efa1bep0f, 0x1.cc2b44p-25f, \
    0x1.f50766p0f, -0x1.246ebp-26f, 0x1.fa7c18p0f, 0x1.9e90d8p-28f,
#if defined(__CUDA_ARCH__)
__device__ const float kExp2J64[128] = {QMSIM_EXP2_J64_TABLE};
#else
constexpr float kExp2J64[128] = {QMSIM_EXP2_J64_TABLE};
#endif
#undef QMSIM_EXP2_J64_TABLE

// The cold path of exp_cr_ff, kept out of line on the device so that kernels which unroll many
// exp_cr_ff calls do not inline exp_cr's double-double code each time (static: one copy in each
// CUDA translation unit, as gpu_ref has two).
#if defined(__CUDACC__)
static __host__ __device__ __noinline__
#else
inline
#endif
float exp_cr_cold(float x) {
  return exp_cr(x);
}
}  // namespace crmath_detail

/// The correctly rounded binary32 e^x again: the same value as exp_cr for every input (checked over
/// all 2^32 inputs by tools/crmath_exhaustive --func exp_ff and, on the GPU, by gpu_ops_test), with
/// a fast path in binary32 float-float arithmetic for |x| in [2^-26, 87] instead of exp_cr's
/// double-precision one: the H100 runs binary32 at twice its binary64 rate and without
/// float <-> double conversions, so the scan's per-state e^(dt*A) costs about a third.
///   k = round(x * 64/ln2), x = k ln2/64 + r, |r| <= ln2/128 + 2^-17, e^x = 2^(k>>6) 2^((k&63)/64) e^r:
///   r = rh + rl from a three-part ln2/64 (C1 has 11 bits, so k*C1 and x - k*C1 are exact);
///   e^r = 1 + rh + q, q = rh^2 (1/2 + rh/6 + rh^2/24) + rh*rl + rl (error < 2^-38.4);
///   times the float-float table entry; (h, l) = FastTwoSum; accepted if |l| stays 2^-12 of a
///   half-ulp away from h's rounding midpoints (the total error is below 2^-37.5 relative by
///   analysis, 2^-37.9 the largest in 20 M random inputs; 2^-12 of a half-ulp of h is 2^-36 of h or more), else
///   (1 input in 4,000, and every x
///   outside the fast range) exp_cr decides.
/// exp_cr_ff_try is that fast path alone, without a branch: *ok tells whether its value is e^x
/// correctly rounded; where not, the caller must take exp_cr(x). (Sixteen of them side by side
/// with a fix-up pass made the GPU scan slower than sixteen exp_cr_ff calls: docs/BENCHMARKS.md.)
QMSIM_HD float exp_cr_ff_try(float x, bool* ok) {
  using namespace crmath_detail;
  const uint32_t ax = f32_bits(x) & 0x7FFFFFFFu;
  const bool in_range = ax <= 0x42AE0000u && ax >= 0x32800000u;  // 2^-26 <= |x| <= 87 (not inf, NaN)
  x = in_range ? x : 1.0f;                   // any in-range value: the result is discarded
  constexpr float kInvL = 0x1.715476p+6f;    // 64/ln2 (any nearby value works: it only picks k)
  constexpr float kShift = 0x1.8p23f;        // adding it rounds |t| < 2^22 to an integer (RNE)
  constexpr float kC1 = 0x1.62cp-7f;         // ln2/64 truncated to 11 bits
  constexpr float kC2 = 0x1.217f7ep-18f;     // the next 24 bits
  constexpr float kC3 = -0x1.c610cap-43f;    // and the next
  const float kf = (x * kInvL + kShift) - kShift;  // |k| <= 8033
  const int k = static_cast<int>(kf);
  const float r1 = x - kf * kC1;                   // both exact
  const float p2 = kf * kC2;
  const float p2e = fma_f32(kf, kC2, -p2);         // p2 + p2e = k*C2 exactly
  const float rh = r1 - p2;                        // TwoSum(r1, -p2)
  const float bb = rh - r1;
  const float rl = ((r1 - (rh - bb)) + (-p2 - bb)) - p2e - kf * kC3;
  const float r2 = rh * rh;
  float p = fma_f32(rh, 0x1.555556p-5f, 0x1.555556p-3f);  // 1/24, 1/6
  p = fma_f32(rh, p, 0.5f);
  float q = fma_f32(r2, p, rl);
  q = fma_f32(rh, rl, q);
  const float s_hi = 1.0f + rh;                    // FastTwoSum(1, rh): 1 >= |rh|
  const float s_lo = ((1.0f - s_hi) + rh) + q;
  const int j = k & 63;
  const float th = kExp2J64[2 * j], tl = kExp2J64[2 * j + 1];
  const float m_hi = th * s_hi;
  const float m_lo = fma_f32(th, s_hi, -m_hi) + fma_f32(th, s_lo, tl * s_hi);
  const float h = m_hi + m_lo;                     // FastTwoSum(m_hi, m_lo)
  const float l = m_lo - (h - m_hi);
  const uint32_t hb = f32_bits(h);
  // Half an ulp of h is 2^(E - 24); below a power of two the gap halves: leave those to exp_cr.
  const float half_ulp = f32_from_bits((hb & 0x7F800000u) - (24u << 23));
  *ok = in_range && (hb & 0x007FFFFFu) != 0 && fabsf(l) < half_ulp * 0x1.ffep-1f;
  return h * f32_from_bits(static_cast<uint32_t>((k >> 6) + 127) << 23);  // 2^(k>>6), exact: result normal
}

/// exp_cr_ff_try, and exp_cr where it declines.
QMSIM_HD float exp_cr_ff(float x) {
  bool ok = false;
  const float y = exp_cr_ff_try(x, &ok);
  return ok ? y : crmath_detail::exp_cr_cold(x);
}

/// Correctly rounded binary32 log(1 + x) (round to nearest even), every input: log1p(+-0) = +-0,
/// log1p(-1) = -inf, log1p(x < -1) = NaN (0x7FC00000), log1p(+inf) = +inf, |x| < 2^-25 gives x
/// (also for subnormals); a NaN input is returned quieted.
QMSIM_HD float log1p_cr(float x) {
  using namespace crmath_detail;
  const uint32_t ux = f32_bits(x);
  const uint32_t ax = ux & 0x7FFFFFFFu;
  // |x| < 2^-25: |log1p(x) - x| < x^2/2 * (1 + 2^-24), less than half the gap to either midpoint.
  if (ax < 0x33000000u) return x;
  if (ux >= 0xBF800000u || ax >= 0x7F800000u) {                    // x <= -1, +-inf, NaN
    if (ax > 0x7F800000u) return f32_from_bits(ux | 0x00400000u);  // NaN, quieted
    if (ux == 0xBF800000u) return f32_from_bits(0xFF800000u);      // log1p(-1) = -inf
    if (ux == 0x7F800000u) return x;                                // +inf
    return f32_from_bits(0x7FC00000u);                              // x < -1 or -inf: NaN
  }
  // 1 + x = u.hi + u.lo exactly; u.lo != 0 only for x >= 2^29, then c = log1p(u.lo/u.hi) ~ u.lo/u.hi.
  const DD u = two_sum(1.0, static_cast<double>(x));
  const double c = ddiv(u.lo, u.hi);
  // u.hi = 2^e * m with m in [sqrt(2)/2, sqrt(2)).
  const uint64_t ub = f64_bits(u.hi);
  int e = static_cast<int>(ub >> 52) - 1023;
  uint64_t m_bits = ub & 0x000FFFFFFFFFFFFFull;
  if (m_bits >= 0x6A09E667F3BCDull) {  // fraction of RN(sqrt(2))
    m_bits |= 0x3FE0000000000000ull;
    ++e;
  } else {
    m_bits |= 0x3FF0000000000000ull;
  }
  const double m = f64_from_bits(m_bits);
  // log m = 2 atanh s, s = (m - 1)/(m + 1), |s| <= 0.1716: 2s (1 + s^2/3 + ... + s^18/19 + s^20/21),
  // remainder < 2^-60 relative; s has relative error <= 2^-52 (m + 1 and the division round).
  const double s = ddiv(dsub(m, 1.0), dadd(m, 1.0));
  const double s2 = dmul(s, s);
  const double s4 = dmul(s2, s2);
  const double s8 = dmul(s4, s4);
  const double a01 = dadd(dmul(s2, 0x1.999999999999ap-3), 0x1.5555555555555p-2);  // 1/3, 1/5
  const double a23 = dadd(dmul(s2, 0x1.c71c71c71c71cp-4), 0x1.2492492492492p-3);  // 1/7, 1/9
  const double a45 = dadd(dmul(s2, 0x1.3b13b13b13b14p-4), 0x1.745d1745d1746p-4);  // 1/11, 1/13
  const double a67 = dadd(dmul(s2, 0x1.e1e1e1e1e1e1ep-5), 0x1.1111111111111p-4);  // 1/15, 1/17
  const double a89 = dadd(dmul(s2, 0x1.8618618618618p-5), 0x1.af286bca1af28p-5);  // 1/19, 1/21
  const double a03 = dadd(dmul(s4, a23), a01);
  const double a47 = dadd(dmul(s4, a67), a45);
  const double a = dadd(dmul(s8, dadd(dmul(s8, a89), a47)), a03);  // Estrin's scheme
  const double two_s = dadd(s, s);
  const double log_m = dadd(two_s, dmul(dmul(two_s, s2), a));
  // e * kLn2Hi is exact; for e == 0 the sum is log_m itself. Relative error < 2^-50.7.
  const double ed = static_cast<double>(e);
  const double v = dadd(dmul(ed, kLn2Hi), dadd(log_m, dadd(dmul(ed, kLn2Lo), c)));
  const float fast = round_if_unique(v, 0x1p-49);
  if (fast == fast) return fast;
  return log1p_accurate(m, e, c);
}

}  // namespace num
}  // namespace qmsim
