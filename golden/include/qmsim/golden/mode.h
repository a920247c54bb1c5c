// Experiment modes of the W8A8 forward ("float-sim-ASIC", spec §4 and the canonical table of
// §5.8) as data: which u the selective scan receives and which scan arithmetic it uses. Issue 6
// extends this with the remaining sites (conv output, x_proj input, linears) and YAML mode files.
#pragma once

#include <string>
#include <vector>

namespace qmsim {
namespace golden {

struct ModeSpec {
  /// What the SSM receives as u (spec §4.2): the conv's int8 q; the FP32-on-grid tensor
  /// fl32(q·s_u); or that grid tensor requantized with sat8(RNE(u / s_u)) (IEEE division).
  enum class SsmInput { kInt8, kGrid, kGridRequantRne };
  /// The scan arithmetic: the golden kernel (spec §2.6 with §5.8) or PyTorch's P-seq (§4.5).
  enum class SsmArithmetic { kKernel, kPseq };
  std::string name = "0";
  SsmInput ssm_input = SsmInput::kInt8;
  SsmArithmetic ssm_arithmetic = SsmArithmetic::kKernel;
};

/// The built-in modes (spec §5.8 canonical table): "0"; "2-0" (grid u requantized, golden kernel:
/// equal to 0 by construction); "2-1" (int8 u, P-seq); "2-2" (grid u, P-seq: equal to 2-1).
/// Throws std::invalid_argument naming the mode and the known ones.
ModeSpec builtin_mode(const std::string& name);
std::vector<std::string> builtin_mode_names();

}  // namespace golden
}  // namespace qmsim
