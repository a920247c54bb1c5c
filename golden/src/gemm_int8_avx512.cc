// INT8 GEMM, AVX-512 VNNI and AMX-INT8 variants, on weights packed as in PackedWeightsS8 (16
// columns x 4 k per 64-byte group). Compiled with the AVX-512 flags (golden/CMakeLists.txt);
// AMX code gets its ISA from a target attribute. Exact: every sum is a wrapping 32-bit sum.
#include "qmsim/golden/gemm_int8.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own _mm512_undefined_* (GCC
// PR105593); the warning is about the header, not this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "qmsim/golden/parallel.h"

namespace qmsim {
namespace golden {
namespace gemm_int8_detail {
namespace {

constexpr int kBlockColumns = 16;
constexpr int kGroupBytes = 64;             // one packed group: 16 columns x 4 k
constexpr int kVnniRows = 6;                // micro-tile: 6 rows of A ...
constexpr int kVnniBlocks = 4;              // ... x 4 packed blocks (64 columns): 24 accumulators
constexpr int kTileRows = 16;               // AMX tile: 16 rows x 64 bytes
constexpr int kTileBytes = 64;
constexpr int kAmxTilesM = 2, kAmxTilesN = 2;  // AMX block: 2 x 2 C tiles (32 x 32)

inline __mmask64 byte_mask(int64_t count) {
  return count >= 64 ? ~__mmask64{0} : _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(count));
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct alignas(64) CacheLine {
  int8_t bytes[64];
};

// Scratch of the calling thread, reused across calls (read by the workers of that call).
template <class T>
T* scratch(std::vector<T>& buffer, size_t count) {
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI. vpdpbusd multiplies u8 by s8, so A goes in as A + 128 (A xor 0x80) and
//   sum_k (A + 128) W = sum_k A W + 128 sum_k W,
// corrected by the packed 128 * row sums of W (mod 2^32, as the accumulator wraps).

// acc += a_u8 . w_s8 (vpdpbusd). Inline asm: with the intrinsic GCC 12 routes every accumulator
// through extra register copies and stack spills in the register-blocked tile below.
inline void dot_accumulate(__m512i& acc, __m512i a_u8, __m512i w_s8) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a_u8), "v"(w_s8));
}

// C[MR rows, NR blocks] from A_u8 rows (stride lda) and NR packed blocks (stride block_stride).
template <int MR, int NR>
void vnni_tile(const uint8_t* a, int64_t lda, const int8_t* blocks, int64_t block_stride,
               int groups, const int32_t* row_sums, int32_t* c, int64_t ldc, int columns) {
  __m512i acc[MR][NR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_si512();
  }
  for (int g = 0; g < groups; ++g) {
    __m512i w[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      w[j] = _mm512_load_si512(blocks + j * block_stride + int64_t{g} * kGroupBytes);
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512i a_broadcast =
          _mm512_set1_epi32(static_cast<int>(load_u32(a + i * lda + 4 * g)));
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) dot_accumulate(acc[i][j], a_broadcast, w[j]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < NR; ++j) {
    const __m512i correction = _mm512_loadu_si512(row_sums + j * kBlockColumns);
    const int valid = columns - j * kBlockColumns;
    const __mmask16 mask = valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      _mm512_mask_storeu_epi32(c + i * ldc + j * kBlockColumns, mask,
                               _mm512_sub_epi32(acc[i][j], correction));
    }
  }
}

using VnniTileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int64_t, int, const int32_t*,
                            int32_t*, int64_t, int);

template <int MR, size_t... J>
constexpr std::array<VnniTileFn, sizeof...(J)> vnni_row(std::index_sequence<J...>) {
  return {{&vnni_tile<MR, static_cast<int>(J) + 1>...}};
}
template <size_t... I>
constexpr std::array<std::array<VnniTileFn, kVnniBlocks>, sizeof...(I)> vnni_table(
    std::index_sequence<I...>) {
  return {{vnni_row<static_cast<int>(I) + 1>(std::make_index_sequence<kVnniBlocks>())...}};
}
constexpr auto kVnniTiles = vnni_table(std::make_index_sequence<kVnniRows>());

// A_u8 [M, lda]: A xor 0x80, lda = K rounded up to 4; the padding meets zero weights.
void offset_activations(int M, int K, int lda, const int8_t* A, uint8_t* out) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int m = 0; m < M; ++m) {
    const int8_t* src = A + int64_t{m} * K;
    uint8_t* dst = out + int64_t{m} * lda;
    for (int k = 0; k < lda; k += 64) {
      const __m512i v = _mm512_maskz_loadu_epi8(byte_mask(K - k), src + k);
      _mm512_mask_storeu_epi8(dst + k, byte_mask(lda - k), _mm512_xor_si512(v, flip));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AMX-INT8: tdpbssd (s8 x s8 -> s32, wrapping) on 16 x 16 C tiles. Tiles 0-3: C, 4-5: A, 6-7: W.
// The packed blocks are the B-tile layout: 16 rows of (16 columns x 4 k) per 64 k.

#define QMSIM_AMX_TARGET __attribute__((target("amx-tile,amx-int8")))

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};

constexpr int64_t kTileSize = int64_t{kTileRows} * kTileBytes;  // 1 KiB

// Stores C tile `tile` (0-3; tile numbers must be literals in the instruction).
QMSIM_AMX_TARGET inline void store_tile(int tile, int32_t* dst, int64_t stride_bytes) {
  switch (tile) {
    case 0: _tile_stored(0, dst, stride_bytes); break;
    case 1: _tile_stored(1, dst, stride_bytes); break;
    case 2: _tile_stored(2, dst, stride_bytes); break;
    default: _tile_stored(3, dst, stride_bytes); break;
  }
}

// A full tile goes straight to C, a partial one through a buffer.
QMSIM_AMX_TARGET void store_c_tile(int tile, int32_t* dst, int64_t ldc, int rows, int columns) {
  if (rows >= kTileRows && columns >= kBlockColumns) {
    store_tile(tile, dst, ldc * int64_t{sizeof(int32_t)});
    return;
  }
  alignas(64) int32_t buffer[kTileRows * kBlockColumns];
  store_tile(tile, buffer, int64_t{kBlockColumns * sizeof(int32_t)});
  rows = std::min(rows, kTileRows);
  columns = std::min(columns, kBlockColumns);
  for (int r = 0; r < rows; ++r) {
    std::memcpy(dst + r * ldc, buffer + r * kBlockColumns, sizeof(int32_t) * size_t(columns));
  }
}

// C[16 TM rows, 16 TN columns] from TM A row tiles (`a[i]`: its chunks of 64 k, 1 KiB apart) and
// TN packed blocks (`block_stride` apart).
template <int TM, int TN>
QMSIM_AMX_TARGET void amx_block(const int8_t* const* a, const int8_t* blocks, int64_t block_stride,
                                int chunks, int32_t* c, int64_t ldc, int valid_rows,
                                int valid_columns) {
  _tile_zero(0);
  if (TN == 2) _tile_zero(1);
  if (TM == 2) _tile_zero(2);
  if (TM == 2 && TN == 2) _tile_zero(3);
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const int8_t* b = blocks + chunk * kTileSize;
    _tile_loadd(4, a[0] + chunk * kTileSize, kTileBytes);
    _tile_loadd(6, b, kTileBytes);
    _tile_dpbssd(0, 4, 6);
    if (TN == 2) {
      _tile_loadd(7, b + block_stride, kTileBytes);
      _tile_dpbssd(1, 4, 7);
    }
    if (TM == 2) {
      _tile_loadd(5, a[1] + chunk * kTileSize, kTileBytes);
      _tile_dpbssd(2, 5, 6);
      if (TN == 2) _tile_dpbssd(3, 5, 7);
    }
  }
  store_c_tile(0, c, ldc, valid_rows, valid_columns);
  if (TN == 2) store_c_tile(1, c + kBlockColumns, ldc, valid_rows, valid_columns - kBlockColumns);
  if (TM == 2) {
    int32_t* c_low = c + int64_t{kTileRows} * ldc;
    store_c_tile(2, c_low, ldc, valid_rows - kTileRows, valid_columns);
    if (TN == 2) {
      store_c_tile(3, c_low + kBlockColumns, ldc, valid_rows - kTileRows,
                   valid_columns - kBlockColumns);
    }
  }
}

