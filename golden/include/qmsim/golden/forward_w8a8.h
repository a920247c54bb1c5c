// Quamba W8A8 forward (mode 0) with weights prepared once per model. See forward.h.
#pragma once

#include <memory>
#include <vector>

#include "qmsim/golden/forward.h"
#include "qmsim/golden/gemm_int8.h"
#include "qmsim/golden/lm_head.h"

namespace qmsim {
namespace golden {

/// A QModel's weights in the layouts the optimized kernels read: int8 matrices packed for the
/// GEMM (gemm_int8.h) and the f16 lm_head widened to f32 tiles. Values are unchanged, so the
/// forward computes the same bits with or without a plan.
struct W8A8Plan {
  struct Layer {
    PackedWeightsS8 in_proj, x_proj, dt_proj, out_proj;
  };
  std::vector<Layer> layers;
  LmHeadTiles lm_head;
};
std::shared_ptr<const W8A8Plan> make_w8a8_plan(const QModel& model, int threads = 1);

/// forward_w8a8 on a prepared plan (same results as forward_w8a8(model, ...)).
std::vector<float> forward_w8a8(const QModel& model, const W8A8Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt);

}  // namespace golden
}  // namespace qmsim
