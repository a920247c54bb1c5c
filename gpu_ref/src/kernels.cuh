// The CUDA kernels of gpu_ref (spec §2, §4, §5.8). Each kernel computes the golden definition of
// its op with the shared numerics header: correctly rounded exp/log1p (num::exp_cr_fast, num::log1p_cr),
// IEEE division and sqrt, FMAs only where the definition has one (num::fma_f32), every float
// reduction in its fixed order. Built with -fmad=false and without fast math, so nvcc contracts
// nothing. Parallelism is over independent outputs (tokens, channels, output columns, documents);
// the order of operations inside each output is golden's. Integer sums (GEMM, conv) are exact in
// int32, so their order is free (tensor cores included).
//
// Batched layout: documents back to back, T tokens in all; off[d] .. off[d+1] are document d's
// tokens, doc[t] the document of token t, start[t] = off[doc[t]]. Everything per "call" in golden
// (a per-call max, the conv window, the scan) is per document here.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "qmsim/golden/mode.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/gpu/ops.h"
#include "qmsim/numerics.h"
#include "gemm_common.cuh"

namespace qmsim {
namespace gpu {
namespace kern {

// ------------------------------------------------------------------ embedding, norms

__global__ void k_embed(int L, int D, const uint16_t* table, const int32_t* tok, uint16_t* out) {
  const int t = blockIdx.x, j = threadIdx.x + blockIdx.y * blockDim.x;
  if (t < L && j < D) out[static_cast<size_t>(t) * D + j] = table[static_cast<size_t>(tok[t]) * D + j];
}

// r = 1 / sqrt((Σ_j fl32(x_j·x_j) ascending j) / D + eps) (spec §5.8: sequential, no FMA).
__device__ float rms_reciprocal(const float* x, int D, float eps) {
  float ss = 0.0f;
  for (int j = 0; j < D; ++j) ss = ss + x[j] * x[j];
  return 1.0f / num::sqrt_f32(ss / static_cast<float>(D) + eps);
}

// The norms run one warp per token: the lanes load and store the row (coalesced) through shared
// memory and do the element-wise work; lane 0 alone forms the sum of squares in golden's order.
constexpr int kNormWarps = 4;  // tokens per block; shared memory: kNormWarps * D floats

// QRMSNorm (spec §2.3, §5.8): x = f32(h) (+ res_in); res_out = x; q = sat8(RNE(fl32(x·r) / s_in)).
// res_in may equal res_out (in place: each element is read and written by the same lane).
__global__ void k_rmsnorm_quant(int L, int D, const uint16_t* h, const float* res_in, float* res_out, float eps,
                                float s_in, int8_t* q) {
  extern __shared__ float xs[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kNormWarps + warp;
  if (t >= L) return;  // whole warps leave; no block-wide barrier follows
  float* x = xs + static_cast<size_t>(warp) * D;
  const size_t row = static_cast<size_t>(t) * D;
  for (int j = lane; j < D; j += 32) {
    const float v = res_in ? num::f16_to_f32(h[row + j]) + res_in[row + j] : num::f16_to_f32(h[row + j]);
    x[j] = v;
    res_out[row + j] = v;
  }
  __syncwarp();
  float r = lane == 0 ? rms_reciprocal(x, D, eps) : 0.0f;
  r = __shfl_sync(0xffffffffu, r, 0);
  for (int j = lane; j < D; j += 32) q[row + j] = num::quant_rne_sat8((x[j] * r) / s_in);
}

// k_rmsnorm_quant with kNormTok tokens per block of 256 threads (D % 4 == 0, 16-byte aligned
// rows): the threads load and store the rows 4 elements at a time and keep x in shared memory
// (rows padded to D + 1 floats); lane i of warp 0 then forms token i's sum of squares (golden's
// order, the same operations as rms_reciprocal), so that a warp instruction advances 16 sums
// instead of one.
// kNormTok = 8 (NormKernel::kTokens8, the default since run31: 41.6 -> 36.2 ms): half the shared memory a block
// (24.6 KB for D = 768), so that twice as many blocks share an SM and one block's serial sums
// overlap other blocks' loads and stores.
constexpr int kNormTokThreads = 256;
template <int kNormTok>
inline size_t rmsnorm_tok_smem(int D) { return static_cast<size_t>(kNormTok) * (D + 1) * sizeof(float); }
template <int kNormTok>
__global__ void __launch_bounds__(kNormTokThreads) k_rmsnorm_quant_tok(int L, int D, const uint16_t* h,
                                                                       const float* res_in, float* res_out, float eps,
                                                                       float s_in, int8_t* q) {
  extern __shared__ float xs[];  // [kNormTok][D + 1]
  __shared__ float rs[kNormTok];
  const int t0 = blockIdx.x * kNormTok, D4 = D / 4;
  const int rows = min(kNormTok, L - t0);
  for (int i = threadIdx.x; i < rows * D4; i += blockDim.x) {
    const int r = i / D4, j = 4 * (i % D4);
    const size_t g = static_cast<size_t>(t0 + r) * D + j;
    const uint2 hv = *reinterpret_cast<const uint2*>(h + g);
    float v[4] = {num::f16_to_f32(static_cast<uint16_t>(hv.x)), num::f16_to_f32(static_cast<uint16_t>(hv.x >> 16)),
                  num::f16_to_f32(static_cast<uint16_t>(hv.y)), num::f16_to_f32(static_cast<uint16_t>(hv.y >> 16))};
    if (res_in) {
      const float4 rv = *reinterpret_cast<const float4*>(res_in + g);
      v[0] = v[0] + rv.x, v[1] = v[1] + rv.y, v[2] = v[2] + rv.z, v[3] = v[3] + rv.w;
    }
    *reinterpret_cast<float4*>(res_out + g) = make_float4(v[0], v[1], v[2], v[3]);
    float* x = xs + static_cast<size_t>(r) * (D + 1) + j;
    x[0] = v[0], x[1] = v[1], x[2] = v[2], x[3] = v[3];
  }
  __syncthreads();
  if (threadIdx.x < rows) rs[threadIdx.x] = rms_reciprocal(xs + static_cast<size_t>(threadIdx.x) * (D + 1), D, eps);
  __syncthreads();
  for (int i = threadIdx.x; i < rows * D4; i += blockDim.x) {
    const int r = i / D4, j = 4 * (i % D4);
    const float* x = xs + static_cast<size_t>(r) * (D + 1) + j;
    const float rr = rs[r];
    uint32_t packed = 0;
#pragma unroll
    for (int c = 0; c < 4; ++c)
      packed |= static_cast<uint32_t>(static_cast<uint8_t>(num::quant_rne_sat8((x[c] * rr) / s_in))) << (8 * c);
    *reinterpret_cast<uint32_t*>(q + static_cast<size_t>(t0 + r) * D + j) = packed;
  }
}
// One QRMSNorm launch: k_rmsnorm_quant_tok for kTokens where the rows allow it, else k_rmsnorm_quant.
inline void launch_rmsnorm_quant(NormKernel kind, int L, int D, const uint16_t* h, const float* res_in, float* res_out,
                                 float eps, float s_in, int8_t* q, cudaStream_t st = 0) {
  if (L == 0) return;
  const bool tok = (kind == NormKernel::kTokens || kind == NormKernel::kTokens8) && D % 4 == 0 &&
                   rmsnorm_tok_smem<16>(D) <= 160 * 1024 && reinterpret_cast<uintptr_t>(h) % 8 == 0 &&
                   reinterpret_cast<uintptr_t>(res_in) % 16 == 0 && reinterpret_cast<uintptr_t>(res_out) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(q) % 4 == 0;
  if (tok && kind == NormKernel::kTokens8) {
    allow_dynamic_smem(k_rmsnorm_quant_tok<8>, rmsnorm_tok_smem<8>(D), "k_rmsnorm_quant_tok");
    k_rmsnorm_quant_tok<8><<<static_cast<unsigned>((L + 7) / 8), kNormTokThreads, rmsnorm_tok_smem<8>(D), st>>>(
        L, D, h, res_in, res_out, eps, s_in, q);
    return;
  }
  if (tok) {
    allow_dynamic_smem(k_rmsnorm_quant_tok<16>, rmsnorm_tok_smem<16>(D), "k_rmsnorm_quant_tok");
    k_rmsnorm_quant_tok<16><<<static_cast<unsigned>((L + 15) / 16), kNormTokThreads, rmsnorm_tok_smem<16>(D), st>>>(
        L, D, h, res_in, res_out, eps, s_in, q);
    return;
  }
  k_rmsnorm_quant<<<static_cast<unsigned>((L + kNormWarps - 1) / kNormWarps), 32 * kNormWarps,
                    kNormWarps * D * sizeof(float), st>>>(L, D, h, res_in, res_out, eps, s_in, q);
}

// Final norm (spec §2.11, §5.8; f16_residual = the SE-fe5 variant).
__global__ void k_final_norm(int L, int D, const uint16_t* h, const float* res, const uint16_t* w, float eps,
                             bool f16_residual, uint16_t* out) {
  extern __shared__ float xs[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int t = blockIdx.x * kNormWarps + warp;
  if (t >= L) return;
  float* x = xs + static_cast<size_t>(warp) * D;
  const size_t row = static_cast<size_t>(t) * D;
  for (int j = lane; j < D; j += 32) {
    const float hf = num::f16_to_f32(h[row + j]);
    if (!res)
      x[j] = hf;
    else if (f16_residual)
      x[j] = num::round_to_f16(hf + num::round_to_f16(res[row + j]));
    else
      x[j] = hf + res[row + j];
  }
  __syncwarp();
  float r = lane == 0 ? rms_reciprocal(x, D, eps) : 0.0f;
  r = __shfl_sync(0xffffffffu, r, 0);
  for (int j = lane; j < D; j += 32) {
    const float wf = w ? num::f16_to_f32(w[j]) : 1.0f;
    const float y = f16_residual ? num::round_to_f16(x[j] * r) : x[j] * r;
    out[row + j] = num::f32_to_f16_rne(y * wf);
  }
}

// ------------------------------------------------------------------ INT8 GEMM (spec §2.4, §2.8)

// Baseline: one thread per output, __dp4a over K.
__global__ void k_gemm_naive(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, GemmEpilogue ep) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y;
  if (n >= N || m >= M) return;
  const int8_t* xr = x + static_cast<size_t>(m) * ldx;
  const int8_t* wr = W + static_cast<size_t>(n) * K;
  int32_t acc = 0;
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    int a, b;
    memcpy(&a, xr + k, 4);
    memcpy(&b, wr + k, 4);
    acc = __dp4a(a, b, acc);
  }
  for (; k < K; ++k) acc += static_cast<int32_t>(xr[k]) * static_cast<int32_t>(wr[k]);
  ep.store(m, n, acc);
}

// CUDA cores: a block computes 64 x 64 outputs (256 threads, 4 x 4 each), K in tiles of 32 bytes
// staged in shared memory as packed int32 words (bytes past K are zero), __dp4a on the words.
constexpr int kTM = 64, kTN = 64, kTK = 32;
__global__ void k_gemm_dp4a(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, GemmEpilogue ep) {
  __shared__ int32_t xs[kTM][kTK / 4 + 1];
  __shared__ int32_t ws[kTN][kTK / 4 + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * kTM, n0 = blockIdx.x * kTN;
  int32_t acc[4][4] = {{0}};
  for (int k0 = 0; k0 < K; k0 += kTK) {
    for (int i = threadIdx.x; i < kTM * (kTK / 4); i += blockDim.x) {
      const int r = i / (kTK / 4), w = i % (kTK / 4);
      const int m = m0 + r, n = n0 + r, k = k0 + 4 * w;
      uint32_t vx = 0, vw = 0;
      for (int b = 0; b < 4; ++b) {
        const int kk = k + b;
        if (kk < K) {
          if (m < M) vx |= static_cast<uint32_t>(static_cast<uint8_t>(x[static_cast<size_t>(m) * ldx + kk])) << (8 * b);
          if (n < N) vw |= static_cast<uint32_t>(static_cast<uint8_t>(W[static_cast<size_t>(n) * K + kk])) << (8 * b);
        }
      }
      xs[r][w] = static_cast<int32_t>(vx);
      ws[r][w] = static_cast<int32_t>(vw);
    }
    __syncthreads();
    for (int w = 0; w < kTK / 4; ++w) {
      int32_t a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = xs[ty * 4 + i][w], b[i] = ws[tx * 4 + i][w];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) continue;
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx * 4 + j;
      if (n < N) ep.store(m, n, acc[i][j]);
    }
  }
}

// A warp's 4 x kNI m16n8 accumulator tiles (the mma.sync GEMM kernels), zeroed.
template <int kNI>
__device__ __forceinline__ void gemm_acc_clear(int32_t (&acc)[4][kNI][4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < kNI; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0;
}

// Tensor cores: mma.sync.m16n8k32 s8 x s8 -> s32 (exact). A block computes 128 x 128 outputs with
// 8 warps (2 x 4, each 64 x 32 = 4 x 4 mma tiles); K advances 64 bytes per shared-memory stage,
// double-buffered.
// x rows and W rows are both K-contiguous, which is exactly the row.col operand layout: each
// fragment register is one 4-byte word of a shared-memory row. Rows are padded to 20 words so the
// fragment loads of a warp hit 32 different banks. (Fragments by ldmatrix.x4 measured slower:
// in_proj 225 against 249 TOPS, docs/results/gpu/run13.)
constexpr int kMM = 128, kMN = 128, kMK = 64, kMW = kMK / 4 + 4;
__device__ __forceinline__ void mma_s8(int32_t (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// 16 bytes of row `row` (of `rows`, stride ld) from column k: zero past the matrix.
__device__ __forceinline__ uint4 load16(const int8_t* p, int row, int rows, int ld, int k, int K, bool vec) {
  uint4 v = make_uint4(0, 0, 0, 0);
  if (row >= rows || k >= K) return v;
  const int8_t* src = p + static_cast<size_t>(row) * ld + k;
  if (vec) return *reinterpret_cast<const uint4*>(src);  // K % 16 == 0 and 16-byte aligned rows
  uint32_t w[4] = {0, 0, 0, 0};
  for (int b = 0; b < 16 && k + b < K; ++b) w[b / 4] |= static_cast<uint32_t>(static_cast<uint8_t>(src[b])) << (8 * (b % 4));
  return make_uint4(w[0], w[1], w[2], w[3]);
}
__global__ void __launch_bounds__(256) k_gemm_mma(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W,
                                                  GemmEpilogue ep, bool vec) {
  // Two shared-memory stages: while the warps multiply out of one, the next K slice is already
  // on its way from global memory into registers, and goes to the other stage afterwards (one
  // barrier per K slice).
  __shared__ __align__(16) uint32_t xs[2][kMM][kMW];
  __shared__ __align__(16) uint32_t ws[2][kMN][kMW];
  constexpr int kLoads = kMM * (kMK / 16) / 256;  // uint4 per thread per operand per stage (2)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tg = lane % 4;
  const int wm = warp / 4, wn = warp % 4;
  const int m0 = blockIdx.y * kMM, n0 = blockIdx.x * kMN;
  int32_t acc[4][4][4];
  gemm_acc_clear(acc);
  uint4 rx[kLoads], rw[kLoads];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const int i = threadIdx.x + l * 256, r = i / (kMK / 16), c = i % (kMK / 16);
      rx[l] = load16(x, m0 + r, M, ldx, k0 + c * 16, K, vec);
      rw[l] = load16(W, n0 + r, N, K, k0 + c * 16, K, vec);
    }
  };
  auto stash = [&](int buf) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const int i = threadIdx.x + l * 256, r = i / (kMK / 16), c = i % (kMK / 16);
      *reinterpret_cast<uint4*>(&xs[buf][r][c * 4]) = rx[l];
      *reinterpret_cast<uint4*>(&ws[buf][r][c * 4]) = rw[l];
    }
  };
  fetch(0);
  stash(0);
  __syncthreads();
  int cur = 0;
  for (int k0 = 0; k0 < K; k0 += kMK) {
    const bool more = k0 + kMK < K;
    if (more) fetch(k0 + kMK);
#pragma unroll
    for (int kw = 0; kw < kMK / 4; kw += 8) {  // one k32 step = 8 words
      uint32_t a[4][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int r = wm * 64 + mi * 16 + g;
        a[mi][0] = xs[cur][r][kw + tg];
        a[mi][1] = xs[cur][r + 8][kw + tg];
        a[mi][2] = xs[cur][r][kw + 4 + tg];
        a[mi][3] = xs[cur][r + 8][kw + 4 + tg];
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int c = wn * 32 + ni * 8 + g;
        b[ni][0] = ws[cur][c][kw + tg];
        b[ni][1] = ws[cur][c][kw + 4 + tg];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_s8(acc[mi][ni], a[mi], b[ni]);
    }
    if (more) stash(cur ^ 1);
    __syncthreads();
    cur ^= 1;
  }
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int m = m0 + wm * 64 + mi * 16 + g + (c >= 2 ? 8 : 0);
        const int n = n0 + wn * 32 + ni * 8 + tg * 2 + (c & 1);
        if (m < M && n < N) ep.store(m, n, acc[mi][ni][c]);
      }
}

// k_gemm_mma with a kStages-deep cp.async pipeline (global -> shared without registers; tiles
// past the matrix zero-filled by the copy's source size) and a kBN-column block tile: 8 warps as
// 2 x 4, each 64 x kBN/4. GpuModel runs kBN = 128 (2 blocks an SM); kBN = 256 (64 x 64 warp
// tiles, one block an SM) ran 2x slower on the 130m GEMMs (run17) and is not instantiated.
// Needs K % 16 == 0 and 16-byte aligned rows (the vec case of k_gemm_mma). Same fragments, same
// exact int32 sums, same epilogue.
template <int kBN>
struct GemmAsyncShape {
  static constexpr int kStages = 3;
  static constexpr size_t kStageWords = static_cast<size_t>(kMM + kBN) * kMW;
  static constexpr size_t kBytes = kStages * kStageWords * 4;
};
// The staged epilogue of the 128 x kBN block tiles (8 warps as 2 x 4, each 64 x kBN/4 of
// 16 x 8 mma tiles, the m16n8 accumulator layout): after every warp is done with the operand
// stages, the outputs go into shared memory at smem through gemm_tile_put, and the block stores
// them in 16-byte row pieces (gemm_tile_store).
template <int kBN>
__device__ __forceinline__ void gemm_staged_epilogue(const GemmEpilogue& ep, uint32_t* smem,
                                                     const int32_t (&acc)[4][kBN / 32][4], int M, int N, int m0,
                                                     int n0) {
  constexpr int kNI = kBN / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tg = lane % 4;
  const int wm = warp / 4, wn = warp % 4;
  __syncthreads();  // every warp is done with the stages
  uint8_t* tile = reinterpret_cast<uint8_t*>(smem);
  const int ldt = gemm_tile_ld(kBN, ep.out_f16);
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < kNI; ++ni)
#pragma unroll
      for (int c = 0; c < 4; c += 2)
        gemm_tile_put(ep, tile, ldt, M, m0, wm * 64 + mi * 16 + g + (c >= 2 ? 8 : 0), wn * (kBN / 4) + ni * 8 + tg * 2,
                      acc[mi][ni][c], acc[mi][ni][c + 1]);
  __syncthreads();
  gemm_tile_store<kMM, kBN, 256>(ep, tile, ldt, M, N, m0, n0);
}
// kStaged (GemmKernel::kMmaStaged, the default since run22): the epilogue writes the block's outputs into shared memory
// (free once the last tile is consumed) and the block then stores whole 16-byte pieces of its
// output rows, instead of each lane storing 2 bytes (int8) or 4 (f16) into 8 rows per
// instruction (run21's ncu: the GEMMs' L2 throughput at 54-76%, their issue rate at 0.4-0.5).
// The values are the same ep.value and the same conversions.
template <int kBN, int kMinBlocks, bool kStaged = false>
__global__ void __launch_bounds__(256, kMinBlocks) k_gemm_mma_async(int M, int N, int K, const int8_t* x, int ldx,
                                                                    const int8_t* W, GemmEpilogue ep) {
  using Shape = GemmAsyncShape<kBN>;
  constexpr int kS = Shape::kStages, kNI = kBN / 32;  // mma tiles of 8 columns per warp
  extern __shared__ __align__(16) uint32_t gsm[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tg = lane % 4;
  const int wm = warp / 4, wn = warp % 4;
  const int m0 = blockIdx.y * kMM, n0 = blockIdx.x * kBN;
  auto xs = [&](int st, int r, int w) -> uint32_t* { return gsm + st * Shape::kStageWords + r * kMW + w; };
  auto ws = [&](int st, int r, int w) -> uint32_t* { return gsm + st * Shape::kStageWords + (kMM + r) * kMW + w; };
  const int kt_count = (K + kMK - 1) / kMK;
  auto issue = [&](int kt) {
    if (kt < kt_count) {
      const int st = kt % kS, k0 = kt * kMK;
      for (int i = threadIdx.x; i < (kMM + kBN) * (kMK / 16); i += 256) {
        const int r = i / (kMK / 16), c = i % (kMK / 16), k = k0 + c * 16;
        if (r < kMM) {
          const int m = m0 + r;
          const bool ok = m < M && k < K;
          cp_async16(xs(st, r, c * 4), x + (ok ? static_cast<size_t>(m) * ldx + k : 0), ok);
        } else {
          const int n = n0 + r - kMM;
          const bool ok = n < N && k < K;
          cp_async16(ws(st, r - kMM, c * 4), W + (ok ? static_cast<size_t>(n) * K + k : 0), ok);
        }
      }
    }
    cp_async_commit();  // an empty group past the end keeps the wait counts uniform
  };
  int32_t acc[4][kNI][4];
  gemm_acc_clear(acc);
#pragma unroll
  for (int s = 0; s < kS - 1; ++s) issue(s);
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<kS - 2>();  // tile kt has landed (this thread's copies) ...
    __syncthreads();          // ... everyone's, and everyone is done with tile kt - 1's stage
    issue(kt + kS - 1);       // into the stage tile kt - 1 used
    const int st = kt % kS;
#pragma unroll
    for (int kw = 0; kw < kMK / 4; kw += 8) {
      uint32_t a[4][4], b[kNI][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        const int r = wm * 64 + mi * 16 + g;
        a[mi][0] = *xs(st, r, kw + tg);
        a[mi][1] = *xs(st, r + 8, kw + tg);
        a[mi][2] = *xs(st, r, kw + 4 + tg);
        a[mi][3] = *xs(st, r + 8, kw + 4 + tg);
      }
#pragma unroll
      for (int ni = 0; ni < kNI; ++ni) {
        const int c = wn * (kBN / 4) + ni * 8 + g;
        b[ni][0] = *ws(st, c, kw + tg);
        b[ni][1] = *ws(st, c, kw + 4 + tg);
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < kNI; ++ni) mma_s8(acc[mi][ni], a[mi], b[ni]);
    }
  }
  cp_async_wait<0>();
  if constexpr (kStaged) {
    static_assert(static_cast<size_t>(kMM) * gemm_tile_ld(kBN, true) <= GemmAsyncShape<kBN>::kBytes, "tile fits");
    gemm_staged_epilogue<kBN>(ep, gsm, acc, M, N, m0, n0);
    return;
  }
  const bool pairs = ep.pair_ok();
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int ni = 0; ni < kNI; ++ni)
#pragma unroll
      for (int c = 0; c < 4; c += 2) {
        const int m = m0 + wm * 64 + mi * 16 + g + (c >= 2 ? 8 : 0);
        const int n = n0 + wn * (kBN / 4) + ni * 8 + tg * 2;
        if (m >= M) continue;
        if (pairs && n + 1 < N) {
          ep.store2(m, n, acc[mi][ni][c], acc[mi][ni][c + 1]);
        } else {
          if (n < N) ep.store(m, n, acc[mi][ni][c]);
          if (n + 1 < N) ep.store(m, n + 1, acc[mi][ni][c + 1]);
        }
      }
}

