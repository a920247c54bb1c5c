// Capture of intermediate tensors by name for cross-checking and vector dumping.
//
// Names are "layers.<i>.<op>" (e.g. "layers.3.conv1d.out") or "<op>" for model-level tensors
// ("embedding.out", "norm_f.out", "logits"). The full list per path is in docs/ARCHITECTURE.md.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace qmsim {
namespace golden {

/// One captured tensor: element type ("int8", "int32", "float16", "float32"), shape, raw bytes.
struct CapturedTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  template <class T>
  const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// Collects tensors whose name matches one of the patterns ("*" = everything; a pattern ending
/// in '*' matches by prefix; otherwise exact). Not thread-safe: the forward calls put() from
/// its orchestrating thread only.
class Capture {
 public:
  explicit Capture(std::vector<std::string> patterns = {"*"}) : patterns_(std::move(patterns)) {}
  bool wants(const std::string& name) const {
    for (const auto& p : patterns_) {
      if (p == "*" || p == name) return true;
      if (!p.empty() && p.back() == '*' && name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    }
    return false;
  }
  template <class T>
  void put(const std::string& name, const char* dtype, std::vector<int64_t> shape, const T* data, size_t count) {
    if (!wants(name)) return;
    CapturedTensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.resize(count * sizeof(T));
    if (count) std::memcpy(t.bytes.data(), data, count * sizeof(T));
    order_.push_back(name);
    tensors_[name] = std::move(t);
  }
  const std::map<std::string, CapturedTensor>& tensors() const { return tensors_; }
  /// Names in the order the forward produced them (dataflow order).
  const std::vector<std::string>& order() const { return order_; }
  const CapturedTensor* find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }

 private:
  std::vector<std::string> patterns_;
  std::map<std::string, CapturedTensor> tensors_;
  std::vector<std::string> order_;
};

}  // namespace golden
}  // namespace qmsim
