// qmsim scalar numerics: the ONE place where every rounding, saturation, requantization,
// conversion and special function of the Quamba W8A8 datapath is defined.
//
// Usable from host C++ and CUDA device code (QMSIM_HD). Every function names its rounding
// (RNE = round to nearest, ties to even; RNA = round to nearest, ties away from zero;
// RNAT = the original's floor(x+0.5)/ceil(x-0.5) "roundf_like", spec §4.6) and its overflow
// behaviour (sat = saturate, wrap = modulo 2^8).
//
// Build rule (spec §5.8): callers compile with -ffp-contract=off and without fast-math or
// flush-to-zero; every FMA of the datapath is written as qmsim::num::fma_f32 explicitly.
#pragma once

#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__CUDACC__)
#define QMSIM_HD __host__ __device__ __forceinline__
#else
#define QMSIM_HD inline
#endif

namespace qmsim {
namespace num {

// ---------------------------------------------------------------- bit casts
QMSIM_HD uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
QMSIM_HD float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// ---------------------------------------------------------------- integer saturation / wrap
constexpr int32_t kInt8Min = -128;
constexpr int32_t kInt8Max = 127;

/// Clamp an int32 to [-128, 127].
QMSIM_HD int8_t sat8(int32_t v) {
  return static_cast<int8_t>(v < kInt8Min ? kInt8Min : (v > kInt8Max ? kInt8Max : v));
}
/// Two's-complement truncation to 8 bits (v mod 256, reinterpreted as signed). spec §2.7.
QMSIM_HD int8_t wrap8(int32_t v) {
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(v) & 0xFFu));
}

// ---------------------------------------------------------------- float -> integral float
/// RNE to an integral float. Valid for every float; NaN/inf/|x| >= 2^23 returned unchanged.
/// Uses the default IEEE rounding mode (never changed by qmsim): x + 2^23 rounds to an integer.
QMSIM_HD float round_rne(float x) {
  const float ax = fabsf(x);
  if (!(ax < 8388608.0f)) return x;
  const float r = (ax + 8388608.0f) - 8388608.0f;
  return copysignf(r, x);
}
/// RNA (C roundf): ties away from zero. ax - trunc(ax) is exact for every float.
QMSIM_HD float round_rna(float x) {
  // No range check needed: for |x| >= 2^23 (and inf) trunc is the identity and ax - t is 0 (NaN
  // for inf, which fails the test too), so x comes back; NaN stays NaN.
  const float ax = fabsf(x);
  float t = truncf(ax);
  if (ax - t >= 0.5f) t += 1.0f;
  return copysignf(t, x);
}
/// RNAT: the original's `x >= 0 ? floor(x + 0.5) : ceil(x - 0.5)` evaluated in f32 (spec §4.6);
/// differs from RNA when x +- 0.5 rounds in f32 (e.g. x = 0.49999997f -> 1).
QMSIM_HD float round_rnat(float x) {
  return x >= 0.0f ? floorf(x + 0.5f) : ceilf(x - 0.5f);
}