// GemmKernel::kMmaLean (`mma-lean`, the default since run30): kMmaStaged's block and warp tiles,
// mma.sync fragments, exact int32 sums and staged epilogue, with fewer instructions per mma.
// The SASS of k_gemm_mma_async issues about 13 instructions per IMMA (run21's ncu: 303 M issued
// for 23.8 M IMMA in one in_proj launch; 0.5 to 0.58 issued per scheduler and cycle): each of a
// thread's four 16-byte copies a stage recomputes its row, column, bounds and addresses (about 30
// instructions, with 3 padding no-ops for the zero-fill form), and the fragments are 24 four-byte
// shared loads per 16 mma. Here:
//  - a thread's copies are fixed for the kernel: rows r and r + 64 of the x and the W tile, chunk
//    c, so their global pointers, shared offsets and row checks are formed once; a full stage is 4
//    predicated copies at the pointers advanced by k0 (rows past M or N are not copied: their
//    outputs are never stored, and whatever the stage holds there only reaches those outputs);
//    only a last partial K stage zero-fills the chunks past K;
//  - the fragments by ldmatrix.x4: 4 for x's four m16 tiles and 2 for W's four n8 tiles per
//    32-byte k step, 6 shared loads per 16 mma instead of 24 (the same bytes in the same fragment
//    registers, so the same sums). Rows stay 20 words apart (80 bytes: the 8 rows of a matrix fall
//    into 8 different 4-bank groups). run13 measured ldmatrix slower in the register-staged
//    k_gemm_mma (in_proj 225 against 249 TOPS); here it also removes the register moves that
//    two-word loads would need (a0, a1 come from different rows).
// The lean kernel's epilogue: gemm_staged_epilogue's values (ep.value, then quant_rne_sat8 or
// f32_to_f16_rne) and tile, with a row's bounds and alpha check formed once for its 4 column pairs
// (not once per pair), the int8 code as num::f32_to_i32_rne_sat (cvt.rni: equal to
// f32_to_i32_sat(round_rne(v)) on every input, GpuOps.CvtConversionsEqualPortableOnEveryInput)
// clamped by sat8, and an f16 pair as one cvt.rn.f16x2.f32 where neither value is NaN (non-NaN:
// each half is cvt.rn.f16.f32's, f32_to_f16_rne's device path; NaN: f32_to_f16_rne itself).
// The block's 128 x 128 outputs (acc in the m16n8 layout of 8 warps as 2 x 4) into the staged
// tile; rows past M are skipped.
__device__ __forceinline__ void gemm_lean_put(const GemmEpilogue& ep, uint8_t* tile, const int32_t (&acc)[4][4][4],
                                              int M, int m0) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tg = lane % 4;
  const int wm = warp / 4, wn = warp % 4;
  const int ldt = gemm_tile_ld(128, ep.out_f16);
#pragma unroll
  for (int mi = 0; mi < 4; ++mi)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {  // rows g and g + 8 of the m16 tile: accumulators 2·hf, 2·hf + 1
      const int r = wm * 64 + mi * 16 + g + 8 * hf;
      if (m0 + r >= M) continue;
      const bool use_alpha = ep.row_alpha != nullptr && ep.row_alpha[m0 + r] != 0;
      uint8_t* row = tile + r * ldt;
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int col = wn * 32 + ni * 8 + tg * 2;
        const float v0 = ep.value(use_alpha, acc[mi][ni][2 * hf]), v1 = ep.value(use_alpha, acc[mi][ni][2 * hf + 1]);
        if (ep.out_f16)
          *reinterpret_cast<uint32_t*>(row + col * 2) = gemm_pack_f16(v0, v1);
        else
          *reinterpret_cast<uint16_t*>(row + col) = gemm_pack_s8(v0, v1);
      }
    }
}
__device__ __forceinline__ void gemm_lean_epilogue(const GemmEpilogue& ep, uint32_t* smem, const int32_t (&acc)[4][4][4],
                                                   int M, int N, int m0, int n0) {
  __syncthreads();  // every warp is done with the stages
  uint8_t* tile = reinterpret_cast<uint8_t*>(smem);
  gemm_lean_put(ep, tile, acc, M, m0);
  __syncthreads();
  gemm_tile_store<kMM, 128, 256>(ep, tile, gemm_tile_ld(128, ep.out_f16), M, N, m0, n0);
}
constexpr int kLW = kMW;  // words per shared row: 64 bytes of k and 16 of padding
template <int kStages>
struct GemmLeanShape {
  static constexpr int kStageWords = (kMM + 128) * kLW;
  static constexpr size_t kBytes = static_cast<size_t>(kStages) * kStageWords * 4;
};
// ldmatrix .x4: lanes 8j .. 8j + 7 give the shared addresses of the 8 rows (16 bytes each) of
// matrix j; each lane receives, in r[j], the 4 bytes 4·(lane % 4) .. + 3 of row lane / 4 of matrix
// j: the m16n8k32 s8 fragment word of that row and k step half.
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
template <int kStages>
__global__ void __launch_bounds__(256, 2) k_gemm_mma_lean(int M, int N, int K, const int8_t* x, int ldx,
                                                          const int8_t* W, GemmEpilogue ep) {
  using Shape = GemmLeanShape<kStages>;
  constexpr int kS = kStages;
  constexpr uint32_t kStageBytes = Shape::kStageWords * 4, kHalf = 64 * kLW * 4, kWOff = kMM * kLW * 4;
  extern __shared__ __align__(16) uint32_t gsm[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;
  const int m0 = blockIdx.y * kMM, n0 = blockIdx.x * 128;
  // This thread's copies: chunk c of rows r and r + 64 of the x tile and of the W tile.
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const bool vx0 = m0 + r < M, vx1 = m0 + r + 64 < M, vw0 = n0 + r < N, vw1 = n0 + r + 64 < N;
  // The global pointers of the next stage's copies, advanced a stage at a time (loop-carried, so
  // that the compiler keeps them in registers instead of re-deriving them from threadIdx).
  const int8_t* gx0 = x + static_cast<size_t>(vx0 ? m0 + r : 0) * ldx + c * 16;
  const int8_t* gx1 = x + static_cast<size_t>(vx1 ? m0 + r + 64 : 0) * ldx + c * 16;
  const int8_t* gw0 = W + static_cast<size_t>(vw0 ? n0 + r : 0) * K + c * 16;
  const int8_t* gw1 = W + static_cast<size_t>(vw1 ? n0 + r + 64 : 0) * K + c * 16;
  const uint32_t s_this = static_cast<uint32_t>(__cvta_generic_to_shared(gsm)) + (r * kLW + c * 4) * 4;
  const int kt_count = (K + kMK - 1) / kMK;
  int k_next = 0, st_next = 0;  // the next stage to fill: its tile's K offset, its stage
  uint32_t s_next = s_this;     // and this thread's shared address there
  auto issue = [&]() {
    if (k_next < K) {
      const uint32_t s = s_next;
      if (k_next + kMK <= K) {
        cp_async16_if(s, gx0, vx0);
        cp_async16_if(s + kHalf, gx1, vx1);
        cp_async16_if(s + kWOff, gw0, vw0);
        cp_async16_if(s + kWOff + kHalf, gw1, vw1);
      } else {  // the last stage of a K that is not a multiple of 64 (K % 16 == 0): zeros past K
        const bool kc = k_next + c * 16 < K;
        const int k = kc ? 0 : -k_next;  // past K: the row's start, not read (source size 0)
        cp_async16_zfill(s, gx0 + k, vx0 && kc);
        cp_async16_zfill(s + kHalf, gx1 + k, vx1 && kc);
        cp_async16_zfill(s + kWOff, gw0 + k, vw0 && kc);
        cp_async16_zfill(s + kWOff + kHalf, gw1 + k, vw1 && kc);
      }
      k_next += kMK, gx0 += kMK, gx1 += kMK, gw0 += kMK, gw1 += kMK;
      if (++st_next == kS) {
        st_next = 0, s_next = s_this;
      } else {
        s_next += kStageBytes;
      }
    }
    cp_async_commit();  // an empty group past the end keeps the wait counts uniform
  };
  int32_t acc[4][4][4];
  gemm_acc_clear(acc);
#pragma unroll
  for (int s = 0; s < kS - 1; ++s) issue();
  // This lane's ldmatrix row addresses in stage 0 (ldsm_x4: lanes 8j .. 8j + 7 give matrix j's 8
  // rows): x rows wm·64 + (lane % 8) + 8·(lane / 8 % 2), bytes 16·(lane / 16) of the k step, so
  // matrices 0..3 are a0..a3 of the m16 tile; W rows kMM + wn·32 + (lane % 8) + 8·(lane / 16),
  // bytes 16·(lane / 8 % 2), so matrices 0..3 are b0, b1 of two n8 tiles.
  const uint32_t sm0 = static_cast<uint32_t>(__cvta_generic_to_shared(gsm));
  const uint32_t a_lane = sm0 + (wm * 64 + (lane & 7) + ((lane >> 3) & 1) * 8) * kLW * 4 + (lane >> 4) * 16;
  const uint32_t b_lane = sm0 + (kMM + wn * 32 + (lane & 7) + (lane >> 4) * 8) * kLW * 4 + ((lane >> 3) & 1) * 16;
  uint32_t so = 0;  // the stage tile kt is in, as a byte offset
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<kS - 2>();  // tile kt has landed (this thread's copies) ...
    __syncthreads();          // ... everyone's, and everyone is done with tile kt - 1's stage
    issue();                  // tile kt + kS - 1, into the stage tile kt - 1 used
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // the two 32-byte k steps of the stage
      uint32_t a[4][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) ldsm_x4(a[mi], a_lane + so + mi * 16 * kLW * 4 + 32 * h);
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        uint32_t t[4];
        ldsm_x4(t, b_lane + so + p * 16 * kLW * 4 + 32 * h);
        b[2 * p][0] = t[0], b[2 * p][1] = t[1], b[2 * p + 1][0] = t[2], b[2 * p + 1][1] = t[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_s8(acc[mi][ni], a[mi], b[ni]);
    }
    so = so + kStageBytes == kS * kStageBytes ? 0u : so + kStageBytes;
  }
  cp_async_wait<0>();
  static_assert(static_cast<size_t>(kMM) * gemm_tile_ld(128, true) <= Shape::kBytes, "tile fits");
  gemm_lean_epilogue(ep, gsm, acc, M, N, m0, n0);
}

