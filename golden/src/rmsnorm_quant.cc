// QRMSNorm and the final norm (spec §2.3, §2.11) with the golden arithmetic of spec §5.8.
#include "qmsim/golden/rmsnorm_quant.h"

#include <cstddef>
#include <vector>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

float rmsnorm_reciprocal(const float* x, int D, float eps) {
  float sum_squares = 0.0f;
  for (int j = 0; j < D; ++j) sum_squares = sum_squares + x[j] * x[j];  // spec §5.8: sequential, no FMA
  const float mean_square = sum_squares / static_cast<float>(D);         // spec §5.8: IEEE division
  return 1.0f / num::sqrt_f32(mean_square + eps);                        // spec §5.8: IEEE sqrt and division
}

void rmsnorm_quant(int L, int D, const uint16_t* h_f16, const float* residual_in, const float* weight, float eps,
                   float s_in, float* residual_out, int8_t* q_out) {
  std::vector<float> x(static_cast<size_t>(D));
  for (int t = 0; t < L; ++t) {
    const size_t row = static_cast<size_t>(t) * D;
    for (int j = 0; j < D; ++j) {
      x[j] = num::f16_to_f32(h_f16[row + j]);                        // spec §2.3: exact widening
      if (residual_in != nullptr) x[j] = x[j] + residual_in[row + j];  // spec §2.9: f32 residual add
    }
    for (int j = 0; j < D; ++j) residual_out[row + j] = x[j];
    const float r = rmsnorm_reciprocal(x.data(), D, eps);
    for (int j = 0; j < D; ++j) {
      float y = x[j] * r;
      if (weight != nullptr) y = y * weight[j];          // spec §2.3: w = 1 after folding (§1.4)
      q_out[row + j] = num::quant_rne_sat8(y / s_in);    // spec §2.3: RNE, saturate; §5.8 IEEE division
    }
  }
}

void rmsnorm_final_f16(int L, int D, const uint16_t* h_f16, const float* residual_in, const uint16_t* weight_f16,
                       float eps, bool f16_residual, uint16_t* out_f16) {
  std::vector<float> x(static_cast<size_t>(D));
  for (int t = 0; t < L; ++t) {
    const size_t row = static_cast<size_t>(t) * D;
    for (int j = 0; j < D; ++j) {
      const float h = num::f16_to_f32(h_f16[row + j]);
      if (residual_in == nullptr) {
        x[j] = h;
      } else if (f16_residual) {
        x[j] = num::round_to_f16(h + num::round_to_f16(residual_in[row + j]));  // spec §2.11 SE-fe5: f16 add
      } else {
        x[j] = h + residual_in[row + j];  // spec §2.11 SE-HEAD, §5.8: f32 residual add
      }
    }
    const float r = rmsnorm_reciprocal(x.data(), D, eps);
    for (int j = 0; j < D; ++j) {
      const float w = weight_f16 != nullptr ? num::f16_to_f32(weight_f16[j]) : 1.0f;
      float y = x[j] * r;
      if (f16_residual) y = num::round_to_f16(y);  // spec §2.11 SE-fe5: normalized value cast to f16, then ·w
      out_f16[row + j] = num::f32_to_f16_rne(y * w);  // spec §5.8 final norm: f16_RNE(y), w = 1
    }
  }
}

}  // namespace golden
}  // namespace qmsim
