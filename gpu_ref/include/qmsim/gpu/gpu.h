// gpu_ref/: CUDA kernels of the W8A8 datapath, bit-identical to the golden model (issue 8).
// Host API only (no CUDA headers), so C++ code without nvcc can call it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qmsim/golden/capture.h"
#include "qmsim/golden/mode.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace gpu {

/// True when a CUDA device can be used; otherwise `why` says why (no driver, no device, ...).
bool device_available(std::string* why);

/// What a forward runs: the numerics profile and the W8A8 experiment mode (every mode of
/// configs/modes; golden::ForwardOptions' fields of the same names).
struct RunOptions {
  num::NumericsProfile profile;
  golden::ModeSpec mode;                 // default: mode 0
  std::vector<float> alpha1_u_scales;    // 6-4's outlier scale per layer (empty: s_u, as golden)
};

/// Per-kernel GPU time of the forwards run since profiling was switched on (CUDA events around
/// every launch; QMSIM_GPU_PROFILE=1 switches it on at construction).
struct KernelStat {
  std::string name;
  int64_t launches = 0;
  double ms = 0;
  double ops = 0;    // integer multiply-adds x 2 (GEMMs), or 0
  double bytes = 0;  // DRAM bytes the kernel must move at least (inputs read + outputs written)
};

/// A quantized model resident on the GPU. forward() runs one document with one kernel per op;
/// every kernel follows the golden definition of its op (spec §5.8: correctly rounded exp/log1p,
/// IEEE division, explicit FMAs, fixed orders), so results equal golden::forward_w8a8 bit for bit
/// in every mode.
class GpuModel {
 public:
  explicit GpuModel(const QModel& model);
  ~GpuModel();
  GpuModel(const GpuModel&) = delete;
  GpuModel& operator=(const GpuModel&) = delete;
  /// Logits [P, V] like golden::forward_w8a8; cap (nullable) receives golden's capture names.
  std::vector<float> forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                             const RunOptions& opt, golden::Capture* cap = nullptr);
  /// Many documents at once, back to back (ragged lengths, at most 65535 tokens in all): every
  /// per-token kernel runs over all of them; the conv window, the scan and every per-call
  /// quantity of a mode (doc mode 3's input scale, 5-3's outlier scale) are per document. Results
  /// equal forward() per document bit for bit. cap only with one document.
  std::vector<std::vector<float>> forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                const std::vector<std::vector<int>>& positions,
                                                const RunOptions& opt, golden::Capture* cap = nullptr);
  /// The batch scored on the device (eval::score_row's log-softmax, the same bits): for every
  /// logit row (documents back to back) log p(target) in logprob_out and whether the target is
  /// the first argmax in greedy_out; targets[d] has one token per positions[d] entry. capacity:
  /// rows the two outputs hold. Returns the number of rows. Only P doubles and P bytes come back.
  size_t score_batch(const std::vector<std::vector<int32_t>>& docs, const std::vector<std::vector<int>>& positions,
                     const std::vector<std::vector<int32_t>>& targets, const RunOptions& opt, bool f16_logprobs,
                     double* logprob_out, uint8_t* greedy_out, size_t capacity);
  /// Mode 0 under a profile (the two calls above with RunOptions{profile}).
  std::vector<float> forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                             const num::NumericsProfile& profile, golden::Capture* cap = nullptr);
  std::vector<std::vector<float>> forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                const std::vector<std::vector<int>>& positions,
                                                const num::NumericsProfile& profile, golden::Capture* cap = nullptr);

  void set_profiling(bool on);
  /// Per-kernel totals since profiling was switched on, slowest first.
  std::vector<KernelStat> kernel_stats() const;
  /// A readable table of kernel_stats() with TOPS and GB/s, and the share of each kernel.
  std::string kernel_report() const;

 private:
  // The forward up to the logits (left on the device); returns the number of logit rows.
  int run_forward(const std::vector<std::vector<int32_t>>& docs, const std::vector<std::vector<int>>& positions,
                  const RunOptions& opt, golden::Capture* cap);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpu
}  // namespace qmsim