// GemmKernel::kMmaLean for K <= 64 (dt_proj, K = dt_rank = 48; run31: 21.1 -> 20.2 ms), where a 128 x 128 tile is one partial K stage and the block's
// time is its load latency and epilogue (run30: dt_proj 21.2 ms for 15.6 GB of int8 outputs, 16
// warps an SM). A block owns 128 rows of x and kSkTiles column tiles: the x tile is copied once
// and its fragments stay in registers, the next W tile is copied while the current one is
// multiplied and stored, and the staged epilogue is kMmaLean's (gemm_lean_put, gemm_tile_store).
// K's chunks past K are zero-filled in both tiles, so the sums are the same exact int32 sums.
constexpr int kSkTiles = 3;
constexpr size_t kSkBytes = 3 * static_cast<size_t>(kMM) * kLW * 4 + static_cast<size_t>(kMM) * gemm_tile_ld(128, true);
__global__ void __launch_bounds__(256, 2) k_gemm_mma_smallk(int M, int N, int K, const int8_t* x, int ldx,
                                                            const int8_t* W, GemmEpilogue ep) {
  extern __shared__ __align__(16) uint32_t gsm[];
  constexpr uint32_t kTileBytes = kMM * kLW * 4, kHalf = 64 * kLW * 4;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;
  const int m0 = blockIdx.x * kMM, nt0 = blockIdx.y * kSkTiles;
  const int NT = (N + 127) / 128, nt1 = min(NT, nt0 + kSkTiles);
  const uint32_t s_x = static_cast<uint32_t>(__cvta_generic_to_shared(gsm));  // then W tiles 0, 1
  uint8_t* tile = reinterpret_cast<uint8_t*>(gsm + 3 * kMM * kLW);
  // This thread's copies: chunk c of rows r and r + 64 (zeros past M, N or K).
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const bool kc = c * 16 < K;
  const uint32_t so = (r * kLW + c * 4) * 4;
  auto copy = [&](uint32_t s, const int8_t* base, int row, int rows, int ld) {
    const bool ok = kc && row < rows;
    cp_async16_zfill(s, base + (ok ? static_cast<size_t>(row) * ld + c * 16 : 0), ok);
  };
  copy(s_x + so, x, m0 + r, M, ldx), copy(s_x + so + kHalf, x, m0 + r + 64, M, ldx);
  auto load_w = [&](int nt) {
    const uint32_t s = s_x + (1 + (nt & 1)) * kTileBytes + so;
    copy(s, W, nt * 128 + r, N, K), copy(s + kHalf, W, nt * 128 + r + 64, N, K);
  };
  if (nt0 < nt1) load_w(nt0);
  cp_async_commit();
  const uint32_t a_lane = s_x + (wm * 64 + (lane & 7) + ((lane >> 3) & 1) * 8) * kLW * 4 + (lane >> 4) * 16;
  const uint32_t b_lane = (wn * 32 + (lane & 7) + (lane >> 4) * 8) * kLW * 4 + ((lane >> 3) & 1) * 16;
  uint32_t a[2][4][4];  // the x fragments of the two 32-byte k steps
  for (int nt = nt0; nt < nt1; ++nt) {
    if (nt + 1 < nt1) load_w(nt + 1);
    cp_async_commit();
    cp_async_wait<1>();  // tile nt (and x) landed (this thread's copies) ...
    __syncthreads();     // ... everyone's; everyone is done with the staged tile's last store
    if (nt == nt0) {
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) ldsm_x4(a[h][mi], a_lane + mi * 16 * kLW * 4 + 32 * h);
    }
    int32_t acc[4][4][4];
    gemm_acc_clear(acc);
    const uint32_t sw = s_x + (1 + (nt & 1)) * kTileBytes + b_lane;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t b[4][2];
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        uint32_t t[4];
        ldsm_x4(t, sw + p * 16 * kLW * 4 + 32 * h);
        b[2 * p][0] = t[0], b[2 * p][1] = t[1], b[2 * p + 1][0] = t[2], b[2 * p + 1][1] = t[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_s8(acc[mi][ni], a[h][mi], b[ni]);
    }
    gemm_lean_put(ep, tile, acc, M, m0);
    __syncthreads();  // the tile is complete; every warp is done with W tile nt's stage
    gemm_tile_store<kMM, 128, 256>(ep, tile, gemm_tile_ld(128, ep.out_f16), M, N, m0, nt * 128);
  }
  cp_async_wait<0>();
}

// ------------------------------------------------------------------ conv1d (spec §2.5)

// Causal conv1d + SiLU + RNA quantizer, one thread per (t, e); x [T, E] with row stride ldx. The
// window never crosses a document start. s_in_doc (nullable): per-document input scale (doc mode
// 3), else s_x. v (nullable): the TRUE FP32 pre-quantizer value (spec §4.2).
__global__ void k_conv(int L, int E, int K, const int8_t* x, int ldx, const int8_t* w, const int8_t* b, float w_c,
                       float b_c, float s_x, const float* s_in_doc, const int32_t* doc, float s_u,
                       const int32_t* start, int8_t* out, float* v_out) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
  if (e >= E || t >= L) return;
  int32_t acc = 0;
  for (int k = 0; k < K; ++k) {
    const int ti = t - (K - 1) + k;
    if (ti >= start[t])
      acc += static_cast<int32_t>(w[static_cast<size_t>(e) * K + k]) * static_cast<int32_t>(x[static_cast<size_t>(ti) * ldx + e]);
  }
  const float scale = w_c * (s_in_doc ? s_in_doc[doc[t]] : s_x);  // fl32(w_c·s_xz)
  const float bias = static_cast<float>(b ? b[e] : 0) * b_c;
  const float v = num::silu_f32(num::fma_f32(scale, num::i32_to_f32_rne(acc), bias));
  const size_t i = static_cast<size_t>(t) * E + e;
  if (v_out) v_out[i] = v;
  out[i] = num::quant_rna_sat8(v / s_u);
}

// The conv output's int8 code without the correctly rounded exp and the two IEEE divisions, where
// that provably gives the golden code q = sat8(RNA(silu_f32(y) / s_u)): r = y·rcp(1 + 2^(-y·log2e))
// ·inv_su with the hardware approximations (ex2.approx within 2 ulp, rcp.approx within 1 ulp)
// differs from golden's quotient by less than |r|·(2^-20 + |y|·2^-23.5) (the rounding of -y·log2e
// amplified by |y|, five further roundings, golden's own five), which is the precondition of
// num::conv_code_from_approx; that function decides, or sends the element back to golden's
// definition (near a rounding boundary, |y| > 64). gpu_ops_test checks the whole path against the
// definition on all 2^32 bit patterns of y for several s_u (ConvFastQuantEqualsGoldenOnEveryInput);
// numerics_test checks the decision against adversarial approximations at the bound.
__device__ __forceinline__ float ex2_approx(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float rcp_approx(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ bool conv_quant_fast(float y, float inv_su, int8_t* q) {
  if (!(fabsf(y) <= 64.0f)) return false;
  return num::conv_code_from_approx(y, (y * rcp_approx(1.0f + ex2_approx(y * -1.44269504f))) * inv_su, q);
}
// golden's code: num::quant_rna_sat8(num::silu_f32(y) / s_u).
__device__ __forceinline__ int8_t conv_quant(float y, float s_u, float inv_su) {
  int8_t q;
  if (conv_quant_fast(y, inv_su, &q)) return q;
  return num::quant_rna_sat8(num::silu_f32(y) / s_u);
}
// Whether the fast path applies to s_u: 1/s_u rounded is a finite normal float and s_u normal.
inline bool conv_fast_scale_ok(float s_u) {
  const float inv = 1.0f / s_u;
  return s_u > 0.0f && std::isfinite(inv) && std::isnormal(inv) && std::isnormal(s_u);
}

// k_conv for the forward's usual case (int8 output only, K = 4, E % 4 == 0, 4-byte aligned rows,
// 16-byte aligned weights): a thread owns 4 channels (one 4-byte load per row) and kConvTok
// consecutive tokens, keeping the window in registers, and quantizes through conv_quant. The
// integer sums and y = fma(scale, acc, bias) are k_conv's.
//
// kDp4a (ConvKernel::kDp4a, `dp4a`, the default since run31: 40.4 -> 30.8 ms): the same integer sums by one __dp4a
// per channel and token. The thread keeps each channel's 4-tap window as one word (byte k = row
// t - 3 + k of that channel, shifted a byte a token by one byte permute), masks the taps before the
// document start to zero, and multiplies it with the channel's 4 weight bytes: sum over k of
// w[c][k]·x[t-3+k][c], exact in int32 like the 16 separate products (the SASS of kFast spends
// about 70 instructions a token on unpacking bytes and the 4 start tests).
constexpr int kConvTok = 16, kConvThreads = 128;
// The dequantized biases of channels 4·e4 .. 4·e4 + 3 (0 without a bias), as k_conv4 and
// k_conv4_staged add them.
__device__ __forceinline__ void conv4_bias(const int8_t* b, int e4, float b_c, float (&bias)[4]) {
  const char4 bq = b ? *reinterpret_cast<const char4*>(b + 4 * e4) : make_char4(0, 0, 0, 0);
  bias[0] = static_cast<float>(bq.x) * b_c, bias[1] = static_cast<float>(bq.y) * b_c;
  bias[2] = static_cast<float>(bq.z) * b_c, bias[3] = static_cast<float>(bq.w) * b_c;
}
// The window mask of a token with nz taps before its document start (nz <= 3: start[t] <= t):
// those bytes (the low ones, rows t - 3 .. t - 4 + nz) cleared.
__device__ __forceinline__ uint32_t conv4_keep(int nz) { return nz <= 0 ? 0xFFFFFFFFu : 0xFFFFFFFFu << (8 * nz); }
// One token of k_conv4<true> and k_conv4_staged: channel c's 4-tap window col[c] (byte k = row
// t - 3 + k) masked by keep, the __dp4a sum, then fma and the quantizer; the 4 channels' int8
// results packed as one word.
__device__ __forceinline__ uint32_t conv4_token(const int (&wk)[4], const uint32_t (&col)[4], uint32_t keep,
                                                float scale, const float (&bias)[4], float s_u, float inv_su) {
  uint32_t packed = 0;
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    const int32_t acc = __dp4a(wk[c], static_cast<int>(col[c] & keep), 0);
    const float y = num::fma_f32(scale, num::i32_to_f32_rne(acc), bias[c]);
    packed |= static_cast<uint32_t>(static_cast<uint8_t>(conv_quant(y, s_u, inv_su))) << (8 * c);
  }
  return packed;
}
template <bool kDp4a = false>
__global__ void __launch_bounds__(kConvThreads) k_conv4(int L, int E, const int8_t* x, int ldx, const int8_t* w,
                                                        const int8_t* b, float w_c, float b_c, float s_x,
                                                        const float* s_in_doc, const int32_t* doc, float s_u,
                                                        float inv_su, const int32_t* start, int8_t* out) {
  const int e4 = blockIdx.x * blockDim.x + threadIdx.x;  // channels 4·e4 .. 4·e4 + 3
  if (4 * e4 >= E) return;
  const int t0 = blockIdx.y * kConvTok;
  const int t1 = min(L, t0 + kConvTok);
  const int4 wv = __ldg(reinterpret_cast<const int4*>(w) + e4);  // [4 channels][4 taps]
  const int wk[4] = {wv.x, wv.y, wv.z, wv.w};
  float bias[4];
  conv4_bias(b, e4, b_c, bias);
  auto row = [&](int ti) { return *reinterpret_cast<const uint32_t*>(x + static_cast<size_t>(ti) * ldx + 4 * e4); };
  if constexpr (kDp4a) {
    uint32_t col[4] = {0u, 0u, 0u, 0u};  // channel c's window: byte k = row t - 3 + k (0 before the batch)
    for (int k = 0; k < 3; ++k) {
      const uint32_t r = t0 - 3 + k >= 0 ? row(t0 - 3 + k) : 0u;
#pragma unroll
      for (int c = 0; c < 4; ++c) col[c] = __byte_perm(col[c], r, 0x4321 + 0x1000 * c);
    }
    for (int t = t0; t < t1; ++t) {
      const uint32_t r = row(t);
#pragma unroll
      for (int c = 0; c < 4; ++c) col[c] = __byte_perm(col[c], r, 0x4321 + 0x1000 * c);
      const uint32_t keep = conv4_keep(start[t] - (t - 3));  // taps before the document start masked off
      const float scale = w_c * (s_in_doc ? s_in_doc[doc[t]] : s_x);
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(t) * E + 4 * e4) =
          conv4_token(wk, col, keep, scale, bias, s_u, inv_su);
    }
  } else {
    uint32_t win[4];  // rows t-3 .. t (window[3] = row t)
    for (int k = 0; k < 3; ++k) win[k + 1] = t0 - 3 + k >= 0 ? row(t0 - 3 + k) : 0u;
    for (int t = t0; t < t1; ++t) {
      win[0] = win[1], win[1] = win[2], win[2] = win[3];
      win[3] = row(t);
      const int st = start[t];
      int32_t acc[4] = {0, 0, 0, 0};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (t - 3 + k < st) continue;  // the window never crosses the document start
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int32_t xv = static_cast<int8_t>(win[k] >> (8 * c));
          const int32_t wv8 = static_cast<int8_t>(static_cast<uint32_t>(wk[c]) >> (8 * k));
          acc[c] += wv8 * xv;
        }
      }
      const float scale = w_c * (s_in_doc ? s_in_doc[doc[t]] : s_x);
      uint32_t packed = 0;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float y = num::fma_f32(scale, num::i32_to_f32_rne(acc[c]), bias[c]);
        packed |= static_cast<uint32_t>(static_cast<uint8_t>(conv_quant(y, s_u, inv_su))) << (8 * c);
      }
      *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(t) * E + 4 * e4) = packed;
    }
  }
}
// ConvKernel::kStaged (`staged`): k_conv4<true>'s arithmetic (the same __dp4a sums, fma and
// quantizer, token by token) with the block's input rows copied into shared memory first. In
// k_conv4 each token's 4-byte row load waits for the previous token's store (out is a char
// pointer, so the compiler must assume it may alias x and start): one load in flight per warp,
// 40 warps an SM (48 registers), about 1.1 TB/s (run32: 30.7 ms for 30 GB). Here every thread
// issues its kConvTok + 3 row copies (cp.async, 4 bytes each: a warp's 128 contiguous bytes a row)
// and the tokens' document starts at once, waits for them, and then runs the loop on shared memory.
// Both kernels' per-token work is conv4_keep + conv4_token and their biases conv4_bias: every
// kernel's SASS is the same instruction for instruction as when each had its own copy (cuobjdump,
// per function; run38 and run39 measured that code). Only the window loads differ (global rows
// there, shared rows here).
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(static_cast<uint32_t>(__cvta_generic_to_shared(smem))),
               "l"(gmem));
}
__global__ void __launch_bounds__(kConvThreads) k_conv4_staged(int L, int E, const int8_t* x, int ldx, const int8_t* w,
                                                               const int8_t* b, float w_c, float b_c, float s_x,
                                                               const float* s_in_doc, const int32_t* doc, float s_u,
                                                               float inv_su, const int32_t* start, int8_t* out) {
  __shared__ uint32_t sx[kConvTok + 3][kConvThreads];  // row t0 - 3 + k of this thread's 4 channels
  __shared__ int32_t s_start[kConvTok];
  const int e4 = blockIdx.x * blockDim.x + threadIdx.x;  // channels 4·e4 .. 4·e4 + 3
  const bool live = 4 * e4 < E;
  const int t0 = blockIdx.y * kConvTok;
  const int t1 = min(L, t0 + kConvTok);
  if (live)
#pragma unroll
    for (int k = 0; k < kConvTok + 3; ++k) {
      const int ti = t0 - 3 + k;
      if (ti >= 0 && ti < t1) cp_async4(&sx[k][threadIdx.x], x + static_cast<size_t>(ti) * ldx + 4 * e4);
    }
  if (threadIdx.x < t1 - t0) cp_async4(&s_start[threadIdx.x], start + t0 + threadIdx.x);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();  // s_start came from other threads
  if (!live) return;
  const int4 wv = __ldg(reinterpret_cast<const int4*>(w) + e4);  // [4 channels][4 taps]
  const int wk[4] = {wv.x, wv.y, wv.z, wv.w};
  float bias[4];
  conv4_bias(b, e4, b_c, bias);
  uint32_t col[4] = {0u, 0u, 0u, 0u};  // channel c's window: byte k = row t - 3 + k (0 before the batch)
  for (int k = 0; k < 3; ++k) {
    const uint32_t r = t0 - 3 + k >= 0 ? sx[k][threadIdx.x] : 0u;
#pragma unroll
    for (int c = 0; c < 4; ++c) col[c] = __byte_perm(col[c], r, 0x4321 + 0x1000 * c);
  }
  for (int t = t0; t < t1; ++t) {
    const uint32_t r = sx[t - t0 + 3][threadIdx.x];
#pragma unroll
    for (int c = 0; c < 4; ++c) col[c] = __byte_perm(col[c], r, 0x4321 + 0x1000 * c);
    const uint32_t keep = conv4_keep(s_start[t - t0] - (t - 3));  // taps before the document start masked off
    const float scale = w_c * (s_in_doc ? s_in_doc[doc[t]] : s_x);
    *reinterpret_cast<uint32_t*>(out + static_cast<size_t>(t) * E + 4 * e4) =
        conv4_token(wk, col, keep, scale, bias, s_u, inv_su);
  }
}
// One conv launch: k_conv4 for kFast where it applies, else k_conv.
inline void launch_conv(ConvKernel kind, int L, int E, int K, const int8_t* x, int ldx, const int8_t* w,
                        const int8_t* b, float w_c, float b_c, float s_x, const float* s_in_doc, const int32_t* doc,
                        float s_u, const int32_t* start, int8_t* out, float* v_out, cudaStream_t st = 0) {
  const bool fast = kind != ConvKernel::kExact && v_out == nullptr && K == 4 && E % 4 == 0 && ldx % 4 == 0 &&
                    reinterpret_cast<uintptr_t>(x) % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(b) % 4 == 0 && reinterpret_cast<uintptr_t>(out) % 4 == 0 &&
                    conv_fast_scale_ok(s_u);
  if (fast) {
    const dim3 grid(static_cast<unsigned>((E / 4 + kConvThreads - 1) / kConvThreads),
                    static_cast<unsigned>((L + kConvTok - 1) / kConvTok));
    if (kind == ConvKernel::kStaged)
      k_conv4_staged<<<grid, kConvThreads, 0, st>>>(L, E, x, ldx, w, b, w_c, b_c, s_x, s_in_doc, doc, s_u, 1.0f / s_u,
                                                    start, out);
    else if (kind == ConvKernel::kDp4a)
      k_conv4<true><<<grid, kConvThreads, 0, st>>>(L, E, x, ldx, w, b, w_c, b_c, s_x, s_in_doc, doc, s_u, 1.0f / s_u,
                                                   start, out);
    else
      k_conv4<false><<<grid, kConvThreads, 0, st>>>(L, E, x, ldx, w, b, w_c, b_c, s_x, s_in_doc, doc, s_u, 1.0f / s_u,
                                                    start, out);
    return;
  }
  const dim3 grid(static_cast<unsigned>((E + 127) / 128), static_cast<unsigned>(L));
  k_conv<<<grid, 128, 0, st>>>(L, E, K, x, ldx, w, b, w_c, b_c, s_x, s_in_doc, doc, s_u, start, out, v_out);
}

