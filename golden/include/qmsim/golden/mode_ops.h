// The per-site ops of the experiment modes (spec §4.2, §4.6, §5.8): what the forward calls at a
// site when the mode asks for something other than mode 0's op. Element formulas are the scalar
// numerics of numerics.h (u_quantize, requant_sat8); these ops apply them over call tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qmsim/golden/mode.h"

namespace qmsim {
namespace golden {

struct UQuantStats {
  int64_t outliers = 0;  // elements with |R(x/s_u)| > 127 (outside the int8 grid)
  float s_o = 0;         // outlier scale used by grid_requant_outliers (0 otherwise)
  bool s_o_fallback = false;  // alpha1 requested but absent: s_u used, as the original does
};

/// Counters of the mode sites over a run (reported by eval / compare-modes / diverge).
struct ModeStats {
  std::vector<int64_t> u_outliers, u_elements;  // per layer
  int64_t alpha1_fallbacks = 0;                 // layers where 6-4's alpha1 scale was absent
  /// Per layer: Hadamard outputs outside [-128, 127] before sat8 / wrap8 (spec §2.7), and count.
  std::vector<int64_t> hadamard_out_of_range, hadamard_elements;
  void add_u(int layer, const UQuantStats& st, size_t n) {
    grow(u_outliers, layer);
    grow(u_elements, layer);
    u_outliers[layer] += st.outliers;
    u_elements[layer] += static_cast<int64_t>(n);
    alpha1_fallbacks += st.s_o_fallback ? 1 : 0;
  }
  void add_hadamard(int layer, int64_t out_of_range, size_t n) {
    grow(hadamard_out_of_range, layer);
    grow(hadamard_elements, layer);
    hadamard_out_of_range[layer] += out_of_range;
    hadamard_elements[layer] += static_cast<int64_t>(n);
  }

 private:
  static void grow(std::vector<int64_t>& v, int layer) {
    if (v.size() <= static_cast<size_t>(layer)) v.resize(static_cast<size_t>(layer) + 1, 0);
  }
};

/// The u site over a call tensor x [n] (grid values fl32(q·s_u) or TRUE FP32 v):
///   value[i] = u_quantize(params, x[i])   (value nullable)
///   code[i]  = sat8(R(x[i]/s_u))          (code nullable; the int8 u of quantizer grid)
/// For grid_requant_outliers the outlier scale s_o is found first: per_call_max: s_o =
/// max(fl32(max|x_i over outliers| / 127), s_u) over the whole tensor (non-causal, spec §4.6 5-3);
/// alpha1: s_alpha1 if > 0, else s_u.
UQuantStats quantize_u(const ModeSpec& m, float s_u, float s_alpha1, size_t n, const float* x, float* value,
                       int8_t* code);

/// out[i] = sat8(R(x[i] / s)), IEEE division (PyTorch-style requantization, spec §4.2).
void requant_s8(Rounding r, size_t n, const float* x, float s, int8_t* out);

/// x[i] = fl32(sat8(RNE(x[i] / s))·s): the 6-0 re-gridding of f32 linear outputs (spec §4.6).
void regrid_rne(size_t n, float* x, float s);

/// Doc mode 3 conv input (spec §4.3, §4.4): x_f = fl32(q[i]·s_xz); s_dyn = fl32(max|x_f| / 127)
/// over the call tensor [n] (non-causal); out[i] = sat8(RNE(x_f / s_dyn)). Returns s_dyn (s_xz
/// when every x_f is 0).
float dynamic_input_requant(size_t n, const int8_t* q, float s_xz, int8_t* out);

/// f32 linear with dequantized weights (6-x `F.linear`, spec §4.6): W [Nout, K] int8, w_scale
/// its per-tensor scale; y[m, o] = Σ_k fl32(x[m,k]·fl32(f32(W[o,k])·w_scale)), summed in ascending
/// k from 0.0f, one rounding per product and per sum (spec §5.8 reduction rule; cuBLAS's order is
/// unspecified). Threads split the outputs; results are identical for every thread count.
void linear_f32_deq(int M, int K, int Nout, const float* x, const int8_t* W, float w_scale, float* y, int threads);

}  // namespace golden
}  // namespace qmsim
