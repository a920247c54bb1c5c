// Hardware config files -> HwConfig. Unknown keys, missing blocks' bad values and impossible sizes
// are errors naming the file and key.
#include "qmsim/config/hw.h"

#include <yaml-cpp/yaml.h>

#include "yaml_checks.h"

#include <fstream>
#include <set>
#include <sstream>

#include "qmsim/config/modes.h"  // ConfigError

namespace qmsim {
namespace config {
namespace {

using detail::check_keys;
using detail::fail;

double number(const YAML::Node& n, const std::string& file, const std::string& key, double lo, double hi) {
  if (!n.IsScalar()) fail(file, key, "expected a number");
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    fail(file, key, "expected a number, got '" + n.Scalar() + "'");
  }
  if (!(v >= lo && v <= hi)) {
    std::ostringstream os;
    os << "value " << v << " outside [" << lo << ", " << hi << "]";
    fail(file, key, os.str());
  }
  return v;
}

int integer(const YAML::Node& n, const std::string& file, const std::string& key, int lo, int hi) {
  const double v = number(n, file, key, lo, hi);
  if (v != static_cast<int>(v)) fail(file, key, "expected an integer");
  return static_cast<int>(v);
}

bool boolean(const YAML::Node& n, const std::string& file, const std::string& key) {
  if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) fail(file, key, "expected true or false");
  return n.Scalar() == "true";
}

}  // namespace

HwConfig parse_hw_yaml(const std::string& text, const std::string& file) {
  YAML::Node r;
  try {
    r = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file + ": malformed YAML: " + e.what());
  }
  check_keys(r, file, "", {"name", "clock_mhz", "mac_array", "sram", "dram", "conv", "scan", "sfu", "norm", "fp32_units",
                           "timing"});
  HwConfig h;
  h.file = file;
  for (const char* k : {"name", "clock_mhz", "mac_array", "sram", "dram"})
    if (!r[k]) fail(file, k, "missing");
  h.name = r["name"].as<std::string>();
  h.clock_mhz = number(r["clock_mhz"], file, "clock_mhz", 1, 1e5);
  check_keys(r["mac_array"], file, "mac_array", {"rows", "cols"});
  h.mac_rows = integer(r["mac_array"]["rows"], file, "mac_array.rows", 1, 4096);
  h.mac_cols = integer(r["mac_array"]["cols"], file, "mac_array.cols", 1, 4096);
  check_keys(r["sram"], file, "sram", {"weight_kib", "activation_kib", "accumulator_kib", "bytes_per_cycle"});
  h.weight_kib = integer(r["sram"]["weight_kib"], file, "sram.weight_kib", 1, 1 << 20);
  h.activation_kib = integer(r["sram"]["activation_kib"], file, "sram.activation_kib", 1, 1 << 22);
  h.accumulator_kib = integer(r["sram"]["accumulator_kib"], file, "sram.accumulator_kib", 1, 1 << 20);
  h.sram_bytes_per_cycle = integer(r["sram"]["bytes_per_cycle"], file, "sram.bytes_per_cycle", 1, 1 << 16);
  if (static_cast<int64_t>(h.mac_rows) * h.mac_cols * 4 > static_cast<int64_t>(h.accumulator_kib) * 1024)
    fail(file, "sram.accumulator_kib", "too small for rows x cols int32 accumulators");
  check_keys(r["dram"], file, "dram", {"bandwidth_gbps", "latency_ns"});
  h.dram_gbps = number(r["dram"]["bandwidth_gbps"], file, "dram.bandwidth_gbps", 0.001, 1e5);
  h.dram_latency_ns = number(r["dram"]["latency_ns"], file, "dram.latency_ns", 0, 1e6);
  auto lanes = [&](const char* block, int& out) {
    if (!r[block]) return;
    check_keys(r[block], file, block, {std::string(block) == "sfu" ? "ops_per_cycle" : "lanes"});
    const char* key = std::string(block) == "sfu" ? "ops_per_cycle" : "lanes";
    out = integer(r[block][key], file, std::string(block) + "." + key, 1, 1 << 16);
  };
  lanes("conv", h.conv_lanes);
  lanes("scan", h.scan_lanes);
  lanes("sfu", h.sfu_ops_per_cycle);
  lanes("norm", h.norm_lanes);
  if (const YAML::Node f = r["fp32_units"]) {
    check_keys(f, file, "fp32_units", {"conv_output", "ssm_pseq", "linears"});
    if (f["conv_output"]) h.fp32_conv_output = boolean(f["conv_output"], file, "fp32_units.conv_output");
    if (f["ssm_pseq"]) h.fp32_ssm_pseq = boolean(f["ssm_pseq"], file, "fp32_units.ssm_pseq");
    if (f["linears"]) h.fp32_linears = boolean(f["linears"], file, "fp32_units.linears");
  }
  if (const YAML::Node t = r["timing"]) {
    check_keys(t, file, "timing", {"style", "quantum_ns"});
    if (t["style"]) {
      const std::string s = t["style"].as<std::string>();
      if (s != "lt" && s != "at") fail(file, "timing.style", "unknown value '" + s + "' (expected lt or at)");
      h.approximately_timed = s == "at";
    }
    if (t["quantum_ns"]) h.quantum_ns = number(t["quantum_ns"], file, "timing.quantum_ns", 0, 1e12);
  }
  return h;
}

HwConfig load_hw_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open hardware config");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_hw_yaml(ss.str(), path);
}

}  // namespace config
}  // namespace qmsim