// ------------------------------------------------------------------ mode sites (spec §4, §5.8)

// Per-document max over the document's [L_d, E] elements of f(t, e) >= 0 (max is exact in any
// order). One block per document.
template <class F>
__device__ float doc_max(int d, const int32_t* off, int E, F f) {
  __shared__ float part[32];
  float mx = 0.0f;
  const size_t n0 = static_cast<size_t>(off[d]) * E, n1 = static_cast<size_t>(off[d + 1]) * E;
  for (size_t i = n0 + threadIdx.x; i < n1; i += blockDim.x) mx = fmaxf(mx, f(i));
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = mx;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < static_cast<int>(blockDim.x / 32); ++i) mx = fmaxf(mx, part[i]);
    part[0] = mx;
  }
  __syncthreads();
  return part[0];
}

// Doc mode 3 (spec §4.3): s_dyn[d] = fl32(max|fl32(q·s_xz)| / 127) over the document (s_xz if 0).
__global__ void k_dyn_scale(const int32_t* off, int E, const int8_t* q, int ldq, float s_xz, float* s_dyn) {
  const int d = blockIdx.x;
  const float mx = doc_max(d, off, E, [&](size_t i) {
    return fabsf(static_cast<float>(q[(i / E) * ldq + i % E]) * s_xz);
  });
  if (threadIdx.x == 0) s_dyn[d] = mx > 0.0f ? mx / 127.0f : s_xz;
}
// out = sat8(RNE(fl32(q·s_xz) / s_dyn[doc])) into [T, E].
__global__ void k_dyn_requant(int L, int E, const int8_t* q, int ldq, float s_xz, const float* s_dyn,
                              const int32_t* doc, int8_t* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(L) * E) return;
  const size_t t = i / E, e = i % E;
  out[i] = num::requant_sat8(num::Rounding::kRne, static_cast<float>(q[t * ldq + e]) * s_xz, s_dyn[doc[t]]);
}

// The u site's source x: v (TRUE FP32) or the grid value fl32(s_u·q).
__device__ __forceinline__ float u_source(const float* v, const int8_t* q, float s_u, size_t i) {
  return v ? v[i] : s_u * static_cast<float>(q[i]);
}
// grid_requant_outliers, per_call_max (5-3): s_o[d] = max(fl32(max|x| over outliers / 127), s_u).
__global__ void k_outlier_scale(const int32_t* off, int E, const float* v, const int8_t* q, num::UQuantParams p,
                                float* s_o) {
  const int d = blockIdx.x;
  const float mx = doc_max(d, off, E, [&](size_t i) {
    const float x = u_source(v, q, p.s, i);
    return num::u_is_outlier(p, x) ? fabsf(x) : 0.0f;
  });
  if (threadIdx.x == 0) s_o[d] = fmaxf(mx / 127.0f, p.s);
}
// The u quantizer (numerics.h u_quantize; code = sat8(R(x/s_u))). s_o_doc (nullable): per-document
// outlier scale. value / code nullable.
__global__ void k_u_site(int L, int E, const float* v, const int8_t* q, num::UQuantParams p, const float* s_o_doc,
                         const int32_t* doc, float* value, int8_t* code) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(L) * E) return;
  const float x = u_source(v, q, p.s, i);
  if (s_o_doc) p.s_o = s_o_doc[doc[i / E]];
  if (value) value[i] = num::u_quantize(p, x);
  if (code) code[i] = num::requant_sat8(p.rounding, x, p.s);
}

// out[i] = sat8(R(x[i] / s)) (spec §4.2 PyTorch-style requantization).
__global__ void k_requant(size_t n, num::Rounding r, const float* x, float s, int8_t* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = num::requant_sat8(r, x[i], s);
}
// x[i] = fl32(sat8(RNE(x[i] / s))·s) (6-0 re-gridding).
__global__ void k_regrid(size_t n, float* x, float s) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = static_cast<float>(num::requant_sat8(num::Rounding::kRne, x[i], s)) * s;
}
// u as f32: fl32(s_u·q) (the int8 u dequantized for f32 consumers).
__global__ void k_dequant(size_t n, const int8_t* q, float s, float* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = s * static_cast<float>(q[i]);
}

// f32 linear with dequantized weights (6-x): y[m, o] = Σ_k fl32(x[m,k]·fl32(f32(W[o,k])·w_scale)),
// ascending k from 0.0f. One thread per output; x rows (stride ldx) staged in shared memory.
__global__ void k_linear_f32(int M, int K, int Nout, const float* x, int ldx, const int8_t* W, float w_scale,
                             float* y, int ldy) {
  extern __shared__ float xrow[];  // K floats
  const int m = blockIdx.y;
  for (int k = threadIdx.x; k < K; k += blockDim.x) xrow[k] = x[static_cast<size_t>(m) * ldx + k];
  __syncthreads();
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= Nout) return;
  const int8_t* w = W + static_cast<size_t>(o) * K;
  float acc = 0.0f;
  for (int k = 0; k < K; ++k) acc = acc + xrow[k] * (static_cast<float>(w[k]) * w_scale);
  y[static_cast<size_t>(m) * ldy + o] = acc;
}

// 6-4 (int8_rne): the f32 x_proj output's B and C columns re-quantized into the int8 xdbl rows.
__global__ void k_requant_bc(int L, int X, int R, int N, const float* xf, float sB, float sC, int8_t* xq) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(L) * 2 * N) return;
  const size_t t = i / (2 * N);
  const int c = R + static_cast<int>(i % (2 * N));
  xq[t * X + c] = num::requant_sat8(num::Rounding::kRne, xf[t * X + c], c < R + N ? sB : sC);
}
// The scan's B and C dequantized once per token for all channels: out[t][c] = s·q with s = sB for
// c < N, sC above, q the int8 x_proj output at column R + c of row t (X columns): exactly the
// product each scan thread would form (scan_b, scan_c).
__global__ void k_dequant_bc(int L, int X, int R, int N, const int8_t* xq, float sB, float sC, float* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(L) * 2 * N) return;
  const size_t t = i / (2 * N);
  const int c = static_cast<int>(i % (2 * N));
  out[i] = (c < N ? sB : sC) * static_cast<float>(xq[t * X + R + c]);
}
// f32 dt into the scan: fl32(dt + fl32(s_db·q_db)).
__global__ void k_dt_pre(int L, int E, const float* dt, const int8_t* dbq, float s_db, float* out) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<size_t>(L) * E) return;
  out[i] = dt[i] + s_db * static_cast<float>(dbq[i % E]);
}

// ------------------------------------------------------------------ selective scan (spec §2.6, §4.5)

// The scan's scales: golden's struct (the same fields, passed to the kernels by value).
using ScanScales = golden::SsmScales;
// The scan's operands, int8 or f32 per input (exactly one of each pair is non-null).
struct ScanIn {
  const int8_t* u_q;  const float* u_f;    // [T, E]
  const int8_t* dt_q; const float* dt_pre; // [T, E]; dt_pre already holds the bias
  const int8_t* bc_q; const float* bc_f;   // rows of stride ld_bc: B at col b_off, C at col c_off
  int ld_bc, b_off, c_off;
  const int8_t* z; int ld_z;               // z [T, E] with row stride ld_z
  const int8_t *A_log, *D, *dt_bias;
  // Tables over dt's 256 codes (k_scan_table; null: computed per token): softplus(dt) [E][256],
  // e^(softplus(dt)·A[n]) [E][256][N], and SiLU(z)'s denominator 1 + e^(-z) over z's codes [256].
  const float *tab_dt, *tab_dA, *tab_zden;
};

// The scan's arithmetic, shared by both kernels below: kernel arithmetic (spec §2.6 with §5.8:
// h = fma(e^(dt·A), h, B·fl32(dt·u)), y = an fma chain over ascending n from D·u, times SiLU(z)) or
// P-seq (spec §4.5: every op rounded, no FMA, the n = 0 term starts the sum). e^x is
// num::exp_cr_fast: on the device the binary32 float-float evaluation of the correctly rounded exp
// (exp_cr_ff), whose values are exp_cr's.
struct ScanTok {
  float uf, dtf, du, zf, zden;  // u, softplus(dt), fl32(dt·u) (kernel arithmetic only), z, 1 + e^(-z)
  int q;                        // dt's code + 128 (table rows; int8 dt only)
};
// softplus(dt) from dt's int8 code: kernel arithmetic fma(s_dt, q, bias) (spec §2.6), P-seq
// s_dt·q + bias rounded twice (spec §4.5). The one definition behind the per-token value and the
// table.
template <bool kPseq>
__device__ __forceinline__ float scan_dtf_q(const ScanScales& s, float q, float bias_dt) {
  return kPseq ? num::softplus_thr20_f32(s.dt * q + bias_dt) : num::softplus_thr20_f32(num::fma_f32(s.dt, q, bias_dt));
}
__device__ __forceinline__ float scan_zden(float zf) { return 1.0f + num::exp_cr_fast(-zf); }
// tab_dt_e: channel e's 256 softplus values, tab_zden: the 256 values of 1 + e^(-z) (either in
// global or shared memory; null: computed).
template <bool kPseq>
__device__ __forceinline__ ScanTok scan_token(const ScanIn& in, const ScanScales& s, int E, int t, int e,
                                              float bias_dt, const float* tab_dt_e, const float* tab_zden) {
  const size_t i = static_cast<size_t>(t) * E + e;
  ScanTok k;
  k.uf = in.u_q ? s.u * static_cast<float>(in.u_q[i]) : in.u_f[i];
  const int zq = in.z[static_cast<size_t>(t) * in.ld_z + e];
  k.zf = s.z * static_cast<float>(zq);
  k.zden = tab_zden ? tab_zden[zq + 128] : scan_zden(k.zf);
  k.q = 0;
  if (in.dt_q) {
    k.q = in.dt_q[i] + 128;
    k.dtf = tab_dt_e ? tab_dt_e[k.q] : scan_dtf_q<kPseq>(s, static_cast<float>(in.dt_q[i]), bias_dt);
  } else {
    k.dtf = num::softplus_thr20_f32(in.dt_pre[i]);  // kernel arithmetic only (P-seq takes int8 dt)
  }
  k.du = kPseq ? 0.0f : k.dtf * k.uf;
  return k;
}
__device__ __forceinline__ float scan_b(const ScanIn& in, const ScanScales& s, int t, int n) {
  const size_t i = static_cast<size_t>(t) * in.ld_bc + in.b_off + n;
  return in.bc_q ? s.B * static_cast<float>(in.bc_q[i]) : in.bc_f[i];
}
__device__ __forceinline__ float scan_c(const ScanIn& in, const ScanScales& s, int t, int n) {
  const size_t i = static_cast<size_t>(t) * in.ld_bc + in.c_off + n;
  return in.bc_q ? s.C * static_cast<float>(in.bc_q[i]) : in.bc_f[i];
}
// B and C of token t for N = 16 (scan_b, scan_c for n = 0..15): f32 rows (the forward's, from
// k_dequant_bc) by eight 16-byte loads; int8 rows whose B and C start on 16-byte boundaries by two
// 16-byte loads instead of 32 one-byte ones, each byte dequantized with the same product.
__host__ __device__ __forceinline__ bool scan_bc_vec(const ScanIn& in) {
  if (in.bc_f != nullptr)  // f32 rows: 16-byte aligned when the offsets are multiples of 4 floats
    return reinterpret_cast<uintptr_t>(in.bc_f) % 16 == 0 && in.ld_bc % 4 == 0 && in.b_off % 4 == 0 &&
           in.c_off % 4 == 0;
  return in.bc_q != nullptr && reinterpret_cast<uintptr_t>(in.bc_q) % 16 == 0 && in.ld_bc % 16 == 0 &&
         in.b_off % 16 == 0 && in.c_off % 16 == 0;
}
__device__ __forceinline__ void scan_bc16(const ScanIn& in, const ScanScales& s, int t, bool vec, float (&Bv)[16],
                                          float (&Cv)[16]) {
  if (vec && in.bc_f != nullptr) {
    const float* row = in.bc_f + static_cast<size_t>(t) * in.ld_bc;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 b = __ldg(reinterpret_cast<const float4*>(row + in.b_off) + j);
      const float4 c = __ldg(reinterpret_cast<const float4*>(row + in.c_off) + j);
      Bv[4 * j] = b.x, Bv[4 * j + 1] = b.y, Bv[4 * j + 2] = b.z, Bv[4 * j + 3] = b.w;
      Cv[4 * j] = c.x, Cv[4 * j + 1] = c.y, Cv[4 * j + 2] = c.z, Cv[4 * j + 3] = c.w;
    }
    return;
  }
  if (vec) {
    const int8_t* row = in.bc_q + static_cast<size_t>(t) * in.ld_bc;
    const int4 bq = __ldg(reinterpret_cast<const int4*>(row + in.b_off));
    const int4 cq = __ldg(reinterpret_cast<const int4*>(row + in.c_off));
    const int bw[4] = {bq.x, bq.y, bq.z, bq.w}, cw[4] = {cq.x, cq.y, cq.z, cq.w};
#pragma unroll
    for (int n = 0; n < 16; ++n) {
      Bv[n] = s.B * static_cast<float>(static_cast<int8_t>(bw[n / 4] >> (8 * (n % 4))));
      Cv[n] = s.C * static_cast<float>(static_cast<int8_t>(cw[n / 4] >> (8 * (n % 4))));
    }
    return;
  }
#pragma unroll
  for (int n = 0; n < 16; ++n) Bv[n] = scan_b(in, s, t, n), Cv[n] = scan_c(in, s, t, n);
}
// State n's update h -> h' for one token, given dA = e^(dt·A[n]).
template <bool kPseq>
__device__ __forceinline__ float scan_state(const ScanTok& k, float dA, float h, float Bn) {
  if (!kPseq) return num::fma_f32(dA, h, Bn * k.du);
  const float dBu = (k.dtf * Bn) * k.uf;
  return dA * h + dBu;
}
// The output sum: its start, its step for state n (ascending n), its end.
template <bool kPseq>
__device__ __forceinline__ float scan_acc0(const ScanTok& k, float Dv) {
  return kPseq ? 0.0f : Dv * k.uf;
}
template <bool kPseq>
__device__ __forceinline__ float scan_acc(float acc, float h, float Cn, int n) {
  if (!kPseq) return num::fma_f32(h, Cn, acc);
  const float term = h * Cn;
  return n == 0 ? term : acc + term;
}
template <bool kPseq>
__device__ __forceinline__ uint16_t scan_y(const ScanTok& k, float acc, float Dv) {
  if (!kPseq) return num::f32_to_f16_rne((acc * k.zf) / k.zden);
  acc = acc + k.uf * Dv;
  const float silu = k.zf / k.zden;
  return num::f32_to_f16_rne(acc * silu);
}
__device__ __forceinline__ float scan_A(const ScanIn& in, const ScanScales& s, int e, int N, int n) {
  return -num::exp_cr_fast(s.A * static_cast<float>(in.A_log[static_cast<size_t>(e) * N + n]));
}
__device__ __forceinline__ void scan_store_state(const ScanScales& s, size_t i, float h, float* state, int8_t* state_q) {
  if (state) state[i] = h;
  if (state_q) state_q[i] = num::quant_rna_sat8(h / s.state);
}

