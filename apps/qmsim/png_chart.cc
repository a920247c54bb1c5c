// PNG encoder, raster drawing and the two chart types of png_chart.h.
#include "png_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace qmsim {
namespace chart {

// ------------------------------------------------------------------ Image
Image::Image(int width, int height, Rgb fill) : width_(width), height_(height) {
  if (width < 1 || height < 1)
    throw std::invalid_argument("chart::Image: size " + std::to_string(width) + "x" + std::to_string(height) +
                                " (both must be >= 1)");
  clip_ = Rect{0, 0, width, height};
  rgb_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = fill.r;
    rgb_[i + 1] = fill.g;
    rgb_[i + 2] = fill.b;
  }
}

Rgb Image::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_)
    throw std::out_of_range("chart::Image::get(" + std::to_string(x) + ", " + std::to_string(y) + ") outside " +
                            std::to_string(width_) + "x" + std::to_string(height_));
  const uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  return Rgb{p[0], p[1], p[2]};
}

void Image::set(int x, int y, Rgb c) {
  if (x < clip_.x || y < clip_.y || x >= clip_.x + clip_.w || y >= clip_.y + clip_.h) return;
  uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Image::set_clip(Rect r) {
  const int x0 = std::max(r.x, 0), y0 = std::max(r.y, 0);
  const int x1 = std::min(r.x + r.w, width_), y1 = std::min(r.y + r.h, height_);
  clip_ = Rect{x0, y0, std::max(x1 - x0, 0), std::max(y1 - y0, 0)};
}

void Image::clear_clip() { clip_ = Rect{0, 0, width_, height_}; }

// ------------------------------------------------------------------ PNG
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t adler32(const uint8_t* data, size_t size) {
  constexpr uint32_t kMod = 65521;
  // 5552 is the largest run whose sums cannot overflow 32 bits before the next reduction (zlib's NMAX).
  constexpr size_t kRun = 5552;
  uint32_t a = 1, b = 0;
  while (size > 0) {
    const size_t n = std::min(size, kRun);
    for (size_t i = 0; i < n; ++i) {
      a += data[i];
      b += a;
    }
    a %= kMod;
    b %= kMod;
    data += n;
    size -= n;
  }
  return (b << 16) | a;
}

namespace {

void put_u32_be(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
  put_u32_be(out, static_cast<uint32_t>(data.size()));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_u32_be(out, crc32(&out[start], out.size() - start));
}

// ---- PNG row filters (PNG spec §9): per row the filter whose output has the smallest sum of
// |byte as int8|, the usual heuristic (runs of equal bytes become runs of zeros for the matcher).
constexpr int kBpp = 3;  // bytes per pixel, 8-bit RGB

uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  return static_cast<uint8_t>(pb <= pc ? b : c);
}

// Filter type byte + filtered bytes of every row.
std::vector<uint8_t> filter_rows(const Image& image) {
  const size_t row_bytes = static_cast<size_t>(image.width()) * kBpp;
  const std::vector<uint8_t>& rgb = image.rgb();
  const std::vector<uint8_t> zero_row(row_bytes, 0);
  std::vector<uint8_t> cand[5];
  for (auto& c : cand) c.resize(row_bytes);
  std::vector<uint8_t> raw;
  raw.reserve((row_bytes + 1) * image.height());
  for (int y = 0; y < image.height(); ++y) {
    const uint8_t* cur = &rgb[y * row_bytes];
    const uint8_t* up = y > 0 ? &rgb[(y - 1) * row_bytes] : zero_row.data();
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= kBpp ? cur[i - kBpp] : 0, b = up[i], c = i >= kBpp ? up[i - kBpp] : 0;
      cand[0][i] = cur[i];
      cand[1][i] = static_cast<uint8_t>(cur[i] - a);
      cand[2][i] = static_cast<uint8_t>(cur[i] - b);
      cand[3][i] = static_cast<uint8_t>(cur[i] - ((a + b) >> 1));
      cand[4][i] = static_cast<uint8_t>(cur[i] - paeth(a, b, c));
    }
    int best = 0;
    uint64_t best_sum = UINT64_MAX;
    for (int f = 0; f < 5; ++f) {
      uint64_t sum = 0;
      for (uint8_t v : cand[f]) sum += v < 128 ? v : 256 - v;
      if (sum < best_sum) best_sum = sum, best = f;  // ties: the lower filter type
    }
    raw.push_back(static_cast<uint8_t>(best));
    raw.insert(raw.end(), cand[best].begin(), cand[best].end());
  }
  return raw;
}

// ---- deflate (RFC 1951): greedy-with-one-step-lazy LZ77 over a 32 KiB hash-chain window, coded
// with the fixed Huffman codes (BTYPE 01); a segment that would come out larger than stored is
// written as stored blocks (BTYPE 00) instead (noise, photos). Deterministic: same input, same bytes.
constexpr int kLenBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                              31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr int kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr int kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                               193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

constexpr int kMinMatch = 3, kMaxMatch = 258, kWindow = 32768;
constexpr int kHashBits = 15;
constexpr int kMaxChain = 48;     // candidates tried per position
constexpr int kLazyBelow = 32;    // try the next position only after a match shorter than this
constexpr size_t kSegment = 1 << 15;  // input bytes per block (each chooses fixed Huffman or stored)

// Fixed Huffman literal/length code of symbol s (RFC 1951 §3.2.6): {code, length}.
std::pair<uint32_t, int> fixed_litlen(int s) {
  if (s < 144) return {0x30u + s, 8};
  if (s < 256) return {0x190u + (s - 144), 9};
  if (s < 280) return {static_cast<uint32_t>(s - 256), 7};
  return {0xC0u + (s - 280), 8};
}

uint32_t reverse_bits(uint32_t v, int n) {
  uint32_t r = 0;
  for (int i = 0; i < n; ++i, v >>= 1) r = (r << 1) | (v & 1);
  return r;
}

