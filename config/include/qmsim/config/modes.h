// Experiment-mode files (configs/modes/*.yaml): parsing, the built-in set, and the original's
// environment-variable aliases. The schema is documented in configs/modes/README.md.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmsim/golden/mode.h"

namespace qmsim {
namespace config {

/// A bad mode file or mode name. what() names the file and the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "Which tensors this mode changes": captured layer-0 intermediates (names without the
/// "layers.0." prefix, plus "logits"; "*" = every tensor both captures hold) that must be equal
/// to, or must differ from, those of the base mode. tests/modes_test.cc checks every claim.
struct Claim {
  std::string base;
  std::vector<std::string> unchanged, changed;
};

/// One resolved mode: the W8A8 ModeSpec, or the FP32 reference.
struct Mode {
  golden::ModeSpec spec;
  bool fp32_reference = false;
  std::string source;                   // spec sections and original file:line
  std::vector<std::string> env;         // the original's env vars that select it (MODE_CONFIG)
  std::vector<std::string> aliases;     // other names ("1" for fp32, "5" for 5-1)
  std::vector<std::string> variants;    // e.g. documented, committed (first = default)
  std::vector<Claim> claims;
  /// "2-3:documented", "0", "fp32": the name with its variant, as results are labelled.
  std::string label() const { return spec.variant.empty() ? spec.name : spec.name + ":" + spec.variant; }
};

/// Parses mode-file text (`file` is used in messages). variant "" = the file's default_variant.
Mode parse_mode_yaml(const std::string& text, const std::string& file, const std::string& variant = "");
/// Reads and parses a mode file.
Mode load_mode_file(const std::string& path, const std::string& variant = "");

/// The built-in modes (configs/modes embedded at build time), in table order.
std::vector<std::string> builtin_mode_names();

/// Every built-in mode resolved, a mode with variants once per variant ("2-3:documented",
/// "2-3:committed", ...), in table order; fp32 included (callers skip fp32_reference).
std::vector<Mode> builtin_modes_and_variants();

/// Resolves a mode argument:
///   NAME[:VARIANT]       built-in mode or alias ("0", "2-3:committed", "1" = fp32, "5" = 5-1)
///   VAR+VAR+...          the original's env-var set (FLOAT_SIM_ASIC_INT8+SSM_USE_PYTORCH_INT8 = 2-1;
///                        order-free; "," also separates)
///   env                  this process's environment, as the original's get_current_mode():
///                        QUAMBA_MODE if set, else the set of mode variables equal to "true"
/// Throws ConfigError naming the argument and listing the known names.
Mode resolve_mode(const std::string& arg);

/// The env-var names the original knows (SE-fe5:quamba/mode_config.py ALL_MODE_ENV_VARS).
const std::vector<std::string>& original_env_vars();

}  // namespace config
}  // namespace qmsim