// The tables of ScanIn (one launch's weights and scales): thread (e, c) forms softplus(dt) of
// dt's code c - 128 for channel e and its N exps e^(softplus(dt)·A[e, n]) with the per-token
// functions (scan_dtf_q, scan_A, num::exp_cr_fast), so that a table entry is the value a scan
// thread would compute; channel 0 also forms 1 + e^(-z) for z's code c - 128. E·256·(N+1) + 256
// floats at `tab` (scan_table_floats).
// Layout: softplus [E][256] at 0, exps [E][256][N] at scan_tab_dA_off, SiLU denominators [256]
// at scan_tab_zden_off.
inline size_t scan_table_floats(int E, int N) { return static_cast<size_t>(E) * 256 * (N + 1) + 256; }
__host__ __device__ inline size_t scan_tab_dA_off(int E) { return static_cast<size_t>(E) * 256; }
__host__ __device__ inline size_t scan_tab_zden_off(int E, int N) {
  return scan_tab_dA_off(E) + static_cast<size_t>(E) * 256 * N;
}
template <bool kPseq>
__global__ void k_scan_table(int E, int N, ScanIn in, ScanScales s, float* tab) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= E * 256) return;
  const int e = idx / 256, c = idx % 256;
  float* tab_dt = tab;
  float* tab_dA = tab + scan_tab_dA_off(E);
  float* tab_zden = tab + scan_tab_zden_off(E, N);
  const float q = static_cast<float>(c - 128);
  const float dtf = scan_dtf_q<kPseq>(s, q, s.dt_bias * static_cast<float>(in.dt_bias[e]));
  tab_dt[idx] = dtf;
  for (int n = 0; n < N; ++n) tab_dA[static_cast<size_t>(idx) * N + n] = num::exp_cr_fast(dtf * scan_A(in, s, e, N, n));
  if (e == 0) tab_zden[c] = scan_zden(s.z * q);
}
// Forms the tables at `tab` (scan_table_floats(E, N) floats) and returns `in` reading them.
template <bool kPseq>
inline ScanIn launch_scan_table(int E, int N, ScanIn in, const ScanScales& s, float* tab, cudaStream_t st = 0) {
  k_scan_table<kPseq><<<static_cast<unsigned>((E * 256 + 127) / 128), 128, 0, st>>>(E, N, in, s, tab);
  in.tab_dt = tab;
  in.tab_dA = tab + scan_tab_dA_off(E);
  in.tab_zden = tab + scan_tab_zden_off(E, N);
  return in;
}

// Parallel over channels: one thread per (document, channel e), sequential in t over the
// document's tokens and in n. kN > 0: N == kN known at compile time (h and A in registers, the n
// loop unrolled); kN == 0: any N <= 64. kTab: the exps come from in.tab_dA (a row of N floats per
// (e, dt code), read as float4 when kN % 4 == 0).
template <bool kPseq, int kN, bool kTab>
__global__ void k_scan(int B, const int32_t* off, int E, int N_rt, ScanIn in, ScanScales s, uint16_t* y, float* state,
                       int8_t* state_q) {
  constexpr int kMax = kN > 0 ? kN : 64;
  const int N = kN > 0 ? kN : N_rt;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= B * E) return;
  const int d = idx / E, e = idx % E;
  constexpr int kUnroll = kN > 0 ? kN : 1;
  float h[kMax], A[kTab ? 1 : kMax];
#pragma unroll kUnroll
  for (int n = 0; n < kMax; ++n) {
    if (n >= N) break;
    if (!kTab) A[n] = scan_A(in, s, e, N, n);
    h[n] = 0.0f;
  }
  const float Dv = s.D * static_cast<float>(in.D[e]);
  const float bias_dt = s.dt_bias * static_cast<float>(in.dt_bias[e]);
  const float* tab_e = kTab ? in.tab_dA + static_cast<size_t>(e) * 256 * N : nullptr;
  const float* tab_dt_e = kTab ? in.tab_dt + static_cast<size_t>(e) * 256 : nullptr;
  constexpr bool k16 = kN == 16;
  const bool vec = k16 && scan_bc_vec(in);
  for (int t = off[d], t_end = off[d + 1]; t < t_end; ++t) {  // t_end loaded once (y may alias off)
    const ScanTok k = scan_token<kPseq>(in, s, E, t, e, bias_dt, tab_dt_e, in.tab_zden);
    float acc = scan_acc0<kPseq>(k, Dv);
    float Bv[16], Cv[16];
    if (k16) scan_bc16(in, s, t, vec, Bv, Cv);
    auto Bn = [&](int n) { return k16 ? Bv[n & 15] : scan_b(in, s, t, n); };
    auto Cn = [&](int n) { return k16 ? Cv[n & 15] : scan_c(in, s, t, n); };
    if (kTab) {
      const float* row = tab_e + static_cast<size_t>(k.q) * N;
      if (kN > 0 && kN % 4 == 0) {
#pragma unroll
        for (int n4 = 0; n4 < kN; n4 += 4) {
          const float4 a = __ldg(reinterpret_cast<const float4*>(row + n4));
          const float dA[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            h[n4 + j] = scan_state<kPseq>(k, dA[j], h[n4 + j], Bn(n4 + j));
            acc = scan_acc<kPseq>(acc, h[n4 + j], Cn(n4 + j), n4 + j);
          }
        }
      } else {
#pragma unroll kUnroll
        for (int n = 0; n < kMax; ++n) {
          if (n >= N) break;
          h[n] = scan_state<kPseq>(k, __ldg(row + n), h[n], Bn(n));
          acc = scan_acc<kPseq>(acc, h[n], Cn(n), n);
        }
      }
    } else {
      // One exp after the other, each with its rare exp_cr branch: measured faster on the H100 than
      // the 16 branch-free exp_cr_ff_try side by side with a fix-up pass (1281 against 1092 ms of
      // scan in the full-LAMBADA run, docs/results/gpu/run7: 167 registers, fewer warps).
#pragma unroll kUnroll
      for (int n = 0; n < kMax; ++n) {
        if (n >= N) break;
        h[n] = scan_state<kPseq>(k, num::exp_cr_fast(k.dtf * A[kTab ? 0 : n]), h[n], Bn(n));
        acc = scan_acc<kPseq>(acc, h[n], Cn(n), n);
      }
    }
    y[static_cast<size_t>(t) * E + e] = scan_y<kPseq>(k, acc, Dv);
  }
#pragma unroll kUnroll
  for (int n = 0; n < kMax; ++n) {
    if (n >= N) break;
    scan_store_state(s, (static_cast<size_t>(d) * E + e) * N + n, h[n], state, state_q);
  }
}

// Parallel over channels and states: a group of G lanes (G = N rounded up to a power of two,
// <= 32) per (document, channel); lane n keeps h[n] and computes its e^(dt·A[n]) (or reads it
// from in.tab_dA: kTab) and update, then every lane of the group forms the output sum in ascending
// n from the group's h and C through warp shuffles (the same operations in the same order as the
// channel kernel). For few documents (a single-document forward has only E channel threads).
template <bool kPseq, int G, bool kTab>
__global__ void k_scan_states(int B, const int32_t* off, int E, int N, ScanIn in, ScanScales s, uint16_t* y,
                              float* state, int8_t* state_q) {
  const int gid = (blockIdx.x * blockDim.x + threadIdx.x) / G;  // groups never straddle a warp
  const int n = threadIdx.x % G;
  if (gid >= B * E) return;  // whole groups leave together
  const unsigned lane = threadIdx.x % 32;
  const unsigned mask = G == 32 ? 0xFFFFFFFFu : ((1u << G) - 1u) << (lane - n);
  const int d = gid / E, e = gid % E;
  const bool live = n < N;
  const float A = !kTab && live ? scan_A(in, s, e, N, n) : 0.0f;
  float h = 0.0f;
  const float Dv = s.D * static_cast<float>(in.D[e]);
  const float bias_dt = s.dt_bias * static_cast<float>(in.dt_bias[e]);
  const float* tab_e = kTab ? in.tab_dA + static_cast<size_t>(e) * 256 * N : nullptr;
  const float* tab_dt_e = kTab ? in.tab_dt + static_cast<size_t>(e) * 256 : nullptr;
  for (int t = off[d], t_end = off[d + 1]; t < t_end; ++t) {  // t_end loaded once (y may alias off)
    const ScanTok k = scan_token<kPseq>(in, s, E, t, e, bias_dt, tab_dt_e, in.tab_zden);
    float Cn = 0.0f;
    if (live) {
      const float dA = kTab ? __ldg(tab_e + static_cast<size_t>(k.q) * N + n) : num::exp_cr_fast(k.dtf * A);
      h = scan_state<kPseq>(k, dA, h, scan_b(in, s, t, n));
      Cn = scan_c(in, s, t, n);
    }
    float acc = scan_acc0<kPseq>(k, Dv);
    for (int m = 0; m < N; ++m)
      acc = scan_acc<kPseq>(acc, __shfl_sync(mask, h, m, G), __shfl_sync(mask, Cn, m, G), m);
    if (n == 0) y[static_cast<size_t>(t) * E + e] = scan_y<kPseq>(k, acc, Dv);
  }
  if (live) scan_store_state(s, (static_cast<size_t>(d) * E + e) * N + n, h, state, state_q);
}

// Parallel over channels with the tables in shared memory (N == 16, int8 dt): a block owns
// kC channels and copies their tables (kC·256 rows of 16 exps, 256 softplus values each, and the
// 256 SiLU denominators: 17 KB a channel) into shared memory once; its lanes are (document slot,
// channel), so that a warp advances 32 / kC documents of kC channels, one token at a time. Per
// thread the arithmetic and its order are k_scan's. The 16 exps of a row are 4 float4 chunks,
// stored XOR-swizzled by the row so that the lanes of a warp, reading rows at random, spread over
// the banks. Documents in `order` (longest first: the documents of a warp have similar lengths),
// or 0..B-1 when null.
// Two shapes (ScanKernel): kShared, 4 channels x 64 documents (8 warps, 69 KB, 3 blocks an SM),
// and kShared12, 12 channels x 64 documents (24 warps, 205 KB, one block an SM): the same 768
// threads an SM, but each token's B and C row (128 bytes) serves 12 channels instead of 4 and each
// 32-byte sector of u, z and dt 12 bytes instead of 4 (a third of the L2 traffic per step).
// Timing probes (bench only, never the forward: their results are wrong on purpose): each bit of
// k_scan_shared's kProbe replaces one stage of the loop by register arithmetic of the same shape,
// so that the time a stage costs is the difference against kProbe = 0 (gpu::ops::time_scan_probe_ms).
enum ScanProbe : int {
  kProbeNoBC = 1,     // B, C rows not loaded (8 x 16-byte global loads a step)
  kProbeNoTab = 2,    // e^(dt·A) rows not read from shared memory (4 x 16 bytes a step)
  kProbeNoTok = 4,    // u, dt, z not loaded (3 one-byte global loads; dt's code from t and e)
  kProbeNoDiv = 8,    // y = f16(acc·z) without the IEEE division by 1 + e^(-z)
  kProbeNoStore = 16  // y stored at the document's last token only
};
template <int kC, int kWarps>
struct ScanShape {
  static constexpr int kDocs = kWarps * 32 / kC;  // documents per block
  static constexpr size_t kBytes = (static_cast<size_t>(kC) * 256 * 17 + 256) * sizeof(float);
};
__device__ __forceinline__ int sh_chunk(int q, int j) { return j ^ ((q >> 1) & 3); }
// Where the tables of kC channels lie in the block's shared memory (ScanShape<kC, ...>::kBytes
// at sh4): the one layout scan_shared_tables fills and the shared-memory scan kernels read.
template <int kC>
struct ScanSmem {
  float4* dA;   // e^(dt·A) rows: [kC][256][4 chunks] (swizzled) or [256][4 chunks][kC] (chunk-major)
  float* dt;    // softplus values: [kC][256]
  float* zden;  // SiLU denominators: [256]
  __device__ __forceinline__ explicit ScanSmem(float4* sh4)
      : dA(sh4), dt(reinterpret_cast<float*>(sh4 + kC * 256 * 4)), zden(dt + kC * 256) {}
};
// The block's tables in shared memory (ScanShape<kC, ...>::kBytes at sh4): the e^(dt·A) rows of
// channels e0 .. e0 + kC - 1 (swizzled chunks), their softplus values and the 256 SiLU
// denominators; returns after the barrier that makes them visible.
// kChunkMajor (k_scan_stream): the e^(dt·A) rows stored chunk-major across the block's channels,
// [q][chunk j][channel c] (16 bytes each), so that the 16-byte bank group a lane reads,
// (4j + c) mod 8 for kC = 12, depends on its channel and not on its (random) dt code: the 8 lanes
// of a quarter-warp read 8 different bank groups wherever they hold 8 channels of one document
// (run24's ncu of the swizzled layout: 10.7 wavefronts per 16-byte table read where 4 are the
// minimum, L1 77.6% busy, the limit).
template <int kC, bool kChunkMajor = false>
__device__ __forceinline__ void scan_shared_tables(int E, int e0, const ScanIn& in, float4* sh4) {
  constexpr int N = 16;
  const ScanSmem<kC> sm(sh4);
  float4* sh_dA = sm.dA;
  float* sh_dt = sm.dt;
  float* sh_zden = sm.zden;
  for (int i = threadIdx.x; i < kC * 256 * 4; i += blockDim.x) {
    const int c = i / 1024, q = (i / 4) % 256, j = i % 4;
    if (e0 + c < E)
      sh_dA[kChunkMajor ? (q * 4 + j) * kC + c : (c * 256 + q) * 4 + sh_chunk(q, j)] =
          __ldg(reinterpret_cast<const float4*>(in.tab_dA + (static_cast<size_t>(e0 + c) * 256 + q) * N) + j);
  }
  for (int i = threadIdx.x; i < kC * 256; i += blockDim.x)
    if (e0 + i / 256 < E) sh_dt[i] = in.tab_dt[static_cast<size_t>(e0) * 256 + i];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) sh_zden[i] = in.tab_zden[i];
  __syncthreads();
}
// A token's operands as loaded (ScanKernel::kShared12Pipe loads them one token ahead): u's int8
// code or f32 bits, dt's and z's int8 codes, and B's and C's 16 int8 codes (int8 rows only).
struct ScanRaw {
  int32_t u, dt, z;
  int4 b, c;
};
__device__ __forceinline__ ScanRaw scan_raw_load(const ScanIn& in, int E, int t, int e, bool bc_q) {
  const size_t i = static_cast<size_t>(t) * E + e;
  ScanRaw r;
  r.u = in.u_q ? static_cast<int32_t>(in.u_q[i]) : __float_as_int(in.u_f[i]);
  r.dt = in.dt_q[i];
  r.z = in.z[static_cast<size_t>(t) * in.ld_z + e];
  if (bc_q) {
    const int8_t* row = in.bc_q + static_cast<size_t>(t) * in.ld_bc;
    r.b = __ldg(reinterpret_cast<const int4*>(row + in.b_off));
    r.c = __ldg(reinterpret_cast<const int4*>(row + in.c_off));
  }
  return r;
}
// scan_token's values (its table branch: int8 dt, softplus and SiLU denominators from tables)
// from the loaded codes.
template <bool kPseq>
__device__ __forceinline__ ScanTok scan_token_raw(const ScanIn& in, const ScanScales& s, const ScanRaw& r,
                                                  const float* tab_dt_e, const float* tab_zden) {
  ScanTok k;
  k.uf = in.u_q ? s.u * static_cast<float>(r.u) : __int_as_float(r.u);
  k.zf = s.z * static_cast<float>(r.z);
  k.zden = tab_zden[r.z + 128];
  k.q = r.dt + 128;
  k.dtf = tab_dt_e[k.q];
  k.du = kPseq ? 0.0f : k.dtf * k.uf;
  return k;
}
// Code n of a row's 16 int8 codes held as an int4, times the scale: scan_bc16's int8 products.
__device__ __forceinline__ float scan_bc_code(const int4& w, int n, float scale) {
  const int word = n < 4 ? w.x : n < 8 ? w.y : n < 12 ? w.z : w.w;
  return scale * static_cast<float>(static_cast<int8_t>(word >> (8 * (n % 4))));
}
// kPipe (ScanKernel::kShared12Pipe): the next token's u, dt, z codes (and B's and C's int8 rows
// where the launch passes them: in.bc_q with 16-byte rows) are loaded before this token's
// arithmetic, so that their latency overlaps it (run21's ncu: 70% of the loop's stall cycles
// waited on these loads; the probe without them ran 30% faster). The arithmetic is unchanged.
template <bool kPseq, int kC, int kWarps, int kMinBlocks, int kProbe = 0, bool kPipe = false>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) k_scan_shared(int B, const int32_t* off,
                                                                         const int32_t* order, int E, ScanIn in,
                                                                         ScanScales s, uint16_t* y, float* state,
                                                                         int8_t* state_q) {
  constexpr int N = 16, kShC = kC, kShDocs = ScanShape<kC, kWarps>::kDocs;
  extern __shared__ float4 sh4[];
  const ScanSmem<kShC> sm(sh4);  // swizzled rows
  float4* sh_dA = sm.dA;
  float* sh_dt = sm.dt;
  float* sh_zden = sm.zden;
  const int e0 = blockIdx.x * kShC;
  scan_shared_tables<kShC>(E, e0, in, sh4);
  const int c = threadIdx.x % kShC, e = e0 + c;
  const int k = blockIdx.y * kShDocs + threadIdx.x / kShC;
  if (e >= E || k >= B) return;
  const int d = order ? order[k] : k;
  const float Dv = s.D * static_cast<float>(in.D[e]);
  const float4* rows = sh_dA + c * 256 * 4;
  const float* tab_dt_e = sh_dt + c * 256;
  float h[N];
#pragma unroll
  for (int n = 0; n < N; ++n) h[n] = 0.0f;
  const bool vec = scan_bc_vec(in);
  const bool pipe_bc = kPipe && vec && in.bc_q != nullptr;  // int8 B, C rows loaded a token ahead
  const int t_end = off[d + 1];                              // loaded once (y may alias off)
  ScanRaw next{};
  if (kPipe && off[d] < t_end) next = scan_raw_load(in, E, off[d], e, pipe_bc);
  for (int t = off[d]; t < t_end; ++t) {
    ScanTok tk;
    float Bv[16], Cv[16];
    if constexpr (kPipe) {
      static_assert(kProbe == 0, "the probes time the kernel without the pipeline");
      const ScanRaw cur = next;
      if (t + 1 < t_end) next = scan_raw_load(in, E, t + 1, e, pipe_bc);
      tk = scan_token_raw<kPseq>(in, s, cur, tab_dt_e, sh_zden);
      if (pipe_bc) {
#pragma unroll
        for (int n = 0; n < 16; ++n) Bv[n] = scan_bc_code(cur.b, n, s.B), Cv[n] = scan_bc_code(cur.c, n, s.C);
      } else {
        scan_bc16(in, s, t, vec, Bv, Cv);
      }
    } else if constexpr ((kProbe & kProbeNoTok) != 0) {
      const int code = (t * 7 + e) & 255;
      tk.uf = s.u * static_cast<float>(code - 128), tk.zf = s.z * static_cast<float>(code - 128);
      tk.zden = sh_zden[code], tk.q = code, tk.dtf = tab_dt_e[code];
      tk.du = kPseq ? 0.0f : tk.dtf * tk.uf;
    } else {
      tk = scan_token<kPseq>(in, s, E, t, e, 0.0f, tab_dt_e, sh_zden);
    }
    float acc = scan_acc0<kPseq>(tk, Dv);
    // B and C: the pipelined kernel formed them with its token above (before acc0: loading the f32
    // rows here instead made ptxas spill 104 bytes in its kernel-arithmetic instance).
    if constexpr (kPipe) {
    } else if constexpr ((kProbe & kProbeNoBC) != 0) {
#pragma unroll
      for (int n = 0; n < 16; ++n) Bv[n] = 0.01f * static_cast<float>(n + (t & 3)), Cv[n] = 0.02f * static_cast<float>(n - (t & 1));
    } else {
      scan_bc16(in, s, t, vec, Bv, Cv);
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float4 a;
      if constexpr ((kProbe & kProbeNoTab) != 0) {
        const float f = 0.5f + 1e-3f * static_cast<float>(tk.q + j);
        a = make_float4(f, f * 0.5f, f * 0.25f, f * 0.125f);
      } else {
        a = rows[tk.q * 4 + sh_chunk(tk.q, j)];
      }
      const float dA[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int n = 4 * j + i;
        h[n] = scan_state<kPseq>(tk, dA[i], h[n], Bv[n]);
        acc = scan_acc<kPseq>(acc, h[n], Cv[n], n);
      }
    }
    const uint16_t yv = (kProbe & kProbeNoDiv) != 0 ? num::f32_to_f16_rne(acc * tk.zf) : scan_y<kPseq>(tk, acc, Dv);
    if ((kProbe & kProbeNoStore) == 0 || t + 1 == t_end) y[static_cast<size_t>(t) * E + e] = yv;
  }
#pragma unroll
  for (int n = 0; n < N; ++n) scan_store_state(s, (static_cast<size_t>(d) * E + e) * N + n, h[n], state, state_q);
}

