// PNG chart writer of the CLI (apps/qmsim/png_chart.h): CRC-32 / Adler-32 known answers, PNG files
// decoded by an independent minimal decoder below (chunk CRCs, an inflate of stored and
// fixed-Huffman deflate blocks, Adler-32, the five row filters), compression of typical charts and
// round trips of incompressible noise, raster primitives, axis mapping and ticks, and chart markers
// at the screen positions that the exposed layout predicts.
//
// The chart code is part of the qmsim executable, not of a library the tests link, so it is
// compiled into this test directly.
#include "../apps/qmsim/png_chart.cc"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace qmsim::chart;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// ------------------------------------------------------------------ reference decoder
// Bit-by-bit CRC-32 and per-byte-reduced Adler-32: slow, obviously right, and independent of the
// table / deferred-modulo versions under test.
uint32_t naive_crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

uint32_t naive_adler32(const uint8_t* p, size_t n) {
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < n; ++i) {
    a = (a + p[i]) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  std::vector<std::string> chunks;  // chunk types in file order
  int stored_blocks = 0, fixed_blocks = 0;
  size_t largest_block = 0;  // of the stored blocks
  size_t matches = 0;        // LZ77 back-references in the fixed-Huffman blocks
  size_t filters[5] = {};    // rows per filter type
};

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("PNG decode: " + what);
}

// Deflate bits, least significant bit of each byte first.
struct BitReader {
  const std::vector<uint8_t>& z;
  size_t pos;
  int bit = 0;
  uint32_t bits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      require(pos < z.size(), "deflate data runs past the zlib stream");
      v |= static_cast<uint32_t>((z[pos] >> bit) & 1) << i;
      if (++bit == 8) bit = 0, ++pos;
    }
    return v;
  }
  void align() {
    if (bit != 0) bit = 0, ++pos;
  }
};

// Canonical Huffman code built from code lengths (RFC 1951 §3.2.2), decoded bit by bit (as puff.c).
struct Huffman {
  int count[16] = {};       // codes of each length
  std::vector<int> symbol;  // symbols ordered by code
  explicit Huffman(const std::vector<int>& lengths) {
    for (int l : lengths) ++count[l];
    count[0] = 0;
    int offs[16] = {};
    for (int l = 1; l < 16; ++l) offs[l] = offs[l - 1] + count[l - 1];
    symbol.resize(lengths.size());
    for (size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] != 0) symbol[offs[lengths[s]]++] = static_cast<int>(s);
  }
  int decode(BitReader& br) const {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; ++len) {
      code |= static_cast<int>(br.bits(1));
      if (code - count[len] < first) return symbol[index + (code - first)];
      index += count[len];
      first = (first + count[len]) << 1;
      code <<= 1;
    }
    throw std::runtime_error("PNG decode: invalid Huffman code");
  }
};

// Minimal inflate (RFC 1951) of stored and fixed-Huffman blocks; dynamic-Huffman blocks are
// rejected, because encode_png promises never to write them.
std::vector<uint8_t> inflate(const std::vector<uint8_t>& z, size_t start, size_t& end, Decoded& d) {
  static const int kLenBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const int kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const int kDistBase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                    33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static const int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                     6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  static const Huffman kFixedLit = [] {
    std::vector<int> l(288);
    for (int s = 0; s < 288; ++s) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    return Huffman(l);
  }();
  static const Huffman kFixedDist(std::vector<int>(30, 5));  // codes 30, 31 are invalid

  std::vector<uint8_t> out;
  BitReader br{z, start};
  for (bool final = false; !final;) {
    final = br.bits(1) == 1;
    const uint32_t type = br.bits(2);
    if (type == 0) {
      br.align();
      require(br.pos + 4 <= z.size(), "truncated stored block header");
      const size_t len = z[br.pos] | (z[br.pos + 1] << 8), nlen = z[br.pos + 2] | (z[br.pos + 3] << 8);
      require((len ^ 0xFFFF) == nlen, "LEN / NLEN");
      br.pos += 4;
      require(br.pos + len <= z.size(), "truncated stored block");
      out.insert(out.end(), z.begin() + br.pos, z.begin() + br.pos + len);
      br.pos += len;
      ++d.stored_blocks;
      d.largest_block = std::max(d.largest_block, len);
    } else if (type == 1) {
      for (;;) {
        const int sym = kFixedLit.decode(br);
        if (sym < 256) {
          out.push_back(static_cast<uint8_t>(sym));
        } else if (sym == 256) {
          break;
        } else {
          require(sym <= 285, "length symbol 286 / 287");
          const int li = sym - 257;
          const size_t len = kLenBase[li] + br.bits(kLenExtra[li]);
          const int di = kFixedDist.decode(br);
          require(di < 30, "distance symbol 30 / 31");
          const size_t dist = kDistBase[di] + br.bits(kDistExtra[di]);
          require(dist <= out.size() && dist <= 32768, "distance beyond the data or the window");
          for (size_t i = 0; i < len; ++i) out.push_back(out[out.size() - dist]);  // may overlap
          ++d.matches;
        }
      }
      ++d.fixed_blocks;
    } else {
      throw std::runtime_error("PNG decode: block type " + std::to_string(type) +
                               " (only stored and fixed-Huffman blocks are expected)");
    }
  }
  br.align();
  end = br.pos;
  return out;
}

