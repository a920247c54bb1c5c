// GemmKernel::kWgmma: the INT8 GEMM on Hopper's warpgroup tensor-core instructions
// (wgmma.mma_async m64n128k32 s8.s8 -> s32), which read both operands from shared memory
// through matrix descriptors instead of from registers loaded by the warps. The int32 sums are
// exact, so the order of the products is free; the epilogue is kMmaLean's (ep.value, then
// gemm_pack_s8 or gemm_pack_f16 into the staged tile, gemm_tile_store).
//
// This translation unit is built for sm_90a (gpu_ref/CMakeLists.txt): wgmma exists only in the
// architecture-specific target. Its compute_90 PTX (for other GPUs) traps, and launch_gemm runs
// kMmaLean wherever wgmma_available() is false.
//
// Second version (written 2026-12-06 after the sixth session's device time was spent; first run
// on a GPU in run36: bit-exact in every GEMM test and 23 + 14 crosscheck modes, in_proj 116.2 ->
// 74.1 ms, out_proj 55.4 -> 33.7, x_proj 18.0 -> 11.7 against mma-lean; the default since). The
// first (run23: bit-exact, but in_proj 137.4 -> 171.3 ms against mma-staged) read no-swizzle
// tiles 64 bytes of K a stage and waited for every k-tile's wgmma before copying the next
// (wait_group 0). Now:
//  - K advances 128 bytes a stage, and both tiles are stored in the 128-byte-swizzle K-major
//    layout (descriptor layout type 1): row r of a tile is 128 bytes at r·128, its 16-byte chunk
//    j at chunk position j ^ (r % 8), each 8-row group (1024 bytes, the descriptor's stride byte
//    offset) aligned to 1024 bytes; a k32 step is the same descriptor 32 bytes on;
//  - one wgmma group stays in flight while the next stage's copies are issued
//    (wgmma.wait_group 1): 3 stages of 32 KB, the tile two k-tiles ahead copied while tile kt is
//    multiplied (96 KB a block: 2 blocks an SM, one's epilogue beside the other's main loop);
//  - each thread's 8 copies a stage (chunk t % 8 of rows t / 8 + 32i of both tiles) have fixed
//    shared offsets and row checks, formed once (as mma-lean's), and global pointers advanced a
//    stage at a time; chunks past K are zero-filled in both tiles, rows past M or N not copied
//    (their outputs are never stored);
//  - K <= 64 (dt_proj) goes to mma-lean's small-K kernel (launch_gemm).
// Block: 128 x 128 outputs, 256 threads = 2 warpgroups, warpgroup w owns rows 64w .. 64w + 63 and
// all 128 columns: 4 m64n128k32 a stage.
#include "gemm_common.cuh"

