// Experiment modes of the W8A8 forward ("float-sim-ASIC", spec §4, canonical table §5.8) as data.
//
// A mode says, for each site of the mixer between in_proj and the Hadamard, which precision and
// grid is used, where requantization happens and with which rounding. Everything not named here
// (norms, in_proj, Hadamard, out_proj, final norm, lm_head) is the mode-0 op. Modes are written as
// YAML files (configs/modes/*.yaml, read by qmsim_config); the forward reads this struct, and the
// per-site arithmetic lives in the ops (mode_ops.h), not in branches spread through the forward.
//
// Sites, in dataflow order (one layer):
//   conv     the conv1d input scale: the calibrated s_xz, or a per-call dynamic one (doc mode 3)
//   u        the SSM input: taken from the conv's int8 q, its grid value fl32(q·s_u), or the TRUE
//            FP32 v (conv without its output quantizer), passed through a u quantizer, handed to
//            the scan as int8 codes or as f32 values
//   linears  x_proj and dt_proj: their input (conv q, or u / v requantized), int8 or f32 arithmetic
//            and the form of their outputs dt, B, C (int8, f32, f32 re-gridded, int8 requantized)
//   ssm      the scan arithmetic: the golden kernel (spec §2.6, §5.8) or PyTorch's P-seq (§4.5)
#pragma once

#include <string>
#include <vector>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

/// Rounding and u-quantizer families are scalar numerics (numerics.h, shared by every path).
using num::Rounding;
using num::UQuantizer;

/// Where kGridRequantOutliers takes s_o: 5-3 uses max(max|x over outliers| / 127, s) over the
/// whole call tensor [L, E] (non-causal, as the original); 6-4 a conv output scale calibrated with
/// α = 1.0 (`conv1d.output_scale_alpha1` in the model; falls back to s when the model has none,
/// as the original does, and the run reports it).
enum class OutlierScale { kPerCallMax, kAlpha1 };

struct ModeSpec {
  std::string name = "0";
  std::string variant;      // "documented" | "committed" for 2-3, 2-4, 3; empty otherwise
  std::string description;  // one line for tables and --help
  std::string conv_precision = "INT8";  // table columns of compare-modes (free text from the file)
  std::string ssm_precision = "INT8 kernel";
  std::string file;         // the YAML file it came from ("<builtin>/2-1.yaml" for embedded ones)

  // conv site: dynamic per-call input scale s = max|fl32(q_x·s_xz)| / 127 over the call tensor
  // (doc mode 3), else the calibrated one.
  bool conv_dynamic_input_scale = false;

  // u site
  enum class USource { kQ, kGrid, kV };
  USource u_source = USource::kQ;
  UQuantizer u_quantizer = UQuantizer::kNone;
  Rounding u_rounding = Rounding::kRne;
  int u_fine_threshold = 0;  // T of kTwoLevel
  int u_fine_divisor = 0;    // F of kTwoLevel
  OutlierScale u_outlier_scale = OutlierScale::kPerCallMax;
  bool u_int8 = true;        // the scan receives int8 codes (true) or f32 values (false)

  // linears site (x_proj, dt_proj)
  enum class LinearInput { kConvQ, kRequantU, kRequantV, kU };
  enum class LinearOutput { kInt8, kF32, kGridRne, kInt8Rne };
  LinearInput lin_input = LinearInput::kConvQ;
  Rounding lin_input_rounding = Rounding::kRne;
  bool lin_f32 = false;      // f32 arithmetic with dequantized weights (6-x) instead of int8 GEMMs
  LinearOutput lin_output = LinearOutput::kInt8;

  // ssm site
  enum class SsmArithmetic { kKernel, kPseq };
  SsmArithmetic ssm_arithmetic = SsmArithmetic::kKernel;

  /// Equal computation (every site equal; names and texts ignored).
  bool same_computation(const ModeSpec& o) const;
  /// Is this mode-0's computation on every site?
  bool is_mode0_computation() const { return same_computation(ModeSpec{}); }
  /// Throws std::invalid_argument naming the site when the combination cannot run (e.g. the
  /// P-seq scan with f32 dt/B/C, an int8 u that is not on the int8 grid).
  void validate() const;
};

const char* to_string(Rounding r);
const char* to_string(UQuantizer q);

/// The element parameters of the mode's u quantizer for a layer with SSM input scale s_u (the
/// outlier scale s_o is set by the caller where the quantizer has one).
inline num::UQuantParams u_quant_params(const ModeSpec& m, float s_u) {
  num::UQuantParams p;
  p.kind = m.u_quantizer;
  p.rounding = m.u_rounding;
  p.s = s_u;
  p.fine_threshold = m.u_fine_threshold;
  p.fine_divisor = m.u_fine_divisor;
  return p;
}

}  // namespace golden
}  // namespace qmsim
