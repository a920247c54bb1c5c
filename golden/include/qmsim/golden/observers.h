// Calibration observers of Quamba (spec §3.2, §3.3): the per-tensor min/max observer and the
// percentile observer with its exponential moving average over documents.
//
// Each observer sees one tensor per document, in document order. The per-document statistic
// (minmax_document_max, percentile_abs) is a pure function of that document's tensor, so a
// caller may compute it on any thread and feed the results in document order
// (observe_document_max, observe_document_quantile); the percentile EMA is order dependent.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qmsim {
namespace golden {

/// Quamba's percentile for the x_proj input and the SSM state (spec §3.2; UP hard-codes it).
constexpr double kDefaultPercentileAlpha = 0.9995;
/// EMA weight σ of the percentile observer (Python 0.01 rounded to f32).
constexpr float kPercentileEmaSigma = 0.01f;
/// Lower clamp of a document maximum (torch clamp(min=1e-5) on an f16 tensor).
constexpr float kObserverMaxFloor = 1e-5f;
/// Lower clamp of every activation scale (`.clamp(min=1e-6)` after widening to f32).
constexpr float kActivationScaleFloor = 1e-6f;
/// q_max of symmetric int8.
constexpr float kInt8QMax = 127.0f;

/// m_k = round_to_f16(max(max_i |x_i|, 1e-5)): the maximum of |x| as the f16 tensor of the
/// original holds it (spec §3.2). Throws std::invalid_argument on NaN or n == 0.
float minmax_document_max(const float* x, size_t n);

/// Scale of a min/max observer: max(round_to_f16(fl32(m / 127)), 1e-6) (spec §3.2, §3.3: the
/// division runs on an f16 tensor; fl32 then f16 equals the f16 quotient here because m is an
/// f16 value and m/127 is never within one f32 ulp of an f16 rounding boundary).
float minmax_scale(float running_max);

/// c = torch.quantile(|x| (as f32, flattened), alpha) with linear interpolation (spec §3.2):
///   q    = (float)alpha;  rank = fl32(q · (float)(n − 1));  lo = trunc(rank);  hi = ceil(rank)
///   w    = fl32(rank − lo);  a = sorted[lo];  b = sorted[hi];  d = fl32(b − a)
///   c    = w < 0.5 ? fma(w, d, a) : fma(−d, fl32(1 − w), b)
/// (torch.lerp's two branches; the FMAs are those nvcc contracts in PyTorch's CUDA lerp kernel,
/// which Quamba's calibration runs). Throws std::invalid_argument on NaN, n == 0 or alpha
/// outside [0, 1].
float percentile_abs(const float* x, size_t n, float alpha);

/// Per-tensor symmetric min/max observer (Quamba PerTensorMinmaxObserver, sym = true).
class MinMaxObserver {
 public:
  /// Adds one document's tensor.
  void observe(const float* x, size_t n) { observe_document_max(minmax_document_max(x, n)); }
  /// Adds one document given its m_k (from minmax_document_max): running max.
  void observe_document_max(float document_max);
  int64_t documents() const { return documents_; }
  /// The running maximum (an f16 value). Throws std::logic_error before the first document.
  float running_max() const;
  /// minmax_scale(running_max()).
  float scale() const { return minmax_scale(running_max()); }

 private:
  float running_max_ = 0.0f;
  int64_t documents_ = 0;
};

/// Per-tensor symmetric percentile observer with EMA (Quamba PerTensorPercentileObserver):
/// w_1 = c_1, w_k = fl32(w + fl32(0.01f · fl32(c_k − w))); scale = max(fl32(w / 127), 1e-6).
class PercentileObserver {
 public:
  explicit PercentileObserver(double alpha = kDefaultPercentileAlpha);
  /// Adds one document's tensor.
  void observe(const float* x, size_t n) { observe_document_quantile(percentile_abs(x, n, alpha_)); }
  /// Adds one document given its c_k (from percentile_abs with alpha()).
  void observe_document_quantile(float quantile);
  /// alpha as the f32 value torch uses.
  float alpha() const { return alpha_; }
  int64_t documents() const { return documents_; }
  /// The EMA w_k. Throws std::logic_error before the first document.
  float ema() const;
  float scale() const;

 private:
  float alpha_;
  float ema_ = 0.0f;
  int64_t documents_ = 0;
};

}  // namespace golden
}  // namespace qmsim
