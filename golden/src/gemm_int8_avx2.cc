// INT8 GEMM, AVX2 variant, on weights packed as in PackedWeightsS8. vpmaddubsw would saturate
// to int16, so both operands are sign-extended to int16 and multiplied with vpmaddwd: each pair
// sum is at most 2 * 128 * 128 = 2^15 in magnitude, exact in the int32 lane.
#include "qmsim/golden/gemm_int8.h"

#if defined(__AVX2__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "qmsim/golden/parallel.h"

namespace qmsim {
namespace golden {
namespace gemm_int8_detail {
namespace {

constexpr int kBlockColumns = 16;
constexpr int kGroupBytes = 64;  // one packed group: 16 columns x 4 k
constexpr int kHalfColumns = 8;  // micro-tile: 8 columns (half a packed block) ...
constexpr int kRows = 4;         // ... x 4 rows of A: 8 accumulators (16 ymm registers in all)

// 16 int8 at p, sign-extended to 16 int16.
inline __m256i load_int8_as_int16(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// C[MR rows, 8 columns]. a: A as int16 (stride lda); half: the 32 bytes of each group that hold
// columns 8h..8h+7 (stride 64). Lane layout after vpmaddwd on 4 columns x 4 k:
// [c0 k0+k1, c0 k2+k3, c1 k0+k1, c1 k2+k3 | c2 .., c3 ..]; the pairs are added at the end.
template <int MR>
void avx2_tile(const int16_t* a, int64_t lda, const int8_t* half, int groups, int32_t* c,
               int64_t ldc, int columns) {
  __m256i acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  for (int g = 0; g < groups; ++g) {
    const int8_t* w = half + int64_t{g} * kGroupBytes;
    const __m256i w_low = load_int8_as_int16(w);
    const __m256i w_high = load_int8_as_int16(w + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int64_t a4;  // a[k..k+3] as int16
      std::memcpy(&a4, a + i * lda + 4 * g, sizeof a4);
      const __m256i a_broadcast = _mm256_set1_epi64x(a4);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(a_broadcast, w_low));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(a_broadcast, w_high));
    }
  }
  const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(columns),
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    // hadd: [c0 c1 c4 c5 | c2 c3 c6 c7] -> permute -> c0..c7
    const __m256i sums =
        _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][0], acc[i][1]), 0xD8);
    _mm256_maskstore_epi32(c + i * ldc, valid, sums);
  }
}

using Avx2TileFn = void (*)(const int16_t*, int64_t, const int8_t*, int, int32_t*, int64_t, int);

template <size_t... I>
constexpr std::array<Avx2TileFn, sizeof...(I)> avx2_table(std::index_sequence<I...>) {
  return {{&avx2_tile<static_cast<int>(I) + 1>...}};
}
constexpr auto kAvx2Tiles = avx2_table(std::make_index_sequence<kRows>());

}  // namespace

void gemm_packed_avx2(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C, int threads) {
  const int K = W.k, N = W.n;
  const int groups = (K + 3) / 4, lda = groups * 4;
  // A as int16 [M, lda], zero padded (the padding also meets zero weights).
  thread_local std::vector<int16_t> a_buffer;
  if (a_buffer.size() < size_t(M) * size_t(lda)) a_buffer.resize(size_t(M) * size_t(lda));
  int16_t* a16 = a_buffer.data();
  for (int m = 0; m < M; ++m) {
    const int8_t* src = A + int64_t{m} * K;
    int16_t* dst = a16 + int64_t{m} * lda;
    int k = 0;
    for (; k + 16 <= K; k += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), load_int8_as_int16(src + k));
    }
    for (; k < K; ++k) dst[k] = src[k];
    for (; k < lda; ++k) dst[k] = 0;
  }

  const int halves = (N + kHalfColumns - 1) / kHalfColumns;
  const int64_t block_stride = int64_t{W.k_padded} * kBlockColumns;
  const int64_t m_chunks = (M + kRows - 1) / kRows;
  parallel_for(int64_t{halves} * m_chunks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const auto [column_chunk, row_chunk] = tile_index(t, halves, m_chunks, threads);
      const int h = static_cast<int>(column_chunk), m = static_cast<int>(row_chunk) * kRows;
      const int mr = std::min(kRows, M - m), n = h * kHalfColumns;
      const int8_t* half = W.data.get() + (h / 2) * block_stride + (h % 2) * 32;
      kAvx2Tiles[mr - 1](a16 + int64_t{m} * lda, lda, half, groups, C + int64_t{m} * N + n, N,
                         N - n);
    }
  });
}

}  // namespace gemm_int8_detail
}  // namespace golden
}  // namespace qmsim

#endif  // __AVX2__