/// float -> int32 with saturation, NaN -> 0 (PTX cvt.*.s32.f32 semantics). Input must be integral
/// (already rounded); non-integral inputs are truncated toward zero.
QMSIM_HD int32_t f32_to_i32_sat_soft(float x) {
  if (x != x) return 0;
  if (x >= 2147483648.0f) return 2147483647;
  if (x <= -2147483648.0f) return (-2147483647 - 1);
  return static_cast<int32_t>(x);
}
/// f32_to_i32_sat_soft; on the device the one instruction cvt.rzi.s32.f32 (which saturates and
/// maps NaN to 0: gpu_ops_test checks it on every input).
QMSIM_HD int32_t f32_to_i32_sat(float x) {
#if defined(__CUDA_ARCH__)
  int32_t i;
  asm("cvt.rzi.s32.f32 %0, %1;" : "=r"(i) : "f"(x));
  return i;
#else
  return f32_to_i32_sat_soft(x);
#endif
}
/// RNE to int32 with saturation, NaN -> 0: f32_to_i32_sat(round_rne(x)). On the device the one
/// instruction cvt.rni.s32.f32 (gpu_ops_test compares the two on every input). Not yet used by
/// quant_rne_sat8: that waits for the comparison to have run on a GPU.
QMSIM_HD int32_t f32_to_i32_rne_sat(float x) {
#if defined(__CUDA_ARCH__)
  int32_t i;
  asm("cvt.rni.s32.f32 %0, %1;" : "=r"(i) : "f"(x));
  return i;
#else
  return f32_to_i32_sat_soft(round_rne(x));
#endif
}
/// int32 -> f32, RNE (exact for |v| <= 2^24). spec §2.4.
QMSIM_HD float i32_to_f32_rne(int32_t v) { return static_cast<float>(v); }

// ---------------------------------------------------------------- quantizers (float -> int8)
/// sat8(RNE(v)): GEMM epilogues (cvt.rni.sat.s8.f32), QRMSNorm, PyTorch requant. NaN -> 0.
QMSIM_HD int8_t quant_rne_sat8(float v) { return sat8(f32_to_i32_sat(round_rne(v))); }
/// sat8(RNA(v)): conv1d output, SSM state (spec §2.5, §2.6). NaN -> 0.
QMSIM_HD int8_t quant_rna_sat8(float v) { return sat8(f32_to_i32_sat(round_rna(v))); }
/// wrap8(RNA(v)): the original Hadamard quantizer `(int8_t)roundf(x)` = cvt.rzi.s32 + 8-bit
/// store (spec §2.7, §5.1): int32 saturation first, then modulo 256. NaN -> 0.
QMSIM_HD int8_t quant_rna_wrap8(float v) { return wrap8(f32_to_i32_sat(round_rna(v))); }
/// sat8(RNAT(v)) for the 5-x family (spec §4.6).
QMSIM_HD int8_t quant_rnat_sat8(float v) { return sat8(f32_to_i32_sat(round_rnat(v))); }

// ---------------------------------------------------------------- named-rounding requantizers
/// Rounding of a quantizer site chosen at run time by an experiment mode (spec §5.3, §5.8).
enum class Rounding : uint8_t { kRne, kRna };
QMSIM_HD float round_by(Rounding r, float x) { return r == Rounding::kRne ? round_rne(x) : round_rna(x); }
/// sat8(R(x / s)) with IEEE division (spec §5.8): PyTorch-style requantization of an f32 value.
QMSIM_HD int8_t requant_sat8(Rounding r, float x, float s) { return sat8(f32_to_i32_sat(round_by(r, x / s))); }