int paeth_predictor(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Decodes exactly what encode_png promises (8-bit RGB, one zlib stream of stored / fixed-Huffman
// blocks, filter types 0..4) and rejects the rest.
Decoded decode_png(const std::vector<uint8_t>& f) {
  static const uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  require(f.size() >= 8 && std::equal(kSig, kSig + 8, f.begin()), "signature");
  Decoded d;
  std::vector<uint8_t> z;
  size_t pos = 8;
  for (;;) {
    require(pos + 12 <= f.size(), "truncated chunk header");
    const uint32_t len = be32(&f[pos]);
    require(pos + 12 + len <= f.size(), "truncated chunk");
    const std::string type(f.begin() + pos + 4, f.begin() + pos + 8);
    const uint8_t* data = &f[pos + 8];
    require(be32(data + len) == naive_crc32(&f[pos + 4], len + 4), "CRC of chunk " + type);
    d.chunks.push_back(type);
    if (type == "IHDR") {
      require(len == 13, "IHDR length");
      d.width = static_cast<int>(be32(data));
      d.height = static_cast<int>(be32(data + 4));
      require(data[8] == 8 && data[9] == 2 && data[10] == 0 && data[11] == 0 && data[12] == 0,
              "IHDR: 8-bit RGB, deflate, filter method 0, no interlace");
    } else if (type == "IDAT") {
      z.insert(z.end(), data, data + len);
    }
    pos += 12 + len;
    if (type == "IEND") break;
  }
  require(pos == f.size(), "bytes after IEND");

  require(z.size() >= 6, "zlib stream too short");
  require((z[0] & 0x0F) == 8 && (z[0] >> 4) <= 7 && (z[0] * 256 + z[1]) % 31 == 0 && !(z[1] & 0x20),
          "zlib header");
  size_t zp = 0;
  const std::vector<uint8_t> raw = inflate(z, 2, zp, d);
  require(zp + 4 == z.size(), "Adler-32 trailer");
  require(be32(&z[zp]) == naive_adler32(raw.data(), raw.size()), "Adler-32");

  const size_t row = static_cast<size_t>(d.width) * 3;
  require(raw.size() == (row + 1) * d.height, "image data size");
  d.rgb.resize(row * d.height);
  for (int y = 0; y < d.height; ++y) {
    const uint8_t filter = raw[y * (row + 1)];
    require(filter <= 4, "filter type " + std::to_string(filter));
    ++d.filters[filter];
    const uint8_t* in = &raw[y * (row + 1) + 1];
    uint8_t* cur = &d.rgb[y * row];
    const uint8_t* up = y > 0 ? cur - row : nullptr;
    for (size_t i = 0; i < row; ++i) {
      const int a = i >= 3 ? cur[i - 3] : 0, b = up ? up[i] : 0, c = up && i >= 3 ? up[i - 3] : 0;
      const int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2
                                                                                       : paeth_predictor(a, b, c);
      cur[i] = static_cast<uint8_t>(in[i] + pred);
    }
  }
  return d;
}

Rgb pixel(const Decoded& d, int x, int y) {
  const uint8_t* p = &d.rgb[(static_cast<size_t>(y) * d.width + x) * 3];
  return Rgb{p[0], p[1], p[2]};
}

std::string str(Rgb c) {
  return "rgb(" + std::to_string(c.r) + "," + std::to_string(c.g) + "," + std::to_string(c.b) + ")";
}

int round_px(double v) { return static_cast<int>(std::lround(v)); }

// Whether colour c occurs in the rectangle (clipped to the image).
bool contains_color(const Image& img, Rect r, Rgb c) {
  for (int y = std::max(r.y, 0); y < std::min(r.y + r.h, img.height()); ++y)
    for (int x = std::max(r.x, 0); x < std::min(r.x + r.w, img.width()); ++x)
      if (img.get(x, y) == c) return true;
  return false;
}

// ------------------------------------------------------------------ checksums
TEST(PngChecksums, Crc32KnownAnswers) {
  EXPECT_EQ(crc32(bytes("123456789"), 9), 0xCBF43926u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32(bytes(fox), fox.size()), 0x414FA339u);
  EXPECT_EQ(crc32(bytes(fox) + 10, fox.size() - 10, crc32(bytes(fox), 10)), 0x414FA339u);  // continued
  EXPECT_EQ(naive_crc32(bytes("123456789"), 9), 0xCBF43926u);  // the decoder's reference agrees
}

TEST(PngChecksums, Adler32KnownAnswers) {
  EXPECT_EQ(adler32(bytes("Wikipedia"), 9), 0x11E60398u);
  EXPECT_EQ(adler32(nullptr, 0), 1u);
  EXPECT_EQ(naive_adler32(bytes("Wikipedia"), 9), 0x11E60398u);
  // 1 MiB of 0xFF: sums run past the 5552-byte reduction runs many times.
  const std::vector<uint8_t> ff(1 << 20, 0xFF);
  EXPECT_EQ(adler32(ff.data(), ff.size()), naive_adler32(ff.data(), ff.size()));
}

// ------------------------------------------------------------------ PNG
TEST(PngEncode, CompressedStreamDecodesToTheImage) {
  Image img(200, 150);
  const Rgb red{220, 20, 30};
  fill_rect(img, Rect{10, 20, 30, 40}, red);
  const std::vector<uint8_t> png = encode_png(img);
  const Decoded d = decode_png(png);
  EXPECT_EQ(d.width, 200);
  EXPECT_EQ(d.height, 150);
  EXPECT_EQ(d.chunks, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // 150 rows of 1 + 600 bytes = 90150 bytes of flat colour: fixed-Huffman blocks of long matches.
  EXPECT_EQ(d.stored_blocks, 0);
  EXPECT_GE(d.fixed_blocks, 1);
  EXPECT_GT(d.matches, 0u);
  EXPECT_LT(png.size(), 1500u) << png.size();  // 90150 bytes raw
  EXPECT_EQ(d.rgb, img.rgb());
  EXPECT_EQ(pixel(d, 10, 20), red);
  EXPECT_EQ(pixel(d, 39, 59), red);
  EXPECT_EQ(pixel(d, 40, 59), kWhite);
  EXPECT_EQ(pixel(d, 39, 60), kWhite);
  EXPECT_EQ(pixel(d, 9, 20), kWhite);
  for (auto [x, y] : {std::pair{0, 0}, {199, 0}, {0, 149}, {199, 149}}) EXPECT_EQ(pixel(d, x, y), kWhite);
}

TEST(PngEncode, OnePixelImage) {
  const Rgb c{1, 2, 3};
  const Decoded d = decode_png(encode_png(Image(1, 1, c)));
  EXPECT_EQ(d.width, 1);
  EXPECT_EQ(d.height, 1);
  EXPECT_EQ(d.stored_blocks + d.fixed_blocks, 1);  // 4 bytes of image data: one block
  EXPECT_EQ(pixel(d, 0, 0), c);
}

TEST(PngEncode, EncodingIsDeterministic) {
  Image img(300, 100);
  draw_text(img, 5, 5, "deterministic 0123456789", kBlack, 2);
  draw_line(img, 0, 99, 299, 30, Rgb{0, 120, 200}, 2);
  EXPECT_EQ(encode_png(img), encode_png(img));
}

// Gradients that each row filter turns into constants: every filter type shows up and decodes.
TEST(PngEncode, AllRowFiltersRoundTrip) {
  Image img(64, 96);
  for (int y = 0; y < 96; ++y)
    for (int x = 0; x < 64; ++x) {
      const int band = y / 24;  // flat, horizontal, vertical and diagonal gradients
      const int v = band == 0 ? 77 : band == 1 ? 3 * x : band == 2 ? 5 * y : 2 * x + 3 * y;
      img.set(x, y, Rgb{static_cast<uint8_t>(v), static_cast<uint8_t>(v * 7 + 1), static_cast<uint8_t>(255 - v)});
    }
  const Decoded d = decode_png(encode_png(img));
  EXPECT_EQ(d.rgb, img.rgb());
  EXPECT_GT(d.filters[1], 0u);  // Sub for the horizontal gradient
  EXPECT_GT(d.filters[2], 0u);  // Up for the vertical one
  EXPECT_GT(d.filters[4], 0u);  // Paeth for the diagonal one
}

// A typical chart is mostly white with thin lines and text: well under 5% of its raw size.
TEST(PngEncode, TypicalChartCompressesWell) {
  CategoryChart c;
  c.title = "accuracy per mode (20 modes)";
  c.x_label = "mode";
  c.y_label = "accuracy";
  CategorySeries a{"model A", {}, {}, {}}, b{"model B", {}, {}, {}};
  for (int i = 0; i < 20; ++i) {
    c.categories.push_back(std::to_string(i / 4) + "-" + std::to_string(i % 4));
    const double v = 0.3 + 0.02 * i + 0.01 * (i % 3);
    a.value.push_back(v);
    a.lo.push_back(v - 0.04);
    a.hi.push_back(v + 0.05);
    b.value.push_back(0.8 - 0.015 * i);
  }
  c.series = {a, b};
  const Image img = render(c, 1600, 800);
  const std::vector<uint8_t> png = encode_png(img);
  const size_t raw = img.rgb().size();
  EXPECT_LT(png.size(), raw / 20) << png.size() << " of " << raw << " bytes";
  const Decoded d = decode_png(png);
  EXPECT_EQ(d.width, 1600);
  EXPECT_EQ(d.height, 800);
  EXPECT_EQ(d.rgb, img.rgb());
  EXPECT_GT(d.matches, 0u);
}

// Noise cannot be compressed: the encoder falls back to stored blocks, still decodes exactly, and
// grows the data by little more than the block and PNG overhead.
TEST(PngEncode, RandomNoiseRoundTrips) {
  std::mt19937 rng(12345);
  for (auto [w, h] : {std::pair{257, 199}, {1, 70000}, {3, 2}}) {
    Image img(w, h);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        img.set(x, y, Rgb{static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())});
    const std::vector<uint8_t> png = encode_png(img);
    const Decoded d = decode_png(png);
    ASSERT_EQ(d.width, w);
    ASSERT_EQ(d.height, h);
    EXPECT_EQ(d.rgb, img.rgb()) << w << "x" << h;
    const size_t raw = static_cast<size_t>(w) * h * 3 + h;  // with the filter bytes
    EXPECT_LT(png.size(), raw + raw / 100 + 100) << w << "x" << h;
    EXPECT_LE(d.largest_block, 65535u);
  }
  // Noise in the middle of white: stored and fixed-Huffman blocks mix in one stream.
  Image mixed(600, 400);
  for (int y = 150; y < 250; ++y)
    for (int x = 0; x < 600; ++x)
      mixed.set(x, y, Rgb{static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())});
  const Decoded d = decode_png(encode_png(mixed));
  EXPECT_EQ(d.rgb, mixed.rgb());
  EXPECT_GT(d.stored_blocks, 0);
  EXPECT_GT(d.fixed_blocks, 0);
}

TEST(PngEncode, WritePngWritesTheFileAndNamesThePathOnFailure) {
  Image img(7, 5, Rgb{9, 8, 7});
  img.set(3, 2, kBlack);
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "png_chart_test_small.png").string();
  write_png(img, path);
  std::ifstream f(path, std::ios::binary);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, encode_png(img));
  EXPECT_EQ(pixel(decode_png(file), 3, 2), kBlack);
  std::filesystem::remove(path);

  const std::string bad = "/nonexistent-qmsim-dir/chart.png";
  try {
    write_png(img, bad);
    FAIL() << "write_png to " << bad << " did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------------ raster
TEST(Raster, ImageSizeAccessAndClipping) {
  EXPECT_THROW(Image(0, 5), std::invalid_argument);
  EXPECT_THROW(Image(5, -1), std::invalid_argument);
  Image img(10, 10);
  EXPECT_THROW(img.get(10, 0), std::out_of_range);
  EXPECT_THROW(img.get(0, -1), std::out_of_range);
  img.set(-1, 3, kBlack);  // dropped, not a crash
  img.set(10, 3, kBlack);
  img.set_clip(Rect{2, 2, 3, 3});
  img.set(1, 2, kBlack);
  img.set(4, 4, kBlack);
  img.set(5, 4, kBlack);
  EXPECT_EQ(img.get(1, 2), kWhite);
  EXPECT_EQ(img.get(4, 4), kBlack);
  EXPECT_EQ(img.get(5, 4), kWhite);
  img.clear_clip();
  img.set(9, 9, kBlack);
  EXPECT_EQ(img.get(9, 9), kBlack);
}

TEST(Raster, LinesAndCircles) {
  Image img(40, 40);
  draw_line(img, 2, 5, 12, 5, kBlack, 2);  // thickness 2 paints towards +x and +y
  for (int x = 2; x <= 13; ++x) {
    EXPECT_EQ(img.get(x, 5), kBlack) << x;
    EXPECT_EQ(img.get(x, 6), kBlack) << x;
  }
  EXPECT_EQ(img.get(1, 5), kWhite);
  EXPECT_EQ(img.get(14, 5), kWhite);
  EXPECT_EQ(img.get(7, 4), kWhite);
  EXPECT_EQ(img.get(7, 7), kWhite);

  const Rgb blue{0, 0, 255};
  draw_line(img, 20, 10, 24, 14, blue);  // diagonal: exactly (20+i, 10+i)
  for (int i = 0; i <= 4; ++i) EXPECT_EQ(img.get(20 + i, 10 + i), blue);
  EXPECT_EQ(img.get(21, 10), kWhite);
  draw_line(img, 30, 30, 32, 20, blue);  // steep, drawn from its lower end: both ends painted
  EXPECT_EQ(img.get(30, 30), blue);
  EXPECT_EQ(img.get(32, 20), blue);

  const Rgb green{0, 200, 0};
  fill_circle(img, 10, 30, 4, green);
  EXPECT_EQ(img.get(10, 30), green);
  EXPECT_EQ(img.get(14, 30), green);
  EXPECT_EQ(img.get(10, 26), green);
  EXPECT_EQ(img.get(15, 30), kWhite);
  EXPECT_EQ(img.get(14, 34), kWhite);  // corner of the bounding square is outside the disc
}

TEST(Raster, TextHorizontalVerticalAndUnknownBytes) {
  EXPECT_EQ(text_width("AB", 2), 22);  // two 6-pixel cells less the trailing gap, doubled
  EXPECT_EQ(text_width("", 2), 0);
  EXPECT_EQ(text_height(2), 14);

  Image img(80, 40);
  // 'L': column 0 inked in all 7 rows, columns 1..4 only in row 6 (the foot).
  draw_text(img, 10, 10, "L", kBlack, 2);
  EXPECT_EQ(img.get(10, 10), kBlack);
  EXPECT_EQ(img.get(11, 23), kBlack);
  EXPECT_EQ(img.get(12, 10), kWhite);
  EXPECT_EQ(img.get(18, 22), kBlack);
  EXPECT_EQ(img.get(18, 20), kWhite);
  // Vertical text is rotated counter-clockwise (reads bottom to top): the stem lies along the bottom
  // of the 14x10 box (y 18..19), the foot rises along its right side (x 62..63).
  draw_text(img, 50, 10, "L", kBlack, 2, true);
  EXPECT_EQ(img.get(50, 18), kBlack);
  EXPECT_EQ(img.get(63, 19), kBlack);
  EXPECT_EQ(img.get(62, 10), kBlack);
  EXPECT_EQ(img.get(50, 10), kWhite);
  EXPECT_EQ(img.get(60, 10), kWhite);
  // All ink stays inside the two boxes (10x14 and 14x10).
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const bool in_h = x >= 10 && x < 20 && y >= 10 && y < 24, in_v = x >= 50 && x < 64 && y >= 10 && y < 20;
      if (!in_h && !in_v) {
        EXPECT_EQ(img.get(x, y), kWhite) << x << "," << y;
      }
    }

  Image unknown(20, 20), question(20, 20);
  draw_text(unknown, 2, 2, "\x01", kBlack);
  draw_text(question, 2, 2, "?", kBlack);
  EXPECT_EQ(unknown.rgb(), question.rgb());
  EXPECT_NE(question.rgb(), Image(20, 20).rgb());
}