struct Tables {
  uint16_t litlen_code[288];  // bit-reversed (deflate sends Huffman codes most significant bit first)
  uint8_t litlen_len[288];
  uint8_t len_sym[kMaxMatch + 1];  // match length -> index into kLenBase
  Tables() {
    for (int s = 0; s < 288; ++s) {
      const auto [code, n] = fixed_litlen(s);
      litlen_code[s] = static_cast<uint16_t>(reverse_bits(code, n));
      litlen_len[s] = static_cast<uint8_t>(n);
    }
    for (int l = kMinMatch, i = 0; l <= kMaxMatch; ++l) {
      while (i < 28 && l >= kLenBase[i + 1]) ++i;
      len_sym[l] = static_cast<uint8_t>(i);
    }
  }
};

int dist_sym(int dist) {
  int i = 29;
  while (kDistBase[i] > dist) --i;
  return i;
}

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
  void put(uint32_t bits, int n) {  // n <= 32, least significant bit first
    acc_ |= static_cast<uint64_t>(bits) << n_;
    n_ += n;
    while (n_ >= 8) {
      out_.push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      n_ -= 8;
    }
  }
  void align() {
    if (n_ > 0) put(0, 8 - n_);
  }

 private:
  std::vector<uint8_t>& out_;
  uint64_t acc_ = 0;
  int n_ = 0;
};

struct Symbol {
  uint16_t lit_or_len;  // literal byte, or match length when dist > 0
  uint16_t dist;
};

class Deflater {
 public:
  Deflater(const std::vector<uint8_t>& data, std::vector<uint8_t>& out)
      : d_(data), bw_(out), out_(out), head_(size_t{1} << kHashBits, -1), prev_(kWindow, -1) {}

  void run() {
    const size_t n = d_.size();
    size_t p = 0;
    while (p < n) {
      insert_until(p);
      int len, dist;
      find(p, len, dist);
      if (len < kMinMatch) {
        literal(p++);
      } else {
        // Lazy evaluation: while the next position has a longer match, emit a literal instead.
        while (len < kLazyBelow && p + 1 < n) {
          insert_until(p + 1);
          int len2, dist2;
          find(p + 1, len2, dist2);
          if (len2 <= len) break;
          literal(p++);
          len = len2, dist = dist2;
        }
        syms_.push_back(Symbol{static_cast<uint16_t>(len), static_cast<uint16_t>(dist)});
        p += len;
      }
      if (p - seg_start_ >= kSegment) flush(p, p == n);
    }
    if (p > seg_start_ || !finished_) flush(p, true);
    bw_.align();
  }

 private:
  uint32_t hash(size_t p) const {
    const uint32_t v = (uint32_t{d_[p]} << 16) | (uint32_t{d_[p + 1]} << 8) | d_[p + 2];
    return (v * 2654435761u) >> (32 - kHashBits);
  }
  void insert_until(size_t p) {
    for (; inserted_ < p; ++inserted_) {
      if (inserted_ + kMinMatch > d_.size()) continue;
      int32_t& h = head_[hash(inserted_)];
      prev_[inserted_ & (kWindow - 1)] = h;
      h = static_cast<int32_t>(inserted_);
    }
  }
  // Longest match for position p among earlier positions (all inserted), within the window.
  void find(size_t p, int& best_len, int& best_dist) const {
    best_len = 0, best_dist = 0;
    if (p + kMinMatch > d_.size()) return;
    const int max_len = static_cast<int>(std::min<size_t>(kMaxMatch, d_.size() - p));
    const uint8_t* cur = &d_[p];
    int32_t cand = head_[hash(p)];
    for (int chain = kMaxChain; cand >= 0 && chain > 0; --chain) {
      const size_t dist = p - static_cast<size_t>(cand);
      if (dist > kWindow) break;
      const uint8_t* m = &d_[cand];
      if (m[best_len] == cur[best_len] && m[0] == cur[0]) {
        int l = 0;
        while (l < max_len && m[l] == cur[l]) ++l;
        if (l > best_len) {
          best_len = l, best_dist = static_cast<int>(dist);
          if (l == max_len) break;
        }
      }
      cand = prev_[cand & (kWindow - 1)];
    }
    if (best_len < kMinMatch) best_len = 0, best_dist = 0;
  }
  void literal(size_t p) { syms_.push_back(Symbol{d_[p], 0}); }

  // Writes the symbols covering d_[seg_start_, end) as one fixed-Huffman block, or as stored
  // blocks when those are smaller.
  void flush(size_t end, bool final) {
    static const Tables t;
    uint64_t fixed_bits = 3 + 7;  // block header + end-of-block
    for (const Symbol& s : syms_) {
      if (s.dist == 0) {
        fixed_bits += t.litlen_len[s.lit_or_len];
      } else {
        const int li = t.len_sym[s.lit_or_len], di = dist_sym(s.dist);
        fixed_bits += t.litlen_len[257 + li] + kLenExtra[li] + 5 + kDistExtra[di];
      }
    }
    const size_t bytes = end - seg_start_;
    const size_t n_stored = std::max<size_t>(1, (bytes + 65534) / 65535);
    const uint64_t stored_bits = 8 * (bytes + 5 * n_stored) + 7;  // + worst-case alignment
    if (stored_bits < fixed_bits) {
      for (size_t pos = seg_start_, k = 0; k < n_stored; ++k) {
        const size_t len = std::min<size_t>(end - pos, 65535);
        bw_.put(final && k + 1 == n_stored ? 1 : 0, 1);
        bw_.put(0, 2);  // BTYPE 00
        bw_.align();
        const uint16_t l16 = static_cast<uint16_t>(len), nl16 = static_cast<uint16_t>(~l16);
        out_.insert(out_.end(), {static_cast<uint8_t>(l16), static_cast<uint8_t>(l16 >> 8),
                                 static_cast<uint8_t>(nl16), static_cast<uint8_t>(nl16 >> 8)});
        out_.insert(out_.end(), d_.begin() + pos, d_.begin() + pos + len);
        pos += len;
      }
    } else {
      bw_.put(final ? 1 : 0, 1);
      bw_.put(1, 2);  // BTYPE 01
      for (const Symbol& s : syms_) {
        if (s.dist == 0) {
          bw_.put(t.litlen_code[s.lit_or_len], t.litlen_len[s.lit_or_len]);
        } else {
          const int li = t.len_sym[s.lit_or_len], di = dist_sym(s.dist);
          bw_.put(t.litlen_code[257 + li], t.litlen_len[257 + li]);
          bw_.put(s.lit_or_len - kLenBase[li], kLenExtra[li]);
          bw_.put(reverse_bits(di, 5), 5);
          bw_.put(s.dist - kDistBase[di], kDistExtra[di]);
        }
      }
      bw_.put(t.litlen_code[256], t.litlen_len[256]);
    }
    syms_.clear();
    seg_start_ = end;
    finished_ = final;
  }