// ---------------------------------------------------------------- SSM-input (u) quantizers
/// The u quantizer families of the experiment modes (spec §4.2, §4.6 with RNAt -> RNA and IEEE
/// division per §5.8). s = s_u; every product, quotient and sum below is one binary32 rounding.
enum class UQuantizer : uint8_t {
  kNone,                 // u = x
  kGrid,                 // u = sat8(R(x/s))·s
  kGridKeepOutliers,     // u = |R(x/s)| > 127 ? x : sat8(R(x/s))·s
  kGridRequantOutliers,  // u = |R(x/s)| > 127 ? sat8(R(x/s_o))·s_o : sat8(R(x/s))·s
  kTwoLevel,             // u = |R(x/s)| < T ? clamp(R(x/f), ±127)·f : sat8(R(x/s))·s,  f = s/F
  kLogOutliers,          // mode 5-6, see u_quantize
  kThreeSegment,         // mode 5-7, see u_quantize
};
struct UQuantParams {
  UQuantizer kind = UQuantizer::kNone;
  Rounding rounding = Rounding::kRne;
  float s = 1.0f;         // s_u
  float s_o = 1.0f;       // outlier scale of kGridRequantOutliers
  int fine_threshold = 0; // T of kTwoLevel
  int fine_divisor = 1;   // F of kTwoLevel
};
QMSIM_HD float clamp_f(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
/// True when x lies outside the int8 grid of s: |R(x/s)| > 127 (the outlier test of §4.6).
QMSIM_HD bool u_is_outlier(const UQuantParams& p, float x) { return fabsf(round_by(p.rounding, x / p.s)) > 127.0f; }
/// The value a u quantizer gives for x (spec §4.6 table; golden definitions §5.8).
QMSIM_HD float u_quantize(const UQuantParams& p, float x) {
  const Rounding R = p.rounding;
  const float s = p.s;
  const float rr = round_by(R, x / s);
  const float on_grid = static_cast<float>(sat8(f32_to_i32_sat(rr))) * s;
  switch (p.kind) {
    case UQuantizer::kNone: return x;
    case UQuantizer::kGrid: return on_grid;
    case UQuantizer::kGridKeepOutliers: return fabsf(rr) > 127.0f ? x : on_grid;
    case UQuantizer::kGridRequantOutliers:
      return fabsf(rr) > 127.0f ? static_cast<float>(requant_sat8(R, x, p.s_o)) * p.s_o : on_grid;
    case UQuantizer::kTwoLevel: {
      if (!(fabsf(rr) < static_cast<float>(p.fine_threshold))) return on_grid;
      const float f = s / static_cast<float>(p.fine_divisor);
      return clamp_f(round_by(R, x / f), -127.0f, 127.0f) * f;
    }
    case UQuantizer::kLogOutliers: {
      // 5-6: fine grid f = s/4 up to 8s; beyond, 8s + 2^k·f with k = floor(log2(max(|x|-8s, f)/f)).
      const float f = s / 4.0f, lim = 8.0f * s, ax = fabsf(x);
      if (ax <= lim) return clamp_f(round_by(R, x / f), -127.0f, 127.0f) * f;
      const float d = ax - lim;
      const float ratio = (d > f ? d : f) / f;          // >= 1
      int k = ilogbf(ratio);                            // exact floor(log2(ratio)) for finite ratio >= 1
      k = k < 0 ? 0 : (k > 255 ? 255 : k);
      return copysignf(lim + ldexpf(f, k), x);
    }
    case UQuantizer::kThreeSegment: {
      // 5-7: 64 fine steps of s/4 up to 15.75s, int8-grid steps 16..143 of s, then 64 steps of 4s.
      const float f = s / 4.0f, ax = fabsf(x);
      if (ax <= 15.75f * s) return clamp_f(round_by(R, x / f), -63.0f, 63.0f) * f;
      const float s143 = 143.0f * s;
      if (ax <= s143) return copysignf(clamp_f(round_by(R, ax / s), 16.0f, 143.0f) * s, x);
      const float s4 = 4.0f * s;
      return copysignf(s143 + clamp_f(round_by(R, (ax - s143) / s4), 0.0f, 63.0f) * s4, x);
    }
  }
  return x;
}

// ---------------------------------------------------------------- Hadamard
/// spec §5.8: the ±1 matrix H_12 (row r, column c) as used by the 12N kernel ('+' = +1), shared
/// by the golden model and the ASIC model (the CUDA kernel keeps a __constant__ copy).
inline constexpr int8_t kHadamard12[12][12] = {
    {1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},          // +-++++++++++
    {-1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1},    // --+-+-+-+-+-
    {1, 1, 1, -1, 1, 1, -1, -1, -1, -1, 1, 1},      // +++-++----++
    {1, -1, -1, -1, 1, -1, -1, 1, -1, 1, 1, -1},    // +---+--+-++-
    {1, 1, 1, 1, 1, -1, 1, 1, -1, -1, -1, -1},      // +++++-++----
    {1, -1, 1, -1, -1, -1, 1, -1, -1, 1, -1, 1},    // +-+---+--+-+
    {1, 1, -1, -1, 1, 1, 1, -1, 1, 1, -1, -1},      // ++--+++-++--
    {1, -1, -1, 1, 1, -1, -1, -1, 1, -1, -1, 1},    // +--++---+--+
    {1, 1, -1, -1, -1, -1, 1, 1, 1, -1, 1, 1},      // ++----+++-++
    {1, -1, -1, 1, -1, 1, 1, -1, -1, -1, 1, -1},    // +--+-++---+-
    {1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, -1},      // ++++----+++-
    {1, -1, 1, -1, -1, 1, -1, 1, 1, -1, -1, -1},    // +-+--+-++---
};

// ---------------------------------------------------------------- f16 / bf16 conversion
/// binary16 -> binary32, exact (subnormals, inf, NaN preserved; NaN payload kept quiet). The
/// portable definition; f16_to_f32 below is it, with the hardware conversion on the device.
QMSIM_HD float f16_to_f32_soft(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do { ++e; mant <<= 1; } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  return f32_from_bits(bits);
}
/// binary32 -> binary16, RNE, IEEE overflow to +-inf, gradual underflow; NaN -> quiet NaN. The
/// portable definition; f32_to_f16_rne below is it, with the hardware conversion on the device.
QMSIM_HD uint16_t f32_to_f16_rne_soft(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) {  // inf or NaN
    return static_cast<uint16_t>(sign | 0x7C00u | (ax > 0x7F800000u ? (0x200u | ((ax >> 13) & 0x3FFu)) : 0u));
  }
  if (ax >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520: rounds to inf
  if (ax >= 0x38800000u) {  // normal f16 range (>= 2^-14)
    const uint32_t mant_odd = (ax >> 13) & 1u;
    const uint32_t r = ax + 0xC8000FFFu + mant_odd;  // rebias (-112<<23) and RNE at bit 13
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  if (ax < 0x33000000u) return sign;  // < 2^-25: rounds to 0 (2^-25 itself ties to even 0)
  // subnormal f16: value = m * 2^-24
  const uint32_t e = ax >> 23;
  const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - e;            // 14..24 (113 - e + 13)
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  return static_cast<uint16_t>(sign | q);
}
/// binary16 -> binary32 (f16_to_f32_soft's values). On the device every non-NaN input goes
/// through cvt.f32.f16 (exact: each binary16 value is a binary32 value) and NaNs through the
/// portable code, which keeps their payload; gpu_ops_test compares the two on all 65536 inputs.
QMSIM_HD float f16_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  if ((h & 0x7FFFu) <= 0x7C00u) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
  }
#endif
  return f16_to_f32_soft(h);
}
/// binary32 -> binary16, RNE (f32_to_f16_rne_soft's values). On the device non-NaN inputs go
/// through cvt.rn.f16.f32 (IEEE RNE with overflow to inf and subnormal results), NaNs through the
/// portable code; gpu_ops_test compares the two on all 2^32 inputs.
QMSIM_HD uint16_t f32_to_f16_rne(float f) {
#if defined(__CUDA_ARCH__)
  if (f == f) {
    uint16_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
  }
#endif
  return f32_to_f16_rne_soft(f);
}
/// Round a float to the nearest f16 value and widen back (RNE; overflow -> inf).
QMSIM_HD float round_to_f16(float f) { return f16_to_f32(f32_to_f16_rne(f)); }
/// bfloat16 -> binary32, exact.
QMSIM_HD float bf16_to_f32(uint16_t b) { return f32_from_bits(static_cast<uint32_t>(b) << 16); }
/// binary32 -> bfloat16, RNE; NaN stays NaN.
QMSIM_HD uint16_t f32_to_bf16_rne(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// ---------------------------------------------------------------- basic IEEE operations
/// One fused multiply-add a*b+c with a single rounding (spec: wherever the original contracts).
QMSIM_HD float fma_f32(float a, float b, float c) { return fmaf(a, b, c); }
/// acc + a·b for a product that is exact in binary32, as ONE fused multiply-add: fl32(acc + a·b)
/// rounds once, so it equals fl32(acc + fl32(a·b)) (the spec's product, then the sum) whenever
/// a·b needs no rounding. That holds for f16 × f16 widened to f32 (11 + 11 significand bits, at
/// most 24; exponents from 2^-48 to 2^32, inside f32's normal range), the lm_head's products
/// (spec §2.11): half the instructions of a multiply and an add on the GPU, same bits. Any other
/// operands must use the two roundings of the spec.
QMSIM_HD float add_exact_product_f32(float acc, float a, float b) { return fmaf(a, b, acc); }
/// IEEE binary32 square root (correctly rounded on every platform).
QMSIM_HD float sqrt_f32(float x) { return sqrtf(x); }

}  // namespace num
}  // namespace qmsim