QMSIM_AMX_TARGET void amx_configure() {
  TileConfig config;
  std::memset(&config, 0, sizeof config);
  config.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = kTileRows;
    config.bytes_per_row[t] = kTileBytes;
  }
  // Not _tile_loadconfig: GCC 12 declares its operand as 8 bytes and drops the other stores.
  __asm__ volatile("ldtilecfg %0" : : "m"(config));
}

QMSIM_AMX_TARGET void amx_release() { _tile_release(); }

}  // namespace

// ---------------------------------------------------------------------------------------------

void gemm_packed_avx512(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C,
                        int threads) {
  const int K = W.k, N = W.n;
  const int groups = (K + 3) / 4, lda = groups * 4;
  thread_local std::vector<uint8_t> a_buffer;
  uint8_t* a_u8 = scratch(a_buffer, size_t(M) * size_t(lda));
  offset_activations(M, K, lda, A, a_u8);

  const int blocks = W.n_padded / kBlockColumns;
  const int64_t block_stride = int64_t{W.k_padded} * kBlockColumns;
  const int64_t n_chunks = (blocks + kVnniBlocks - 1) / kVnniBlocks;
  const int64_t m_chunks = (M + kVnniRows - 1) / kVnniRows;
  parallel_for(n_chunks * m_chunks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const auto [nc, mc] = tile_index(t, n_chunks, m_chunks, threads);
      const int nb = static_cast<int>(nc) * kVnniBlocks, m = static_cast<int>(mc) * kVnniRows;
      const int nr = std::min(kVnniBlocks, blocks - nb), mr = std::min(kVnniRows, M - m);
      const int n = nb * kBlockColumns;
      kVnniTiles[mr - 1][nr - 1](a_u8 + int64_t{m} * lda, lda, W.data.get() + nb * block_stride,
                                 block_stride, groups, W.row_sum_times_128.get() + n,
                                 C + int64_t{m} * N + n, N, N - n);
    }
  });
}