// ------------------------------------------------------------------ axes
TEST(ChartAxis, LinearAndLogMapping) {
  Axis lin;
  lin.lo = 0;
  lin.hi = 10;
  lin.pix_lo = 100;  // a y axis: larger values go up the screen
  lin.pix_hi = 0;
  EXPECT_DOUBLE_EQ(lin.to_pixel(0), 100);
  EXPECT_DOUBLE_EQ(lin.to_pixel(10), 0);
  EXPECT_DOUBLE_EQ(lin.to_pixel(2.5), 75);
  EXPECT_DOUBLE_EQ(lin.to_pixel(-5), 150);  // outside the range: not clamped
  EXPECT_TRUE(std::isnan(lin.to_pixel(kNaN)));
  EXPECT_TRUE(std::isnan(lin.to_pixel(kInf)));

  Axis lg;
  lg.lo = 1;
  lg.hi = 1000;
  lg.log = true;
  lg.pix_lo = 0;
  lg.pix_hi = 300;
  EXPECT_NEAR(lg.to_pixel(10), 100, 1e-9);
  EXPECT_NEAR(lg.to_pixel(100), 200, 1e-9);
  EXPECT_TRUE(std::isnan(lg.to_pixel(0)));
  EXPECT_TRUE(std::isnan(lg.to_pixel(-1)));
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::fabs(want[i])));
}

