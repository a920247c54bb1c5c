// safetensors reader (mmap, full header validation) and atomic deterministic writer.
#include "qmsim/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "qmsim/numerics.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qmsim safetensors I/O assumes a little-endian host (the format is little-endian)"
#endif

namespace qmsim {
namespace {

struct DtypeEntry {
  Dtype dtype;
  const char* name;
  size_t size;
};
constexpr DtypeEntry kDtypes[] = {
    {Dtype::F64, "F64", 8}, {Dtype::F32, "F32", 4}, {Dtype::F16, "F16", 2},   {Dtype::BF16, "BF16", 2},
    {Dtype::I64, "I64", 8}, {Dtype::I32, "I32", 4}, {Dtype::I16, "I16", 2},   {Dtype::I8, "I8", 1},
    {Dtype::U8, "U8", 1},   {Dtype::BOOL, "BOOL", 1}};

std::string errno_text() { return std::strerror(errno); }

uint64_t read_le_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Multiplies with overflow detection; false on overflow.
bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

size_t dtype_size(Dtype dtype) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

const char* dtype_name(Dtype dtype) {
  for (const DtypeEntry& e : kDtypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

bool parse_dtype(const std::string& name, Dtype* dtype) {
  for (const DtypeEntry& e : kDtypes) {
    if (name == e.name) {
      *dtype = e.dtype;
      return true;
    }
  }
  return false;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // validated on open: no overflow
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// ------------------------------------------------------------------------------------ reader

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    bytes_ = other.bytes_;
    file_size_ = other.file_size_;
    data_start_ = other.data_start_;
    mapped_ = other.mapped_;
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
    other.bytes_ = nullptr;
    other.file_size_ = 0;
    other.mapped_ = false;
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() {
  if (bytes_ == nullptr) return;
  if (mapped_) {
    munmap(const_cast<uint8_t*>(bytes_), file_size_);
  } else {
    delete[] bytes_;
  }
  bytes_ = nullptr;
  mapped_ = false;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelFileError(path, "file", "cannot open: " + errno_text());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw ModelFileError(path, "file", "cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelFileError(path, "file", "not a regular file");
  }
  file.file_size_ = static_cast<uint64_t>(st.st_size);
  if (file.file_size_ < 8) {
    ::close(fd);
    throw ModelFileError(path, "header length",
                         "file is " + std::to_string(file.file_size_) + " bytes, shorter than the 8-byte header length");
  }
  void* map = mmap(nullptr, file.file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map != MAP_FAILED) {
    file.bytes_ = static_cast<const uint8_t*>(map);
    file.mapped_ = true;
    ::close(fd);
  } else {  // e.g. a file system without mmap: read it into memory instead
    ::close(fd);
    std::ifstream in(path, std::ios::binary);
    uint8_t* copy = new uint8_t[file.file_size_];
    file.bytes_ = copy;
    if (!in.read(reinterpret_cast<char*>(copy), static_cast<std::streamsize>(file.file_size_))) {
      throw ModelFileError(path, "file", "cannot read " + std::to_string(file.file_size_) + " bytes");
    }
  }

  const uint64_t header_len = read_le_u64(file.bytes_);
  if (header_len > kMaxSafetensorsHeaderBytes) {
    throw ModelFileError(path, "header length",
                         std::to_string(header_len) + " bytes exceeds the limit of " +
                             std::to_string(kMaxSafetensorsHeaderBytes));
  }
  if (header_len > file.file_size_ - 8) {
    throw ModelFileError(path, "header length",
                         std::to_string(header_len) + " bytes but only " + std::to_string(file.file_size_ - 8) +
                             " bytes follow (truncated file?)");
  }
  file.data_start_ = 8 + header_len;
  const uint64_t data_size = file.file_size_ - file.data_start_;

  // Parse the header; a parser callback records duplicate top-level keys (JSON would keep the last).
  std::set<std::string> seen_keys;
  std::string duplicate_key;
  const nlohmann::json::parser_callback_t on_event = [&](int depth, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen_keys.insert(parsed.get<std::string>()).second && duplicate_key.empty()) {
        duplicate_key = parsed.get<std::string>();
      }
    }
    return true;
  };
  const char* header_begin = reinterpret_cast<const char*>(file.bytes_ + 8);
  const nlohmann::json header =
      nlohmann::json::parse(header_begin, header_begin + header_len, on_event, /*allow_exceptions=*/false);
  if (header.is_discarded()) throw ModelFileError(path, "header", "not valid JSON");
  if (!header.is_object()) throw ModelFileError(path, "header", "JSON header is not an object");
  if (!duplicate_key.empty()) throw ModelFileError(path, duplicate_key, "key appears twice in the header");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw ModelFileError(path, "__metadata__", "is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          throw ModelFileError(path, "__metadata__." + m.key(), "metadata value is not a string");
        }
        file.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) throw ModelFileError(path, name, "header entry is not an object");
    TensorInfo info;
    info.name = name;
    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) throw ModelFileError(path, name, "missing field 'dtype'");
    if (!dtype_it->is_string()) throw ModelFileError(path, name, "field 'dtype' is not a string");
    if (!parse_dtype(dtype_it->get<std::string>(), &info.dtype)) {
      throw ModelFileError(path, name, "unknown dtype '" + dtype_it->get<std::string>() + "'");
    }
    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) throw ModelFileError(path, name, "missing field 'shape'");
    if (!shape_it->is_array()) throw ModelFileError(path, name, "field 'shape' is not an array");
    uint64_t numel = 1;
    for (const nlohmann::json& dim : *shape_it) {
      if (!dim.is_number_integer()) throw ModelFileError(path, name, "shape " + shape_it->dump() + " has a non-integer dimension");
      if (!dim.is_number_unsigned() && dim.get<int64_t>() < 0) {
        throw ModelFileError(path, name, "shape " + shape_it->dump() + " has a negative dimension");
      }
      const uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || !checked_mul(numel, d, &numel)) {
        throw ModelFileError(path, name, "shape " + shape_it->dump() + ": element count overflows");
      }
      info.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t expected_bytes = 0;
    if (!checked_mul(numel, dtype_size(info.dtype), &expected_bytes)) {
      throw ModelFileError(path, name, "shape " + shape_it->dump() + ": byte size overflows");
    }
    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) throw ModelFileError(path, name, "missing field 'data_offsets'");
    if (!offsets_it->is_array() || offsets_it->size() != 2 || !(*offsets_it)[0].is_number_unsigned() ||
        !(*offsets_it)[1].is_number_unsigned()) {
      throw ModelFileError(path, name, "field 'data_offsets' " + offsets_it->dump() + " is not [begin, end] of non-negative integers");
    }
    info.begin = (*offsets_it)[0].get<uint64_t>();
    info.end = (*offsets_it)[1].get<uint64_t>();
    if (info.end < info.begin) {
      throw ModelFileError(path, name, "data_offsets " + offsets_it->dump() + ": end < begin");
    }
    if (info.end > data_size) {
      throw ModelFileError(path, name, "data_offsets " + offsets_it->dump() + " out of range: data section has " +
                                           std::to_string(data_size) + " bytes (truncated file?)");
    }
    if (info.end - info.begin != expected_bytes) {
      throw ModelFileError(path, name, "data_offsets " + offsets_it->dump() + " span " +
                                           std::to_string(info.end - info.begin) + " bytes but " +
                                           dtype_name(info.dtype) + " " + shape_to_string(info.shape) + " needs " +
                                           std::to_string(expected_bytes));
    }
    file.tensors_.emplace(name, std::move(info));
  }

  // Overlap check: sort non-empty tensors by begin; each must start at or after the previous end.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& kv : file.tensors_) {
    if (kv.second.nbytes() > 0) by_offset.push_back(&kv.second);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->name < b->name;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      throw ModelFileError(path, by_offset[i]->name, "data overlaps tensor '" + by_offset[i - 1]->name + "'");
    }
  }
  return file;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw ModelFileError(path_, name, "tensor not found");
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