  const std::vector<uint8_t>& d_;
  BitWriter bw_;
  std::vector<uint8_t>& out_;  // written directly only when bw_ is byte aligned (stored blocks)
  std::vector<int32_t> head_, prev_;
  std::vector<Symbol> syms_;
  size_t inserted_ = 0, seg_start_ = 0;
  bool finished_ = false;
};

// zlib stream (RFC 1950) around the deflate data.
std::vector<uint8_t> zlib_deflate(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> z = {0x78, 0x5E};  // deflate, 32 KiB window, no dictionary, FLEVEL 1; 0x785E % 31 == 0
  z.reserve(raw.size() / 8 + 64);
  Deflater(raw, z).run();
  put_u32_be(z, adler32(raw.data(), raw.size()));
  return z;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  std::vector<uint8_t> ihdr;
  put_u32_be(ihdr, static_cast<uint32_t>(image.width()));
  put_u32_be(ihdr, static_cast<uint32_t>(image.height()));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8 bits, RGB, deflate, adaptive filtering, no interlace

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", zlib_deflate(filter_rows(image)));
  put_chunk(png, "IEND", {});
  return png;
}

void write_png(const Image& image, const std::string& path) {
  const std::vector<uint8_t> png = encode_png(image);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot open PNG file for writing: " + path);
  f.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  f.close();
  if (!f) throw std::runtime_error("error writing PNG file: " + path);
}

// ------------------------------------------------------------------ drawing
void fill_rect(Image& image, Rect r, Rgb c) {
  const int x0 = std::max(r.x, 0), y0 = std::max(r.y, 0);
  const int x1 = std::min(r.x + r.w, image.width()), y1 = std::min(r.y + r.h, image.height());
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) image.set(x, y, c);
}