namespace qmsim {
namespace gpu {
namespace kern {

namespace {

constexpr int kWgM = 128, kWgN = 128, kWgK = 128, kWgStages = 3;
constexpr int kWgTile = kWgM * kWgK;                  // bytes of one operand's tile per stage (16 KB)
constexpr int kWgStage = 2 * kWgTile;                 // x tile, then W tile
constexpr size_t kWgBytes = static_cast<size_t>(kWgStages) * kWgStage + 1024;  // 96 KB + alignment slack
static_assert(static_cast<size_t>(kWgM) * gemm_tile_ld(kWgN, true) <= kWgBytes - 1024, "the output tile fits the stages");

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Matrix descriptor (PTX ISA, "Matrix Descriptor Format") of a K-major tile in the 128-byte
// swizzle layout at shared address a: start address >> 4 in bits 0-13, leading dimension byte
// offset >> 4 in bits 16-29 (not used by a swizzled K-major layout whose k step fits in the
// 128-byte row; 1 as CUTLASS sets it), stride dimension byte offset >> 4 in bits 32-45 (1024: the
// next 8-row group), base offset 0 in bits 49-51 (the tiles are 1024-byte aligned), layout type 1
// (128-byte swizzle) in bits 62-63.
__device__ __forceinline__ uint64_t wg_desc_sw128(uint32_t a) {
  return static_cast<uint64_t>((a & 0x3FFFF) >> 4) | static_cast<uint64_t>(1) << 16 |
         static_cast<uint64_t>(1024 >> 4) << 32 | static_cast<uint64_t>(1) << 62;
}

// d += x_tile(64 x 32) · W_tile(128 x 32)^T: the 64 accumulators of this thread, in the
// m64nNk32 register layout (d[4j + c]: row 16·warp + lane/4 + 8·(c >= 2), column 8j + 2·(lane%4)
// + (c & 1) of the warpgroup's 64 x 128 block).
__device__ __forceinline__ void wg_mma(int32_t (&d)[64], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"  // scale-d true: d += x·W^T
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]),
        "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]),
        "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]),
        "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
        "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]),
        "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]),
        "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
        "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(da), "l"(db)
      : "memory");
}
// Tells the compiler that the tensor cores may have changed every accumulator register here, so
// that it moves no use of them across the wgmma.wait_group before it (CUTLASS's
// warpgroup_fence_operand).
__device__ __forceinline__ void wg_fence_operands(int32_t (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+r"(d[i])::"memory");
}
#endif

__global__ void __launch_bounds__(256, 2) k_gemm_wgmma(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W,
                                                       GemmEpilogue ep) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(128) uint8_t wsm[];
  // The stages from the first 1024-byte boundary (the swizzle pattern follows address bits 7-9).
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(wsm));
  const uint32_t base = (raw + 1023u) & ~1023u;
  uint8_t* const wbase = wsm + (base - raw);
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int m0 = blockIdx.y * kWgM, n0 = blockIdx.x * kWgN;
  const int kt_count = (K + kWgK - 1) / kWgK;
  // This thread's copies: chunk c of rows r0 + 32i (i = 0..3) of the x tile and of the W tile,
  // stored at chunk position c ^ (r % 8) (the same for the four rows: 32i leaves r % 8 alone).
  const int c = threadIdx.x % 8, r0 = threadIdx.x / 8;
  const uint32_t s_off = static_cast<uint32_t>(r0 * 128 + ((c ^ (r0 & 7)) << 4));
  bool vx[4], vw[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) vx[i] = m0 + r0 + 32 * i < M, vw[i] = n0 + r0 + 32 * i < N;
  const size_t sx32 = static_cast<size_t>(32) * ldx, sw32 = static_cast<size_t>(32) * K;
  const int8_t* gx = x + static_cast<size_t>(vx[0] ? m0 + r0 : 0) * ldx + c * 16;
  const int8_t* gw = W + static_cast<size_t>(vw[0] ? n0 + r0 : 0) * K + c * 16;
  int k_next = 0, st_next = 0;  // the next tile to copy: its K offset and its stage
  auto issue = [&]() {
    if (k_next < K) {
      const uint32_t s = base + st_next * kWgStage + s_off;
      const bool full = k_next + kWgK <= K, kc = k_next + c * 16 < K;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        // rows past M or N: not copied; in a partial last stage, chunks past K zero-filled
        // (a row that is itself past M or N is still skipped: its pointer may lie outside x, W)
        const int8_t* px = gx + (vx[i] ? i * sx32 : 0);
        const int8_t* pw = gw + (vw[i] ? i * sw32 : 0);
        if (full) {
          cp_async16_if(s + i * 32 * 128, px, vx[i]);
          cp_async16_if(s + kWgTile + i * 32 * 128, pw, vw[i]);
        } else {
          if (vx[i]) cp_async16_zfill(s + i * 32 * 128, kc ? px : x, kc);
          if (vw[i]) cp_async16_zfill(s + kWgTile + i * 32 * 128, kc ? pw : W, kc);
        }
      }
      k_next += kWgK, gx += kWgK, gw += kWgK;
      st_next = st_next + 1 == kWgStages ? 0 : st_next + 1;
    }
    cp_async_commit();  // an empty group past the end keeps the wait counts uniform
  };
  int32_t d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0;
  issue();  // tiles 0 and 1
  issue();
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<1>();  // this thread's copies of tile kt have landed (tile kt + 1's may not) ...
    // ... are visible to the tensor cores' (async proxy) reads of shared memory ...
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();  // ... and so are everyone's
    const uint32_t st = base + (kt % kWgStages) * kWgStage;
    wg_fence_operands(d);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int s = 0; s < kWgK / 32; ++s)  // four k32 steps: the descriptors 32 bytes on each
      wg_mma(d, wg_desc_sw128(st + wg * 64 * 128 + 32 * s), wg_desc_sw128(st + kWgTile + 32 * s));
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // tile kt - 1's group is done
    wg_fence_operands(d);
    __syncthreads();  // every warpgroup's: the stage of tile kt - 1 is free
    issue();          // tile kt + 2, into that stage
  }
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
  wg_fence_operands(d);
  cp_async_wait<0>();
  __syncthreads();  // every warpgroup is done with the stages
  // The staged tile: warp w of warpgroup wg holds rows 64wg + 16w + g and + 8, columns 8j + 2tg
  // and + 1 (d[4j], d[4j + 1]; d[4j + 2], d[4j + 3] for the row 8 below).
  uint8_t* tile = wbase;
  const int ldt = gemm_tile_ld(kWgN, ep.out_f16);
  const int g = lane / 4, tg = lane % 4;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int r = wg * 64 + warp * 16 + g + 8 * hf;
    if (m0 + r >= M) continue;
    const bool use_alpha = ep.row_alpha != nullptr && ep.row_alpha[m0 + r] != 0;
    uint8_t* row = tile + r * ldt;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int col = 8 * j + 2 * tg;
      const float v0 = ep.value(use_alpha, d[4 * j + 2 * hf]), v1 = ep.value(use_alpha, d[4 * j + 2 * hf + 1]);
      if (ep.out_f16)
        *reinterpret_cast<uint32_t*>(row + col * 2) = gemm_pack_f16(v0, v1);
      else
        *reinterpret_cast<uint16_t*>(row + col) = gemm_pack_s8(v0, v1);
    }
  }
  __syncthreads();
  gemm_tile_store<kWgM, kWgN, 256>(ep, tile, ldt, M, N, m0, n0);
#else
  __trap();  // wgmma needs the sm_90a code; wgmma_available() keeps other GPUs off this kernel
#endif
}

}  // namespace

bool wgmma_available() {
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) return false;
  return major == 9 && minor == 0;
}

void launch_gemm_wgmma(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, const GemmEpilogue& ep,
                       cudaStream_t st) {
  allow_dynamic_smem(k_gemm_wgmma, kWgBytes, "k_gemm_wgmma");
  const dim3 grid(static_cast<unsigned>((N + kWgN - 1) / kWgN), static_cast<unsigned>((M + kWgM - 1) / kWgM));
  k_gemm_wgmma<<<grid, 256, kWgBytes, st>>>(M, N, K, x, ldx, W, ep);
}

}  // namespace kern
}  // namespace gpu
}  // namespace qmsim
