// INT8 GEMM: a hand-computed known answer, then every ISA variant (packed and unpacked weights,
// 1/2/3/7 threads) against gemm_s8s8_s32_ref, element for element.
#include "qmsim/golden/gemm_int8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace qmsim {
namespace golden {
namespace {

constexpr int kThreadCounts[] = {1, 2, 3, 7};

std::vector<GemmIsa> available_isas() {
  std::vector<GemmIsa> isas;
  for (GemmIsa isa : {GemmIsa::kRef, GemmIsa::kAvx2, GemmIsa::kAvx512, GemmIsa::kAmx}) {
    if (gemm_isa_available(isa)) isas.push_back(isa);
  }
  return isas;
}

std::vector<int8_t> random_int8(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(-128, 127);
  std::vector<int8_t> out(count);
  for (auto& v : out) v = static_cast<int8_t>(value(rng));
  return out;
}

// memcmp equality; on a mismatch, reports the first differing element.
void expect_same(const std::vector<int32_t>& want, const std::vector<int32_t>& got, int M, int N,
                 const std::string& label) {
  ASSERT_EQ(want.size(), got.size());
  if (std::memcmp(want.data(), got.data(), want.size() * sizeof(int32_t)) == 0) return;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) {
      ADD_FAILURE() << label << " M=" << M << " N=" << N << ": first mismatch at m=" << i / N
                    << " n=" << i % N << ": ref " << want[i] << ", got " << got[i];
      return;
    }
  }
}

// Every available variant, packed and unpacked, for every thread count, equals `want`.
void check_all_variants(int M, int N, int K, const std::vector<int8_t>& A,
                        const std::vector<int8_t>& W, const std::vector<int32_t>& want) {
  const PackedWeightsS8 packed = pack_weights_s8(N, K, W.data(), 2);
  for (GemmIsa isa : available_isas()) {
    for (int threads : kThreadCounts) {
      std::ostringstream label;
      label << gemm_isa_name(isa) << " K=" << K << " threads=" << threads;
      std::vector<int32_t> got(size_t(M) * N, 0x5A5A5A5A);
      gemm_s8s8_s32_with(isa, M, N, K, A.data(), W.data(), got.data(), threads);
      expect_same(want, got, M, N, label.str() + " unpacked");
      std::fill(got.begin(), got.end(), 0x5A5A5A5A);
      gemm_s8s8_s32_packed_with(isa, M, A.data(), packed, got.data(), threads);
      expect_same(want, got, M, N, label.str() + " packed");
    }
  }
}

void check_random(int M, int N, int K, uint32_t seed) {
  const auto A = random_int8(size_t(M) * K, seed);
  const auto W = random_int8(size_t(N) * K, seed ^ 0x9E3779B9u);
  std::vector<int32_t> want(size_t(M) * N);
  gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), want.data());
  check_all_variants(M, N, K, A, W, want);
}

TEST(GemmInt8, KnownAnswer2x3x4) {
  // Worked by hand: row m of A against row n of W.
  const std::vector<int8_t> A = {1, -2, 3, -4,     //
                                 127, -128, 0, 5};
  const std::vector<int8_t> W = {1, 1, 1, 1,        //
                                 2, 0, -1, 3,       //
                                 -128, -128, 127, 127};
  const std::vector<int32_t> want = {
      1 - 2 + 3 - 4,  2 - 3 - 12,  -128 + 256 + 381 - 508,           // -2, -13, 1
      127 - 128 + 5,  254 + 15,    -16256 + 16384 + 635};            // 4, 269, 763
  EXPECT_EQ(want, (std::vector<int32_t>{-2, -13, 1, 4, 269, 763}));
  std::vector<int32_t> got(6);
  gemm_s8s8_s32_ref(2, 3, 4, A.data(), W.data(), got.data());
  expect_same(want, got, 2, 3, "ref");
  check_all_variants(2, 3, 4, A, W, want);
}

TEST(GemmInt8, Mamba130mShapesAllVariants) {
  struct Shape { const char* name; int n, k; };
  const Shape shapes[] = {{"in_proj", 3072, 768}, {"x_proj", 80, 1536},
                          {"dt_proj", 1536, 48},  {"out_proj", 768, 1536}};
  uint32_t seed = 1;
  for (const Shape& s : shapes) {
    for (int M : {1, 2, 3, 7, 16, 80, 257}) {
      SCOPED_TRACE(std::string(s.name) + " M=" + std::to_string(M));
      check_random(M, s.n, s.k, seed++);
    }
  }
}

TEST(GemmInt8, OddShapesAllVariants) {
  uint32_t seed = 100;
  for (int K : {1, 3, 4, 5, 48, 63, 64, 65, 77, 127, 128, 200, 1536}) {
    for (int N : {1, 5, 16, 17, 33, 80}) {
      for (int M : {1, 2, 3, 7, 16, 17, 33}) {
        SCOPED_TRACE("M=" + std::to_string(M) + " N=" + std::to_string(N) +
                     " K=" + std::to_string(K));
        check_random(M, N, K, seed++);
      }
    }
  }
}

