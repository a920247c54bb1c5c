// Model-directory plumbing shared by checkpoint.cc and quant_format.cc.
#include "model_dir.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "qmsim/model/errors.h"
#include "qmsim/model/sha256.h"

namespace qmsim {
namespace detail {

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelFileError(path, "file", std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw ModelFileError(path, "file", "read failed");
  return buffer.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file_bytes(path);
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw ModelFileError(path, "JSON", "not valid JSON");
  if (!parsed.is_object()) throw ModelFileError(path, "JSON", "top level is not an object");
  return parsed;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp_path = path + ".tmp";
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!out) throw ModelFileError(tmp_path, "file", std::string("cannot create: ") + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp_path.c_str());
      throw ModelFileError(tmp_path, "file", "write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path, path, ec);
  if (ec) {
    std::remove(tmp_path.c_str());
    throw ModelFileError(path, "file", "cannot rename " + tmp_path + ": " + ec.message());
  }
}

WeightSet WeightSet::open(const std::string& dir) {
  WeightSet set;
  const std::string index_path = join_path(dir, kIndexFile);
  const std::string single_path = join_path(dir, kSingleWeightsFile);
  if (std::filesystem::exists(index_path)) {
    set.source_ = index_path;
    const nlohmann::json index = read_json_file(index_path);
    const auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) {
      throw ModelFileError(index_path, "weight_map", "missing or not an object");
    }
    std::map<std::string, std::string> tensor_to_file;
    std::set<std::string> file_names;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it.value().is_string()) throw ModelFileError(index_path, "weight_map." + it.key(), "file name is not a string");
      const std::string file_name = it.value().get<std::string>();
      // Shards must be plain file names inside the directory.
      if (file_name.empty() || file_name.find('/') != std::string::npos || file_name.find('\\') != std::string::npos ||
          file_name == "." || file_name == "..") {
        throw ModelFileError(index_path, "weight_map." + it.key(), "invalid shard file name '" + file_name + "'");
      }
      tensor_to_file[it.key()] = file_name;
      file_names.insert(file_name);
    }
    std::map<std::string, size_t> file_slot;
    for (const std::string& file_name : file_names) {  // std::set: sorted order
      file_slot[file_name] = set.files_.size();
      set.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(join_path(dir, file_name))));
    }
    for (const auto& kv : tensor_to_file) {
      const size_t slot = file_slot[kv.second];
      if (!set.files_[slot]->has(kv.first)) {
        throw ModelFileError(set.files_[slot]->path(), kv.first, "listed in " + index_path + " but not in this shard");
      }
      set.location_[kv.first] = slot;
    }
  } else if (std::filesystem::exists(single_path)) {
    set.source_ = single_path;
    set.files_.push_back(std::make_unique<SafetensorsFile>(SafetensorsFile::open(single_path)));
    for (const std::string& name : set.files_[0]->names()) set.location_[name] = 0;
  } else {
    throw ModelFileError(single_path, "file",
                         std::string("no weights: neither model.safetensors nor ") + kIndexFile +
                             " exists (only safetensors checkpoints are supported)");
  }
  return set;
}

const SafetensorsFile& WeightSet::file_of(const std::string& name) const {
  const auto it = location_.find(name);
  if (it == location_.end()) throw ModelFileError(source_, name, "missing tensor");
  return *files_[it->second];
}

std::vector<std::string> WeightSet::names() const {
  std::vector<std::string> out;
  for (const auto& kv : location_) out.push_back(kv.first);
  return out;
}

std::string hash_model_dir(const std::string& config_path, const WeightSet& weights) {
  Sha256 hasher;
  hasher.update(read_file_bytes(config_path));
  for (const auto& file : weights.files()) hasher.update(file->file_bytes(), file->file_size());
  return hasher.hex_digest();
}

namespace {

std::string shard_name(size_t index, size_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return buf;
}

}  // namespace

void write_weight_files(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata, uint64_t max_shard_bytes) {
  std::vector<const TensorToWrite*> sorted;
  for (const TensorToWrite& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  // Greedy packing in name order; a tensor larger than the limit gets a shard of its own.
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t shard_bytes = 0;
  uint64_t total_bytes = 0;
  for (const TensorToWrite* t : sorted) {
    if (max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + t->nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(*t);
    shard_bytes += t->nbytes;
    total_bytes += t->nbytes;
  }

  const std::string index_path = join_path(dir, kIndexFile);
  if (shards.size() == 1) {
    write_safetensors(join_path(dir, kSingleWeightsFile), shards[0], metadata);
    std::error_code ec;
    std::filesystem::remove(index_path, ec);  // a stale index would shadow model.safetensors
    return;
  }
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_safetensors(join_path(dir, name), shards[i], metadata);
    for (const TensorToWrite& t : shards[i]) weight_map[t.name] = name;
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  write_file_atomic(index_path, index.dump(2) + "\n");
}

}  // namespace detail
}  // namespace qmsim
