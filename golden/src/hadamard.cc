// Hadamard transform and quantizer (QHadamard, spec §2.7; H_12 and golden rule §5.8).
#include "qmsim/golden/hadamard.h"

#include "kernels_avx512.h"

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

namespace {

bool is_pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }

// Returns the Sylvester block size 2^m and the number of H_12 blocks (12, or 1 for n = 2^m).
void split_size(int n, int* block, int* blocks) {
  if (is_pow2(n)) {
    *block = n;
    *blocks = 1;
  } else if (n % 12 == 0 && is_pow2(n / 12)) {
    *block = n / 12;
    *blocks = 12;
  } else {
    throw std::invalid_argument("hadamard: unsupported size " + std::to_string(n) + " (need 2^m or 12*2^m)");
  }
}

// Unnormalized transform in place, order of spec §2.7. Loops run over contiguous elements so the
// compiler vectorizes them; each element still sees exactly the spec's sequence of f32 adds.
void transform_in_place(float* v, int n) {
  int block = 0, blocks = 0;
  split_size(n, &block, &blocks);
  for (int c = 0; c < blocks; ++c) {  // stage 1: Sylvester butterflies, bit b ascending
    float* x = v + static_cast<size_t>(c) * block;
    for (int half = 1; half < block; half <<= 1) {
      for (int i0 = 0; i0 < block; i0 += 2 * half) {  // pairs (lo, lo | half) with bit `half` of lo clear
        float* lo = x + i0;
        float* hi = lo + half;
        for (int j = 0; j < half; ++j) {
          const float a = lo[j], b = hi[j];
          lo[j] = a + b;
          hi[j] = a - b;
        }
      }
    }
  }
  if (blocks == 1) return;
  // stage 2: H_12 per p, each 12-term sum left to right (first term carries its sign).
  thread_local std::vector<float> in;
  in.assign(v, v + n);
  for (int r = 0; r < 12; ++r) {
    float* out = v + static_cast<size_t>(r) * block;
    const float* i0 = in.data();
    if (kHadamard12[r][0] > 0) {
      for (int p = 0; p < block; ++p) out[p] = i0[p];
    } else {
      for (int p = 0; p < block; ++p) out[p] = -i0[p];
    }
    for (int c = 1; c < 12; ++c) {
      const float* ic = in.data() + static_cast<size_t>(c) * block;
      if (kHadamard12[r][c] > 0) {
        for (int p = 0; p < block; ++p) out[p] = out[p] + ic[p];
      } else {
        for (int p = 0; p < block; ++p) out[p] = out[p] - ic[p];
      }
    }
  }
}

}  // namespace

bool hadamard_size_supported(int n) { return is_pow2(n) || (n > 0 && n % 12 == 0 && is_pow2(n / 12)); }

void hadamard_transform_f32(const float* in, float* out, int n, bool normalize) {
  if (out != in)
    for (int j = 0; j < n; ++j) out[j] = in[j];
  transform_in_place(out, n);
  if (!normalize) return;
  const float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));  // f32 of 1/sqrt(n)
  for (int j = 0; j < n; ++j) out[j] = out[j] * norm;
}

float hadamard_quant_scale(int n, float s_y) {
  // spec §2.7: computed in f64 (Python), rounded once to f32.
  return static_cast<float>((1.0 / std::sqrt(static_cast<double>(n))) / static_cast<double>(s_y));
}

void hadamard_quant(int L, int n, const uint16_t* y_f16, float s_y, bool wrap, int8_t* out, int64_t* out_of_range,
                    int threads) {
  int block = 0, blocks = 0;
  split_size(n, &block, &blocks);  // throws for an unsupported n before any work
  const float scale_h = hadamard_quant_scale(n, s_y);
  std::vector<int64_t> counts(static_cast<size_t>(L > 0 ? L : 0), 0);
  parallel_for(L, threads, [&](int64_t t0, int64_t t1) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t t = t0; t < t1; ++t) {
      const size_t row = static_cast<size_t>(t) * n;
      for (int j = 0; j < n; ++j) v[j] = num::f16_to_f32(y_f16[row + j]);  // exact widening
      transform_in_place(v.data(), n);
#if defined(QMSIM_X86_DISPATCH)
      if (avx512::usable()) {  // same quantizer lane for lane (kernels_avx512.h)
        counts[static_cast<size_t>(t)] = avx512::quant_rna_row_avx512(v.data(), static_cast<size_t>(n), scale_h, wrap, out + row);
        continue;
      }
#endif
      for (int j = 0; j < n; ++j) {
        const float scaled = v[j] * scale_h;  // spec §2.7: one f32 multiply
        const int32_t rounded = num::f32_to_i32_sat(num::round_rna(scaled));
        if (rounded < num::kInt8Min || rounded > num::kInt8Max) ++counts[static_cast<size_t>(t)];
        // spec §5.8: sat8 (golden); §2.7: wrap8 under quamba-compat (= quant_rna_{sat,wrap}8(scaled)).
        out[row + j] = wrap ? num::wrap8(rounded) : num::sat8(rounded);
      }
    }
  });
  if (out_of_range != nullptr) {
    int64_t total = 0;
    for (int64_t c : counts) total += c;
    *out_of_range = total;
  }
}

}  // namespace golden
}  // namespace qmsim