TEST(ChartAxis, NiceTicks) {
  Axis a;
  a.lo = 0;
  a.hi = 1;
  expect_ticks(nice_ticks(a, 5), {0, 0.2, 0.4, 0.6, 0.8, 1});
  a.lo = 3;
  a.hi = 47;
  expect_ticks(nice_ticks(a, 5), {10, 20, 30, 40});
  a.lo = -0.013;
  a.hi = 0.021;
  expect_ticks(nice_ticks(a, 6), {-0.01, 0, 0.01, 0.02});
  EXPECT_FALSE(std::signbit(nice_ticks(a, 6)[1]));  // a zero tick is +0 (never printed "-0")

  a.log = true;
  a.lo = 1;
  a.hi = 1e4;
  expect_ticks(nice_ticks(a, 8), {1, 10, 100, 1000, 1e4});
  a.lo = 1e-8;
  a.hi = 1e8;  // 17 decades, at most 8 ticks: every third decade
  expect_ticks(nice_ticks(a, 8), {1e-8, 1e-5, 1e-2, 1e1, 1e4, 1e7});
  a.lo = 2;
  a.hi = 9;  // no power of ten inside: linear ticks
  expect_ticks(nice_ticks(a, 5), {2, 4, 6, 8});

  a.lo = 5;
  a.hi = 5;
  EXPECT_TRUE(nice_ticks(a, 5).empty());
}

