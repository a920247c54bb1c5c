// What gpu_ref's two translation units (gpu.cu through kernels.cuh, and gemm_wgmma.cu, built for
// sm_90a) share: the dynamic shared-memory attribute, the INT8 GEMM epilogue (spec §2.4, §2.8),
// cp.async, and the GEMM output tile staged in shared memory.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "qmsim/numerics.h"

namespace qmsim {
namespace gpu {
namespace kern {

// Lets `kernel` take `bytes` of dynamic shared memory (above the default 48 KB). Called before
// every launch (a host call of about a microsecond) rather than once per process, so a second
// device, or a device after cudaDeviceReset, gets it too; a failure throws, naming the kernel.
template <class F>
inline void allow_dynamic_smem(F* kernel, size_t bytes, const char* name) {
  const cudaError_t e =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(name) + ": cudaFuncSetAttribute(" + std::to_string(bytes) +
                             " bytes of dynamic shared memory): " + cudaGetErrorString(e));
}

struct GemmEpilogue {
  float inner, outer, alpha;
  const uint8_t* row_alpha;  // nullable: rows with 1 take the GEMV alpha epilogue (quamba-compat)
  bool out_f16;
  void* y;
  int ldy;
  // int8 sat8(RNE(fl32(outer·fl32(inner·acc)))), or f16; alpha rows: fl32(alpha·acc).
  __device__ __forceinline__ float value(bool use_alpha, int32_t acc) const {
    return use_alpha ? alpha * num::i32_to_f32_rne(acc) : outer * (inner * num::i32_to_f32_rne(acc));
  }
  __device__ void store(int m, int n, int32_t acc) const {
    const float v = value(row_alpha != nullptr && row_alpha[m] != 0, acc);
    const size_t o = static_cast<size_t>(m) * ldy + n;
    if (out_f16)
      static_cast<uint16_t*>(y)[o] = num::f32_to_f16_rne(v);
    else
      static_cast<int8_t*>(y)[o] = num::quant_rne_sat8(v);
  }
  // Outputs (m, n) and (m, n + 1) (both inside the matrix) in one 2- or 4-byte store; needs
  // pair_ok() and an even n.
  __device__ bool pair_ok() const {
    return ldy % 2 == 0 && reinterpret_cast<uintptr_t>(y) % (out_f16 ? 4 : 2) == 0;
  }
  __device__ __forceinline__ void store2(int m, int n, int32_t acc0, int32_t acc1) const {
    const bool use_alpha = row_alpha != nullptr && row_alpha[m] != 0;
    const float v0 = value(use_alpha, acc0), v1 = value(use_alpha, acc1);
    const size_t o = static_cast<size_t>(m) * ldy + n;
    if (out_f16)
      *reinterpret_cast<uint32_t*>(static_cast<uint16_t*>(y) + o) =
          static_cast<uint32_t>(num::f32_to_f16_rne(v0)) | static_cast<uint32_t>(num::f32_to_f16_rne(v1)) << 16;
    else
      *reinterpret_cast<uint16_t*>(static_cast<int8_t*>(y) + o) =
          static_cast<uint16_t>(static_cast<uint8_t>(num::quant_rne_sat8(v0)) |
                                static_cast<uint8_t>(num::quant_rne_sat8(v1)) << 8);
  }
};

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool full) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(full ? 16 : 0));
}
// At a shared address: one 16-byte copy if p (cp_async16_if), or one that copies 16 bytes if full
// and writes 16 zeros otherwise (cp_async16_zfill; g must be a valid address either way).
__device__ __forceinline__ void cp_async16_if(uint32_t s, const void* g, bool p) {
  asm volatile(
      "{\n .reg .pred p;\n setp.ne.b32 p, %2, 0;\n @p cp.async.cg.shared.global [%0], [%1], 16;\n}\n" ::"r"(s),
      "l"(g), "r"(static_cast<int>(p)));
}
__device__ __forceinline__ void cp_async16_zfill(uint32_t s, const void* g, bool full) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(g), "r"(full ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kN>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(kN)); }
// The block's output tile staged in shared memory (GemmKernel::kMmaStaged, kWgmma): rows of
// `cols` outputs (1 byte each, or 2 for f16) padded by 16 bytes (16-byte aligned, bank-shifted).
__host__ __device__ constexpr int gemm_tile_ld(int cols, bool f16) { return cols * (f16 ? 2 : 1) + 16; }
// Outputs (r, col) and (r, col + 1) of the tile (block row r, block column col, even) from their
// int32 sums: ep.value and the conversion of GemmEpilogue::store2. Rows past M are skipped.
__device__ __forceinline__ void gemm_tile_put(const GemmEpilogue& ep, uint8_t* tile, int ldt, int M, int m0, int r,
                                              int col, int32_t acc0, int32_t acc1) {
  const int m = m0 + r;
  if (m >= M) return;
  const bool use_alpha = ep.row_alpha != nullptr && ep.row_alpha[m] != 0;
  const float v0 = ep.value(use_alpha, acc0), v1 = ep.value(use_alpha, acc1);
  if (ep.out_f16)
    *reinterpret_cast<uint32_t*>(tile + r * ldt + col * 2) =
        static_cast<uint32_t>(num::f32_to_f16_rne(v0)) | static_cast<uint32_t>(num::f32_to_f16_rne(v1)) << 16;
  else
    *reinterpret_cast<uint16_t*>(tile + r * ldt + col) = static_cast<uint16_t>(
        static_cast<uint8_t>(num::quant_rne_sat8(v0)) | static_cast<uint8_t>(num::quant_rne_sat8(v1)) << 8);
}
// Two outputs' int8 codes (num::f32_to_i32_rne_sat: cvt.rni, clamped by sat8) or f16 halves (one
// cvt.rn.f16x2.f32 where neither value is NaN, else f32_to_f16_rne) packed for one store
// (gemm_lean_put, k_gemm_wgmma).
__device__ __forceinline__ uint16_t gemm_pack_s8(float v0, float v1) {
  const uint32_t q0 = static_cast<uint8_t>(num::sat8(num::f32_to_i32_rne_sat(v0)));
  const uint32_t q1 = static_cast<uint8_t>(num::sat8(num::f32_to_i32_rne_sat(v1)));
  return static_cast<uint16_t>(q0 | q1 << 8);
}
__device__ __forceinline__ uint32_t gemm_pack_f16(float v0, float v1) {
  if (v0 == v0 && v1 == v1) {
    uint32_t d;  // d.hi = cvt(first operand), d.lo = cvt(second)
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(v1), "f"(v0));
    return d;
  }
  return static_cast<uint32_t>(num::f32_to_f16_rne(v0)) | static_cast<uint32_t>(num::f32_to_f16_rne(v1)) << 16;
}
// The staged tile (kRows x kCols outputs at block origin (m0, n0)) to ep.y by the block's
// kThreads threads in 16-byte row pieces (bytewise where ep.y's rows are not 16-byte aligned and
// at the matrix's last columns). Call after a barrier that follows every gemm_tile_put.
template <int kRows, int kCols, int kThreads>
__device__ __forceinline__ void gemm_tile_store(const GemmEpilogue& ep, const uint8_t* tile, int ldt, int M, int N,
                                                int m0, int n0) {
  const int eb = ep.out_f16 ? 2 : 1;            // bytes per output
  const int per = 16 / eb, chunks = kCols / per;  // outputs per 16-byte piece, pieces per row
  uint8_t* yb = static_cast<uint8_t*>(ep.y);
  const bool vec = (static_cast<size_t>(ep.ldy) * eb) % 16 == 0 && reinterpret_cast<uintptr_t>(ep.y) % 16 == 0;
  for (int i = threadIdx.x; i < kRows * chunks; i += kThreads) {
    const int r = i / chunks, n = n0 + (i % chunks) * per, m = m0 + r;
    if (m >= M || n >= N) continue;
    const uint8_t* src = tile + r * ldt + (n - n0) * eb;
    uint8_t* dst = yb + (static_cast<size_t>(m) * ep.ldy + n) * eb;
    if (vec && n + per <= N) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
      for (int j = 0; j < per && n + j < N; ++j)
        for (int b = 0; b < eb; ++b) dst[j * eb + b] = src[j * eb + b];
    }
  }
}

// GemmKernel::kWgmma (gemm_wgmma.cu): whether this device runs it (compute capability 9.0, the
// sm_90a code), and its launch (K % 16 == 0, 16-byte aligned rows, like kMmaAsync).
bool wgmma_available();
void launch_gemm_wgmma(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, const GemmEpilogue& ep,
                       cudaStream_t st);

}  // namespace kern
}  // namespace gpu
}  // namespace qmsim
