// Internal: the checks every configs/ file reader shares (modes.cc, hw.cc). Errors name the file
// and the key path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>

#include "qmsim/config/modes.h"  // ConfigError

namespace qmsim {
namespace config {
namespace detail {

[[noreturn]] inline void fail(const std::string& file, const std::string& key, const std::string& why) {
  throw ConfigError(file + ": " + (key.empty() ? "" : key + ": ") + why);
}

/// `map` must be a mapping whose keys are all in `allowed`; `where` is its key path ("" = top).
inline void check_keys(const YAML::Node& map, const std::string& file, const std::string& where,
                       const std::set<std::string>& allowed) {
  if (!map.IsMap()) fail(file, where.empty() ? "<top>" : where, "expected a mapping");
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(file, where.empty() ? k : where + "." + k, "unknown key (allowed: " + list + ")");
    }
  }
}

}  // namespace detail
}  // namespace config
}  // namespace qmsim
