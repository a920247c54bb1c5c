// lm_head (spec §2.11, golden rule §5.8): f16 × f16 products accumulated in f32.
#pragma once

#include <vector>

#include <cstdint>

namespace qmsim {
namespace golden {

/// logits[p, v] = Σ_k fl32(f32(y[p,k])·f32(W[v,k])) accumulated acc = fl32(acc + prod) in ascending
/// k from acc = 0 (each f16×f16 product is exact in f32). y_f16 [P, D], W_f16 [V, D] (f16 bits),
/// logits [P, V] f32; f16_logits (profile) rounds each logit to f16 (value kept as f32).
/// Vectorized over 16 outputs at a time from a transposed f32 tile; same bits as lm_head_f16_ref.
void lm_head_f16(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits, float* logits,
                 int threads);

/// The lm_head weights re-laid out once per model in 16-output tiles (f16 bits, widened exactly in
/// the kernel): tiles[(v/16)·D·16 + k·16 + v%16] = W[v, k] (zero-padded past V).
struct LmHeadTiles {
  int V = 0, D = 0;
  std::vector<uint16_t> tiles;
};
LmHeadTiles make_lm_head_tiles(int V, int D, const uint16_t* W_f16, int threads);
/// lm_head_f16 on pre-built tiles: same bits as lm_head_f16 / lm_head_f16_ref.
void lm_head_tiles(int P, const uint16_t* y_f16, const LmHeadTiles& W, bool f16_logits, float* logits, int threads);

/// Scalar reference of lm_head_f16 (one output at a time, single-threaded).
void lm_head_f16_ref(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits,
                     float* logits);

}  // namespace golden
}  // namespace qmsim
