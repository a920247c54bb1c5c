// FP32 reference model (spec §1.3; the seed's "mode 1", called `fp32`), with its fixed
// evaluation order. See forward.h for the common entry point.
#pragma once

#include <memory>
#include <vector>

#include "qmsim/golden/forward.h"

namespace qmsim {
namespace golden {

/// Weights of an FpModel re-laid out for the FP32 forward (transposed [in, out] copies so the
/// fixed ascending-k reductions vectorize over outputs). Build once per model, reuse per document.
struct Fp32Plan {
  struct Layer {
    std::vector<float> in_proj_t;   // [D, 2E]
    std::vector<float> x_proj_t;    // [E, R+2N]
    std::vector<float> dt_proj_t;   // [R, E]
    std::vector<float> out_proj_t;  // [E, D]
    std::vector<float> A;           // [E, N] = -exp(A_log)
  };
  std::vector<Layer> layers;
  std::vector<float> lm_head_t;     // [D, V]
};
std::shared_ptr<const Fp32Plan> make_fp32_plan(const FpModel& model, int threads = 1);

/// forward_fp32 with a prepared plan (same results as forward_fp32(model, ...)).
std::vector<float> forward_fp32(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt);

/// y[m, n] = Σ_k fl32(x[m,k]·Wt[k,n]) accumulated in f32 in ascending k, no FMA (the FP32
/// reference linear; spec §5.8 reduction rule). Wt is [K, N] (transposed weight).
void linear_f32_fixed_order(int M, int N, int K, const float* x, const float* Wt, float* y, int threads);

}  // namespace golden
}  // namespace qmsim
