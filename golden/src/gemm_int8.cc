// INT8 GEMM: the reference definition, the portable variant, weight packing and the run-time
// dispatch to the ISA variants (gemm_int8_avx2.cc, gemm_int8_avx512.cc).
#include "qmsim/golden/gemm_int8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "qmsim/golden/parallel.h"

namespace qmsim {
namespace golden {

void gemm_s8s8_s32_ref(int M, int N, int K, const int8_t* A, const int8_t* W, int32_t* C) {
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      int64_t accumulator = 0;  // exact; the 32-bit hardware accumulator is its low 32 bits
      for (int k = 0; k < K; ++k) {
        accumulator += int32_t{A[int64_t{m} * K + k]} * int32_t{W[int64_t{n} * K + k]};
      }
      C[int64_t{m} * N + n] = static_cast<int32_t>(static_cast<uint32_t>(accumulator));
    }
  }
}

namespace {

constexpr int kBlockColumns = 16;  // N columns per packed block
constexpr int kGroupDepth = 4;     // K values per packed group (one 32-bit lane)
constexpr int kPaddedDepth = 64;   // K is padded to a multiple of this (one AMX tile row)

int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// Portable variant, unpacked W: row-by-row dot products in a wrapping 32-bit accumulator.
void gemm_portable(int M, int N, int K, const int8_t* A, const int8_t* W, int32_t* C,
                   int threads) {
  parallel_for(M, threads, [&](int64_t m_begin, int64_t m_end) {
    for (int64_t m = m_begin; m < m_end; ++m) {
      const int8_t* a = A + m * K;
      for (int n = 0; n < N; ++n) {
        const int8_t* w = W + int64_t{n} * K;
        uint32_t accumulator = 0;  // 32-bit, wraps like the hardware accumulator
        for (int k = 0; k < K; ++k) {
          accumulator += static_cast<uint32_t>(int32_t{a[k]} * int32_t{w[k]});
        }
        C[m * N + n] = static_cast<int32_t>(accumulator);
      }
    }
  });
}

// Portable variant, packed W.
void gemm_packed_portable(int M, const int8_t* A, const PackedWeightsS8& P, int32_t* C,
                          int threads) {
  const int K = P.k, N = P.n, groups = P.k_padded / kGroupDepth;
  const int blocks = P.n_padded / kBlockColumns;
  parallel_for(blocks, threads, [&](int64_t nb_begin, int64_t nb_end) {
    for (int64_t nb = nb_begin; nb < nb_end; ++nb) {
      const int8_t* block = P.data.get() + nb * groups * kGroupDepth * kBlockColumns;
      const int columns = std::min<int>(kBlockColumns, N - static_cast<int>(nb) * kBlockColumns);
      for (int m = 0; m < M; ++m) {
        const int8_t* a = A + int64_t{m} * K;
        uint32_t accumulator[kBlockColumns] = {};
        for (int k = 0; k < K; ++k) {
          const int8_t* w =
              block + (k / kGroupDepth) * kGroupDepth * kBlockColumns + k % kGroupDepth;
          for (int j = 0; j < kBlockColumns; ++j) {
            accumulator[j] += static_cast<uint32_t>(int32_t{a[k]} * int32_t{w[j * kGroupDepth]});
          }
        }
        int32_t* c = C + int64_t{m} * N + nb * kBlockColumns;
        for (int j = 0; j < columns; ++j) c[j] = static_cast<int32_t>(accumulator[j]);
      }
    }
  });
}

void pack_blocks_portable(int N, int K, int k_padded, const int8_t* W, int8_t* data, int nb_begin,
                          int nb_end) {
  const int64_t block_bytes = int64_t{k_padded} * kBlockColumns;
  for (int nb = nb_begin; nb < nb_end; ++nb) {
    int8_t* block = data + nb * block_bytes;
    std::memset(block, 0, static_cast<size_t>(block_bytes));
    for (int j = 0; j < kBlockColumns && nb * kBlockColumns + j < N; ++j) {
      const int8_t* w = W + int64_t{nb * kBlockColumns + j} * K;
      for (int k = 0; k < K; ++k) {
        block[(k / kGroupDepth) * kGroupDepth * kBlockColumns + j * kGroupDepth + k % kGroupDepth] =
            w[k];
      }
    }
  }
}

// 128 * sum_k W[n][k], modulo 2^32: the correction of the +128 offset of the u8 operand of
// vpdpbusd (AVX-512 VNNI).
void row_sums_times_128(int N, int K, const int8_t* W, int32_t* out, int n_begin, int n_end) {
  for (int n = n_begin; n < n_end; ++n) {
    int64_t sum = 0;
    if (n < N) {
      for (int k = 0; k < K; ++k) sum += W[int64_t{n} * K + k];
    }
    out[n] = static_cast<int32_t>(128u * static_cast<uint32_t>(sum));
  }
}

void pack_into(int N, int K, const int8_t* W, int k_padded, int8_t* data, int32_t* row_sums,
               int threads, bool use_avx512) {
  const int blocks = round_up(N, kBlockColumns) / kBlockColumns;
  parallel_for(blocks, threads, [&](int64_t begin, int64_t end) {
    const int nb_begin = static_cast<int>(begin), nb_end = static_cast<int>(end);
#ifdef QMSIM_X86_DISPATCH
    if (use_avx512) {
      gemm_int8_detail::pack_blocks_avx512(N, K, k_padded, W, data, row_sums, nb_begin, nb_end);
      return;
    }
#else
    (void)use_avx512;
#endif
    pack_blocks_portable(N, K, k_padded, W, data, nb_begin, nb_end);
    row_sums_times_128(N, K, W, row_sums, nb_begin * kBlockColumns, nb_end * kBlockColumns);
  });
}

struct AlignedFree {
  void operator()(const void* p) const { std::free(const_cast<void*>(p)); }
};

template <class T>
T* aligned_array(size_t count) {
  const size_t bytes = std::max<size_t>(64, (count * sizeof(T) + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<T*>(p);
}

// Per calling thread: packed W of the unpacked entry point, reused across calls.
struct PackScratch {
  std::unique_ptr<int8_t, AlignedFree> data;
  std::unique_ptr<int32_t, AlignedFree> row_sums;
  size_t data_bytes = 0, row_sum_count = 0;
};

// Threads are started per call (parallel_for), which costs tens of microseconds; a thread is
// only worth it for about 100 us of single-thread work. Minimum ops (2 M N K) per thread, from
// the 1-thread rates of each variant (bench/gemm_int8_bench.cc). The split never changes C.
int64_t min_ops_per_thread(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAmx: return 150'000'000;
    case GemmIsa::kAvx512: return 50'000'000;
    case GemmIsa::kAvx2: return 15'000'000;
    default: return 2'000'000;
  }
}

int useful_threads(GemmIsa isa, int M, int N, int K, int threads) {
  const int64_t ops = 2 * int64_t{M} * N * K;
  return static_cast<int>(
      std::clamp<int64_t>(ops / min_ops_per_thread(isa), 1, std::max(1, threads)));
}

// Packing moves N K bytes; a thread per MiB.
int useful_pack_threads(int N, int K, int threads) {
  return static_cast<int>(std::clamp<int64_t>(int64_t{N} * K >> 20, 1, std::max(1, threads)));
}

GemmIsa parse_isa_cap() {
  const char* env = std::getenv("QMSIM_ISA");
  if (env == nullptr) return GemmIsa::kAmx;
  const std::string value(env);
  if (value == "ref") return GemmIsa::kRef;
  if (value == "avx2") return GemmIsa::kAvx2;
  if (value == "avx512") return GemmIsa::kAvx512;
  return GemmIsa::kAmx;
}

GemmIsa dispatched_isa() {
  static const GemmIsa isa = [] {
    const GemmIsa cap = parse_isa_cap();
    for (GemmIsa candidate : {GemmIsa::kAmx, GemmIsa::kAvx512, GemmIsa::kAvx2}) {
      if (candidate <= cap && gemm_isa_available(candidate)) return candidate;
    }
    return GemmIsa::kRef;
  }();
  return isa;
}

}  // namespace

bool gemm_isa_available(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kRef:
      return true;
#ifdef QMSIM_X86_DISPATCH
    case GemmIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2");
    case GemmIsa::kAvx512:
      return gemm_isa_available(GemmIsa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    case GemmIsa::kAmx:
      return gemm_isa_available(GemmIsa::kAvx512) && gemm_int8_detail::amx_usable();
#endif
    default:
      return false;
  }
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kRef: return "ref";
    case GemmIsa::kAvx2: return "avx2";
    case GemmIsa::kAvx512: return "avx512";
    case GemmIsa::kAmx: return "amx";
  }
  return "?";
}

