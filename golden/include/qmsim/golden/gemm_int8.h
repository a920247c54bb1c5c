// Exact INT8 GEMM of the golden model: int8 x int8 products summed in a 32-bit accumulator.
//
//   C[m][n] = sum_k A[m][k] * W[n][k]
//   A: activations [M, K] row-major int8, W: weights [N, K] row-major int8 (PyTorch Linear
//   layout), C: [M, N] row-major int32.
//
// The accumulator is 32 bits and wraps modulo 2^32 (no saturation). The true sum always fits
// when K <= 131071 (|a * w| <= 2^14), so then C is the exact integer sum. Every variant below
// computes the same value bit for bit, for any thread count.
#pragma once

#include <cstdint>
#include <memory>

namespace qmsim {
namespace golden {

/// Instruction-set variants of the INT8 GEMM, in increasing order of preference.
enum class GemmIsa {
  kRef,     // portable C++
  kAvx2,    // vpmaddwd on sign-extended int16 (exact: |pair sum| <= 2^15)
  kAvx512,  // AVX-512 VNNI vpdpbusd, u8 x s8 with the +128 offset corrected by weight row sums
  kAmx,     // AMX-INT8 tdpbssd, s8 x s8 tiles
};

/// The definition: a readable triple loop.
void gemm_s8s8_s32_ref(int M, int N, int K, const int8_t* A, const int8_t* W, int32_t* C);

/// Dispatched, optimized GEMM; equals gemm_s8s8_s32_ref bit for bit for any `threads`.
/// `threads` is an upper bound: problems too small to repay starting a thread use fewer.
/// Packs W on every call; for weights used more than once prefer pack_weights_s8 + _packed.
void gemm_s8s8_s32(int M, int N, int K, const int8_t* A, const int8_t* W, int32_t* C,
                   int threads = 1);

/// Name of the variant the dispatcher picks: "ref", "avx2", "avx512" or "amx". The best variant
/// this CPU (and OS, for AMX) supports, capped by the environment variable
/// QMSIM_ISA=ref|avx2|avx512|amx (read once).
const char* gemm_s8s8_s32_isa();

/// Weights packed once per model for the GEMM: N in blocks of 16 columns, K in groups of 4
/// (the VNNI / AMX B-tile layout), zero padded to 16 columns and to a multiple of 64 in K.
///   data[((nb * k_padded / 4) + g) * 64 + j * 4 + r] = W[nb * 16 + j][g * 4 + r]
/// Immutable after packing; copies share the storage.
struct PackedWeightsS8 {
  int n = 0;         // logical N
  int k = 0;         // logical K
  int n_padded = 0;  // N rounded up to 16
  int k_padded = 0;  // K rounded up to 64
  std::shared_ptr<const int8_t> data;              // n_padded * k_padded bytes, 64-byte aligned
  std::shared_ptr<const int32_t> row_sum_times_128;  // [n_padded]: 128 * sum_k W[n][k] mod 2^32
};

/// Packs W [N, K] row-major (any ISA uses the same packed form).
PackedWeightsS8 pack_weights_s8(int N, int K, const int8_t* W, int threads = 1);

/// C [M, N] = A [M, K] x packed W^T, dispatched like gemm_s8s8_s32.
void gemm_s8s8_s32_packed(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C,
                          int threads = 1);

/// Explicit variants, for tests and benchmarks.
bool gemm_isa_available(GemmIsa isa);
const char* gemm_isa_name(GemmIsa isa);
/// Runs `isa` (which must be available) regardless of QMSIM_ISA, with `threads` threads for the
/// product whatever its size (at most one per tile).
void gemm_s8s8_s32_with(GemmIsa isa, int M, int N, int K, const int8_t* A, const int8_t* W,
                        int32_t* C, int threads = 1);
void gemm_s8s8_s32_packed_with(GemmIsa isa, int M, const int8_t* A, const PackedWeightsS8& W,
                               int32_t* C, int threads = 1);

}  // namespace golden
}  // namespace qmsim

namespace qmsim {
namespace golden {
namespace gemm_int8_detail {

// Per-ISA kernels (gemm_int8_avx2.cc, gemm_int8_avx512.cc), called by the dispatcher only.
// Each splits its own tiles over `threads` with parallel_for.
void gemm_packed_avx2(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C, int threads);
void gemm_packed_avx512(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C,
                        int threads);
void gemm_packed_amx(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C, int threads);
/// Packs 16-row blocks [nb_begin, nb_end) of W into `data` and `row_sums` (PackedWeightsS8).
void pack_blocks_avx512(int N, int K, int k_padded, const int8_t* W, int8_t* data,
                        int32_t* row_sums, int nb_begin, int nb_end);
/// Whether the CPU and OS allow AMX-INT8 (requests the tile-data permission from Linux once).
bool amx_usable();

/// Tile t of an n_chunks x m_chunks grid, as (column chunk, row chunk). Column-major order (a
/// thread's contiguous range of tiles shares weight panels) when there are enough column chunks
/// to balance the threads; row-major otherwise (e.g. x_proj, N = 80).
struct TileIndex {
  int64_t column_chunk, row_chunk;
};
inline TileIndex tile_index(int64_t t, int64_t n_chunks, int64_t m_chunks, int threads) {
  if (n_chunks >= 4 * int64_t{threads}) return {t / m_chunks, t % m_chunks};
  return {t % n_chunks, t / n_chunks};
}

}  // namespace gemm_int8_detail
}  // namespace golden
}  // namespace qmsim
