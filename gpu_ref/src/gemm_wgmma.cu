// GemmKernel::kWgmma: the INT8 GEMM on Hopper's warpgroup tensor-core instructions
// (wgmma.mma_async m64n128k32 s8.s8 -> s32), which read both operands from shared memory
// through matrix descriptors instead of from registers loaded by the warps (k_gemm_mma_async: 24
// shared loads of 4 bytes per 16 mma.sync a warp and k32 step; run21's ncu: 0.4-0.5 instructions
// issued per cycle and scheduler, 17% of the INT8 peak in run22). The int32 sums are exact, so the
// order of the products is free; the epilogue is kMmaStaged's (gemm_tile_put, gemm_tile_store).
//
// This translation unit is built for sm_90a (gpu_ref/CMakeLists.txt): wgmma exists only in the
// architecture-specific target. Its compute_90 PTX (for other GPUs) traps, and GpuModel takes
// kMmaStaged wherever wgmma_available() is false.
//
// Block: 128 x 128 outputs, 256 threads = 2 warpgroups, warpgroup w owns rows 64w .. 64w + 63 and
// all 128 columns (one m64n128k32 per k32 step). K advances 64 bytes per stage through a
// kWgStages-deep cp.async pipeline. Shared-memory layout of a stage, for the x tile and the W tile
// alike: [k chunk (4 of 16 bytes)][row (128)][16 bytes], so that each 8-row x 16-byte core matrix
// is 128 contiguous bytes (the no-swizzle K-major layout): the next 8 rows are 128 bytes on (the
// descriptor's stride byte offset), the next 16 bytes of K are 2048 bytes on (its leading byte
// offset).
#include "gemm_common.cuh"

namespace qmsim {
namespace gpu {
namespace kern {

namespace {

constexpr int kWgM = 128, kWgN = 128, kWgK = 64, kWgStages = 4;
constexpr int kWgChunk = kWgM * 16;                   // bytes of one 16-byte K chunk of a 128-row tile
constexpr int kWgTile = kWgChunk * (kWgK / 16);       // bytes of one operand's tile per stage (8 KB)
constexpr int kWgStage = 2 * kWgTile;                 // x tile, then W tile
constexpr size_t kWgBytes = static_cast<size_t>(kWgStages) * kWgStage;  // 64 KB
static_assert(static_cast<size_t>(kWgM) * gemm_tile_ld(kWgN, true) <= kWgBytes, "the output tile fits the stages");

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address >> 4 in bits 0-13,
// leading dimension byte offset >> 4 in bits 16-29, stride dimension byte offset >> 4 in bits
// 32-45, base offset 0, swizzle mode 0 (none) in bits 62-63.
__device__ __forceinline__ uint64_t wg_desc(const void* smem, uint32_t lbo, uint32_t sbo) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<uint64_t>((a & 0x3FFFF) >> 4) | static_cast<uint64_t>((lbo >> 4) & 0x3FFF) << 16 |
         static_cast<uint64_t>((sbo >> 4) & 0x3FFF) << 32;
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
  const int wg = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int m0 = blockIdx.y * kWgM, n0 = blockIdx.x * kWgN;
  const int kt_count = (K + kWgK - 1) / kWgK;
  auto issue = [&](int kt) {
    if (kt < kt_count) {
      uint8_t* st = wsm + (kt % kWgStages) * kWgStage;
      const int k0 = kt * kWgK;
      for (int i = threadIdx.x; i < 2 * kWgM * (kWgK / 16); i += 256) {
        const int op = i / (kWgM * (kWgK / 16)), j = i % (kWgM * (kWgK / 16));
        const int r = j / (kWgK / 16), c = j % (kWgK / 16), k = k0 + c * 16;
        uint8_t* dst = st + op * kWgTile + c * kWgChunk + r * 16;
        if (op == 0) {
          const int m = m0 + r;
          const bool ok = m < M && k < K;
          cp_async16(dst, x + (ok ? static_cast<size_t>(m) * ldx + k : 0), ok);
        } else {
          const int n = n0 + r;
          const bool ok = n < N && k < K;
          cp_async16(dst, W + (ok ? static_cast<size_t>(n) * K + k : 0), ok);
        }
      }
    }
    cp_async_commit();  // an empty group past the end keeps the wait counts uniform
  };
  int32_t d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0;
#pragma unroll
  for (int s = 0; s < kWgStages - 1; ++s) issue(s);
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<kWgStages - 2>();  // this thread's copies of tile kt have landed ...
    // ... and are visible to the tensor cores' (async proxy) reads of shared memory
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();  // everyone's; and every warpgroup's wgmma on tile kt - 1 has completed
    issue(kt + kWgStages - 1);  // into the stage tile kt - 1 used
    const uint8_t* st = wsm + (kt % kWgStages) * kWgStage;
    wg_fence_operands(d);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int s = 0; s < kWgK / 32; ++s) {  // two k32 steps: K chunks 2s and 2s + 1
      const uint64_t da = wg_desc(st + 2 * s * kWgChunk + wg * 64 * 16, kWgChunk, 128);
      const uint64_t db = wg_desc(st + kWgTile + 2 * s * kWgChunk, kWgChunk, 128);
      wg_mma(d, da, db);
    }
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    wg_fence_operands(d);
  }
  cp_async_wait<0>();
  __syncthreads();  // every warpgroup is done with the stages
  uint8_t* tile = wsm;
  const int ldt = gemm_tile_ld(kWgN, ep.out_f16);
  const int g = lane / 4, tg = lane % 4;
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int c = 0; c < 4; c += 2)
      gemm_tile_put(ep, tile, ldt, M, m0, wg * 64 + warp * 16 + g + (c >= 2 ? 8 : 0), 8 * j + 2 * tg, d[4 * j + c],
                    d[4 * j + c + 1]);
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