void gemm_packed_amx(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C, int threads) {
  const int K = W.k, N = W.n, k_padded = W.k_padded;
  // A in tile order, zero padded: [row tile][64-k chunk][16 rows][64 bytes], so that every tile
  // load reads 1 KiB in a row.
  const int row_tiles = (M + kTileRows - 1) / kTileRows;
  const int chunks = k_padded / kTileBytes;
  thread_local std::vector<CacheLine> a_buffer;
  int8_t* a_tiles = scratch(a_buffer, size_t(row_tiles) * size_t(chunks) * kTileRows)->bytes;
  for (int m = 0; m < row_tiles * kTileRows; ++m) {
    const int8_t* src = A + int64_t{m} * K;
    int8_t* dst = a_tiles + (m / kTileRows) * chunks * kTileSize + (m % kTileRows) * kTileBytes;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      const int k = chunk * kTileBytes;
      const __m512i v = m < M ? _mm512_maskz_loadu_epi8(byte_mask(K - k), src + k)
                              : _mm512_setzero_si512();
      _mm512_store_si512(dst + chunk * kTileSize, v);
    }
  }
  auto a_tile = [&](int tile) { return a_tiles + tile * chunks * kTileSize; };

  const int blocks = W.n_padded / kBlockColumns;
  const int64_t block_stride = int64_t{k_padded} * kBlockColumns;
  const int64_t n_chunks = (blocks + kAmxTilesN - 1) / kAmxTilesN;
  const int64_t m_chunks = (row_tiles + kAmxTilesM - 1) / kAmxTilesM;
  parallel_for(n_chunks * m_chunks, threads, [&](int64_t begin, int64_t end) {
    amx_configure();  // tile configuration is per thread
    for (int64_t t = begin; t < end; ++t) {
      const auto [nc, mc] = tile_index(t, n_chunks, m_chunks, threads);
      const int nb = static_cast<int>(nc) * kAmxTilesN, tile = static_cast<int>(mc) * kAmxTilesM;
      const int tn = std::min(kAmxTilesN, blocks - nb), tm = std::min(kAmxTilesM, row_tiles - tile);
      const int8_t* const a[2] = {a_tile(tile), a_tile(std::min(tile + 1, row_tiles - 1))};
      const int m = tile * kTileRows, n = nb * kBlockColumns;
      const int8_t* b = W.data.get() + nb * block_stride;
      int32_t* c = C + int64_t{m} * N + n;
      if (tm == 2 && tn == 2) {
        amx_block<2, 2>(a, b, block_stride, chunks, c, N, M - m, N - n);
      } else if (tm == 2) {
        amx_block<2, 1>(a, b, block_stride, chunks, c, N, M - m, N - n);
      } else if (tn == 2) {
        amx_block<1, 2>(a, b, block_stride, chunks, c, N, M - m, N - n);
      } else {
        amx_block<1, 1>(a, b, block_stride, chunks, c, N, M - m, N - n);
      }
    }
    amx_release();
  });
}

