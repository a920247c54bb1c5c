// Hadamard transform (H_12 ⊗ H_{2^m}, or pure Sylvester H_{2^m}) and the Hadamard quantizer in
// front of out_proj (QHadamard, spec §2.7; H_12 and golden rule in spec §5.8).
#pragma once

#include <cstdint>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

/// The ±1 matrix H_12 of spec §5.8 (row r, column c), as used by the 12N kernel.
using num::kHadamard12;

/// True for the sizes the transform supports: n = 2^m (m >= 0) or n = 12·2^m.
bool hadamard_size_supported(int n);

/// Unnormalized transform in f32 with the fixed order of spec §2.7 (out may equal in):
///   stage 1: for each block c (n = 12·2^m: 12 blocks of 2^m; n = 2^m: one block), element
///            j = 2^m·c + p, for bit b = 0..m-1 ascending: (v[lo], v[hi]) <- (lo+hi, lo-hi);
///   stage 2 (n = 12·2^m only): for each p, out[r] = ±v[0] ± v[1] ± ... ± v[11] over c,
///            summed strictly left to right, signs from row r of kHadamard12.
/// normalize = true multiplies every element by (float)(1/sqrt((double)n)) (one f32 multiply
/// after the unnormalized transform), i.e. the orthonormal rotation y = H·x / sqrt(n) used by the
/// FP32 reference and calibration code. Throws std::invalid_argument for unsupported n.
void hadamard_transform_f32(const float* in, float* out, int n, bool normalize);

/// scale_h = (float)((1.0 / sqrt((double)n)) / (double)s_y)  (spec §2.7, §5.8).
float hadamard_quant_scale(int n, float s_y);

/// QHadamard, token-major [L, n]: v = unnormalized transform of f32(y[t]) (y: f16 bits);
/// out[t,j] = sat8(RNA(fl32(v_j·scale_h))) (golden) or wrap8(RNA(·)) when wrap (profile
/// hadamard_wrap, spec §2.7). out_of_range (nullable) receives the number of outputs whose RNA
/// value lies outside [-128, 127] (= wrapped under wrap, saturated otherwise).
void hadamard_quant(int L, int n, const uint16_t* y_f16, float s_y, bool wrap, int8_t* out, int64_t* out_of_range,
                    int threads);

}  // namespace golden
}  // namespace qmsim