void draw_line(Image& image, int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int t = std::max(thickness, 1);
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    fill_rect(image, Rect{x0, y0, t, t}, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

void fill_circle(Image& image, int cx, int cy, int radius, Rgb c) {
  // r^2 + r instead of r^2 rounds the disc's outline (no single-pixel nubs at the four extremes).
  const int limit = radius * radius + radius;
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx)
      if (dx * dx + dy * dy <= limit) image.set(cx + dx, cy + dy, c);
}

namespace {

// Classic public-domain 5x7 font: 5 columns per glyph, bit k of a column = row k from the top.
constexpr int kGlyphW = 5, kGlyphH = 7, kCellW = 6;
constexpr uint8_t kFont[95][kGlyphW] = {
    {0x00, 0x00, 0x00, 0x00, 0x00},  // space
    {0x00, 0x00, 0x5f, 0x00, 0x00},  // '!'
    {0x00, 0x07, 0x00, 0x07, 0x00},  // '"'
    {0x14, 0x7f, 0x14, 0x7f, 0x14},  // '#'
    {0x24, 0x2a, 0x7f, 0x2a, 0x12},  // '$'
    {0x23, 0x13, 0x08, 0x64, 0x62},  // '%'
    {0x36, 0x49, 0x55, 0x22, 0x50},  // '&'
    {0x00, 0x05, 0x03, 0x00, 0x00},  // '''
    {0x00, 0x1c, 0x22, 0x41, 0x00},  // '('
    {0x00, 0x41, 0x22, 0x1c, 0x00},  // ')'
    {0x14, 0x08, 0x3e, 0x08, 0x14},  // '*'
    {0x08, 0x08, 0x3e, 0x08, 0x08},  // '+'
    {0x00, 0x50, 0x30, 0x00, 0x00},  // ','
    {0x08, 0x08, 0x08, 0x08, 0x08},  // '-'
    {0x00, 0x60, 0x60, 0x00, 0x00},  // '.'
    {0x20, 0x10, 0x08, 0x04, 0x02},  // '/'
    {0x3e, 0x51, 0x49, 0x45, 0x3e},  // '0'
    {0x00, 0x42, 0x7f, 0x40, 0x00},  // '1'
    {0x42, 0x61, 0x51, 0x49, 0x46},  // '2'
    {0x21, 0x41, 0x45, 0x4b, 0x31},  // '3'
    {0x18, 0x14, 0x12, 0x7f, 0x10},  // '4'
    {0x27, 0x45, 0x45, 0x45, 0x39},  // '5'
    {0x3c, 0x4a, 0x49, 0x49, 0x30},  // '6'
    {0x01, 0x71, 0x09, 0x05, 0x03},  // '7'
    {0x36, 0x49, 0x49, 0x49, 0x36},  // '8'
    {0x06, 0x49, 0x49, 0x29, 0x1e},  // '9'
    {0x00, 0x36, 0x36, 0x00, 0x00},  // ':'
    {0x00, 0x56, 0x36, 0x00, 0x00},  // ';'
    {0x08, 0x14, 0x22, 0x41, 0x00},  // '<'
    {0x14, 0x14, 0x14, 0x14, 0x14},  // '='
    {0x00, 0x41, 0x22, 0x14, 0x08},  // '>'
    {0x02, 0x01, 0x51, 0x09, 0x06},  // '?'
    {0x32, 0x49, 0x79, 0x41, 0x3e},  // '@'
    {0x7e, 0x11, 0x11, 0x11, 0x7e},  // 'A'
    {0x7f, 0x49, 0x49, 0x49, 0x36},  // 'B'
    {0x3e, 0x41, 0x41, 0x41, 0x22},  // 'C'
    {0x7f, 0x41, 0x41, 0x22, 0x1c},  // 'D'
    {0x7f, 0x49, 0x49, 0x49, 0x41},  // 'E'
    {0x7f, 0x09, 0x09, 0x09, 0x01},  // 'F'
    {0x3e, 0x41, 0x49, 0x49, 0x7a},  // 'G'
    {0x7f, 0x08, 0x08, 0x08, 0x7f},  // 'H'
    {0x00, 0x41, 0x7f, 0x41, 0x00},  // 'I'
    {0x20, 0x40, 0x41, 0x3f, 0x01},  // 'J'
    {0x7f, 0x08, 0x14, 0x22, 0x41},  // 'K'
    {0x7f, 0x40, 0x40, 0x40, 0x40},  // 'L'
    {0x7f, 0x02, 0x0c, 0x02, 0x7f},  // 'M'
    {0x7f, 0x04, 0x08, 0x10, 0x7f},  // 'N'
    {0x3e, 0x41, 0x41, 0x41, 0x3e},  // 'O'
    {0x7f, 0x09, 0x09, 0x09, 0x06},  // 'P'
    {0x3e, 0x41, 0x51, 0x21, 0x5e},  // 'Q'
    {0x7f, 0x09, 0x19, 0x29, 0x46},  // 'R'
    {0x46, 0x49, 0x49, 0x49, 0x31},  // 'S'
    {0x01, 0x01, 0x7f, 0x01, 0x01},  // 'T'
    {0x3f, 0x40, 0x40, 0x40, 0x3f},  // 'U'
    {0x1f, 0x20, 0x40, 0x20, 0x1f},  // 'V'
    {0x3f, 0x40, 0x38, 0x40, 0x3f},  // 'W'
    {0x63, 0x14, 0x08, 0x14, 0x63},  // 'X'
    {0x07, 0x08, 0x70, 0x08, 0x07},  // 'Y'
    {0x61, 0x51, 0x49, 0x45, 0x43},  // 'Z'
    {0x00, 0x7f, 0x41, 0x41, 0x00},  // '['
    {0x02, 0x04, 0x08, 0x10, 0x20},  // backslash
    {0x00, 0x41, 0x41, 0x7f, 0x00},  // ']'
    {0x04, 0x02, 0x01, 0x02, 0x04},  // '^'
    {0x40, 0x40, 0x40, 0x40, 0x40},  // '_'
    {0x00, 0x01, 0x02, 0x04, 0x00},  // '`'
    {0x20, 0x54, 0x54, 0x54, 0x78},  // 'a'
    {0x7f, 0x48, 0x44, 0x44, 0x38},  // 'b'
    {0x38, 0x44, 0x44, 0x44, 0x20},  // 'c'
    {0x38, 0x44, 0x44, 0x48, 0x7f},  // 'd'
    {0x38, 0x54, 0x54, 0x54, 0x18},  // 'e'
    {0x08, 0x7e, 0x09, 0x01, 0x02},  // 'f'
    {0x0c, 0x52, 0x52, 0x52, 0x3e},  // 'g'
    {0x7f, 0x08, 0x04, 0x04, 0x78},  // 'h'
    {0x00, 0x44, 0x7d, 0x40, 0x00},  // 'i'
    {0x20, 0x40, 0x44, 0x3d, 0x00},  // 'j'
    {0x7f, 0x10, 0x28, 0x44, 0x00},  // 'k'
    {0x00, 0x41, 0x7f, 0x40, 0x00},  // 'l'
    {0x7c, 0x04, 0x18, 0x04, 0x78},  // 'm'
    {0x7c, 0x08, 0x04, 0x04, 0x78},  // 'n'
    {0x38, 0x44, 0x44, 0x44, 0x38},  // 'o'
    {0x7c, 0x14, 0x14, 0x14, 0x08},  // 'p'
    {0x08, 0x14, 0x14, 0x18, 0x7c},  // 'q'
    {0x7c, 0x08, 0x04, 0x04, 0x08},  // 'r'
    {0x48, 0x54, 0x54, 0x54, 0x20},  // 's'
    {0x04, 0x3f, 0x44, 0x40, 0x20},  // 't'
    {0x3c, 0x40, 0x40, 0x20, 0x7c},  // 'u'
    {0x1c, 0x20, 0x40, 0x20, 0x1c},  // 'v'
    {0x3c, 0x40, 0x30, 0x40, 0x3c},  // 'w'
    {0x44, 0x28, 0x10, 0x28, 0x44},  // 'x'
    {0x0c, 0x50, 0x50, 0x50, 0x3c},  // 'y'
    {0x44, 0x64, 0x54, 0x4c, 0x44},  // 'z'
    {0x00, 0x08, 0x36, 0x41, 0x00},  // '{'
    {0x00, 0x00, 0x7f, 0x00, 0x00},  // '|'
    {0x00, 0x41, 0x36, 0x08, 0x00},  // '}'
    {0x10, 0x08, 0x08, 0x10, 0x08},  // '~'
};

}  // namespace

int text_width(const std::string& text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kCellW - 1) * scale;
}

int text_height(int scale) { return kGlyphH * scale; }