TEST(GemmInt8, AllMinus128IsExact) {
  // (-128) * (-128) * K = 16384 K: the largest sums, exact in int32 up to K = 131071.
  for (int K : {1, 3, 64, 77, 1536, 4096, 65536, 131071}) {
    const int M = 3, N = 17;
    const std::vector<int8_t> A(size_t(M) * K, -128), W(size_t(N) * K, -128);
    const std::vector<int32_t> want(size_t(M) * N, 16384 * K);
    std::vector<int32_t> ref(size_t(M) * N);
    gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), ref.data());
    expect_same(want, ref, M, N, "ref K=" + std::to_string(K));
    check_all_variants(M, N, K, A, W, want);
  }
}

TEST(GemmInt8, AccumulatorWrapsModulo2To32) {
  // K = 131072: 16384 K = 2^31 does not fit; every variant keeps the low 32 bits (INT32_MIN).
  const int M = 2, N = 3, K = 131072;
  const std::vector<int8_t> A(size_t(M) * K, -128), W(size_t(N) * K, -128);
  const std::vector<int32_t> want(size_t(M) * N, INT32_MIN);
  check_all_variants(M, N, K, A, W, want);
}

TEST(GemmInt8, MixedExtremesAllVariants) {
  std::mt19937 rng(7);
  const int8_t extremes[] = {-128, 127, -127, 0};
  for (int K : {3, 77, 768, 1536}) {
    const int M = 19, N = 37;
    std::vector<int8_t> A(size_t(M) * K), W(size_t(N) * K);
    for (auto& v : A) v = extremes[rng() % 3];
    for (auto& v : W) v = extremes[rng() % 4];
    std::vector<int32_t> want(size_t(M) * N);
    gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), want.data());
    check_all_variants(M, N, K, A, W, want);
  }
}

TEST(GemmInt8, EmptyShapes) {
  const std::vector<int8_t> A(8, 1), W(8, 1);
  std::vector<int32_t> C(4, 99);
  for (GemmIsa isa : available_isas()) {
    gemm_s8s8_s32_with(isa, 0, 2, 4, A.data(), W.data(), C.data(), 2);
    EXPECT_EQ(C, std::vector<int32_t>(4, 99));
    gemm_s8s8_s32_with(isa, 2, 2, 0, A.data(), W.data(), C.data(), 2);
    EXPECT_EQ(C, std::vector<int32_t>(4, 0)) << gemm_isa_name(isa);
    C.assign(4, 99);
  }
}

TEST(GemmInt8, DispatchedEntryPointsMatchReference) {
  const std::string isa = gemm_s8s8_s32_isa();
  bool known = false;
  for (GemmIsa candidate : available_isas()) known |= isa == gemm_isa_name(candidate);
  EXPECT_TRUE(known) << isa;
  // QMSIM_ISA names the variant when it is available here.
  if (const char* forced = std::getenv("QMSIM_ISA")) {
    for (GemmIsa candidate : available_isas()) {
      if (std::string(forced) == gemm_isa_name(candidate)) {
        EXPECT_EQ(isa, forced);
      }
    }
  }
  const int M = 80, N = 80, K = 1536;
  const auto A = random_int8(size_t(M) * K, 11), W = random_int8(size_t(N) * K, 12);
  std::vector<int32_t> want(size_t(M) * N), got(size_t(M) * N);
  gemm_s8s8_s32_ref(M, N, K, A.data(), W.data(), want.data());
  gemm_s8s8_s32(M, N, K, A.data(), W.data(), got.data(), 2);
  expect_same(want, got, M, N, std::string("dispatched ") + isa);
  const PackedWeightsS8 packed = pack_weights_s8(N, K, W.data());
  const PackedWeightsS8 copy = packed;  // copies share the packed storage
  EXPECT_EQ(copy.data.get(), packed.data.get());
  std::fill(got.begin(), got.end(), 0);
  gemm_s8s8_s32_packed(M, A.data(), copy, got.data(), 3);
  expect_same(want, got, M, N, std::string("dispatched packed ") + isa);
}

TEST(GemmInt8, PackedLayoutIsDocumented) {
  const int N = 20, K = 70;
  const auto W = random_int8(size_t(N) * K, 21);
  const PackedWeightsS8 packed = pack_weights_s8(N, K, W.data());
  ASSERT_EQ(packed.n_padded, 32);
  ASSERT_EQ(packed.k_padded, 128);
  for (int n = 0; n < packed.n_padded; ++n) {
    int64_t sum = 0;
    for (int k = 0; k < packed.k_padded; ++k) {
      const int8_t want = (n < N && k < K) ? W[size_t(n) * K + k] : 0;
      const int64_t group = int64_t{n / 16} * packed.k_padded / 4 + k / 4;
      const int64_t index = group * 64 + (n % 16) * 4 + k % 4;
      ASSERT_EQ(packed.data.get()[index], want) << "n=" << n << " k=" << k;
      sum += want;
    }
    EXPECT_EQ(packed.row_sum_times_128.get()[n], 128 * sum) << "n=" << n;
  }
}

}  // namespace
}  // namespace golden
}  // namespace qmsim
