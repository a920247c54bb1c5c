// FP32 reference model (spec §1.3; the seed's "mode 1", called `fp32`), with its fixed
// evaluation order. See forward.h for the common entry point.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "qmsim/golden/forward.h"

namespace qmsim {
namespace golden {

/// Output columns per panel of an Fp32PackedWeight.
constexpr int kFp32Panel = 64;

/// A linear weight W [N out, K in] re-laid out so the fixed ascending-k reductions vectorize over
/// outputs and stream contiguously: W^T cut into panels of kFp32Panel output columns, each panel
/// [K][kFp32Panel] contiguous, the last one zero-padded:
/// data[(p·K + k)·kFp32Panel + j] = W[p·kFp32Panel + j][k].
struct Fp32PackedWeight {
  int N = 0, K = 0;
  std::vector<float> data;
  int panels() const { return (N + kFp32Panel - 1) / kFp32Panel; }
};
/// Packs W [N, K] (row-major, PyTorch nn.Linear layout).
Fp32PackedWeight pack_fp32_weight(const float* W, int N, int K);

/// Weights of an FpModel re-laid out for the FP32 forward. Build once per model, reuse per document.
struct Fp32Plan {
  struct Layer {
    Fp32PackedWeight in_proj;   // N = 2E, K = D
    Fp32PackedWeight x_proj;    // N = R+2N, K = E
    Fp32PackedWeight dt_proj;   // N = E, K = R
    Fp32PackedWeight out_proj;  // N = D, K = E
    std::vector<float> A;       // [E, N] = -exp(A_log)
  };
  std::vector<Layer> layers;
  Fp32PackedWeight lm_head;     // N = V, K = D
};
std::shared_ptr<const Fp32Plan> make_fp32_plan(const FpModel& model, int threads = 1);

/// forward_fp32 with a prepared plan (same results as forward_fp32(model, ...)).
std::vector<float> forward_fp32(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt);

/// forward_fp32 evaluated with the scalar definition only (no ISA-specific kernels). forward_fp32
/// returns the same bits and captures the same tensors; this is the reference it is tested against.
std::vector<float> forward_fp32_ref(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                    const std::vector<int>& logit_positions, const ForwardOptions& opt);

/// y[m, n] = Σ_k fl32(x[m,k]·Wt[k,n]) accumulated in f32 in ascending k from 0, no FMA (the FP32
/// reference linear; spec §5.8 reduction rule). Wt is [K, N] (transposed weight). Runs the AVX-512
/// kernel when fp32_avx512_active(), else linear_f32_fixed_order_ref; both give the same bits.
void linear_f32_fixed_order(int M, int N, int K, const float* x, const float* Wt, float* y, int threads);
/// The scalar definition of linear_f32_fixed_order.
void linear_f32_fixed_order_ref(int M, int N, int K, const float* x, const float* Wt, float* y, int threads);

/// The same linear (same bits as linear_f32_fixed_order on W^T) with a packed weight: x [M, K],
/// y [M, N]. The forward's linears.
void linear_f32_packed(int M, const float* x, const Fp32PackedWeight& W, float* y, int threads);
/// The scalar definition of linear_f32_packed.
void linear_f32_packed_ref(int M, const float* x, const Fp32PackedWeight& W, float* y, int threads);

/// Whether forward_fp32 / linear_f32_* use their AVX-512 kernels: the CPU has AVX-512F/DQ/VL/BW,
/// the build has x86 dispatch (QMSIM_NATIVE), and QMSIM_ISA is not ref|avx2.
bool fp32_avx512_active();

}  // namespace golden
}  // namespace qmsim
