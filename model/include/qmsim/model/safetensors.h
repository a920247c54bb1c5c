// safetensors reader and writer (format: 8-byte little-endian header length N, N bytes of JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, data).
// Readers validate the whole header on open() and throw ModelFileError naming file and tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qmsim/model/errors.h"

namespace qmsim {

/// Element types of the safetensors format.
enum class Dtype { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

/// Bytes per element.
size_t dtype_size(Dtype dtype);
/// The header spelling ("F32", "BF16", ...).
const char* dtype_name(Dtype dtype);
/// Parses a header spelling; false when unknown.
bool parse_dtype(const std::string& name, Dtype* dtype);

constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1000 * 1000;  // larger headers are rejected

/// One tensor entry of the header. Offsets are relative to the start of the data section.
struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

/// A read-only, memory-mapped safetensors file. Move-only; the mapping lives as long as the object.
/// Gaps between tensors and trailing bytes after the last tensor are tolerated; overlaps are not.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  /// Throws ModelFileError when the tensor is absent.
  const TensorInfo& info(const std::string& name) const;
  /// Tensor names in sorted order (without "__metadata__").
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// Pointer to the tensor's bytes inside the mapping (little-endian element order).
  const uint8_t* data(const std::string& name) const;
  std::vector<uint8_t> fetch_raw(const std::string& name) const;
  /// F32, F16 or BF16 widened exactly to f32; any other dtype throws.
  std::vector<float> fetch_f32(const std::string& name) const;
  /// I8 only.
  std::vector<int8_t> fetch_i8(const std::string& name) const;
  /// F16 only, as raw binary16 bits.
  std::vector<uint16_t> fetch_f16_bits(const std::string& name) const;
  /// The whole file's bytes (header included), e.g. for hashing.
  const uint8_t* file_bytes() const { return bytes_; }

  /// Throws ModelFileError unless the tensor has exactly this shape ("expected [..], got [..]").
  void check_shape(const std::string& name, const std::vector<int64_t>& expected) const;
  /// Throws ModelFileError unless the tensor has this dtype.
  void check_dtype(const std::string& name, Dtype expected) const;

 private:
  SafetensorsFile() = default;
  void release();
  std::string path_;
  const uint8_t* bytes_ = nullptr;  // whole file (mmap or heap copy)
  uint64_t file_size_ = 0;
  uint64_t data_start_ = 0;         // 8 + header length
  bool mapped_ = false;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// "[a, b, c]" for error messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

/// A tensor to write; `data` must stay valid until write_safetensors returns and hold exactly
/// numel * dtype_size bytes in little-endian element order.
struct TensorToWrite {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

/// Writes a safetensors file deterministically: header keys sorted (JSON without whitespace,
/// padded with spaces to a multiple of 8), data in sorted-name order, no gaps. Writes
/// `path + ".tmp"` and renames it over `path`, so `path` is never half written.
/// Throws ModelFileError on an inconsistent tensor or an I/O failure.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace qmsim