// ScanKernel::kStreamF32 (`stream-f32`): k_scan_shared's geometry (12 channels x 64 documents a
// block, the tables in shared memory, one block an SM) and arithmetic, with a cheaper loop. The
// SASS of the pipelined kernel (kPipe, run22) spends a token and channel 32 I2F (B's and C's int8
// codes; I2F issues at a quarter of the FP32 rate on sm_90) and ~70 instructions of 64-bit index
// products, parameter reloads and operand moves around its loads. Here:
//  - each thread's streams (u, dt, z, y and the B, C rows) are 32-bit element indices advanced a
//    token at a time (plan_scan takes this kernel only where (T + 1)·max(E, ld_z, ld_bc) < 2^31);
//  - the next token's u, dt, z codes are loaded a token ahead (as kPipe), through L2 only;
//  - B and C are the forward's f32 rows (k_dequant_bc's products, the values kPipe forms), read as
//    eight 16-byte loads after a prefetch of the next token's rows into L1: no I2F or dequantization
//    remains in the loop (183 instructions a warp and token against about 280);
//  - the tables are chunk-major across the channels (scan_shared_tables<12, true>).
// Other B, C rows (int8, or not 16-byte aligned) go through scan_bc16 as in the other kernels.
// A variant that loaded the int8 rows a token ahead and converted their codes without I2F (PRMT
// into the mantissa of 2^23 + 128, an exact FADD) was slower: 306.0 ms against pipe's 301.6 with
// the swizzled tables (run24), 329.5 against 300.1 with these (run25); it was dropped.

template <bool kPseq>
__global__ void __launch_bounds__(768, 1) k_scan_stream(int B, const int32_t* off, const int32_t* order, int E,
                                                        ScanIn in, ScanScales s, uint16_t* y, float* state,
                                                        int8_t* state_q) {
  constexpr int N = 16, kC = 12, kDocs = ScanShape<12, 24>::kDocs;
  extern __shared__ float4 sh4[];
  const ScanSmem<kC> sm(sh4);  // chunk-major rows
  float4* sh_dA = sm.dA;
  float* sh_dt = sm.dt;
  float* sh_zden = sm.zden;
  const int e0 = blockIdx.x * kC;
  scan_shared_tables<kC, true>(E, e0, in, sh4);
  const int c = threadIdx.x % kC, e = e0 + c;
  const int k = blockIdx.y * kDocs + threadIdx.x / kC;
  if (e >= E || k >= B) return;
  const int d = order ? order[k] : k;
  const float Dv = s.D * static_cast<float>(in.D[e]);
  const float4* rows = sh_dA + c;  // chunk j of row q at rows[(4q + j)·kC]
  const float* tab_dt_e = sh_dt + c * 256;
  float h[N];
#pragma unroll
  for (int n = 0; n < N; ++n) h[n] = 0.0f;
  const bool vec = scan_bc_vec(in);
  const bool bcf = vec && in.bc_f != nullptr;  // f32 rows, prefetched a token ahead
  const bool uq = in.u_q != nullptr;
  const int t0 = off[d], t_end = off[d + 1];  // loaded once (y may alias off)
  const int ld_z = in.ld_z, ld_bc = in.ld_bc;
  int iu = t0 * E + e, iz = t0 * ld_z + e, ib = t0 * ld_bc;  // this token's u/dt/y, z and B/C row
  ScanRaw next{};
  // u, dt, z through L2 only (ld.global.cg): a token's 12 codes of a document use 12 bytes of each
  // 128-byte line, and 64 documents x 3 streams x 2 tokens of such lines (48 KB) would evict the
  // B, C rows the loop prefetches into the ~28 KB of L1 that the tables leave (run24's ncu of
  // stream-f32: L1 hit rate 37%, 10.2 of 16.1 cycles between issues stalled on L1TEX loads). run26:
  // no measurable gain (scan 266.2 -> 269.5 ms on another machine, L1 hit rate 34%); kept.
  auto load = [&](int ju, int jz) {
    ScanRaw r;
    r.u = uq ? static_cast<int32_t>(__ldcg(in.u_q + ju)) : __float_as_int(__ldcg(in.u_f + ju));
    r.dt = __ldcg(in.dt_q + ju);
    r.z = __ldcg(in.z + jz);
    return r;
  };
  if (t0 < t_end) next = load(iu, iz);
  for (int t = t0; t < t_end; ++t) {
    const ScanRaw cur = next;
    const int iy = iu, ib_cur = ib;
    iu += E, iz += ld_z, ib += ld_bc;
    if (t + 1 < t_end) {
      next = load(iu, iz);
      if (bcf) {
        asm volatile("prefetch.L1 [%0];" ::"l"(in.bc_f + ib + in.b_off));  // generic addresses
        asm volatile("prefetch.L1 [%0];" ::"l"(in.bc_f + ib + in.c_off + 15));
      }
    }
    const ScanTok tk = scan_token_raw<kPseq>(in, s, cur, tab_dt_e, sh_zden);
    float Bv[16], Cv[16];
    if (bcf) {
      const float4* rb = reinterpret_cast<const float4*>(in.bc_f + ib_cur + in.b_off);
      const float4* rc = reinterpret_cast<const float4*>(in.bc_f + ib_cur + in.c_off);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float4 b = __ldg(rb + j), cc = __ldg(rc + j);
        Bv[4 * j] = b.x, Bv[4 * j + 1] = b.y, Bv[4 * j + 2] = b.z, Bv[4 * j + 3] = b.w;
        Cv[4 * j] = cc.x, Cv[4 * j + 1] = cc.y, Cv[4 * j + 2] = cc.z, Cv[4 * j + 3] = cc.w;
      }
    } else {
      scan_bc16(in, s, t, vec, Bv, Cv);
    }
    float acc = scan_acc0<kPseq>(tk, Dv);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float4 a = rows[(tk.q * 4 + j) * kC];
      const float dA[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int n = 4 * j + i;
        h[n] = scan_state<kPseq>(tk, dA[i], h[n], Bv[n]);
        acc = scan_acc<kPseq>(acc, h[n], Cv[n], n);
      }
    }
    y[iy] = scan_y<kPseq>(tk, acc, Dv);
  }
#pragma unroll
  for (int n = 0; n < N; ++n) scan_store_state(s, (static_cast<size_t>(d) * E + e) * N + n, h[n], state, state_q);
}

// ScanKernel::kStreamPair (`stream-pair`, opt-in; written on 2026-12-06 without device time left,
// measured in run33: bit-exact in every test and in the crosschecks of 23 + 16 modes, but slower,
// scan 268.2 -> 359.1 ms; ncu: L1 63.6% busy instead of 73.8%, L2 70.7% instead of 62.5%, 1.41
// instead of 1.04 ms a launch: both lanes form each channel's token values, the loop runs L + 1
// times and the u, dt, z pairs add L2 sectors): k_scan_stream's tables and arithmetic with half
// its B, C register traffic.
// run26's ncu of `stream-f32` shows the L1 as the limit (L1/TEX 74% busy) with only about a
// quarter of it in the table reads (27 shared wavefronts a warp and token); the largest part is
// the B, C rows: each lane receives all 32 floats of its document's row every token (eight
// 16-byte loads, 4 KB a warp and token). Here a lane pair owns two channels: the even lane
// ("A") states 0..7 of both, the odd lane ("B") states 8..15, so a lane loads only its half of
// B and of C (four 16-byte loads). y's sum over ascending n runs through both lanes: A forms
// acc = D·u + the n = 0..7 terms (P-seq: from the n = 0 term) for its token t and hands it to B
// by a shuffle; B, one token behind (it processes t - 1 while A processes t), adds n = 8..15 and
// forms y. Every operation is the one k_scan_stream performs, on the same operands, in the same
// order. Lane B takes the pair's channels in the other order (slot i is channel 2p + i on A,
// 2p + 1 - i on B), so that the two lanes' table reads (chunk-major rows: bank group
// (4·chunk + channel) mod 8) fall into different bank groups. Needs int8 u, the f32 B, C rows
// 16-byte aligned, and an even E (2-byte u, dt, z pairs): scan_pair_ok; the launch takes
// k_scan_stream otherwise.
template <bool kPseq>
__global__ void __launch_bounds__(768, 1) k_scan_pair(int B, const int32_t* off, const int32_t* order, int E,
                                                      ScanIn in, ScanScales s, uint16_t* y, float* state,
                                                      int8_t* state_q) {
  constexpr int N = 16, kC = 12, kDocs = ScanShape<12, 24>::kDocs;
  extern __shared__ float4 sh4[];
  const ScanSmem<kC> sm(sh4);  // chunk-major rows, as k_scan_stream
  const int e0 = blockIdx.x * kC;
  scan_shared_tables<kC, true>(E, e0, in, sh4);
  const int r = threadIdx.x % kC, p = r / 2, hb = r % 2;  // pair p's lane A (hb = 0) or B (hb = 1)
  const int k = blockIdx.y * kDocs + threadIdx.x / kC;
  const int lane = threadIdx.x % 32;
  const unsigned pair_mask = 3u << (lane & ~1);
  if (k >= B) return;  // whole documents leave: both lanes of a pair
  const int d = order ? order[k] : k;
  int cl[2];           // slot i's channel within the block
  bool ok[2];          // slot i's channel exists (E need not be a multiple of 12)
  float Dv[2];
  for (int i = 0; i < 2; ++i) {
    cl[i] = 2 * p + (hb == 0 ? i : 1 - i);
    ok[i] = e0 + cl[i] < E;
    Dv[i] = ok[i] ? s.D * static_cast<float>(in.D[e0 + cl[i]]) : 0.0f;
  }
  const int nb = 8 * hb;  // this lane's first state
  float h[2][8];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int n = 0; n < 8; ++n) h[i][n] = 0.0f;
  const int t0 = off[d], t_end = off[d + 1];  // loaded once (y may alias off)
  const int ld_z = in.ld_z, ld_bc = in.ld_bc;
  // The pair's channels ep, ep + 1 (even: e0 and E are even, so both exist or neither does; a pair
  // past E reads the row's last pair and stores nothing). A lane's token at iteration it is
  // t0 + it - hb; u, dt, z are read as 2-byte pairs.
  const int ep = e0 + 2 * p < E ? e0 + 2 * p : E - 2;
  auto load_raw = [&](int t, ScanRaw (&r2)[2]) {
    const uint32_t u2 = __ldcg(reinterpret_cast<const uint16_t*>(in.u_q + static_cast<size_t>(t) * E + ep));
    const uint32_t d2 = __ldcg(reinterpret_cast<const uint16_t*>(in.dt_q + static_cast<size_t>(t) * E + ep));
    const uint32_t z2 = __ldcg(reinterpret_cast<const uint16_t*>(in.z + static_cast<size_t>(t) * ld_z + ep));
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int sh = 8 * (cl[i] & 1);
      r2[i].u = static_cast<int8_t>(u2 >> sh), r2[i].dt = static_cast<int8_t>(d2 >> sh);
      r2[i].z = static_cast<int8_t>(z2 >> sh);
    }
  };
  ScanRaw nx[2] = {};
  const int L = t_end - t0;
  if (L > 0) load_raw(t0, nx);    // both lanes' first token (lane B's is consumed at it = 1)
  float carry[2] = {0.0f, 0.0f};  // lane B: lane A's partial sums for B's token
  for (int it = 0; it <= L; ++it) {
    const int t = t0 + it - hb;
    const bool act = t >= t0 && t < t_end;
    // Whether this lane forms y: hb through an opaque move each iteration, so that the compiler
    // keeps one loop body for both lanes (a body unswitched on hb runs twice per warp).
    int is_b;
    asm volatile("mov.b32 %0, %1;" : "=r"(is_b) : "r"(hb));
    float acc[2] = {0.0f, 0.0f};
    if (act) {
      const ScanRaw cur[2] = {nx[0], nx[1]};
      if (t + 1 < t_end) {
        load_raw(t + 1, nx);
        const float* nrow = in.bc_f + static_cast<size_t>(t + 1) * ld_bc;
        asm volatile("prefetch.L1 [%0];" ::"l"(nrow + in.b_off + nb));
        asm volatile("prefetch.L1 [%0];" ::"l"(nrow + in.c_off + nb));
      }
      const float* row = in.bc_f + static_cast<size_t>(t) * ld_bc;
      float Bv[8], Cv[8];
      {
        const float4* rb = reinterpret_cast<const float4*>(row + in.b_off + nb);
        const float4* rc = reinterpret_cast<const float4*>(row + in.c_off + nb);
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const float4 b = __ldg(rb + j), cc = __ldg(rc + j);
          Bv[4 * j] = b.x, Bv[4 * j + 1] = b.y, Bv[4 * j + 2] = b.z, Bv[4 * j + 3] = b.w;
          Cv[4 * j] = cc.x, Cv[4 * j + 1] = cc.y, Cv[4 * j + 2] = cc.z, Cv[4 * j + 3] = cc.w;
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const ScanTok tk = scan_token_raw<kPseq>(in, s, cur[i], sm.dt + cl[i] * 256, sm.zden);
        const float4* rows = sm.dA + cl[i];  // chunk j of row q at rows[(4q + j)·kC]
        const float a0 = scan_acc0<kPseq>(tk, Dv[i]);
        float a = is_b != 0 ? carry[i] : a0;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const float4 v = rows[(tk.q * 4 + 2 * hb + j) * kC];
          const float dA[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int n = 4 * j + q;
            h[i][n] = scan_state<kPseq>(tk, dA[q], h[i][n], Bv[n]);
            a = scan_acc<kPseq>(a, h[i][n], Cv[n], nb + n);
          }
        }
        acc[i] = a;
        if (is_b != 0 && ok[i]) y[static_cast<size_t>(t) * E + e0 + cl[i]] = scan_y<kPseq>(tk, a, Dv[i]);
      }
    }
    // Lane A's sums for its token t go to lane B, which takes that token next iteration; lane B
    // reads A's slot 1 - i for its slot i (the pair's channel orders differ).