const uint8_t* SafetensorsFile::data(const std::string& name) const {
  return bytes_ + data_start_ + info(name).begin;
}

std::vector<uint8_t> SafetensorsFile::fetch_raw(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const uint8_t* p = bytes_ + data_start_ + ti.begin;
  return std::vector<uint8_t>(p, p + ti.nbytes());
}

std::vector<float> SafetensorsFile::fetch_f32(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const uint8_t* p = bytes_ + data_start_ + ti.begin;
  const size_t n = static_cast<size_t>(ti.numel());
  std::vector<float> out(n);
  switch (ti.dtype) {
    case Dtype::F32:
      if (n) std::memcpy(out.data(), p, n * 4);
      break;
    case Dtype::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = num::f16_to_f32(bits);
      }
      break;
    case Dtype::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = num::bf16_to_f32(bits);
      }
      break;
    default:
      throw ModelFileError(path_, name, std::string("dtype ") + dtype_name(ti.dtype) +
                                            " cannot be read as f32 exactly (expected F32, F16 or BF16)");
  }
  return out;
}

std::vector<int8_t> SafetensorsFile::fetch_i8(const std::string& name) const {
  check_dtype(name, Dtype::I8);
  const TensorInfo& ti = info(name);
  const int8_t* p = reinterpret_cast<const int8_t*>(bytes_ + data_start_ + ti.begin);
  return std::vector<int8_t>(p, p + ti.nbytes());
}

