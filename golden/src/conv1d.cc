// Causal depthwise conv1d + SiLU + RNA requantization (spec §2.5, golden rules §5.8).
#include "qmsim/golden/conv1d.h"

#include <cstddef>
#include <cstdlib>
#include <string>

#include "kernels_avx512.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

#if defined(QMSIM_X86_DISPATCH)
namespace conv_avx512_detail {
void conv_blocks_avx512(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                        const Conv1dScales& s, int8_t* out, float* v_out, int64_t block_begin, int64_t block_end);
}
#endif

namespace {
// Channels [e0, e1): the readable definition (spec §2.5 with §5.8).
void conv_channels_scalar(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                          const Conv1dScales& s, int8_t* out, float* v_out, int64_t e0, int64_t e1) {
  const float scale_wx = s.weight_scale * s.input_scale;  // spec §2.5: swx = fl32(w_c·s_xz)
  for (int64_t e = e0; e < e1; ++e) {
    const float bias_f = static_cast<float>(bias != nullptr ? bias[e] : 0) * s.bias_scale;  // spec §2.5
    for (int t = 0; t < L; ++t) {
      int32_t acc = 0;  // |acc| <= K·128·128: exact
      for (int k = 0; k < K; ++k) {
        const int src = t - (K - 1) + k;  // spec §1.3 (a): k = K-1 multiplies the current token
        if (src >= 0) acc += static_cast<int32_t>(w[e * K + k]) * x[static_cast<size_t>(src) * E + e];
      }
      float v = num::fma_f32(scale_wx, num::i32_to_f32_rne(acc), bias_f);  // spec §2.5: one FMA
      v = num::silu_f32(v);                                                // spec §5.8: v / (1 + exp(-v))
      const size_t i = static_cast<size_t>(t) * E + e;
      if (v_out != nullptr) v_out[i] = v;                    // spec §4.2: TRUE FP32
      out[i] = num::quant_rna_sat8(v / s.output_scale);      // spec §2.5: RNA, saturate; §5.8 IEEE division
    }
  }
}
}  // namespace

void conv1d_silu_quant_ref(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                           const Conv1dScales& s, int8_t* out, float* v_out) {
  conv_channels_scalar(L, E, K, x, w, bias, s, out, v_out, 0, E);
}

void conv1d_silu_quant(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                       const Conv1dScales& s, int8_t* out, float* v_out, int threads) {
  auto scalar_channels = [&](int64_t e0, int64_t e1) { conv_channels_scalar(L, E, K, x, w, bias, s, out, v_out, e0, e1); };
#if defined(QMSIM_X86_DISPATCH)
  if (avx512::usable() && E >= 16 && K <= 8) {
    const int64_t blocks = E / 16;  // 16-channel vectors; the remainder takes the scalar loop
    parallel_for(blocks, threads, [&](int64_t b0, int64_t b1) {
      conv_avx512_detail::conv_blocks_avx512(L, E, K, x, w, bias, s, out, v_out, b0, b1);
    });
    scalar_channels(blocks * 16, E);
    return;
  }
#endif
  parallel_for(E, threads, scalar_channels);
}

}  // namespace golden
}  // namespace qmsim