void draw_text(Image& image, int x, int y, const std::string& text, Rgb c, int scale, bool vertical) {
  const int w = text_width(text, scale);
  for (size_t k = 0; k < text.size(); ++k) {
    const unsigned char ch = static_cast<unsigned char>(text[k]);
    const uint8_t* glyph = kFont[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
    for (int col = 0; col < kGlyphW; ++col)
      for (int row = 0; row < kGlyphH; ++row) {
        if (!((glyph[col] >> row) & 1)) continue;
        const int gx = (static_cast<int>(k) * kCellW + col) * scale, gy = row * scale;
        if (vertical)
          fill_rect(image, Rect{x + gy, y + w - gx - scale, scale, scale}, c);
        else
          fill_rect(image, Rect{x + gx, y + gy, scale, scale}, c);
      }
  }
}

// ------------------------------------------------------------------ axes
double Axis::to_pixel(double v) const {
  if (!std::isfinite(v) || (log && v <= 0)) return std::numeric_limits<double>::quiet_NaN();
  const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  return pix_lo + t * (pix_hi - pix_lo);
}

namespace {

// 1, 2 or 5 x 10^k, the smallest such step >= raw.
double nice_step(double raw) {
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

std::vector<double> linear_ticks(double lo, double hi, int max_ticks) {
  const double step = nice_step((hi - lo) / max_ticks);
  // The 1e-9 slack keeps a tick that sits on an end of the range despite rounding in lo / step.
  const double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
  std::vector<double> ticks;
  // Counting (rather than k += 1) terminates even where k0 is too large for k0 + 1 to differ.
  for (int i = 0; k0 + i <= k1 && i <= max_ticks + 1; ++i) {
    const double k = k0 + i;
    ticks.push_back(k == 0 ? 0.0 : k * step);  // never -0, which would print as "-0"
  }
  return ticks;
}

}  // namespace

std::vector<double> nice_ticks(const Axis& axis, int max_ticks) {
  max_ticks = std::max(max_ticks, 1);
  if (!std::isfinite(axis.lo) || !std::isfinite(axis.hi) || !(axis.lo < axis.hi) || (axis.log && axis.lo <= 0))
    return {};
  if (!axis.log) return linear_ticks(axis.lo, axis.hi, max_ticks);
  const int d0 = static_cast<int>(std::ceil(std::log10(axis.lo) - 1e-9));
  const int d1 = static_cast<int>(std::floor(std::log10(axis.hi) + 1e-9));
  const int decades = d1 - d0 + 1;
  // Under two powers of ten the axis is nearly linear and decade ticks would leave it unlabelled.
  if (decades < 2) return linear_ticks(axis.lo, axis.hi, max_ticks);
  const int every = (decades + max_ticks - 1) / max_ticks;
  std::vector<double> ticks;
  for (int d = d0; d <= d1; d += every) ticks.push_back(std::pow(10.0, d));
  return ticks;
}

Rgb series_color(size_t i) {
  // matplotlib's "tab10": distinct in hue and lightness, readable on white.
  static constexpr Rgb kPalette[10] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},
                                       {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                       {188, 189, 34},  {23, 190, 207}};
  return kPalette[i % 10];
}

namespace {

constexpr double kDodgeWidth = 0.7;  // share of a category's slot taken by its series side by side

}  // namespace

double category_x(size_t category, size_t s, size_t n_series) {
  if (n_series <= 1) return static_cast<double>(category);
  const double offset = (static_cast<double>(s) - (static_cast<double>(n_series) - 1) / 2) * kDodgeWidth;
  return static_cast<double>(category) + offset / static_cast<double>(n_series);
}

// ------------------------------------------------------------------ chart layout
namespace {

constexpr int kPad = 10;          // blank border of a chart
constexpr int kScale = 2;         // labels, ticks, legend: 10x14 pixel glyphs
constexpr int kTitleScale = 3;    // title, when it fits
constexpr int kTickLen = 5;
constexpr int kSwatchW = 24;      // legend sample of a series
constexpr Rgb kInk{40, 40, 40};   // text, axes, error bars over bars
constexpr Rgb kGrid{225, 225, 225};

enum class Style { points, bars, lines };  // how series are drawn, and so their legend sample

struct Labels {
  const std::string& title;
  const std::string& x_label;
  const std::string& y_label;
};

struct LegendSlot {
  int x, y;
  size_t series;
};

// Everything the drawing needs to know about where things go.
struct ChartLayout {
  Rect area;
  PlotFrame frame;
  int title_scale = kTitleScale, title_y = 0;
  std::vector<LegendSlot> legend;
  std::vector<double> y_ticks, x_ticks;  // x_ticks: numeric x axes only
  bool vertical_categories = false;      // category names too wide for their slot are rotated
  int x_ticks_y = 0, x_label_y = 0, y_label_x = 0;
};

std::vector<std::string> tick_labels(const std::vector<double>& ticks, bool log) {
  const bool decades = log && ticks.size() >= 2 && ticks[1] / ticks[0] > 9.99;
  double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : 1;
  if (ticks.size() == 1 && ticks[0] != 0) step = std::fabs(ticks[0]);
  double max_abs = 0;
  for (double t : ticks) max_abs = std::max(max_abs, std::fabs(t));
  std::vector<std::string> labels;
  for (double t : ticks) {
    char buf[32];
    if (decades) {
      const int k = static_cast<int>(std::lround(std::log10(t)));
      if (k >= -3 && k <= 4)  // "0.001" .. "10000"; beyond that "1e-4", "1e5" keep the labels narrow
        std::snprintf(buf, sizeof buf, "%g", t);
      else
        std::snprintf(buf, sizeof buf, "1e%d", k);
    } else if (max_abs >= 1e6 || step < 1e-4) {
      std::snprintf(buf, sizeof buf, "%.3g", t);
    } else {
      // As many decimals as the step has: step 0.02 -> "0.04", step 5 -> "15".
      const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
      std::snprintf(buf, sizeof buf, "%.*f", decimals, t);
    }
    labels.emplace_back(buf);
  }
  return labels;
}

// [lo, hi] of the drawable values, padded by 5% (in log10 on log axes) so no marker sits on the frame.
std::pair<double, double> auto_range(const std::vector<double>& values, bool log) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    const double t = log ? std::log10(v) : v;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  if (lo > hi) return log ? std::make_pair(1.0, 10.0) : std::make_pair(0.0, 1.0);
  if (lo == hi) {
    const double d = log ? 0.5 : (lo == 0 ? 1 : std::fabs(lo) * 0.1);
    lo -= d;
    hi += d;
  }
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  return log ? std::make_pair(std::pow(10.0, lo), std::pow(10.0, hi)) : std::make_pair(lo, hi);
}

Axis resolve_y(const std::vector<double>& values, bool log, double y_min, double y_max) {
  const bool given_lo = !std::isnan(y_min), given_hi = !std::isnan(y_max);
  if ((given_lo && !std::isfinite(y_min)) || (given_hi && !std::isfinite(y_max)))
    throw std::invalid_argument("chart: y_min / y_max must be finite (or kAuto)");
  if (log && ((given_lo && y_min <= 0) || (given_hi && y_max <= 0)))
    throw std::invalid_argument("chart: a log y axis needs y_min, y_max > 0");
  auto [lo, hi] = auto_range(values, log);
  if (given_lo) lo = y_min;
  if (given_hi) hi = y_max;
  if (!(lo < hi)) {
    if (given_lo && given_hi) throw std::invalid_argument("chart: y_min must be below y_max");
    // One end was given on the far side of the data: keep it and move the automatic end past it.
    if (given_lo)
      hi = log ? lo * 10 : lo + std::max(std::fabs(lo), 1.0);
    else
      lo = log ? hi / 10 : hi - std::max(std::fabs(hi), 1.0);
  }
  Axis a;
  a.lo = lo;
  a.hi = hi;
  a.log = log;
  return a;
}

// Title on top, legend rows under it, y label and tick labels on the left, x tick labels and x label
// at the bottom; the plot takes the rest. `categories` is null for a numeric x axis.
ChartLayout layout_chart(Rect area, const Labels& text, const std::vector<std::string>& names, Axis x, Axis y,
                         const std::vector<std::string>* categories) {
  ChartLayout L;
  L.area = area;
  const int th = text_height(kScale);
  int top = area.y + kPad;
  if (!text.title.empty()) {
    L.title_scale = text_width(text.title, kTitleScale) <= area.w - 2 * kPad ? kTitleScale : kScale;
    L.title_y = top;
    top += text_height(L.title_scale) + 10;
  }

  // Legend entries fill centred rows left to right; a row breaks before an entry that would not fit.
  std::vector<std::vector<std::pair<size_t, int>>> rows;  // (series, entry width)
  std::vector<int> row_widths;
  constexpr int kEntryGap = 24;
  for (size_t s = 0; s < names.size(); ++s) {
    if (names[s].empty()) continue;
    const int w = kSwatchW + 6 + text_width(names[s], kScale);
    if (rows.empty() || row_widths.back() + kEntryGap + w > area.w - 2 * kPad) {
      rows.emplace_back();
      row_widths.push_back(-kEntryGap);
    }
    rows.back().emplace_back(s, w);
    row_widths.back() += kEntryGap + w;
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    int lx = area.x + std::max(kPad, (area.w - row_widths[r]) / 2);
    for (const auto& [s, w] : rows[r]) {
      L.legend.push_back(LegendSlot{lx, top, s});
      lx += w + kEntryGap;
    }
    top += th + 8;
  }
  top += th / 2;  // the top y tick label is centred on the plot's top edge

  L.y_ticks = nice_ticks(y, std::clamp((area.h - 150) / 50, 2, 8));
  int y_label_w = 0;
  for (const std::string& s : tick_labels(L.y_ticks, y.log)) y_label_w = std::max(y_label_w, text_width(s, kScale));
  int left = area.x + kPad;
  if (!text.y_label.empty()) {
    L.y_label_x = left;
    left += th + 10;
  }
  left += y_label_w + 6 + kTickLen;
  // Room on the right for half of a numeric x tick label centred on the plot's right edge.
  const int right = area.x + area.w - kPad - 2 * kCellW * kScale;
  const int plot_w = std::max(right - left, 10);

  int bottom = area.y + area.h - kPad;
  if (!text.x_label.empty()) {
    L.x_label_y = bottom - th;
    bottom = L.x_label_y - 8;
  }
  int x_ticks_h = th;
  if (categories && !categories->empty()) {
    int widest = 0;
    for (const std::string& s : *categories) widest = std::max(widest, text_width(s, kScale));
    L.vertical_categories = widest > plot_w / static_cast<int>(categories->size()) - 4;
    if (L.vertical_categories) x_ticks_h = widest;
  }
  L.x_ticks_y = bottom - x_ticks_h;
  bottom = L.x_ticks_y - kTickLen - 4;

  const Rect plot{left, top, plot_w, std::max(bottom - top, 10)};
  x.pix_lo = plot.x;
  x.pix_hi = plot.x + plot.w - 1;
  y.pix_lo = plot.y + plot.h - 1;
  y.pix_hi = plot.y;
  if (!categories) L.x_ticks = nice_ticks(x, std::clamp(plot.w / 90, 2, 12));
  L.frame = PlotFrame{plot, x, y};
  return L;
}

void check_size(size_t got, size_t want, const std::string& what, const std::string& series) {
  if (got != 0 && got != want)
    throw std::invalid_argument("chart: series '" + series + "' has " + std::to_string(got) + " " + what +
                                " for " + std::to_string(want) + " points");
}

ChartLayout category_layout(const CategoryChart& c, Rect area) {
  const size_t n = c.categories.size();
  std::vector<double> values;
  std::vector<std::string> names;
  for (const CategorySeries& s : c.series) {
    check_size(s.value.size(), n, "values", s.name);
    check_size(s.lo.size(), n, "lower bounds", s.name);
    check_size(s.hi.size(), n, "upper bounds", s.name);
    if (s.lo.size() != s.hi.size())
      throw std::invalid_argument("chart: series '" + s.name + "' has lower bounds without upper bounds or vice versa");
    for (const auto* v : {&s.value, &s.lo, &s.hi}) values.insert(values.end(), v->begin(), v->end());
    names.push_back(s.name);
  }
  Axis x;
  x.lo = -0.5;
  x.hi = std::max<double>(static_cast<double>(n), 1) - 0.5;
  return layout_chart(area, Labels{c.title, c.x_label, c.y_label}, names, x,
                      resolve_y(values, c.log_y, c.y_min, c.y_max), &c.categories);
}

ChartLayout line_layout(const LineChart& c, Rect area) {
  std::vector<double> xs, ys;
  std::vector<std::string> names;
  for (const LineSeries& s : c.series) {
    check_size(s.x.size(), s.y.size(), "x values", s.name);
    for (size_t i = 0; i < s.y.size(); ++i) xs.push_back(s.x.empty() ? static_cast<double>(i) : s.x[i]);
    ys.insert(ys.end(), s.y.begin(), s.y.end());
    names.push_back(s.name);
  }
  Axis x;
  const auto [x_lo, x_hi] = auto_range(xs, false);
  x.lo = x_lo;
  x.hi = x_hi;
  return layout_chart(area, Labels{c.title, c.x_label, c.y_label}, names, x, resolve_y(ys, c.log_y, c.y_min, c.y_max),
                      nullptr);
}

// ------------------------------------------------------------------ chart drawing
int px(double v) { return static_cast<int>(std::lround(v)); }

// Screen coordinate clamped to one pixel beyond [lo, hi]: keeps far-off values finite and cheap to draw.
int clamped_px(double v, int lo, int hi) { return px(std::clamp(v, lo - 1.0, hi + 1.0)); }

bool near_plot(double x, double y, const Rect& p, int margin) {
  return x >= p.x - margin && x <= p.x + p.w + margin && y >= p.y - margin && y <= p.y + p.h + margin;
}

// Liang-Barsky: shortens the segment to its part inside r; false when none is. Saves Bresenham from
// walking far outside the plot for values beyond a given y range.
bool clip_segment(double& x0, double& y0, double& x1, double& y1, const Rect& r) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x0 - r.x, r.x + r.w - 1 - x0, y0 - r.y, r.y + r.h - 1 - y0};
  double t0 = 0, t1 = 1;
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0)
      t0 = std::max(t0, t);
    else
      t1 = std::min(t1, t);
  }
  if (t0 > t1) return false;
  x1 = x0 + t1 * dx;
  y1 = y0 + t1 * dy;
  x0 += t0 * dx;
  y0 += t0 * dy;
  return true;
}