// ------------------------------------------------------------------ charts
CategoryChart accuracy_chart() {
  CategoryChart c;
  c.title = "accuracy per mode";
  c.x_label = "mode";
  c.y_label = "accuracy";
  c.categories = {"fp32", "0", "2-0"};
  c.series = {{"model A", {0.5, 0.4, 0.3}, {0.45, 0.35, 0.25}, {0.55, 0.45, 0.35}},
              {"model B", {0.2, 0.15, 0.1}, {}, {}}};
  c.y_min = 0;
  c.y_max = 1;
  return c;
}

TEST(CategoryChartRender, MarkersAndErrorBarsAtTheLayoutPositions) {
  const CategoryChart c = accuracy_chart();
  const Image img = render(c, 900, 600);
  const PlotFrame f = layout(c, Rect{0, 0, 900, 600});
  EXPECT_EQ(f.y.lo, 0);
  EXPECT_EQ(f.y.hi, 1);
  EXPECT_GT(f.plot.x, 0);
  EXPECT_GT(f.plot.y, 0);
  EXPECT_LT(f.plot.x + f.plot.w, 900);
  EXPECT_LT(f.plot.y + f.plot.h, 600);
  EXPECT_DOUBLE_EQ(f.y.to_pixel(0), f.plot.y + f.plot.h - 1);  // y = 0 on the plot's bottom row
  EXPECT_DOUBLE_EQ(f.y.to_pixel(1), f.plot.y);

  for (size_t s = 0; s < 2; ++s)
    for (size_t i = 0; i < 3; ++i) {
      const int x = round_px(f.x.to_pixel(category_x(i, s, 2)));
      const int y = round_px(f.y.to_pixel(c.series[s].value[i]));
      EXPECT_EQ(img.get(x, y), series_color(s)) << "series " << s << " category " << i << " at " << x << "," << y
                                                 << ": " << str(img.get(x, y));
    }
  // Series side by side within a category, categories left to right.
  EXPECT_LT(category_x(0, 0, 2), category_x(0, 1, 2));
  EXPECT_LT(category_x(0, 1, 2), category_x(1, 0, 2));
  EXPECT_EQ(category_x(4, 0, 1), 4.0);
  for (size_t n = 1; n <= 10; ++n)
    for (size_t s = 0; s < n; ++s) EXPECT_LT(std::fabs(category_x(7, s, n) - 7), 0.4) << s << " of " << n;

  // Error bar of series 0, category 1: the caps at lo and hi and the stem between marker and cap.
  const int x = round_px(f.x.to_pixel(category_x(1, 0, 2)));
  EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(0.45))), series_color(0));
  EXPECT_EQ(img.get(x + 3, round_px(f.y.to_pixel(0.45))), series_color(0));
  EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(0.35))), series_color(0));
  EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(0.43))), series_color(0));
  EXPECT_NE(img.get(x, round_px(f.y.to_pixel(0.6))), series_color(0));  // above the interval

  for (auto [cx, cy] : {std::pair{0, 0}, {899, 0}, {0, 599}, {899, 599}}) EXPECT_EQ(img.get(cx, cy), kWhite);
  // Legend: both series' samples above the plot area, in their colours.
  for (size_t s = 0; s < 2; ++s) EXPECT_TRUE(contains_color(img, Rect{0, 0, 900, f.plot.y - 1}, series_color(s)));
}

