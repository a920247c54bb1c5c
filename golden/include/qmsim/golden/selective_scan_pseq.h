// Selective scan with the PyTorch "P-seq" arithmetic (spec §4.5) as a golden op: the SSM of the
// experiment modes 2-1, 2-2, 2-3, 2-4 and 3 (spec §5.8 mode table; 3 is defined as P-seq).
// Every op is rounded separately (no FMA), exp/log1p correctly rounded, IEEE division.
#pragma once

#include <cstdint>

#include "qmsim/golden/selective_scan.h"  // SsmScales

namespace qmsim {
namespace golden {

/// Token-major inputs: u, dt, z [L, E]; B, C [L, N]; A_log [E, N]; D, dt_bias [E] (int8 unless said).
/// u comes in one of two forms (the only difference between modes 2-1 and 2-2/2-4):
///   u_q != nullptr: int8, dequantized as fl32(f32(u_q)·s.u)            (mode 2-1, 2-3)
///   u_q == nullptr: u_f32 [L, E] used verbatim (on-grid or TRUE FP32;  mode 2-2, 2-4, 3)
/// Outputs: y_f16 [L, E] (f16 bits); state [E, N] final f32 h (nullable). s.state is unused.
/// Per channel e (spec §4.5; fl32 = one binary32 rounding):
///   Dv = fl32(q_D·s_D); A[n] = -exp(fl32(q_A·s_A)); h[n] = 0
///   for t: u' = fl32(q_u·s_u) | u_f32; z' = fl32(q_z·s_z); B'[n], C'[n] = fl32(q·s_B), fl32(q·s_C)
///          dt' = fl32(fl32(q_dt·s_dt) + fl32(q_db·s_db)); dt' = dt' <= 20 ? log1p(exp(dt')) : dt'
///          for n: dA = exp(fl32(dt'·A[n])); dBu = fl32(fl32(dt'·B'[n])·u')
///                 h[n] = fl32(fl32(dA·h[n]) + dBu)
///          y = fl32(h[0]·C'[0]); for n = 1..N-1: y = fl32(y + fl32(h[n]·C'[n]))
///          y = fl32(y + fl32(u'·Dv)); y = fl32(y · fl32(z' / fl32(1 + exp(-z'))))
///          out = f16_RNE(y)
/// The Σ_n order: PyTorch's torch.sum leaves its reduction order unspecified; this op fixes it to
/// ascending n starting from the first term (spec §5.8 reduction rule). N >= 1.
/// Parallel over channels; identical results for every thread count. Where AVX-512 is usable,
/// 16 channels a vector with the same operations lane by lane (selective_scan_avx512.cc); the
/// result equals selective_scan_pseq_ref's (tests/selective_scan_pseq_test.cc).
void selective_scan_pseq(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                         const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                         const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state, int threads);
/// The scalar definition above, one channel at a time on the calling thread.
void selective_scan_pseq_ref(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                             const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                             const int8_t* dt_bias, const SsmScales& s, uint16_t* y_f16, float* state);

}  // namespace golden
}  // namespace qmsim
