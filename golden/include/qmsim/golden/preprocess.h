// Quamba's FP-domain weight preprocessing before calibration (spec §1.2, §1.4): f16 rounding of
// the parameters, Hadamard rotation of the residual stream, RMSNorm weight folding and the
// Hadamard fusion into in_proj/out_proj.
#pragma once

#include "qmsim/model/model.h"

namespace qmsim {
namespace golden {

struct PreprocessOptions {
  /// Round every parameter except A_log and D to f16 first and every fused/rotated result to f16
  /// once (Quamba's fp16 model, spec §1.2). false keeps f32 values (results rounded to f32 once):
  /// for checking that the rotation preserves the FP model's function.
  bool round_to_f16 = true;
  int threads = 1;  // results are identical for any thread count
};

/// Returns the rotated model (spec §1.4), with D = d_model, E = d_inner and the orthonormal
/// H_n = (H_12 ⊗ H_{2^m}) / sqrt(n) (or Sylvester H_{2^m} / sqrt(n)) of spec §5.8:
///   embedding rows e       -> H_D·e
///   lm_head rows r         -> H_D·(r ⊙ w_norm_f)      (r from the tied embedding if untied is empty)
///   norm_f                 := 1, cfg.tie_embeddings := false
///   in_proj rows r         -> H_D·(r ⊙ w_norm_i),  norm_i := 1      (W_in' = (W_in·diag w)·H_D^T)
///   out_proj               -> H_D·W_out·H_E^T      (rows by H_E first, then columns by H_D)
///   hadamard_rotated       := true (forward_fp32 then applies H_E to y before out_proj)
/// Fused/rotated values are computed in f64 from the (f16-rounded) inputs — products exact,
/// transform as in hadamard_rotate_f64 — and rounded once: to f32 (RNE), then to f16 (RNE) when
/// round_to_f16. (Quamba runs these transforms in fp16 CUDA kernels with an f16 rounding after
/// the norm fold and after each transform; see docs for the deviation.) A_log and D keep their
/// f32 values; dt_proj.bias is rounded to f16 like the other parameters.
/// Throws std::invalid_argument when D or E is not 2^m or 12·2^m, or the model is already rotated.
FpModel quamba_preprocess(const FpModel& fp, const PreprocessOptions& opt = PreprocessOptions{});

/// In-place orthonormal Hadamard rotation v <- H_n·v in f64 (n = 2^m or 12·2^m): Sylvester
/// butterflies (lo+hi, lo−hi) over bits 0..m−1 ascending inside each block of 2^m, then (for
/// 12·2^m) the H_12 stage of spec §5.8 summed left to right, then one multiply by 1/sqrt(n).
/// Same matrix as hadamard_transform_f32(.., normalize = true). Throws std::invalid_argument for
/// an unsupported n.
void hadamard_rotate_f64(double* v, int n);

}  // namespace golden
}  // namespace qmsim