const char* gemm_s8s8_s32_isa() { return gemm_isa_name(dispatched_isa()); }

PackedWeightsS8 pack_weights_s8(int N, int K, const int8_t* W, int threads) {
  if (N < 0 || K < 0) throw std::invalid_argument("pack_weights_s8: negative shape");
  PackedWeightsS8 packed;
  packed.n = N;
  packed.k = K;
  packed.n_padded = round_up(N, kBlockColumns);
  packed.k_padded = std::max(kPaddedDepth, round_up(K, kPaddedDepth));
  int8_t* data = aligned_array<int8_t>(size_t(packed.n_padded) * size_t(packed.k_padded));
  packed.data = std::shared_ptr<const int8_t>(data, AlignedFree());
  int32_t* row_sums = aligned_array<int32_t>(size_t(packed.n_padded));
  packed.row_sum_times_128 = std::shared_ptr<const int32_t>(row_sums, AlignedFree());
  pack_into(N, K, W, packed.k_padded, data, row_sums, threads,
            gemm_isa_available(GemmIsa::kAvx512));
  return packed;
}

void gemm_s8s8_s32_packed_with(GemmIsa isa, int M, const int8_t* A, const PackedWeightsS8& W,
                               int32_t* C, int threads) {
  if (!gemm_isa_available(isa)) throw std::invalid_argument("gemm_s8s8_s32: ISA not available");
  if (M <= 0 || W.n <= 0) return;
  if (W.k == 0) {
    std::memset(C, 0, sizeof(int32_t) * size_t(M) * size_t(W.n));
    return;
  }
  threads = std::max(1, threads);
  switch (isa) {
#ifdef QMSIM_X86_DISPATCH
    case GemmIsa::kAvx2: gemm_int8_detail::gemm_packed_avx2(M, A, W, C, threads); return;
    case GemmIsa::kAvx512: gemm_int8_detail::gemm_packed_avx512(M, A, W, C, threads); return;
    case GemmIsa::kAmx: gemm_int8_detail::gemm_packed_amx(M, A, W, C, threads); return;
#endif
    default: gemm_packed_portable(M, A, W, C, threads); return;
  }
}

