// Helpers shared by the tests: reading .npy arrays and .xz-compressed JSON lines.
#pragma once

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qmsim {
namespace test {

/// A little-endian C-order .npy array of '<f4' or '<f8', returned as double.
struct NpyArray {
  std::vector<size_t> shape;
  std::vector<double> data;
};

inline NpyArray load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not a .npy file");
  unsigned char ver[2];
  in.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(hlen, '\0');
  in.read(&header[0], hlen);
  const bool f4 = header.find("'<f4'") != std::string::npos;
  const bool f8 = header.find("'<f8'") != std::string::npos;
  if (!f4 && !f8) throw std::runtime_error(path + ": only <f4/<f8 supported");
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": fortran order");
  NpyArray a;
  const size_t s = header.find('(', header.find("'shape'"));
  const size_t e = header.find(')', s);
  std::string dims = header.substr(s + 1, e - s - 1);
  size_t pos = 0, n = 1;
  while (pos < dims.size()) {
    size_t comma = dims.find(',', pos);
    std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (tok.find_first_of("0123456789") != std::string::npos) {
      a.shape.push_back(std::stoul(tok));
      n *= a.shape.back();
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  a.data.resize(n);
  if (f4) {
    std::vector<float> tmp(n);
    in.read(reinterpret_cast<char*>(tmp.data()), static_cast<std::streamsize>(n * 4));
    for (size_t i = 0; i < n; ++i) a.data[i] = tmp[i];
  } else {
    in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(n * 8));
  }
  if (!in) throw std::runtime_error(path + ": truncated");
  return a;
}

/// Lines of a (possibly .xz-compressed) JSON-lines file, parsed.
inline std::vector<nlohmann::json> load_jsonl(const std::string& path) {
  std::string text;
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".xz") == 0) {
    FILE* p = popen(("xz -dc -- '" + path + "'").c_str(), "r");
    if (!p) throw std::runtime_error(path + ": cannot run xz");
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, k);
    if (pclose(p) != 0) throw std::runtime_error(path + ": xz failed");
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(pos), text.begin() + static_cast<std::ptrdiff_t>(nl)));
    pos = nl + 1;
  }
  return out;
}

/// Known-answer vectors of tests/data/ops (written by tools/make_op_vectors.py).
inline nlohmann::json load_vectors(const char* file) {
  std::ifstream in(std::string(QMSIM_TEST_DATA) + "/ops/" + file);
  if (!in) throw std::runtime_error(std::string(QMSIM_TEST_DATA) + "/ops/" + file + ": cannot open");
  return nlohmann::json::parse(in);
}
/// A float stored as its IEEE bit pattern.
inline float f32_of(const nlohmann::json& bits) {
  const uint32_t u = bits.get<uint32_t>();
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// IEEE bit patterns of floats (for == comparisons that also distinguish -0 and NaN payloads).
inline std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> b;
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    b.push_back(u);
  }
  return b;
}

inline std::string fixture_dir() { return std::string(QMSIM_SHARED_DATA) + "/reference/mamba-fixture"; }

}  // namespace test
}  // namespace qmsim
