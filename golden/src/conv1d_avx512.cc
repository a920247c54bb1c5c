// conv1d + SiLU + requantization, AVX-512 variant: 16 channels per vector. Each lane performs the
// operations of conv1d_silu_quant in the same order (exact int32 taps, one FMA, SiLU with the
// vector exp_cr, IEEE divisions, the RNA quantizer of crmath_avx512.h).
#include <immintrin.h>

#include <cstdint>

#include "crmath_avx512.h"
#include "qmsim/golden/conv1d.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace conv_avx512_detail {

void conv_blocks_avx512(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                        const Conv1dScales& s, int8_t* out, float* v_out, int64_t block_begin, int64_t block_end) {
  constexpr int W = 16;
  const __m512 scale_wx = _mm512_set1_ps(s.weight_scale * s.input_scale);  // spec §2.5: fl32(w_c·s_xz)
  const __m512 out_scale = _mm512_set1_ps(s.output_scale);
  alignas(64) int32_t wk[8][W];
  for (int64_t b = block_begin; b < block_end; ++b) {
    const int e0 = static_cast<int>(b) * W;
    for (int k = 0; k < K; ++k)
      for (int i = 0; i < W; ++i) wk[k][i] = w[static_cast<size_t>(e0 + i) * K + k];
    alignas(64) float bias_f[W];
    for (int i = 0; i < W; ++i) bias_f[i] = static_cast<float>(bias != nullptr ? bias[e0 + i] : 0) * s.bias_scale;
    const __m512 vbias = _mm512_load_ps(bias_f);
    for (int t = 0; t < L; ++t) {
      __m512i acc = _mm512_setzero_si512();
      for (int k = 0; k < K; ++k) {
        const int src = t - (K - 1) + k;
        if (src < 0) continue;
        const __m512i xv = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + static_cast<size_t>(src) * E + e0)));
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xv, _mm512_load_si512(wk[k])));
      }
      __m512 v = _mm512_fmadd_ps(scale_wx, _mm512_cvtepi32_ps(acc), vbias);
      const __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), avx512::exp_cr_16(_mm512_xor_ps(v, _mm512_set1_ps(-0.0f))));
      v = _mm512_div_ps(v, den);
      const size_t i0 = static_cast<size_t>(t) * E + e0;
      if (v_out != nullptr) _mm512_storeu_ps(v_out + i0, v);
      // quant_rna_sat8(v / s_u) lane for lane
      avx512::store_i8(out + i0, avx512::clamp_int8_nan0(avx512::round_rna16(_mm512_div_ps(v, out_scale))));
    }
  }
}

}  // namespace conv_avx512_detail
}  // namespace golden
}  // namespace qmsim
