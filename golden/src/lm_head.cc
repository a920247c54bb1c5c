// lm_head (spec §2.11, golden rule §5.8): f16 × f16 products (exact in f32) accumulated in f32,
// ascending k, acc = fl32(acc + prod).
#include "qmsim/golden/lm_head.h"

#include "kernels_avx512.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

constexpr int kLanes = 16;  // outputs computed together; each lane keeps its own ascending-k sum

// f16 -> f32 for all 65536 codes (exact widening, num::f16_to_f32).
const std::vector<float>& f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = num::f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  return table;
}

float finish(float logit, bool f16_logits) { return f16_logits ? num::round_to_f16(logit) : logit; }

}  // namespace

void lm_head_f16_ref(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits,
                     float* logits) {
  for (int p = 0; p < P; ++p) {
    for (int v = 0; v < V; ++v) {
      float acc = 0.0f;
      for (int k = 0; k < D; ++k) {
        const float prod = num::f16_to_f32(y_f16[static_cast<size_t>(p) * D + k]) *
                           num::f16_to_f32(W_f16[static_cast<size_t>(v) * D + k]);  // exact in f32
        acc = acc + prod;                                                            // spec §5.8: ascending k
      }
      logits[static_cast<size_t>(p) * V + v] = finish(acc, f16_logits);  // §2.11: f16 logits (profile)
    }
  }
}

void lm_head_f16(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits, float* logits,
                 int threads) {
  const std::vector<float>& f16 = f16_table();
  std::vector<float> y(static_cast<size_t>(P) * D);
  for (size_t i = 0; i < y.size(); ++i) y[i] = f16[y_f16[i]];
  const int64_t blocks = (static_cast<int64_t>(V) + kLanes - 1) / kLanes;
  parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
    std::vector<float> tile(static_cast<size_t>(D) * kLanes);  // [k][lane] = f32(W[v0 + lane, k])
    for (int64_t b = b0; b < b1; ++b) {
      const int v0 = static_cast<int>(b) * kLanes;
      const int lanes = std::min(kLanes, V - v0);
      for (int i = 0; i < kLanes; ++i)
        for (int k = 0; k < D; ++k)
          tile[static_cast<size_t>(k) * kLanes + i] = i < lanes ? f16[W_f16[static_cast<size_t>(v0 + i) * D + k]] : 0.0f;
      for (int p = 0; p < P; ++p) {
        const float* yp = y.data() + static_cast<size_t>(p) * D;
        float acc[kLanes] = {};
        for (int k = 0; k < D; ++k) {
          const float yk = yp[k];
          const float* wk = tile.data() + static_cast<size_t>(k) * kLanes;
          for (int i = 0; i < kLanes; ++i) acc[i] = acc[i] + yk * wk[i];  // exact product, then one rounding
        }
        for (int i = 0; i < lanes; ++i) logits[static_cast<size_t>(p) * V + v0 + i] = finish(acc[i], f16_logits);
      }
    }
  });
}

LmHeadTiles make_lm_head_tiles(int V, int D, const uint16_t* W_f16, int threads) {
  LmHeadTiles t;
  t.V = V;
  t.D = D;
  const int64_t blocks = (static_cast<int64_t>(V) + kLanes - 1) / kLanes;
  t.tiles.assign(static_cast<size_t>(blocks) * D * kLanes, 0);
  parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      uint16_t* tile = t.tiles.data() + static_cast<size_t>(b) * D * kLanes;
      const int v0 = static_cast<int>(b) * kLanes;
      const int lanes = std::min(kLanes, V - v0);
      for (int i = 0; i < lanes; ++i)
        for (int k = 0; k < D; ++k) tile[static_cast<size_t>(k) * kLanes + i] = W_f16[static_cast<size_t>(v0 + i) * D + k];
    }
  });
  return t;
}

void lm_head_tiles(int P, const uint16_t* y_f16, const LmHeadTiles& W, bool f16_logits, float* logits, int threads) {
  const std::vector<float>& f16 = f16_table();
  const int V = W.V, D = W.D;
  std::vector<float> y(static_cast<size_t>(P) * D);
  for (size_t i = 0; i < y.size(); ++i) y[i] = f16[y_f16[i]];
  const int64_t blocks = (static_cast<int64_t>(V) + kLanes - 1) / kLanes;
  parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
#if defined(QMSIM_X86_DISPATCH)
    if (avx512::usable()) {  // same sums lane for lane (kernels_avx512.h)
      avx512::lm_head_tiles_avx512(P, y.data(), D, V, W.tiles.data(), b0, b1, logits);
      if (f16_logits)
        for (int p = 0; p < P; ++p)
          for (int64_t v = b0 * kLanes; v < std::min<int64_t>(b1 * kLanes, V); ++v)
            logits[static_cast<size_t>(p) * V + v] = finish(logits[static_cast<size_t>(p) * V + v], true);
      return;
    }
#endif
    float wk[kLanes];
    for (int64_t b = b0; b < b1; ++b) {
      const uint16_t* tile = W.tiles.data() + static_cast<size_t>(b) * D * kLanes;
      const int v0 = static_cast<int>(b) * kLanes;
      const int lanes = std::min(kLanes, V - v0);
      for (int p = 0; p < P; ++p) {
        const float* yp = y.data() + static_cast<size_t>(p) * D;
        float acc[kLanes] = {};
        for (int k = 0; k < D; ++k) {
          const float yk = yp[k];
          for (int i = 0; i < kLanes; ++i) wk[i] = f16[tile[static_cast<size_t>(k) * kLanes + i]];
          for (int i = 0; i < kLanes; ++i) acc[i] = acc[i] + yk * wk[i];  // exact product, then one rounding
        }
        for (int i = 0; i < lanes; ++i) logits[static_cast<size_t>(p) * V + v0 + i] = finish(acc[i], f16_logits);
      }
    }
  });
}

}  // namespace golden
}  // namespace qmsim