std::vector<uint16_t> SafetensorsFile::fetch_f16_bits(const std::string& name) const {
  check_dtype(name, Dtype::F16);
  const TensorInfo& ti = info(name);
  std::vector<uint16_t> out(static_cast<size_t>(ti.numel()));
  if (!out.empty()) std::memcpy(out.data(), bytes_ + data_start_ + ti.begin, out.size() * 2);
  return out;
}

void SafetensorsFile::check_shape(const std::string& name, const std::vector<int64_t>& expected) const {
  const TensorInfo& ti = info(name);
  if (ti.shape != expected) {
    throw ModelFileError(path_, name, "shape mismatch: expected " + shape_to_string(expected) + ", got " +
                                          shape_to_string(ti.shape));
  }
}

void SafetensorsFile::check_dtype(const std::string& name, Dtype expected) const {
  const TensorInfo& ti = info(name);
  if (ti.dtype != expected) {
    throw ModelFileError(path_, name, std::string("dtype mismatch: expected ") + dtype_name(expected) + ", got " +
                                          dtype_name(ti.dtype));
  }
}

// ------------------------------------------------------------------------------------ writer

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });

  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorToWrite& t = *sorted[i];
    if (t.name.empty() || t.name == "__metadata__") throw ModelFileError(path, "'" + t.name + "'", "invalid tensor name");
    if (i > 0 && sorted[i - 1]->name == t.name) throw ModelFileError(path, t.name, "tensor given twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || !checked_mul(numel, static_cast<uint64_t>(d), &numel)) {
        throw ModelFileError(path, t.name, "invalid shape " + shape_to_string(t.shape));
      }
    }
    uint64_t nbytes = 0;
    if (!checked_mul(numel, dtype_size(t.dtype), &nbytes) || nbytes != t.nbytes) {
      throw ModelFileError(path, t.name, std::string("has ") + std::to_string(t.nbytes) + " bytes but " +
                                             dtype_name(t.dtype) + " " + shape_to_string(t.shape) + " needs " +
                                             std::to_string(numel * dtype_size(t.dtype)));
    }
    if (nbytes > 0 && t.data == nullptr) throw ModelFileError(path, t.name, "no data");
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!metadata.empty()) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& kv : metadata) meta[kv.first] = kv.second;
    header["__metadata__"] = meta;
  }
  std::string header_text = header.dump();
  while (header_text.size() % 8 != 0) header_text.push_back(' ');

  const std::string tmp_path = path + ".tmp";
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!out) throw ModelFileError(tmp_path, "file", "cannot create: " + errno_text());
    uint8_t len_bytes[8];
    const uint64_t header_len = header_text.size();
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(header_len >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const TensorToWrite* t : sorted) {
      if (t->nbytes) out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->nbytes));
    }
    out.flush();
    if (!out) {
      const std::string why = errno_text();
      out.close();
      std::remove(tmp_path.c_str());
      throw ModelFileError(tmp_path, "file", "write failed: " + why);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path, path, ec);
  if (ec) {
    std::remove(tmp_path.c_str());
    throw ModelFileError(path, "file", "cannot rename " + tmp_path + ": " + ec.message());
  }
}

}  // namespace qmsim