void draw_chrome(Image& img, const ChartLayout& L, const Labels& text, const std::vector<std::string>& names,
                 Style style, const std::vector<std::string>* categories) {
  const Rect& p = L.frame.plot;
  const Axis& x = L.frame.x;
  const Axis& y = L.frame.y;
  const int th = text_height(kScale);
  const int bottom = p.y + p.h;  // first row below the plot

  for (double t : L.y_ticks) {
    const int py = px(y.to_pixel(t));
    draw_line(img, p.x, py, p.x + p.w - 1, py, kGrid);
  }
  for (double t : L.x_ticks) {
    const int xx = px(x.to_pixel(t));
    draw_line(img, xx, p.y, xx, bottom - 1, kGrid);
  }
  draw_line(img, p.x - 1, p.y - 1, p.x + p.w, p.y - 1, kInk);
  draw_line(img, p.x - 1, bottom, p.x + p.w, bottom, kInk);
  draw_line(img, p.x - 1, p.y - 1, p.x - 1, bottom, kInk);
  draw_line(img, p.x + p.w, p.y - 1, p.x + p.w, bottom, kInk);

  const std::vector<std::string> y_labels = tick_labels(L.y_ticks, y.log);
  for (size_t i = 0; i < L.y_ticks.size(); ++i) {
    const int py = px(y.to_pixel(L.y_ticks[i]));
    draw_line(img, p.x - 1 - kTickLen, py, p.x - 2, py, kInk);
    draw_text(img, p.x - 1 - kTickLen - 4 - text_width(y_labels[i], kScale), py - th / 2, y_labels[i], kInk);
  }
  if (categories) {
    for (size_t i = 0; i < categories->size(); ++i) {
      const std::string& name = (*categories)[i];
      const int xx = px(x.to_pixel(static_cast<double>(i)));
      draw_line(img, xx, bottom + 1, xx, bottom + kTickLen, kInk);
      if (L.vertical_categories)
        draw_text(img, xx - th / 2, L.x_ticks_y, name, kInk, kScale, true);
      else
        draw_text(img, xx - text_width(name, kScale) / 2, L.x_ticks_y, name, kInk);
    }
  } else {
    const std::vector<std::string> x_labels = tick_labels(L.x_ticks, false);
    for (size_t i = 0; i < L.x_ticks.size(); ++i) {
      const int xx = px(x.to_pixel(L.x_ticks[i]));
      draw_line(img, xx, bottom + 1, xx, bottom + kTickLen, kInk);
      draw_text(img, xx - text_width(x_labels[i], kScale) / 2, L.x_ticks_y, x_labels[i], kInk);
    }
  }

  if (!text.title.empty()) {
    const int tw = text_width(text.title, L.title_scale);
    draw_text(img, std::max(L.area.x + kPad, p.x + (p.w - tw) / 2), L.title_y, text.title, kBlack, L.title_scale);
  }
  if (!text.x_label.empty())
    draw_text(img, p.x + (p.w - text_width(text.x_label, kScale)) / 2, L.x_label_y, text.x_label, kInk);
  if (!text.y_label.empty())
    draw_text(img, L.y_label_x, p.y + (p.h - text_width(text.y_label, kScale)) / 2, text.y_label, kInk, kScale,
              true);

  for (const LegendSlot& slot : L.legend) {
    const Rgb c = series_color(slot.series);
    const int cx = slot.x + kSwatchW / 2, cy = slot.y + th / 2;
    switch (style) {
      case Style::points: fill_circle(img, cx, cy, 5, c); break;
      case Style::bars: fill_rect(img, Rect{cx - 7, cy - 7, 14, 14}, c); break;
      case Style::lines:
        draw_line(img, slot.x, cy, slot.x + kSwatchW - 1, cy, c, 2);
        fill_circle(img, cx, cy, 3, c);
        break;
    }
    draw_text(img, slot.x + kSwatchW + 6, slot.y, names[slot.series], kInk);
  }
}

