// Calibration observers (spec §3.2, §3.3). Every operation is one f32 (or f16) rounding as the
// PyTorch original performs it; see observers.h for the formulas.
#include "qmsim/golden/observers.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

float minmax_document_max(const float* x, size_t n) {
  if (n == 0) throw std::invalid_argument("minmax_document_max: empty tensor");
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (std::isnan(a)) throw std::invalid_argument("minmax_document_max: NaN at element " + std::to_string(i));
    m = std::max(m, a);
  }
  // spec §3.2: |x|.amax().clamp(min=1e-5) on the f16 tensor; rounding is monotonic, so rounding
  // the clamped f32 maximum once equals clamping the f16 maximum with f16(1e-5).
  return num::round_to_f16(std::max(m, kObserverMaxFloor));
}

float minmax_scale(float running_max) {
  // spec §3.3: f16 tensor / 127 -> f16 value, widened, clamp(min=1e-6)
  const float s = num::round_to_f16(running_max / kInt8QMax);
  return std::max(s, kActivationScaleFloor);
}

float percentile_abs(const float* x, size_t n, float alpha) {
  if (n == 0) throw std::invalid_argument("percentile_abs: empty tensor");
  if (!(alpha >= 0.0f && alpha <= 1.0f)) throw std::invalid_argument("percentile_abs: alpha outside [0, 1]");
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::fabs(x[i]);
    if (std::isnan(v[i])) throw std::invalid_argument("percentile_abs: NaN at element " + std::to_string(i));
  }
  // torch.quantile: ranks = q * (n - 1) in f32 (n - 1 converted to f32, exact below 2^24).
  const float rank = alpha * static_cast<float>(n - 1);
  const size_t lo = static_cast<size_t>(rank);               // toType(kLong): truncation
  const size_t hi = std::min(static_cast<size_t>(std::ceil(rank)), n - 1);
  const float weight = rank - static_cast<float>(lo);
  // Order statistics lo and hi of the sorted values (equal to sorting the whole tensor).
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const float below = v[lo];
  const float above = hi == lo ? below : *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  // torch.lerp (ATen Lerp.h) with nvcc's FMA contraction of both branches.
  const float diff = above - below;
  if (std::fabs(weight) < 0.5f) return num::fma_f32(weight, diff, below);
  return num::fma_f32(-diff, 1.0f - weight, above);
}

void MinMaxObserver::observe_document_max(float document_max) {
  running_max_ = documents_ == 0 ? document_max : std::max(running_max_, document_max);
  ++documents_;
}

float MinMaxObserver::running_max() const {
  if (documents_ == 0) throw std::logic_error("MinMaxObserver: no document observed");
  return running_max_;
}

PercentileObserver::PercentileObserver(double alpha) : alpha_(static_cast<float>(alpha)) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) throw std::invalid_argument("PercentileObserver: alpha outside [0, 1]");
}

void PercentileObserver::observe_document_quantile(float quantile) {
  // spec §3.2: w_1 = c_1; w_k = fl32(w + fl32(0.01f · fl32(c_k − w)))
  if (documents_ == 0) {
    ema_ = quantile;
  } else {
    const float delta = quantile - ema_;
    const float step = kPercentileEmaSigma * delta;
    ema_ = ema_ + step;
  }
  ++documents_;
}

float PercentileObserver::ema() const {
  if (documents_ == 0) throw std::logic_error("PercentileObserver: no document observed");
  return ema_;
}

float PercentileObserver::scale() const {
  // spec §3.2, §3.3: fl32(w / 127), clamp(min=1e-6)
  return std::max(ema() / kInt8QMax, kActivationScaleFloor);
}

}  // namespace golden
}  // namespace qmsim