TEST(CategoryChartRender, SkipsValuesALogAxisCannotShow) {
  CategoryChart c;
  c.categories = {"a", "b", "c", "d", "e", "f"};
  c.series = {{"", {10, 0, -5, kNaN, kInf, 100}, {}, {}}, {"empty", {}, {}, {}}};
  c.log_y = true;
  const Image img = render(c, 900, 600);
  const PlotFrame f = layout(c, Rect{0, 0, 900, 600});
  // Automatic range from the drawable values 10 and 100 only, padded.
  EXPECT_GT(f.y.lo, 5);
  EXPECT_LT(f.y.lo, 10);
  EXPECT_GT(f.y.hi, 100);
  EXPECT_LT(f.y.hi, 200);
  for (size_t i = 0; i < c.categories.size(); ++i) {
    const int x = round_px(f.x.to_pixel(category_x(i, 0, 2)));
    const bool drawable = i == 0 || i == 5;
    EXPECT_EQ(contains_color(img, Rect{x - 6, f.plot.y, 13, f.plot.h}, series_color(0)), drawable) << i;
    if (drawable) {
      EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(c.series[0].value[i]))), series_color(0));
    }
  }
  // Unnamed series are not in the legend; the empty series is, and draws nothing in the plot.
  EXPECT_FALSE(contains_color(img, Rect{0, 0, 900, f.plot.y - 1}, series_color(0)));
  EXPECT_TRUE(contains_color(img, Rect{0, 0, 900, f.plot.y - 1}, series_color(1)));
  EXPECT_FALSE(contains_color(img, f.plot, series_color(1)));

  CategoryChart nothing;
  EXPECT_NO_THROW(render(nothing, 300, 200));
}