void draw_category_series(Image& img, const CategoryChart& c, const PlotFrame& f) {
  const Rect& p = f.plot;
  const int top = p.y, bottom = p.y + p.h - 1;
  const size_t n_series = c.series.size();
  const double slot_px = f.x.to_pixel(1) - f.x.to_pixel(0);
  const double series_px = slot_px * (n_series > 1 ? kDodgeWidth / static_cast<double>(n_series) : kDodgeWidth);
  const int bar_half = std::max(1, static_cast<int>(series_px * 0.42));
  const int cap = c.bars ? std::min(6, bar_half) : std::clamp(static_cast<int>(series_px * 0.3), 2, 6);
  // Bars grow from 0 (or the nearest edge when 0 is outside the range); on log axes from the bottom.
  const int baseline = f.y.log ? bottom : clamped_px(f.y.to_pixel(std::clamp(0.0, f.y.lo, f.y.hi)), top, bottom);

  // An interval end's screen row: NaN means no error bar; ends beyond the axis go to its edge.
  auto end_row = [&](double v) {
    if (std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
    if (v == std::numeric_limits<double>::infinity()) return static_cast<double>(top);
    if (v == -std::numeric_limits<double>::infinity() || (f.y.log && v <= 0)) return static_cast<double>(bottom);
    return static_cast<double>(clamped_px(f.y.to_pixel(v), top, bottom));
  };

  img.set_clip(p);
  for (size_t s = 0; s < n_series; ++s) {
    const CategorySeries& ser = c.series[s];
    const Rgb color = series_color(s);
    for (size_t i = 0; i < c.categories.size(); ++i) {
      const int xx = px(f.x.to_pixel(category_x(i, s, n_series)));
      const double yy = ser.value.empty() ? std::numeric_limits<double>::quiet_NaN() : f.y.to_pixel(ser.value[i]);
      if (c.bars && !std::isnan(yy)) {
        const int row = clamped_px(yy, top, bottom);
        fill_rect(img, Rect{xx - bar_half, std::min(row, baseline), 2 * bar_half + 1, std::abs(row - baseline) + 1},
                  color);
      }
      if (!ser.lo.empty()) {
        const double a = end_row(ser.lo[i]), b = end_row(ser.hi[i]);
        if (!std::isnan(a) && !std::isnan(b)) {
          const Rgb bar_color = c.bars ? kInk : color;  // the series colour would vanish on its own bar
          draw_line(img, xx, px(a), xx, px(b), bar_color);
          draw_line(img, xx - cap, px(a), xx + cap, px(a), bar_color);
          draw_line(img, xx - cap, px(b), xx + cap, px(b), bar_color);
        }
      }
      if (!c.bars && !std::isnan(yy) && near_plot(xx, yy, p, 5)) fill_circle(img, xx, px(yy), 4, color);
    }
  }
  img.clear_clip();
}

void draw_line_series(Image& img, const LineChart& c, const PlotFrame& f) {
  const Rect& p = f.plot;
  img.set_clip(p);
  for (size_t s = 0; s < c.series.size(); ++s) {
    const LineSeries& ser = c.series[s];
    const Rgb color = series_color(s);
    std::vector<std::pair<double, double>> pts;  // screen position per point, NaN where skipped
    for (size_t i = 0; i < ser.y.size(); ++i)
      pts.emplace_back(f.x.to_pixel(ser.x.empty() ? static_cast<double>(i) : ser.x[i]), f.y.to_pixel(ser.y[i]));
    auto drawable = [](const std::pair<double, double>& q) { return !std::isnan(q.first) && !std::isnan(q.second); };
    for (size_t i = 1; i < pts.size(); ++i) {
      if (!drawable(pts[i - 1]) || !drawable(pts[i])) continue;
      double x0 = pts[i - 1].first, y0 = pts[i - 1].second, x1 = pts[i].first, y1 = pts[i].second;
      if (clip_segment(x0, y0, x1, y1, p)) draw_line(img, px(x0), px(y0), px(x1), px(y1), color, 2);
    }
    for (const auto& q : pts)
      if (drawable(q) && near_plot(q.first, q.second, p, 4)) fill_circle(img, px(q.first), px(q.second), 3, color);
  }
  img.clear_clip();
}

std::vector<std::string> names_of(const std::vector<CategorySeries>& series) {
  std::vector<std::string> names;
  for (const CategorySeries& s : series) names.push_back(s.name);
  return names;
}

void draw_category_chart(Image& img, const CategoryChart& c, Rect area) {
  const ChartLayout L = category_layout(c, area);
  draw_chrome(img, L, Labels{c.title, c.x_label, c.y_label}, names_of(c.series), c.bars ? Style::bars : Style::points,
              &c.categories);
  draw_category_series(img, c, L.frame);
}

}  // namespace

PlotFrame layout(const CategoryChart& chart, Rect area) { return category_layout(chart, area).frame; }
PlotFrame layout(const LineChart& chart, Rect area) { return line_layout(chart, area).frame; }

Image render(const CategoryChart& chart, int width, int height) {
  Image img(width, height);
  draw_category_chart(img, chart, Rect{0, 0, width, height});
  return img;
}

Image render(const LineChart& chart, int width, int height) {
  Image img(width, height);
  const ChartLayout L = line_layout(chart, Rect{0, 0, width, height});
  std::vector<std::string> names;
  for (const LineSeries& s : chart.series) names.push_back(s.name);
  draw_chrome(img, L, Labels{chart.title, chart.x_label, chart.y_label}, names, Style::lines, nullptr);
  draw_line_series(img, chart, L.frame);
  return img;
}

Image render_panels(const std::vector<CategoryChart>& panels, int width, int panel_height) {
  Image img(width, panel_height * static_cast<int>(panels.size()));
  for (size_t i = 0; i < panels.size(); ++i)
    draw_category_chart(img, panels[i], Rect{0, static_cast<int>(i) * panel_height, width, panel_height});
  return img;
}

}  // namespace chart
}  // namespace qmsim
