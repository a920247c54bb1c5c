// Dependency-free PNG charts for the qmsim CLI (no zlib, no Python): an RGB raster, a PNG encoder
// with its own small compressor (per-row adaptive filters, LZ77 + fixed-Huffman deflate), a 5x7
// bitmap font, line and rectangle drawing, and two chart types:
//   CategoryChart  categories on x (modes "fp32", "0", "2-0", ...), per series one value and an
//                  optional [lo, hi] interval per category (accuracy / perplexity with 95% CI);
//   LineChart      numeric x (layer index), named series of y values (NMSE per op over layers).
// Both take a title, axis labels, a legend (names of the series), linear or log10 y and an
// automatic or given y range; ticks are at "nice" steps (1, 2, 5 x 10^k, or decades on log axes).
// Values that cannot be drawn (NaN, +-inf, <= 0 on a log axis) are skipped; empty series are fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace qmsim {
namespace chart {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};
inline bool operator==(Rgb a, Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
inline bool operator!=(Rgb a, Rgb b) { return !(a == b); }

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};

/// Pixel rectangle: top-left corner (x, y), width w, height h.
struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

/// RGB raster, row-major, 3 bytes per pixel, (0, 0) top-left. Writes outside the image or outside
/// the clip rectangle are dropped, so drawing code never has to clip by hand.
class Image {
 public:
  /// Throws std::invalid_argument unless width, height >= 1 (PNG has no empty images).
  Image(int width, int height, Rgb fill = kWhite);
  int width() const { return width_; }
  int height() const { return height_; }
  /// Pixel at (x, y); throws std::out_of_range outside the image.
  Rgb get(int x, int y) const;
  void set(int x, int y, Rgb c);
  /// Restricts set() to `r` (intersected with the image); clear_clip() lifts it.
  void set_clip(Rect r);
  void clear_clip();
  /// Row-major RGB bytes, width * height * 3.
  const std::vector<uint8_t>& rgb() const { return rgb_; }

 private:
  int width_, height_;
  Rect clip_;
  std::vector<uint8_t> rgb_;
};

// ------------------------------------------------------------------ PNG
/// CRC-32 (IEEE 802.3, as in PNG and zlib); pass a previous result as `crc` to continue it.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);
/// Adler-32 (RFC 1950) of `data`.
uint32_t adler32(const uint8_t* data, size_t size);
/// The PNG file: 8-bit RGB, no interlace, one IDAT. Each row gets the filter (None, Sub, Up, Average
/// or Paeth) whose output has the smallest sum of |byte as int8|; the filtered data is one zlib
/// stream of deflate blocks that use the fixed Huffman codes (BTYPE 01) with LZ77 matches from a
/// 32 KiB window, or are stored (BTYPE 00, at most 65535 bytes each) where that is smaller, as for
/// noise. Never dynamic Huffman codes. Deterministic: equal images give equal bytes.
std::vector<uint8_t> encode_png(const Image& image);
/// Writes encode_png(image) to `path`; throws std::runtime_error naming the path on failure.
void write_png(const Image& image, const std::string& path);

// ------------------------------------------------------------------ drawing
/// Fills the rectangle (clipped to the image).
void fill_rect(Image& image, Rect r, Rgb c);
/// Bresenham line from (x0, y0) to (x1, y1) inclusive; thickness t paints a t x t square at each
/// step, from the line pixel towards +x and +y.
void draw_line(Image& image, int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
/// Filled disc of `radius` around (cx, cy).
void fill_circle(Image& image, int cx, int cy, int radius, Rgb c);

/// Embedded 5x7 font (ASCII 32..126; other bytes draw as '?'), each glyph scaled by `scale`
/// (integer pixel replication) in a 6x8 cell. Text size: text_width() x text_height().
int text_width(const std::string& text, int scale);
int text_height(int scale);
/// Draws `text` with its bounding box's top-left corner at (x, y). vertical = rotated 90 degrees
/// counter-clockwise (reads bottom to top, for y-axis labels): the box is then
/// text_height() wide and text_width() high.
void draw_text(Image& image, int x, int y, const std::string& text, Rgb c, int scale = 2, bool vertical = false);

// ------------------------------------------------------------------ axes
/// Maps data values of [lo, hi] (log10 spaced when `log`) onto screen coordinates [pix_lo, pix_hi].
/// Category charts use an x axis of [-0.5, n - 0.5], so category i sits at x value i.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double pix_lo = 0, pix_hi = 1;
  /// Screen coordinate of v (not rounded; may lie outside [pix_lo, pix_hi]); NaN for values that
  /// cannot be drawn (non-finite, or <= 0 on a log axis).
  double to_pixel(double v) const;
};

/// At most about max_ticks + 1 tick values inside [lo, hi]: multiples of 1, 2 or 5 x 10^k; on a
/// log axis spanning two or more decades, powers of ten (every k-th decade when there are many).
std::vector<double> nice_ticks(const Axis& axis, int max_ticks);

/// Where render() puts the plot area and its two axes inside `area` (used by tests and by anyone
/// who wants to annotate a rendered chart).
struct PlotFrame {
  Rect plot;
  Axis x, y;
};

/// Series colour i (a 10-colour palette, repeating).
Rgb series_color(size_t i);

// ------------------------------------------------------------------ charts
constexpr double kAuto = std::numeric_limits<double>::quiet_NaN();

struct CategorySeries {
  std::string name;           // legend entry (empty: not listed)
  std::vector<double> value;  // one per category, or empty (nothing drawn)
  std::vector<double> lo, hi; // error interval per category, or empty; NaN = no bar there
};

/// One point (or bar) per category and series, with error bars where [lo, hi] is given. Several
/// series are spread side by side inside each category's slot (category_x). An interval is drawn
/// even where its value is missing; on a log axis one with lo <= 0 reaches the bottom of the plot.
struct CategoryChart {
  std::string title, x_label, y_label;
  std::vector<std::string> categories;
  std::vector<CategorySeries> series;
  bool bars = false;  // bars from the baseline (0, or the bottom on log axes) instead of points
  bool log_y = false;
  double y_min = kAuto, y_max = kAuto;  // kAuto: from the data (values and intervals), padded
};

/// Data-space x of series `s` (of n_series) in category `category`: category +- a dodge offset.
double category_x(size_t category, size_t s, size_t n_series);

/// Numeric x, named series drawn as markers joined by a polyline (a skipped value breaks it).
struct LineSeries {
  std::string name;
  std::vector<double> x;  // empty: 0, 1, 2, ... (e.g. layer index)
  std::vector<double> y;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  bool log_y = false;
  double y_min = kAuto, y_max = kAuto;  // kAuto: from the data, padded; x is always automatic
};

/// Layout used by render() for a chart drawn into `area` of an image. Throws
/// std::invalid_argument for inconsistent data (vector lengths, a given log range <= 0, y_min >= y_max).
PlotFrame layout(const CategoryChart& chart, Rect area);
PlotFrame layout(const LineChart& chart, Rect area);

/// The chart on a white image of width x height.
Image render(const CategoryChart& chart, int width = 900, int height = 600);
Image render(const LineChart& chart, int width = 900, int height = 600);
/// Several category charts stacked top to bottom, panel i in Rect{0, i * panel_height, width,
/// panel_height} (e.g. accuracy above perplexity).
Image render_panels(const std::vector<CategoryChart>& panels, int width = 900, int panel_height = 450);

}  // namespace chart
}  // namespace qmsim