// Correctly rounded binary32 exp and log1p (spec §5.8).
#include "qmsim/detail/crmath.h"

namespace qmsim {
namespace num {

/// The correctly rounded e^x with the faster evaluation for the target: exp_cr_ff in device code
/// (binary32 float-float, twice the H100's binary64 rate), exp_cr on the host. Both return the same
/// value for every input (correct rounding; tools/crmath_exhaustive), so the choice is speed only.
QMSIM_HD float exp_cr_fast(float x) {
#if defined(__CUDA_ARCH__)
  return exp_cr_ff(x);
#else
  return exp_cr(x);
#endif
}
/// SiLU as the golden model defines it (spec §5.8, conv): v / (1 + exp(-v)), each op rounded.
QMSIM_HD float silu_f32(float v) { return v / (1.0f + exp_cr_fast(-v)); }
/// The conv output code q = quant_rna_sat8(silu_f32(y) / s_u) (spec §2.5) from an approximation
/// r of that quotient, where that is certain (gpu_ref's k_conv4 forms r with the hardware ex2/rcp
/// approximations). Precondition: |r - silu_f32(y)/s_u| <= |r|·(2^-20 + |y|·2^-23.5), the
/// approximation's error bound together with golden's own roundings. Returns true with *q set
/// when |r| >= 192 (saturated either way) or when r is farther than 8x that bound (4x for the |y|
/// term) from every rounding boundary k + 1/2, so that both values round to the same integer;
/// false (the caller evaluates the definition) inside that margin, for |y| > 64 or a NaN y.
QMSIM_HD bool conv_code_from_approx(float y, float r, int8_t* q) {
  const float ay = fabsf(y);
  if (!(ay <= 64.0f)) return false;
  const float a = fabsf(r);
  if (a < 192.0f && !(fabsf((a - truncf(a)) - 0.5f) > a * (0x1p-17f + ay * 0x1p-21f))) return false;
  *q = quant_rna_sat8(r);
  return true;
}
/// softplus with the Mamba threshold (spec §1.3 b): dt <= 20 ? log1p(exp(dt)) : dt.
QMSIM_HD float softplus_thr20_f32(float dt) { return dt <= 20.0f ? log1p_cr(exp_cr_fast(dt)) : dt; }

// ---------------------------------------------------------------- scoring (log-softmax, binary64)
// The LAMBADA scoring's e^x and ln x (eval::score_row, and the GPU's scoring kernel): binary64
// evaluations written with +, -, *, / only (no FMA, no library call), so that host and device give
// the same bits; within 3 ulp of the C library's (numerics_test), which is all a log-likelihood needs.
namespace detail {
QMSIM_HD uint64_t f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
QMSIM_HD double f64_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
QMSIM_HD double pow2_f64(int k) { return f64_from_bits(static_cast<uint64_t>(k + 1023) << 52); }  // -1022 <= k <= 1023
}  // namespace detail

/// e^y for the scoring. y = k·ln2 + r with k = floor(y/ln2 + 1/2) and r = (y - k·ln2_hi) - k·ln2_lo
/// (fdlibm's split: k·ln2_hi exact), e^r by its Taylor polynomial of degree 13 in Horner form
/// (|r| <= 0.35: truncation below 2^-57), times 2^k in two exact steps. Results below 2^-1021
/// (y < -708) are 0: the scoring adds them to a sum >= 1, where they vanish anyway.
QMSIM_HD double exp_f64(double y) {
  if (y != y) return y;
  if (y > 709.782712893384) return INFINITY;
  if (y < -708.0) return 0.0;
  const double kd = floor(y * 1.4426950408889634 + 0.5);
  const int k = static_cast<int>(kd);
  const double r = (y - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int k1 = k / 2;
  return (p * detail::pow2_f64(k1)) * detail::pow2_f64(k - k1);
}

/// ln x for the scoring. x = m·2^e with m in [sqrt(1/2), sqrt(2)), u = (m-1)/(m+1) (|u| <= 0.172),
/// ln m = 2u + 2u^3·(1/3 + u^2/5 + ... + u^22/25), ln x = e·ln2_hi + (e·ln2_lo + ln m).
/// ln 1 = 0 exactly; NaN and x < 0 give NaN, 0 gives -inf, inf gives inf.
QMSIM_HD double log_f64(double x) {
  if (x != x || x < 0.0) return NAN;
  if (x == 0.0) return -INFINITY;
  if (x == INFINITY) return x;
  int e = 0;
  if (x < 2.2250738585072014e-308) x *= 18014398509481984.0, e = -54;  // subnormal: times 2^54
  const uint64_t b = detail::f64_bits(x);
  e += static_cast<int>((b >> 52) & 0x7FF) - 1023;
  double m = detail::f64_from_bits((b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);  // [1, 2)
  if (m > 1.4142135623730951) m *= 0.5, e += 1;
  const double f = m - 1.0;  // exact
  const double u = f / (2.0 + f), t = u * u;
  double q = 1.0 / 25.0;
  q = q * t + 1.0 / 23.0;
  q = q * t + 1.0 / 21.0;
  q = q * t + 1.0 / 19.0;
  q = q * t + 1.0 / 17.0;
  q = q * t + 1.0 / 15.0;
  q = q * t + 1.0 / 13.0;
  q = q * t + 1.0 / 11.0;
  q = q * t + 1.0 / 9.0;
  q = q * t + 1.0 / 7.0;
  q = q * t + 1.0 / 5.0;
  q = q * t + 1.0 / 3.0;
  const double lm = 2.0 * u + (2.0 * u * t) * q;
  const double ed = static_cast<double>(e);
  return ed * 6.93147180369123816490e-01 + (ed * 1.90821492927058770002e-10 + lm);
}

/// Run-time numerics profile (spec §5.8 "quamba-compat switch" column). A profile is named in the
/// model metadata and in every result file; never a build flag.
struct NumericsProfile {
  bool hadamard_wrap = false;         // Hadamard quantizer wrap8 instead of sat8 (spec §2.7)
  bool gemv_alpha_m1 = false;         // M == 1 linears use the single pre-multiplied alpha (§2.4, §2.8)
  bool f16_logits = false;            // round lm_head logits to f16 (§2.11)
  bool f16_logprobs = false;          // round log-probs and their per-document sum to f16 (§6.3)
  bool f16_residual_final_norm = false;  // SE-fe5 final norm: f16 residual add (§2.11)
};
inline NumericsProfile profile_golden() { return NumericsProfile{}; }
inline NumericsProfile profile_quamba_compat() {
  NumericsProfile p;
  p.hadamard_wrap = true;
  p.gemv_alpha_m1 = true;
  p.f16_logits = true;
  p.f16_logprobs = true;
  p.f16_residual_final_norm = false;  // SE-HEAD final norm; SE-fe5 variant is a separate option
  return p;
}

}  // namespace num
}  // namespace qmsim
