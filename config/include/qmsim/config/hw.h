// ASIC hardware configuration (configs/hw/*.yaml), read by the SystemC model (sim/) and `qmsim perf`.
#pragma once

#include <string>

namespace qmsim {
namespace config {

struct HwConfig {
  std::string name, file;
  double clock_mhz = 1000;
  int mac_rows = 32, mac_cols = 64;  // output-stationary INT8 MAC array, int32 accumulators
  int weight_kib = 256, activation_kib = 2048, accumulator_kib = 8, sram_bytes_per_cycle = 256;
  double dram_gbps = 100, dram_latency_ns = 120;
  int conv_lanes = 64, scan_lanes = 64, sfu_ops_per_cycle = 32, norm_lanes = 32;
  bool fp32_conv_output = false, fp32_ssm_pseq = false, fp32_linears = false;
  bool approximately_timed = false;  // timing.style: lt | at
  double quantum_ns = 10000;
  double cycle_ns() const { return 1000.0 / clock_mhz; }
};

/// Parses a hardware file; every key is checked (errors name the file and key, as ConfigError).
HwConfig parse_hw_yaml(const std::string& text, const std::string& file);
HwConfig load_hw_file(const std::string& path);

}  // namespace config
}  // namespace qmsim
