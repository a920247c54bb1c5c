// Internal to qmsim_model: the parts shared by the FP checkpoint and quantized format code --
// JSON files, the set of weight files of a model directory (single or sharded), writing them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/model/safetensors.h"

namespace qmsim {
namespace detail {

constexpr const char* kSingleWeightsFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kConfigFile = "config.json";

std::string join_path(const std::string& dir, const std::string& name);
std::string read_file_bytes(const std::string& path);
/// Parses a JSON file; ModelFileError (file, "JSON") when unreadable or invalid.
nlohmann::json read_json_file(const std::string& path);
/// Writes text via path.tmp + rename.
void write_file_atomic(const std::string& path, const std::string& bytes);

/// The weights of a model directory: model.safetensors.index.json (weight_map) if present,
/// else model.safetensors. Every index entry is checked to exist in its shard.
class WeightSet {
 public:
  static WeightSet open(const std::string& dir);
  bool has(const std::string& name) const { return location_.count(name) != 0; }
  /// The file holding `name`; ModelFileError "missing tensor" naming the weights file/index.
  const SafetensorsFile& file_of(const std::string& name) const;
  std::vector<std::string> names() const;
  /// Files in sorted file-name order.
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  /// What errors about a missing tensor name: model.safetensors or the index file.
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> location_;
};

/// sha256(config.json bytes || each weight file's bytes in sorted file-name order), hex.
std::string hash_model_dir(const std::string& config_path, const WeightSet& weights);

/// Writes the tensors as model.safetensors, or shards + index when max_shard_bytes > 0 and
/// more than one shard is needed. Each file carries `metadata`.
void write_weight_files(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata, uint64_t max_shard_bytes);

}  // namespace detail
}  // namespace qmsim
