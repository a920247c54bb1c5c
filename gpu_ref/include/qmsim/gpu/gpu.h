// gpu_ref/: CUDA kernels of the W8A8 datapath, bit-identical to the golden model (issue 8).
// Host API only (no CUDA headers), so C++ code without nvcc can call it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qmsim/golden/capture.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace gpu {

/// True when a CUDA device can be used; otherwise `why` says why (no driver, no device, ...).
bool device_available(std::string* why);

/// A quantized model resident on the GPU. forward() runs one document (mode 0, golden or
/// quamba-compat profile) with one kernel per op; every kernel follows the golden definition of
/// its op (spec §5.8: correctly rounded exp/log1p, IEEE division, explicit FMAs, fixed orders).
class GpuModel {
 public:
  explicit GpuModel(const QModel& model);
  ~GpuModel();
  GpuModel(const GpuModel&) = delete;
  GpuModel& operator=(const GpuModel&) = delete;
  /// Logits [P, V] like golden::forward_w8a8; cap (nullable) receives golden's capture names.
  std::vector<float> forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                             const num::NumericsProfile& profile, golden::Capture* cap = nullptr);
  /// Many documents at once, back to back (ragged lengths, at most 65535 tokens in all): every
  /// per-token kernel runs over all of them, the conv window and the scan stop at document
  /// boundaries. Results equal forward() per document bit for bit. cap only with one document.
  std::vector<std::vector<float>> forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                const std::vector<std::vector<int>>& positions,
                                                const num::NumericsProfile& profile, golden::Capture* cap = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpu
}  // namespace qmsim