#pragma unroll
    for (int i = 0; i < 2; ++i) carry[i] = __shfl_sync(pair_mask, acc[1 - i], lane & ~1);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
    if (ok[i])
#pragma unroll
      for (int n = 0; n < 8; ++n)
        scan_store_state(s, (static_cast<size_t>(d) * E + e0 + cl[i]) * N + nb + n, h[i][n], state, state_q);
}
// Whether k_scan_pair takes a launch: int8 u, f32 B, C rows 16-byte aligned, even E >= 2 and
// ld_z, u, dt, z 2-byte aligned.
inline bool scan_pair_ok(int E, const ScanIn& in) {
  return in.u_q != nullptr && in.dt_q != nullptr && in.bc_f != nullptr && scan_bc_vec(in) && E >= 2 && E % 2 == 0 &&
         in.ld_z % 2 == 0 && reinterpret_cast<uintptr_t>(in.u_q) % 2 == 0 &&
         reinterpret_cast<uintptr_t>(in.dt_q) % 2 == 0 && reinterpret_cast<uintptr_t>(in.z) % 2 == 0;
}

// The non-shared scan launches (which kernel runs: plan_scan below).
template <bool kPseq, bool kTab>
inline void launch_scan_k(bool states, int B, const int32_t* off, int E, int N, const ScanIn& in, const ScanScales& s,
                          uint16_t* y, float* state, int8_t* state_q, cudaStream_t st) {
  const size_t pairs = static_cast<size_t>(B) * E;
  if (states) {
    const int G = N <= 1 ? 1 : N <= 2 ? 2 : N <= 4 ? 4 : N <= 8 ? 8 : N <= 16 ? 16 : 32;
    const unsigned threads = 128, blocks = static_cast<unsigned>((pairs * G + threads - 1) / threads);
    switch (G) {
      case 1: k_scan_states<kPseq, 1, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
      case 2: k_scan_states<kPseq, 2, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
      case 4: k_scan_states<kPseq, 4, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
      case 8: k_scan_states<kPseq, 8, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
      case 16: k_scan_states<kPseq, 16, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
      default: k_scan_states<kPseq, 32, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q); break;
    }
    return;
  }
  const unsigned threads = 64, blocks = static_cast<unsigned>((pairs + threads - 1) / threads);
  if (N == 16)
    k_scan<kPseq, 16, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q);
  else
    k_scan<kPseq, 0, kTab><<<blocks, threads, 0, st>>>(B, off, E, N, in, s, y, state, state_q);
}
// One launch of a shared-memory-table scan kernel (k_scan_shared, k_scan_stream, k_scan_pair):
// kC channels x ScanShape<kC, kWarps>::kDocs documents a block, the tables in dynamic shared memory.
template <int kC, int kWarps, class Kernel>
inline void launch_scan_blocks(Kernel* kernel, const char* name, int B, const int32_t* off, const int32_t* order,
                               int E, const ScanIn& in, const ScanScales& s, uint16_t* y, float* state,
                               int8_t* state_q, cudaStream_t st) {
  using Shape = ScanShape<kC, kWarps>;
  allow_dynamic_smem(kernel, Shape::kBytes, name);
  const dim3 grid(static_cast<unsigned>((E + kC - 1) / kC), static_cast<unsigned>((B + Shape::kDocs - 1) / Shape::kDocs));
  kernel<<<grid, kWarps * 32, Shape::kBytes, st>>>(B, off, order, E, in, s, y, state, state_q);
}
template <bool kPseq, int kC, int kWarps, int kMinBlocks, int kProbe = 0, bool kPipe = false>
inline void launch_scan_shared(int B, const int32_t* off, const int32_t* order, int E, const ScanIn& in,
                               const ScanScales& s, uint16_t* y, float* state, int8_t* state_q, cudaStream_t st) {
  launch_scan_blocks<kC, kWarps>(k_scan_shared<kPseq, kC, kWarps, kMinBlocks, kProbe, kPipe>, "k_scan_shared", B, off,
                                 order, E, in, s, y, state, state_q, st);
}
// Which scan kernel a launch runs (gpu::ScanKernel and gpu::ScanTable resolved against the launch):
// kAuto takes the channel kernels when there are at least kScanChannelThreads (document,
// channel) pairs and the state kernel below that; the tables (an int8 dt only) with kAuto when
// the launch has at least kScanTableTokens tokens; the shared-memory kernels need the tables and
// N = 16, else the channel kernel runs; kAuto's shared-memory kernel is kStreamF32 (kPipe before
// the fourth session of 2026-12-06), and the stream kernel (32-bit indices) gives way to kPipe
// where (T + 1)·max(E, ld_z, ld_bc) reaches 2^31. One definition for the launch and for the
// forward's choice of B, C rows (scan_wants_bc_q).
enum class ScanRun { kChannels, kStates, kShared4, kShared12, kPipe, kStreamF32, kStreamPair };
struct ScanPlan {
  ScanRun run;
  bool use_tab;
};
inline ScanPlan plan_scan(ScanKernel kind, ScanTable table, int B, int T, int E, int N, const ScanIn& in, bool have_tab) {
  const size_t pairs = static_cast<size_t>(B) * E;
  const bool named_shared = kind == ScanKernel::kShared || kind == ScanKernel::kShared12 ||
                            kind == ScanKernel::kShared12Pipe || kind == ScanKernel::kStreamF32 ||
                            kind == ScanKernel::kStreamPair;
  if (named_shared && (in.dt_q == nullptr || N != 16 || !have_tab || table == ScanTable::kOff))
    kind = ScanKernel::kChannels;  // the shared kernels need the tables (and N = 16)
  const bool states = N <= 32 && (kind == ScanKernel::kStates ||
                                   (kind == ScanKernel::kAuto && pairs < static_cast<size_t>(kScanChannelThreads)));
  const bool use_tab = have_tab && in.dt_q != nullptr &&
                       (table == ScanTable::kOn || (table == ScanTable::kAuto && T >= kScanTableTokens));
  const ScanRun plain = states ? ScanRun::kStates : ScanRun::kChannels;
  const bool shared = use_tab && N == 16 && (named_shared || (kind == ScanKernel::kAuto && !states));
  if (!shared) return {plain, use_tab};
  if (kind == ScanKernel::kShared) return {ScanRun::kShared4, true};
  if (kind == ScanKernel::kShared12) return {ScanRun::kShared12, true};  // 403 -> 347 ms against kShared (run17)
  // kShared12Pipe: 349 -> 301 ms against kShared12 (run22); kStreamF32, kAuto's since the fourth
  // session of 2026-12-06: 300 -> 266 ms against kShared12Pipe (run25), bit-exact in all 23 modes
  // on both crosscheck models (run25, run27)
  if (kind == ScanKernel::kShared12Pipe) return {ScanRun::kPipe, true};
  // k_scan_stream indexes its streams in 32 bits (one past the last token included)
  const int64_t widest = std::max(E, std::max(in.ld_z, in.ld_bc));
  if ((static_cast<int64_t>(T) + 1) * widest >= (int64_t{1} << 31)) return {ScanRun::kPipe, true};
  return {kind == ScanKernel::kStreamPair ? ScanRun::kStreamPair : ScanRun::kStreamF32, true};
}
// Whether the forward should hand the scan its int8 B, C rows as they are (the pipelined kernel
// loads them a token ahead and forms scan_bc16's products itself) rather than the f32 rows of
// k_dequant_bc: only where the pipelined kernel runs (the others would dequantize B and C in
// every channel's thread; every kernel takes either).
inline bool scan_wants_bc_q(ScanKernel kind, ScanTable table, int B, int T, int E, int N, const ScanIn& in) {
  return in.bc_q != nullptr && scan_bc_vec(in) && plan_scan(kind, table, B, T, E, N, in, true).run == ScanRun::kPipe;
}
template <bool kPseq>
inline void launch_scan_t(ScanKernel kind, ScanTable table, int B, int T, const int32_t* off, const int32_t* order,
                          int E, int N, ScanIn in,
                          const ScanScales& s, uint16_t* y, float* state, int8_t* state_q, float* tab, cudaStream_t st) {
  const ScanPlan plan = plan_scan(kind, table, B, T, E, N, in, tab != nullptr);
  const bool states = plan.run == ScanRun::kStates;
  if (!plan.use_tab) {
    in.tab_dt = in.tab_dA = in.tab_zden = nullptr;
    launch_scan_k<kPseq, false>(states, B, off, E, N, in, s, y, state, state_q, st);
    return;
  }
  in = launch_scan_table<kPseq>(E, N, in, s, tab, st);
  switch (plan.run) {
    case ScanRun::kShared4:
      launch_scan_shared<kPseq, 4, 8, 3>(B, off, order, E, in, s, y, state, state_q, st);
      break;
    case ScanRun::kShared12:
      launch_scan_shared<kPseq, 12, 24, 1>(B, off, order, E, in, s, y, state, state_q, st);
      break;
    case ScanRun::kPipe:
      launch_scan_shared<kPseq, 12, 24, 1, 0, true>(B, off, order, E, in, s, y, state, state_q, st);
      break;
    case ScanRun::kStreamF32:
    case ScanRun::kStreamPair:  // k_scan_pair's cases; k_scan_stream elsewhere
      if (plan.run == ScanRun::kStreamPair && scan_pair_ok(E, in))
        launch_scan_blocks<12, 24>(k_scan_pair<kPseq>, "k_scan_pair", B, off, order, E, in, s, y, state, state_q, st);
      else
        launch_scan_blocks<12, 24>(k_scan_stream<kPseq>, "k_scan_stream", B, off, order, E, in, s, y, state, state_q,
                                   st);
      break;
    default:
      launch_scan_k<kPseq, true>(states, B, off, E, N, in, s, y, state, state_q, st);
  }
}
// One launch of the scan over B documents of T tokens in all. tab: scan_table_floats(E, N)
// floats of scratch for the tables, or null (no tables). order (nullable): the documents by
// decreasing length (k_scan_shared).
inline void launch_scan(ScanKernel kind, ScanTable table, bool pseq, int B, int T, const int32_t* off,
                        const int32_t* order, int E, int N, const ScanIn& in, const ScanScales& s, uint16_t* y,
                        float* state, int8_t* state_q, float* tab, cudaStream_t st = 0) {
  if (pseq)
    launch_scan_t<true>(kind, table, B, T, off, order, E, N, in, s, y, state, state_q, tab, st);
  else
    launch_scan_t<false>(kind, table, B, T, off, order, E, N, in, s, y, state, state_q, tab, st);
}

// ------------------------------------------------------------------ Hadamard (spec §2.7)

__constant__ int8_t c_h12[12][12];  // num::kHadamard12, copied in at model load

// Butterflies on bit b ascending, then the H_12 stage with left-to-right sums; RNA quantizer with
// sat8 (or wrap8 under quamba-compat). One block per token; the butterflies of a stage in parallel
// (each element still sees exactly golden's adds).
__global__ void k_hadamard(int L, int n, int block, int blocks, const uint16_t* y, float scale, bool wrap, int8_t* out,
                           unsigned long long* outside) {
  extern __shared__ float v[];  // 2n floats: v and a copy for the H_12 stage
  const int t = blockIdx.x;
  if (t >= L) return;
  for (int j = threadIdx.x; j < n; j += blockDim.x) v[j] = num::f16_to_f32(y[static_cast<size_t>(t) * n + j]);
  __syncthreads();
  for (int half = 1; half < block; half <<= 1) {
    for (int i = threadIdx.x; i < n / 2; i += blockDim.x) {
      const int c = i / (block / 2), r = i % (block / 2);
      const int p = (r / half) * 2 * half + (r % half);  // p with bit `half` clear
      float* lo = v + c * block + p;
      float* hi = lo + half;
      const float a = *lo, b = *hi;
      *lo = a + b;
      *hi = a - b;
    }
    __syncthreads();
  }
  if (blocks == 12) {
    float* in = v + n;
    for (int j = threadIdx.x; j < n; j += blockDim.x) in[j] = v[j];
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
      const int r = j / block, p = j % block;
      float acc = c_h12[r][0] > 0 ? in[p] : -in[p];
      for (int c = 1; c < 12; ++c) acc = c_h12[r][c] > 0 ? acc + in[c * block + p] : acc - in[c * block + p];
      v[j] = acc;
    }
    __syncthreads();
  }
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const int32_t k = num::f32_to_i32_sat(num::round_rna(v[j] * scale));
    if (outside && (k < -128 || k > 127)) atomicAdd(outside, 1ull);
    out[static_cast<size_t>(t) * n + j] = wrap ? num::wrap8(k) : num::sat8(k);
  }
}

