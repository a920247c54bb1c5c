// Whole-model forward passes of the golden model (prompt processing over all tokens of a
// document: GEMMs over the whole sequence, the scan sequential in time).
#pragma once

#include <cstdint>
#include <vector>

#include "qmsim/golden/capture.h"
#include "qmsim/golden/mode.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

struct ModeStats;  // mode_ops.h

struct ForwardOptions {
  int threads = 1;                      // results are identical for any thread count
  num::NumericsProfile profile;         // golden by default
  Capture* capture = nullptr;           // optional intermediate capture
  ModeSpec mode;                        // W8A8 experiment mode (default: mode 0)
  /// Per layer, the conv output scale of a separately calibrated alpha = 1.0 model (mode 6-4's
  /// outlier scale, spec §4.6); empty = absent (6-4 then falls back to s_u, as the original).
  std::vector<float> alpha1_u_scales;
  ModeStats* mode_stats = nullptr;      // optional counters of the mode sites
};

/// FP32 reference forward (spec §1.3; the seed's "mode 1"). Returns logits [P, V] (row-major) for
/// the P positions in `logit_positions` (indices into `tokens`), f32.
std::vector<float> forward_fp32(const FpModel& model, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt);

/// Quamba W8A8 forward, mode 0 (spec §2, golden definitions §5.8). Logits [P, V] as f32 (values
/// rounded to f16 when opt.profile.f16_logits).
std::vector<float> forward_w8a8(const QModel& model, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt);

}  // namespace golden
}  // namespace qmsim