void gemm_s8s8_s32_with(GemmIsa isa, int M, int N, int K, const int8_t* A, const int8_t* W,
                        int32_t* C, int threads) {
  if (!gemm_isa_available(isa)) throw std::invalid_argument("gemm_s8s8_s32: ISA not available");
  if (M <= 0 || N <= 0) return;
  if (isa == GemmIsa::kRef || K == 0) {
    gemm_portable(M, N, K, A, W, C, threads);
    return;
  }
  // Pack W into this thread's scratch (no allocation once it is large enough), then run packed.
  thread_local PackScratch scratch;
  PackedWeightsS8 packed;
  packed.n = N;
  packed.k = K;
  packed.n_padded = round_up(N, kBlockColumns);
  packed.k_padded = std::max(kPaddedDepth, round_up(K, kPaddedDepth));
  const size_t data_bytes = size_t(packed.n_padded) * size_t(packed.k_padded);
  if (scratch.data_bytes < data_bytes) {
    scratch.data.reset(aligned_array<int8_t>(data_bytes));
    scratch.data_bytes = data_bytes;
  }
  if (scratch.row_sum_count < size_t(packed.n_padded)) {
    scratch.row_sums.reset(aligned_array<int32_t>(size_t(packed.n_padded)));
    scratch.row_sum_count = size_t(packed.n_padded);
  }
  // Non-owning views of the scratch.
  packed.data = std::shared_ptr<const int8_t>(std::shared_ptr<void>(), scratch.data.get());
  packed.row_sum_times_128 =
      std::shared_ptr<const int32_t>(std::shared_ptr<void>(), scratch.row_sums.get());
  pack_into(N, K, W, packed.k_padded, scratch.data.get(), scratch.row_sums.get(),
            useful_pack_threads(N, K, threads), gemm_isa_available(GemmIsa::kAvx512));
  gemm_s8s8_s32_packed_with(isa, M, A, packed, C, threads);
}

void gemm_s8s8_s32(int M, int N, int K, const int8_t* A, const int8_t* W, int32_t* C,
                   int threads) {
  const GemmIsa isa = dispatched_isa();
  gemm_s8s8_s32_with(isa, M, N, K, A, W, C, useful_threads(isa, M, N, K, threads));
}

void gemm_s8s8_s32_packed(int M, const int8_t* A, const PackedWeightsS8& W, int32_t* C,
                          int threads) {
  const GemmIsa isa = dispatched_isa();
  gemm_s8s8_s32_packed_with(isa, M, A, W, C, useful_threads(isa, M, W.n, W.k, threads));
}

}  // namespace golden
}  // namespace qmsim