// The same transform with one warp per token and the row in registers, in one of two layouts:
//   kVec = false (HadamardKernel::kLanes): element c·block + 32·i + lane in register v[c][i] of
//     lane `lane` (two-byte loads, one-byte stores);
//   kVec = true (HadamardKernel::kVec): element c·block + kPer·lane + i, so that a lane's kPer
//     elements of a block are consecutive (loads of kPer halves, stores of kPer bytes).
// (kPer = block / 32.) Golden's butterflies run on the bits of the element's offset in its block
// in ascending order; a bit of i stays in registers, a bit of the lane goes through
// __shfl_xor_sync (the lane with the bit clear keeps a + b, the other a - b, a being the lower
// element). kLanes: lane bits are offset bits 0..4 (shuffles first); kVec: i bits are offset bits
// 0..log2(kPer)-1 (registers first). The H_12 stage is in-register in both. Every element sees
// golden's operations in golden's order.
constexpr int kHadWarps = 4;  // tokens per block
// H_12's signs as compile-time constants (bit c of row r set where num::kHadamard12[r][c] = +1),
// so that the unrolled H_12 stage is plain adds and subtracts.
__host__ __device__ constexpr uint32_t h12_row_mask(int r) {
  constexpr uint32_t m[12] = {0xFFD, 0x554, 0xC37, 0x691, 0x0DF, 0xA45, 0x373, 0x919, 0xDC3, 0x469, 0x70F, 0x1A5};
  return m[r];
}
constexpr bool h12_masks_match_table() {
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 12; ++c)
      if (((h12_row_mask(r) >> c) & 1u) != (num::kHadamard12[r][c] > 0 ? 1u : 0u)) return false;
  return true;
}
static_assert(h12_masks_match_table(), "h12_row_mask differs from num::kHadamard12");
// kPer consecutive halves at p (kPer·2-byte aligned) as floats / kPer bytes to p (kPer-byte
// aligned), in the widest loads and stores that fit (at most 16 bytes each).
// kRaw: every half through cvt.f32.f16, NaNs too (their f32 bits then differ from f16_to_f32's
// payload-keeping NaNs, but a NaN input makes every output it reaches NaN either way, and the
// quantizer maps NaN to 0: the int8 outputs are the same).
__device__ __forceinline__ float f16_to_f32_cvt(uint16_t h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
template <int kPer, bool kRaw = false>
__device__ __forceinline__ void had_load(const uint16_t* p, float (&v)[kPer]) {
  auto cv = [](uint16_t h) { return kRaw ? f16_to_f32_cvt(h) : num::f16_to_f32(h); };
  if constexpr (kPer == 1) {
    v[0] = cv(*p);
  } else if constexpr (kPer == 2) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(p);
    v[0] = cv(static_cast<uint16_t>(w)), v[1] = cv(static_cast<uint16_t>(w >> 16));
  } else if constexpr (kPer == 4) {
    const uint2 w = *reinterpret_cast<const uint2*>(p);
    const uint32_t ws[2] = {w.x, w.y};
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = cv(static_cast<uint16_t>(ws[i / 2] >> (16 * (i % 2))));
  } else {
#pragma unroll
    for (int q = 0; q < kPer / 8; ++q) {
      const uint4 w = reinterpret_cast<const uint4*>(p)[q];
      const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) v[8 * q + i] = cv(static_cast<uint16_t>(ws[i / 2] >> (16 * (i % 2))));
    }
  }
}
template <int kPer>
__device__ __forceinline__ void had_store(int8_t* p, const int8_t (&b)[kPer]) {
  auto word = [&](int w) {  // bytes 4w .. 4w + 3
    return static_cast<uint32_t>(static_cast<uint8_t>(b[4 * w])) |
           static_cast<uint32_t>(static_cast<uint8_t>(b[4 * w + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[4 * w + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[4 * w + 3])) << 24;
  };
  if constexpr (kPer == 1) {
    *p = b[0];
  } else if constexpr (kPer == 2) {
    *reinterpret_cast<uint16_t*>(p) =
        static_cast<uint16_t>(static_cast<uint8_t>(b[0]) | static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 8);
  } else if constexpr (kPer == 4) {
    *reinterpret_cast<uint32_t*>(p) = word(0);
  } else if constexpr (kPer == 8) {
    *reinterpret_cast<uint2*>(p) = make_uint2(word(0), word(1));
  } else {
#pragma unroll
    for (int q = 0; q < kPer / 16; ++q)
      reinterpret_cast<uint4*>(p)[q] = make_uint4(word(4 * q), word(4 * q + 1), word(4 * q + 2), word(4 * q + 3));
  }
}
// kLean (HadamardKernel::kVecLean, `vec-lean`, with kVec; the default since run31: 38.4 -> 20.5
// ms): the halves
// converted by cvt alone (had_load<kPer, true>), and a lane butterfly as one fma with a ±1 factor,
// fma(±1, v, other): ±v is exact, so the one rounding gives lo + hi on the lower lane and
// (-hi) + lo = lo - hi on the upper one, golden's values (signed zeros included), where kVec
// flips the sign bit and adds (two instructions a butterfly besides the shuffle).
template <int kBlocks, int kPer, bool kCount, bool kVec, bool kLean = false>
__global__ void k_hadamard_warp(int L, const uint16_t* y, float scale, bool wrap, int8_t* out,
                                unsigned long long* outside) {
  constexpr int kBlock = 32 * kPer, kN = kBlocks * kBlock;
  const int lane = threadIdx.x % 32;
  const int t = blockIdx.x * kHadWarps + threadIdx.x / 32;
  if (t >= L) return;  // whole warps leave
  float v[kBlocks][kPer];
  const size_t row = static_cast<size_t>(t) * kN;
  auto at = [&](int c, int i) { return c * kBlock + (kVec ? kPer * lane + i : 32 * i + lane); };
#pragma unroll
  for (int c = 0; c < kBlocks; ++c) {
    if constexpr (kVec) {
      had_load<kPer, kLean>(y + row + at(c, 0), v[c]);
    } else {
#pragma unroll
      for (int i = 0; i < kPer; ++i) v[c][i] = num::f16_to_f32(y[row + at(c, i)]);
    }
  }
  // The butterflies whose partner is in another lane: lane bit `lb`.
  auto lane_stage = [&](int lb) {
    // lo + hi on the lower lane, lo - hi = (-hi) + lo on the upper one (IEEE a - b is a + (-b)):
    // one sign flip (xor of the sign bit) and one add.
    const uint32_t flip = (lane & lb) != 0 ? 0x80000000u : 0u;
    const float sgn = (lane & lb) != 0 ? -1.0f : 1.0f;
#pragma unroll
    for (int c = 0; c < kBlocks; ++c)
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const float other = __shfl_xor_sync(0xFFFFFFFFu, v[c][i], lb);
        if constexpr (kLean)
          v[c][i] = num::fma_f32(sgn, v[c][i], other);
        else
          v[c][i] = __uint_as_float(__float_as_uint(v[c][i]) ^ flip) + other;
      }
  };
  // The butterflies whose partner is in this lane: register bit `hi`.
  auto reg_stage = [&](int hi) {
#pragma unroll
    for (int c = 0; c < kBlocks; ++c)
#pragma unroll
      for (int i = 0; i < kPer; ++i)
        if ((i & hi) == 0) {
          const float a = v[c][i], b = v[c][i + hi];
          v[c][i] = a + b;
          v[c][i + hi] = a - b;
        }
  };
  if constexpr (kVec) {
#pragma unroll
    for (int hi = 1; hi < kPer; hi <<= 1) reg_stage(hi);
#pragma unroll
    for (int lb = 1; lb < 32 && lb * kPer < kBlock; lb <<= 1) lane_stage(lb);
  } else {
#pragma unroll
    for (int lb = 1; lb < 32 && lb < kBlock; lb <<= 1) lane_stage(lb);
#pragma unroll
    for (int hi = 1; hi < kPer; hi <<= 1) reg_stage(hi);
  }
  if (kBlocks == 12) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      float in[kBlocks];
#pragma unroll
      for (int c = 0; c < kBlocks; ++c) in[c] = v[c][i];
#pragma unroll
      for (int r = 0; r < kBlocks; ++r) {
        float acc = (h12_row_mask(r) & 1u) ? in[0] : -in[0];
#pragma unroll
        for (int c = 1; c < kBlocks; ++c) acc = ((h12_row_mask(r) >> c) & 1u) ? acc + in[c] : acc - in[c];
        v[r][i] = acc;
      }
    }
  }
#pragma unroll
  for (int c = 0; c < kBlocks; ++c) {
    int8_t q[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int32_t k = num::f32_to_i32_sat(num::round_rna(v[c][i] * scale));
      if (kCount && (k < -128 || k > 127)) atomicAdd(outside, 1ull);
      q[i] = wrap ? num::wrap8(k) : num::sat8(k);
    }
    if constexpr (kVec) {
      had_store<kPer>(out + row + at(c, 0), q);
    } else {
#pragma unroll
      for (int i = 0; i < kPer; ++i) out[row + at(c, i)] = q[i];
    }
  }
}

// One Hadamard launch: a warp kernel (kind) where n = blocks·block has 32 <= block and at most 64
// elements per lane (kVec also needs y and out aligned to a lane's kPer halves / bytes), else the
// block kernel. outside (nullable) counts quantizer inputs outside int8.
inline void launch_hadamard(HadamardKernel kind, int L, int n, int block, int blocks, const uint16_t* y, float scale,
                            bool wrap, int8_t* out, unsigned long long* outside) {
  const unsigned wb = static_cast<unsigned>((L + kHadWarps - 1) / kHadWarps), wt = 32 * kHadWarps;
  const bool vec_ok = (kind == HadamardKernel::kVec || kind == HadamardKernel::kVecLean) && block >= 32 &&
                      reinterpret_cast<uintptr_t>(y) % (2 * static_cast<uintptr_t>(block / 32)) == 0 &&
                      reinterpret_cast<uintptr_t>(out) % static_cast<uintptr_t>(block / 32) == 0;
#define QMSIM_HAD_WARP(NB, PER)                                                                   \
  if (blocks == NB && block == 32 * PER) {                                                        \
    if (vec_ok && kind == HadamardKernel::kVecLean) {                                             \
      if (outside)                                                                                \
        k_hadamard_warp<NB, PER, true, true, true><<<wb, wt>>>(L, y, scale, wrap, out, outside);  \
      else                                                                                        \
        k_hadamard_warp<NB, PER, false, true, true><<<wb, wt>>>(L, y, scale, wrap, out, outside); \
    } else if (vec_ok) {                                                                          \
      if (outside)                                                                                \
        k_hadamard_warp<NB, PER, true, true><<<wb, wt>>>(L, y, scale, wrap, out, outside);        \
      else                                                                                        \
        k_hadamard_warp<NB, PER, false, true><<<wb, wt>>>(L, y, scale, wrap, out, outside);       \
    } else {                                                                                      \
      if (outside)                                                                                \
        k_hadamard_warp<NB, PER, true, false><<<wb, wt>>>(L, y, scale, wrap, out, outside);       \
      else                                                                                        \
        k_hadamard_warp<NB, PER, false, false><<<wb, wt>>>(L, y, scale, wrap, out, outside);      \
    }                                                                                             \
    return;                                                                                       \
  }
  QMSIM_HAD_WARP(1, 1) QMSIM_HAD_WARP(1, 2) QMSIM_HAD_WARP(1, 4) QMSIM_HAD_WARP(1, 8) QMSIM_HAD_WARP(1, 16)
  QMSIM_HAD_WARP(1, 32) QMSIM_HAD_WARP(1, 64) QMSIM_HAD_WARP(12, 1) QMSIM_HAD_WARP(12, 2) QMSIM_HAD_WARP(12, 4)
#undef QMSIM_HAD_WARP
  k_hadamard<<<L, 256, 2 * n * sizeof(float)>>>(L, n, block, blocks, y, scale, wrap, out, outside);
}

// ------------------------------------------------------------------ lm_head (spec §5.8)

// logits[p, v] = Σ_k fl32(y·w) ascending k from 0.0f (one FFMA a product: y·w is exact, see
// num::add_exact_product_f32), y rows at
// pos[p] (nullable: row p). A block computes 64 rows x 64 vocabulary entries (256 threads, 4 x 4
// each) from f32 tiles of 32 k in shared memory; each output still adds its products one by one
// in ascending k.
constexpr int kHP = 64, kHV = 64, kHK = 32;
__global__ void k_lm_head(int P, int V, int D, const uint16_t* yf, const int32_t* pos, const uint16_t* W, bool f16,
                          float* logits) {
  __shared__ float ys[kHP][kHK + 1];
  __shared__ float ws[kHV][kHK + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int p0 = blockIdx.y * kHP, v0 = blockIdx.x * kHV;
  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < D; k0 += kHK) {
    const int kn = min(kHK, D - k0);
    for (int i = threadIdx.x; i < kHP * kHK; i += blockDim.x) {
      const int r = i / kHK, k = i % kHK;
      const int p = p0 + r, v = v0 + r;
      ys[r][k] = p < P && k < kn ? num::f16_to_f32(yf[static_cast<size_t>(pos ? pos[p] : p) * D + k0 + k]) : 0.0f;
      ws[r][k] = v < V && k < kn ? num::f16_to_f32(W[static_cast<size_t>(v) * D + k0 + k]) : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kn; ++k) {
      float a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = ys[ty * 4 + i][k], b[i] = ws[tx * 4 + i][k];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = num::add_exact_product_f32(acc[i][j], a[i], b[j]);  // f16 x f16: exact
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int p = p0 + ty * 4 + i;
    if (p >= P) continue;
    for (int j = 0; j < 4; ++j) {
      const int v = v0 + tx * 4 + j;
      if (v < V) logits[static_cast<size_t>(p) * V + v] = f16 ? num::round_to_f16(acc[i][j]) : acc[i][j];
    }
  }
}

// k_lm_head with 128 x 128 blocks and 8 x 8 outputs a thread (D % 8 == 0, 16-byte aligned rows):
// the tiles sit k-major in shared memory, so that a thread reads its 8 y values and 8 w values of
// one k as two float4 each (4 shared loads per 128 products instead of 8 per 32). Each output is
// still the sum of its products one by one in ascending k from 0.0f. Each product of two
// f16 values is exact in f32, so acc + a·b is one FFMA (num::add_exact_product_f32: the same bits
// as the product, then the sum; half the instructions of FMUL + FADD).
constexpr int kH8 = 128, kH8K = 32, kH8S = kH8 + 4;  // tile rows, k per stage, shared row stride
__global__ void __launch_bounds__(256) k_lm_head8(int P, int V, int D, const uint16_t* yf, const int32_t* pos,
                                                  const uint16_t* W, bool f16, float* logits) {
  __shared__ __align__(16) float ys[kH8K][kH8S];
  __shared__ __align__(16) float ws[kH8K][kH8S];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int p0 = blockIdx.y * kH8, v0 = blockIdx.x * kH8;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
  for (int k0 = 0; k0 < D; k0 += kH8K) {
    // 128 rows x 4 chunks of 8 halves per operand: two chunks a thread; chunks past D are zero.
#pragma unroll
    for (int l = 0; l < 2; ++l) {
      const int i = threadIdx.x + l * 256, r = i / 4, c = i % 4, k = k0 + 8 * c;
      const int p = p0 + r, v = v0 + r;
      uint4 yv = make_uint4(0, 0, 0, 0), wv = make_uint4(0, 0, 0, 0);
      if (p < P && k < D) yv = *reinterpret_cast<const uint4*>(yf + static_cast<size_t>(pos ? pos[p] : p) * D + k);
      if (v < V && k < D) wv = *reinterpret_cast<const uint4*>(W + static_cast<size_t>(v) * D + k);
      const uint32_t yw[4] = {yv.x, yv.y, yv.z, yv.w}, ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
      for (int h = 0; h < 8; ++h) {
        ys[8 * c + h][r] = num::f16_to_f32(static_cast<uint16_t>(yw[h / 2] >> (16 * (h % 2))));
        ws[8 * c + h][r] = num::f16_to_f32(static_cast<uint16_t>(ww[h / 2] >> (16 * (h % 2))));
      }
    }
    __syncthreads();
    const int kn = min(kH8K, D - k0);
    for (int k = 0; k < kn; ++k) {
      const float4 a0 = *reinterpret_cast<const float4*>(&ys[k][ty * 8]);
      const float4 a1 = *reinterpret_cast<const float4*>(&ys[k][ty * 8 + 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&ws[k][tx * 8]);
      const float4 b1 = *reinterpret_cast<const float4*>(&ws[k][tx * 8 + 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = num::add_exact_product_f32(acc[i][j], a[i], b[j]);  // f16 x f16: exact
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int p = p0 + ty * 8 + i;
    if (p >= P) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = v0 + tx * 8 + j;
      if (v < V) logits[static_cast<size_t>(p) * V + v] = f16 ? num::round_to_f16(acc[i][j]) : acc[i][j];
    }
  }
}
// One lm_head launch: k_lm_head8 for kTile128 where the rows allow it, else k_lm_head.
inline void launch_lm_head(LmHeadKernel kind, int P, int V, int D, const uint16_t* yf, const int32_t* pos,
                           const uint16_t* W, bool f16, float* logits, cudaStream_t st = 0) {
  if (P == 0 || V == 0) return;
  const bool wide = kind == LmHeadKernel::kTile128 && D % 8 == 0 && reinterpret_cast<uintptr_t>(yf) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(W) % 16 == 0;
  if (wide) {
    k_lm_head8<<<dim3((V + kH8 - 1) / kH8, (P + kH8 - 1) / kH8), 256, 0, st>>>(P, V, D, yf, pos, W, f16, logits);
    return;
  }
  k_lm_head<<<dim3((V + kHV - 1) / kHV, (P + kHP - 1) / kHP), 256, 0, st>>>(P, V, D, yf, pos, W, f16, logits);
}

// ------------------------------------------------------------------ scoring (eval::score_row)

// log_softmax of each logit row at its target, the definition of eval::score_row: one block per
// row. The maximum in any order (it is exact; NaN never wins, as with the host's std::max; which
// zero wins cannot change lse or lp); the sum Σ e^(x - max) in ascending index order: the block
// forms the exps of kScoreChunk entries at a time into shared memory and thread 0 adds them one by
// one (the host's sequential sum; before, every lane of a warp added all V terms from shuffles,
// 20 ms of the 130m full-LAMBADA run); lse = max + ln(sum); lp = x - lse (f16-rounded with f16);
// the lowest index of the maximal lp (an order-free rule), with the host's rule that a NaN lp[0]
// keeps index 0.
constexpr int kScoreThreads = 256, kScoreChunk = 2048;
__global__ void __launch_bounds__(kScoreThreads) k_score_rows(int P, int V, const float* logits, const int32_t* target,
                                                              bool f16, double* lp_out, uint8_t* greedy_out) {
  __shared__ double ev[kScoreChunk];
  __shared__ double red[kScoreThreads / 32];
  __shared__ int red_i[kScoreThreads / 32];
  const int row = blockIdx.x;
  if (row >= P) return;  // whole blocks leave
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const float* x = logits + static_cast<size_t>(row) * V;
  double mx = -INFINITY;
  for (int v = tid; v < V; v += kScoreThreads) {
    const double xv = x[v];
    mx = mx < xv ? xv : mx;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const double other = __shfl_xor_sync(0xFFFFFFFFu, mx, o);
    mx = mx < other ? other : mx;
  }
  if (lane == 0) red[warp] = mx;
  __syncthreads();
  mx = red[0];
  for (int w = 1; w < kScoreThreads / 32; ++w) mx = mx < red[w] ? red[w] : mx;
  double s = 0.0;  // thread 0's
  for (int base = 0; base < V; base += kScoreChunk) {
    const int n = min(kScoreChunk, V - base);
    for (int i = tid; i < n; i += kScoreThreads) ev[i] = num::exp_f64(static_cast<double>(x[base + i]) - mx);
    __syncthreads();
    if (tid == 0)
      for (int i = 0; i < n; ++i) s += ev[i];
    __syncthreads();
  }
  if (tid == 0) red[0] = mx + num::log_f64(s);
  __syncthreads();
  const double lse = red[0];
  __syncthreads();  // red is reused below
  auto lp = [&](int v) {
    const double l = static_cast<double>(x[v]) - lse;
    return f16 ? static_cast<double>(num::round_to_f16(static_cast<float>(l))) : l;
  };
  double best = -INFINITY;
  int bi = 0x7FFFFFFF;
  for (int v = tid; v < V; v += kScoreThreads) {
    const double l = lp(v);
    if (l > best || (l == best && v < bi)) best = l, bi = v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const double ob = __shfl_xor_sync(0xFFFFFFFFu, best, o);
    const int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, o);
    if (ob > best || (ob == best && oi < bi)) best = ob, bi = oi;
  }
  if (lane == 0) red[warp] = best, red_i[warp] = bi;
  __syncthreads();
  if (tid == 0) {
    for (int w = 1; w < kScoreThreads / 32; ++w)
      if (red[w] > best || (red[w] == best && red_i[w] < bi)) best = red[w], bi = red_i[w];
    const double l0 = lp(0);
    if (l0 != l0) bi = 0;
    const int t = target[row];
    lp_out[row] = lp(t);
    greedy_out[row] = bi == t ? 1 : 0;
  }
}

}  // namespace kern
}  // namespace gpu
}  // namespace qmsim