// 16 x 16 transpose of 32-bit lanes: rows[j] (column j of W, 16 k groups) -> rows[g] (group g
// of 16 columns).
static void transpose_16x16_epi32(__m512i rows[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[4i + q], 128-bit lane L: element 4L + q of rows 4i..4i+3.
  for (int q = 0; q < 4; ++q) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x88);
    const __m512i v1 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xDD);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x88);
    const __m512i v3 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xDD);
    rows[0 + q] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    rows[4 + q] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    rows[8 + q] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    rows[12 + q] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

void pack_blocks_avx512(int N, int K, int k_padded, const int8_t* W, int8_t* data,
                        int32_t* row_sums, int nb_begin, int nb_end) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int nb = nb_begin; nb < nb_end; ++nb) {
    int8_t* block = data + int64_t{nb} * k_padded * kBlockColumns;
    const int columns = std::min(kBlockColumns, N - nb * kBlockColumns);
    __m512i sums[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // lane j: column j
    for (int k = 0; k < k_padded; k += 64) {
      const __mmask64 mask = K > k ? byte_mask(K - k) : __mmask64{0};
      __m512i rows[16];
      for (int j = 0; j < 16; ++j) {
        rows[j] = j < columns ? _mm512_maskz_loadu_epi8(mask, W + int64_t{nb * 16 + j} * K + k)
                              : _mm512_setzero_si512();
      }
      transpose_16x16_epi32(rows);
      for (int g = 0; g < 16; ++g) {
        _mm512_store_si512(block + int64_t{k} * 16 + g * 64, rows[g]);
        dot_accumulate(sums[g % 2], ones, rows[g]);
      }
    }
    // 128 * row sum, modulo 2^32.
    _mm512_storeu_si512(row_sums + nb * kBlockColumns,
                        _mm512_slli_epi32(_mm512_add_epi32(sums[0], sums[1]), 7));
  }
}

bool amx_usable() {
  static const bool usable = [] {
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-int8")) return false;
#if defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

}  // namespace gemm_int8_detail
}  // namespace golden
}  // namespace qmsim

#endif  // AVX-512 VNNI