TEST(CategoryChartRender, LogIntervalReachingZeroRunsToTheBottom) {
  CategoryChart c;
  c.categories = {"m"};
  c.series = {{"s", {50}, {0}, {80}}};
  c.log_y = true;
  c.y_min = 10;
  c.y_max = 1000;
  const Image img = render(c, 400, 300);
  const PlotFrame f = layout(c, Rect{0, 0, 400, 300});
  const int x = round_px(f.x.to_pixel(0));
  EXPECT_EQ(img.get(x, f.plot.y + f.plot.h - 1), series_color(0));
  EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(80))), series_color(0));
  EXPECT_NE(img.get(x, round_px(f.y.to_pixel(200))), series_color(0));
}

TEST(CategoryChartRender, BarsGrowFromZero) {
  CategoryChart c = accuracy_chart();
  c.bars = true;
  const Image img = render(c, 900, 600);
  const PlotFrame f = layout(c, Rect{0, 0, 900, 600});
  const int x = round_px(f.x.to_pixel(category_x(2, 1, 2)));
  for (double v : {0.01, 0.05, 0.095}) EXPECT_EQ(img.get(x, round_px(f.y.to_pixel(v))), series_color(1)) << v;
  EXPECT_NE(img.get(x, round_px(f.y.to_pixel(0.12))), series_color(1));
}

TEST(CategoryChartRender, PanelsStackTopToBottom) {
  const CategoryChart acc = accuracy_chart();
  CategoryChart ppl;
  ppl.title = "perplexity per mode";
  ppl.categories = acc.categories;
  ppl.series = {{"model A", {20, 300, 4000}, {18, 250, 3000}, {23, 350, 5000}}};
  ppl.log_y = true;
  const Image img = render_panels({acc, ppl}, 900, 400);
  ASSERT_EQ(img.width(), 900);
  ASSERT_EQ(img.height(), 800);
  const PlotFrame top = layout(acc, Rect{0, 0, 900, 400});
  const PlotFrame bottom = layout(ppl, Rect{0, 400, 900, 400});
  EXPECT_LT(top.plot.y + top.plot.h, 400);
  EXPECT_GT(bottom.plot.y, 400);
  EXPECT_EQ(img.get(round_px(top.x.to_pixel(category_x(0, 0, 2))), round_px(top.y.to_pixel(0.5))), series_color(0));
  for (size_t i = 0; i < 3; ++i) {
    const int x = round_px(bottom.x.to_pixel(category_x(i, 0, 1)));
    EXPECT_EQ(img.get(x, round_px(bottom.y.to_pixel(ppl.series[0].value[i]))), series_color(0)) << i;
  }
  // Decades on the log axis: equal value ratios, equal screen distances.
  EXPECT_NEAR(bottom.y.to_pixel(10) - bottom.y.to_pixel(100), bottom.y.to_pixel(100) - bottom.y.to_pixel(1000), 1e-9);

  // The whole image through the file format and back.
  const std::vector<uint8_t> png = encode_png(img);
  const Decoded d = decode_png(png);
  EXPECT_EQ(d.rgb, img.rgb());
  EXPECT_LT(png.size(), img.rgb().size() / 20);
}

