// Per-site ops of the experiment modes. See mode_ops.h.
#include "qmsim/golden/mode_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

UQuantStats quantize_u(const ModeSpec& m, float s_u, float s_alpha1, size_t n, const float* x, float* value,
                       int8_t* code) {
  num::UQuantParams p = u_quant_params(m, s_u);
  UQuantStats st;
  for (size_t i = 0; i < n; ++i) st.outliers += num::u_is_outlier(p, x[i]) ? 1 : 0;
  if (m.u_quantizer == UQuantizer::kGridRequantOutliers) {
    if (m.u_outlier_scale == OutlierScale::kPerCallMax) {
      float mx = 0.0f;
      for (size_t i = 0; i < n; ++i)
        if (num::u_is_outlier(p, x[i])) mx = std::max(mx, std::fabs(x[i]));
      p.s_o = std::max(mx / 127.0f, s_u);
    } else {
      st.s_o_fallback = !(s_alpha1 > 0.0f);
      p.s_o = st.s_o_fallback ? s_u : s_alpha1;
    }
    st.s_o = p.s_o;
  }
  for (size_t i = 0; i < n; ++i) {
    if (value != nullptr) value[i] = num::u_quantize(p, x[i]);
    if (code != nullptr) code[i] = num::requant_sat8(m.u_rounding, x[i], s_u);
  }
  return st;
}

void requant_s8(Rounding r, size_t n, const float* x, float s, int8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = num::requant_sat8(r, x[i], s);
}

void regrid_rne(size_t n, float* x, float s) {
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(num::requant_sat8(Rounding::kRne, x[i], s)) * s;
}

float dynamic_input_requant(size_t n, const int8_t* q, float s_xz, int8_t* out) {
  float mx = 0.0f;
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, std::fabs(static_cast<float>(q[i]) * s_xz));
  const float s_dyn = mx > 0.0f ? mx / 127.0f : s_xz;
  for (size_t i = 0; i < n; ++i) out[i] = num::requant_sat8(Rounding::kRne, static_cast<float>(q[i]) * s_xz, s_dyn);
  return s_dyn;
}

void linear_f32_deq(int M, int K, int Nout, const float* x, const int8_t* W, float w_scale, float* y, int threads) {
  // Dequantized weights transposed to [K, Nout] so the inner loop runs over outputs (vectorizable)
  // while each output still sums its products in ascending k.
  std::vector<float> Wt(static_cast<size_t>(K) * Nout);
  for (int o = 0; o < Nout; ++o)
    for (int k = 0; k < K; ++k)
      Wt[static_cast<size_t>(k) * Nout + o] = static_cast<float>(W[static_cast<size_t>(o) * K + k]) * w_scale;
  parallel_for(M, threads, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      float* ym = y + static_cast<size_t>(m) * Nout;
      std::fill(ym, ym + Nout, 0.0f);
      const float* xm = x + static_cast<size_t>(m) * K;
      for (int k = 0; k < K; ++k) {
        const float xv = xm[k];
        const float* wk = Wt.data() + static_cast<size_t>(k) * Nout;
        for (int o = 0; o < Nout; ++o) ym[o] = ym[o] + xv * wk[o];
      }
    }
  });
}

}  // namespace golden
}  // namespace qmsim
