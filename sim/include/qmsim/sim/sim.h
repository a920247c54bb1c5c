// The SystemC TLM-2.0 model of the INT8 ASIC (sim/): public API. docs/SIM.md explains the
// architecture, the instruction stream and how cycles are counted.
//
// SystemC elaborates once per process: create every SimRunner before the first forward().
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "qmsim/config/hw.h"
#include "qmsim/golden/capture.h"
#include "qmsim/golden/mode.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace sim {

/// Timing and traffic of the last forward (or accumulated over several, see reset_stats).
struct SimStats {
  double sim_ns = 0;                      // simulated time
  std::vector<std::string> units;         // unit names, index = column of busy_ns
  std::vector<double> busy_ns;            // per unit
  std::vector<std::vector<double>> layer_ns;  // [layer (last = model-level)][unit]
  double dram_read = 0, dram_write = 0, sram_read = 0, sram_write = 0, spill_bytes = 0;
  double macs = 0, sfu_ops = 0;
  int64_t tokens = 0, transactions = 0, documents = 0;
  int64_t at_phases = 0, protocol_errors = 0;  // approximately-timed command phases; illegal phases seen
  std::vector<std::string> trace;
};

class SimRunner {
 public:
  /// Throws std::invalid_argument naming the site when the hardware cannot run the mode, and
  /// std::logic_error when called after the simulation has started.
  SimRunner(const QModel& model, const config::HwConfig& hw, const golden::ModeSpec& mode,
            const num::NumericsProfile& profile);
  ~SimRunner();
  /// Logits [P, V] for the positions, like golden::forward_w8a8; cap (nullable) receives the
  /// intermediates under golden's capture names.
  std::vector<float> forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                             golden::Capture* cap = nullptr);
  const SimStats& stats() const;
  void reset_stats();
  void set_tracing(bool on);
  /// Runs the following documents in another mode (throws like the constructor when the hardware
  /// cannot run it).
  void set_mode(const golden::ModeSpec& mode);
  /// Mode 6-4's outlier scales (conv output scales of an alpha = 1.0 calibration), per layer.
  void set_alpha1_u_scales(const std::vector<float>& scales);

  /// Empty when the hardware can run the mode; else the reason naming the site and the config key.
  static std::string unsupported_reason(const golden::ModeSpec& mode, const config::HwConfig& hw);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sim
}  // namespace qmsim