TEST(CategoryChartRender, RejectsInconsistentData) {
  CategoryChart c = accuracy_chart();
  c.series[0].value.push_back(0.2);
  EXPECT_THROW(render(c), std::invalid_argument);
  c = accuracy_chart();
  c.series[1].lo = {0, 0, 0};  // lower bounds without upper bounds
  EXPECT_THROW(layout(c, Rect{0, 0, 900, 600}), std::invalid_argument);
  c = accuracy_chart();
  c.log_y = true;  // y_min 0 on a log axis
  EXPECT_THROW(render(c), std::invalid_argument);
  c = accuracy_chart();
  c.y_min = 2;
  EXPECT_THROW(render(c), std::invalid_argument);
  c.y_max = kAuto;  // only y_min given, above the data: the automatic end moves past it
  const PlotFrame f = layout(c, Rect{0, 0, 900, 600});
  EXPECT_EQ(f.y.lo, 2);
  EXPECT_GT(f.y.hi, 2);
}

TEST(LineChartRender, MarkersPolylinesGapsAndLegend) {
  LineChart c;
  c.title = "NMSE per op";
  c.x_label = "layer";
  c.y_label = "NMSE";
  c.series = {{"in_proj", {}, {1, 1, 2, 3}},           // x = 0, 1, 2, 3
              {"out_proj", {0, 1.5, 3}, {8, 9, 10}},
              {"gap", {}, {5, kNaN, 5, 5}}};
  c.y_min = 0;
  c.y_max = 11;
  const Image img = render(c, 900, 600);
  const PlotFrame f = layout(c, Rect{0, 0, 900, 600});
  EXPECT_LT(f.x.lo, 0);  // padded automatic x range
  EXPECT_GT(f.x.hi, 3);
  for (size_t s = 0; s < 2; ++s) {
    const LineSeries& ser = c.series[s];
    for (size_t i = 0; i < ser.y.size(); ++i) {
      const double xv = ser.x.empty() ? static_cast<double>(i) : ser.x[i];
      const int x = round_px(f.x.to_pixel(xv)), y = round_px(f.y.to_pixel(ser.y[i]));
      EXPECT_EQ(img.get(x, y), series_color(s)) << s << "/" << i << ": " << str(img.get(x, y));
    }
  }
  // The polyline of in_proj between its two points at y = 1.
  const int y1 = round_px(f.y.to_pixel(1));
  EXPECT_EQ(img.get(round_px(f.x.to_pixel(0.5)), y1), series_color(0));
  // "gap": no segment into or out of the NaN point, a segment between the last two points.
  const int y5 = round_px(f.y.to_pixel(5));
  EXPECT_FALSE(contains_color(img, Rect{round_px(f.x.to_pixel(0.3)), y5 - 3, round_px(f.x.to_pixel(1.7)) -
                                                                                round_px(f.x.to_pixel(0.3)), 7},
                              series_color(2)));
  EXPECT_EQ(img.get(round_px(f.x.to_pixel(2.5)), y5), series_color(2));
  for (size_t s = 0; s < 3; ++s) EXPECT_TRUE(contains_color(img, Rect{0, 0, 900, f.plot.y - 1}, series_color(s)));

  LineChart mismatch;
  mismatch.series = {{"bad", {0, 1}, {1, 2, 3}}};
  EXPECT_THROW(render(mismatch), std::invalid_argument);
}

TEST(LineChartRender, LogAxisFarOutOfRangeValuesAreClipped) {
  LineChart c;
  c.series = {{"", {}, {1e-3, 1e300, 1e-2, 1e-300}}};  // unnamed: no legend sample
  c.log_y = true;
  c.y_min = 1e-4;
  c.y_max = 1;
  const Image img = render(c, 600, 400);
  const PlotFrame f = layout(c, Rect{0, 0, 600, 400});
  EXPECT_EQ(img.get(round_px(f.x.to_pixel(0)), round_px(f.y.to_pixel(1e-3))), series_color(0));
  EXPECT_EQ(img.get(round_px(f.x.to_pixel(2)), round_px(f.y.to_pixel(1e-2))), series_color(0));
  // Segments towards 1e300 and 1e-300 are clipped to the plot area: no series pixel outside it.
  Image outside = img;
  for (int y = f.plot.y; y < f.plot.y + f.plot.h; ++y)
    for (int x = f.plot.x; x < f.plot.x + f.plot.w; ++x) outside.set(x, y, kWhite);
  EXPECT_FALSE(contains_color(outside, Rect{0, 0, 600, 400}, series_color(0)));
}

}  // namespace
