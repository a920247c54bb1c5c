// gpu_ref/ per-kernel entry points for tests: each function copies its host inputs to the GPU,
// runs ONE kernel of the forward (the same __global__ function GpuModel launches) and copies the
// result back. Signatures mirror the golden op they must equal bit for bit, so a test calls both
// on the same random inputs and compares with ==. Host API only (no CUDA headers).
#pragma once

#include <cstdint>
#include <string>

#include "qmsim/golden/conv1d.h"
#include "qmsim/golden/mode.h"
#include "qmsim/golden/selective_scan.h"

namespace qmsim {
namespace gpu {

/// The INT8 GEMM kernels (exact int32 sums; the epilogue is the same code in all of them):
///   kNaive     one thread per output (the baseline of the benchmarks)
///   kDp4a      64x64 tiles in shared memory, __dp4a on CUDA cores
///   kMma       tensor cores: mma.sync m16n8k32 s8.s8.s32, 128x128 block tiles, register-staged
///              double buffer
///   kMmaAsync  kMma fed by a 3-stage cp.async pipeline (global -> shared without registers),
///              column pairs in one store; needs K % 16 == 0 and 16-byte aligned rows, else it
///              runs kMma
///   kMmaStaged kMmaAsync whose outputs go through shared memory and leave in 16-byte row pieces
///              (run22: in_proj 152 -> 136 ms, out_proj 77 -> 66, dt_proj 37 -> 26, x_proj 23 -> 19)
///   kWgmma     Hopper's wgmma.mma_async m64n128k32 (operands read by the tensor cores from shared
///              memory, no register staging), kMmaLean's epilogue; sm_90a code, on compute
///              capability 9.0 only (elsewhere kMmaLean; rows kMmaAsync cannot take: kMma;
///              K <= 64: kMmaLean's small-K kernel). The first version (no-swizzle
///              tiles, every k-tile's group waited for) was bit-exact but slower (run23: in_proj
///              137 -> 171 ms); the second (128-byte-swizzle tiles, 128 bytes of K a stage, one
///              wgmma group in flight while the next tile is copied) is bit-exact and faster
///              (run36: in_proj 116.2 -> 74.1 ms, out_proj 55.4 -> 33.7, x_proj 18.0 -> 11.7;
///              0.613 -> 0.549 s for the whole job): the default since run36
///   kMmaLean   kMmaStaged's tiles, fragments, exact sums and epilogue values with fewer
///              instructions per mma (about 13 issued per IMMA before): each thread's cp.async
///              copies formed once and advanced a stage at a time, fragments by ldmatrix.x4 (6
///              shared loads per 16 mma instead of 24), the epilogue's row checks once per row,
///              the int8 code by cvt.rni, f16 pairs by one cvt. run30: in_proj 137.6 -> 102.7 ms,
///              out_proj 67.5 -> 48.7, dt_proj 26.8 -> 21.2, x_proj 18.5 -> 16.5 (0.707 -> 0.650 s
///              for the whole job; 4 stages measured the same and were dropped). For K <= 64
///              (dt_proj) a block keeps 128 rows of x in registers and walks 3 column tiles,
///              copying the next W tile while it multiplies and stores the current one
///              (k_gemm_mma_smallk; run31: dt_proj 21.1 -> 20.2 ms)
/// GpuModel uses kWgmma for every GEMM (kMmaLean from run30 to run35, kMmaStaged from run22 to
/// run29; kMmaLean on GPUs other than compute capability 9.0)
/// unless QMSIM_GPU_GEMM=wgmma|mma-lean|mma-staged|mma-async|mma|dp4a|naive says otherwise (mma: kDp4a for K < 64,
/// where it beats kMma; dp4a and naive: every GEMM). Measured slower and dropped
/// (docs/BENCHMARKS.md): a 128 x 256 tile variant of kMmaAsync (run17: 2x slower), a persistent
/// grid of kMmaStaged's tiles (run26: in_proj 137.3 -> 149.3 ms) and 256 x 128 tiles with 16
/// warps (run27: in_proj 138.8 -> 151.3 ms).
enum class GemmKernel { kNaive, kDp4a, kMma, kMmaAsync, kMmaStaged, kWgmma, kMmaLean };
const char* gemm_kernel_name(GemmKernel k);
/// Parses wgmma | mma-lean | mma-staged | mma-async | mma | dp4a | naive; throws std::invalid_argument naming the variable otherwise.
GemmKernel gemm_kernel_from_env();

/// The selective-scan kernels (the same arithmetic in the same order; spec §2.6, §4.5):
///   kChannels  one thread per (document, channel), the N states in registers
///   kStates    one lane per (document, channel, state), the output sum through warp shuffles
///   kShared    kChannels with the scan's tables (ScanTable) in shared memory: a block holds the
///              tables of 4 channels and runs 64 documents of them (N = 16 and an int8 dt only;
///              otherwise kChannels)
///   kShared12  kShared with 12 channels a block (24 warps, one block an SM): a token's B and C
///              and each 32-byte sector of u, z, dt serve 12 channels instead of 4
///   kShared12Pipe  kShared12 with each token's u, dt, z codes (and int8 B, C rows, which the
///              forward then passes undequantized) loaded one token ahead, so that their latency
///              overlaps the token before (the same arithmetic)
///   kStreamF32 kShared12Pipe's loads with a cheaper loop: 32-bit stream indices advanced a token
///              at a time, the forward's f32 B, C rows (k_dequant_bc), the next token's prefetched
///              into L1 (no dequantization in the loop), tables laid out chunk-major across the
///              channels (no bank conflicts from random dt codes). run25: 300 -> 266 ms
///   kStreamPair kStreamF32's tables and arithmetic with a lane pair per two channels, each lane
///              holding 8 of the 16 states and loading only its half of B and C; y's sum runs
///              from lane to lane (the odd lane a token behind). Opt-in: bit-exact, but slower
///              (run33: scan 268 -> 359 ms; both lanes form every channel's token values)
///   kAuto      from kScanChannelThreads (document, channel) pairs up kStreamF32 where it applies
///              (kShared12Pipe where its 32-bit indices would overflow; else kChannels), kStates
///              below (kShared12Pipe until 2026-12-06's fourth session)
/// GpuModel uses kAuto unless QMSIM_GPU_SCAN=channels|states|shared|shared12|pipe|stream-f32|stream-pair|auto
/// says otherwise.
enum class ScanKernel { kAuto, kChannels, kStates, kShared, kShared12, kShared12Pipe, kStreamF32, kStreamPair };
constexpr int kScanChannelThreads = 32768;
const char* scan_kernel_name(ScanKernel k);
/// Parses auto | channels | states | shared | shared12 | pipe | stream-f32 | stream-pair; throws std::invalid_argument naming the variable otherwise.
ScanKernel scan_kernel_from_env();

/// The scan's tables (scans with an int8 dt): dt has 256 codes, so softplus(dt) and the N exps
/// e^(softplus(dt)·A[e, n]) take E·256·(N+1) values per launch, which a small kernel forms first
/// (with the per-token functions, so every value is the one a scan thread would compute); the scan
/// then reads its exps instead of evaluating one per (token, channel, state). Likewise
/// 1 + e^(-z) over z's 256 codes.
///   kAuto  tables when the launch has at least kScanTableTokens tokens (more per-token exps than
///          table entries)
///   kOn / kOff  always / never
/// GpuModel uses kAuto unless QMSIM_GPU_SCAN_TABLE=auto|on|off says otherwise.
enum class ScanTable { kAuto, kOn, kOff };
constexpr int kScanTableTokens = 256;
const char* scan_table_name(ScanTable t);
/// Parses auto | on | off; throws std::invalid_argument naming the variable otherwise.
ScanTable scan_table_from_env();
/// The scan kernel that a launch of B documents, T tokens in all, E channels and N states runs
/// under the selections k and t (kern::plan_scan, the forward's choice; host only, no device
/// needed): "states", "channels", "shared" (4 channels), "shared12", "pipe" or "stream-f32", with
/// "+tables" where it reads the tables, for the forward's operand strides (z: 2E, f32 B, C rows:
/// 2N). int8_dt: dt is int8 (every mode but 6-0 .. 6-3).
std::string scan_plan(ScanKernel k, ScanTable t, int B, int T, int E, int N, bool int8_dt);

/// The conv1d kernels (spec §2.5; the same integer sums and y = fma(scale, acc, bias)):
///   kExact  k_conv: one thread per (token, channel), golden's definition on every element
///   kFast   k_conv4 where it applies (int8 output only, K = 4, E % 4 == 0, aligned rows; else
///           k_conv): four channels and 16 tokens a thread, the code from hardware
///           approximations of SiLU and 1/s_u wherever their error bound cannot change it
///           (num::conv_code_from_approx), golden's definition elsewhere
///   kDp4a   kFast with each channel's 4-tap integer sum as one __dp4a of its window bytes (kept as
///           a word, shifted a byte a token) and its weight bytes (run31: conv 40.4 -> 30.8 ms)
///   kStaged kDp4a's arithmetic with the block's 19 input rows and 16 document starts copied into
///           shared memory (cp.async, all in flight at once) before the token loop: in kDp4a each
///           row load waits for the previous token's store (one load in flight per warp)
/// GpuModel uses kStaged (kDp4a in run31 and run32, kFast from run17 to run31) unless
/// QMSIM_GPU_CONV=staged|dp4a|fast|exact says otherwise. (A kFast that loaded a thread's 19 rows
/// and 16 document starts into registers before its first token, its loop unrolled, ran 2.2x
/// slower: 119 registers, 64 inlined quantizers; conv 40.3 -> 89.2 ms, run30.)
enum class ConvKernel { kExact, kFast, kDp4a, kStaged };
const char* conv_kernel_name(ConvKernel k);
/// Parses staged | dp4a | fast | exact; throws std::invalid_argument naming the variable otherwise.
ConvKernel conv_kernel_from_env();

/// The Hadamard + quantizer kernels (spec §2.7; every element sees golden's adds in golden's order):
///   kVec    one warp per token, lane l holding elements c·block + kPer·l + i (kPer = block / 32
///           consecutive elements: vector loads and stores of kPer halves / bytes); the butterflies on
///           the bits of i in registers, then those on the bits of l through shuffles
///   kLanes  one warp per token, lane l holding elements c·block + 32·i + l (two-byte loads)
/// Both fall back to the block kernel where block < 32 or a lane would hold more than 64 elements.
///   kVecLean kVec with halves converted by cvt alone and each lane butterfly as one fma(±1, v,
///           other) (the same int8 outputs; run31: hadamard 38.4 -> 20.5 ms)
/// GpuModel uses kVecLean (kVec from run21 to run31) unless QMSIM_GPU_HADAMARD=vec-lean|vec|lanes
/// says otherwise.
enum class HadamardKernel { kVec, kLanes, kVecLean };
const char* hadamard_kernel_name(HadamardKernel k);
/// Parses vec-lean | vec | lanes; throws std::invalid_argument naming the variable otherwise.
HadamardKernel hadamard_kernel_from_env();

/// The QRMSNorm kernels (the same arithmetic in the same order):
///   kWarp    k_rmsnorm_quant: one warp per token, lane 0 forms the sum of squares
///   kTokens  k_rmsnorm_quant_tok where D % 4 == 0 and rows are aligned (else kWarp): 16 tokens
///            a block, rows moved 4 elements at a time, one lane per token's sum of squares
///   kTokens8 kTokens with 8 tokens a block: half the shared memory, twice the blocks an SM
///           (run31: rmsnorm 41.6 -> 36.2 ms)
/// GpuModel uses kTokens8 (kTokens from run17 to run31) unless QMSIM_GPU_NORM=tokens8|tokens|warp
/// says otherwise.
enum class NormKernel { kWarp, kTokens, kTokens8 };
const char* norm_kernel_name(NormKernel k);
NormKernel norm_kernel_from_env();

/// The lm_head kernels (each logit's products summed one by one in ascending k):
///   kTile64   k_lm_head: 64 x 64 blocks, 4 x 4 logits a thread
///   kTile128  k_lm_head8 where D % 8 == 0 and rows are aligned (else kTile64): 128 x 128
///             blocks, 8 x 8 logits a thread, k-major tiles read as float4
/// GpuModel uses kTile128 unless QMSIM_GPU_LM_HEAD=tile128|tile64 says otherwise.
enum class LmHeadKernel { kTile64, kTile128 };
const char* lm_head_kernel_name(LmHeadKernel k);
LmHeadKernel lm_head_kernel_from_env();

namespace ops {

/// y[m, n] for x [M, K] (row stride ldx) and W [N, K]: int8 out = sat8(RNE(fl32(outer·fl32(inner·acc))))
/// or f16 out = f16_RNE(same product); rows with row_alpha[m] != 0 (nullable) use fl32(alpha·acc)
/// instead (the GEMV path). Equals golden linear_int8_s8 / _f16 / _alpha row by row.
void gemm_s8(GemmKernel k, int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer,
             float alpha, const uint8_t* row_alpha, bool out_f16, void* y);

/// golden::rmsnorm_quant with weight == nullptr (folded into in_proj, spec §2.3): residual_out =
/// f32(h) (+ residual_in when non-null); q = sat8(RNE(fl32(x·r) / s_in)).
void rmsnorm_quant(int L, int D, const uint16_t* h_f16, const float* residual_in, float eps, float s_in,
                   float* residual_out, int8_t* q_out, NormKernel k = NormKernel::kTokens8);
/// golden::rmsnorm_final_f16.
void rmsnorm_final_f16(int L, int D, const uint16_t* h_f16, const float* residual_in, const uint16_t* weight_f16,
                       float eps, bool f16_residual, uint16_t* out_f16);
/// golden::conv1d_silu_quant on one document (x [L, E] contiguous; v_out nullable).
void conv1d_silu_quant(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                       const golden::Conv1dScales& s, int8_t* out, float* v_out, ConvKernel k = ConvKernel::kStaged);
/// golden::selective_scan (int8 inputs; B, C [L, N]; state, state_q nullable).
void selective_scan(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                    const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                    const golden::SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q);
/// golden::selective_scan_f32in.
void selective_scan_f32in(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf, const float* Cf,
                          const int8_t* z, const int8_t* A_log, const int8_t* D, const golden::SsmScales& s,
                          uint16_t* y_f16, float* state, int8_t* state_q);
/// golden::selective_scan_pseq (u from u_q, or u_f32 when u_q is null).
void selective_scan_pseq(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                         const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                         const int8_t* dt_bias, const golden::SsmScales& s, uint16_t* y_f16, float* state);
/// golden::hadamard_quant (out_of_range nullable).
void hadamard_quant(int L, int n, const uint16_t* y_f16, float s_y, bool wrap, int8_t* out, int64_t* out_of_range,
                    HadamardKernel k = HadamardKernel::kVecLean);
/// golden::lm_head_f16.
void lm_head_f16(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits, float* logits,
                 LmHeadKernel k = LmHeadKernel::kTile128);
/// eval::score_row on the device for P rows of V logits: log p(target[p]) and the greedy flag.
void score_rows(int P, int V, const float* logits, const int32_t* target, bool f16_logprobs, double* logprob,
                uint8_t* greedy);
/// num::exp_f64 and num::log_f64 of n inputs on the device.
void exp_log_f64(int n, const double* x, double* exp_out, double* log_out);

/// golden::quantize_u over one call tensor x [n] (value / code nullable); returns s_o as the
/// golden op's UQuantStats::s_o (0 unless grid_requant_outliers).
float quantize_u(const golden::ModeSpec& m, float s_u, float s_alpha1, int n, const float* x, float* value,
                 int8_t* code);
/// golden::requant_s8.
void requant_s8(num::Rounding r, int n, const float* x, float s, int8_t* out);
/// golden::regrid_rne (in place).
void regrid_rne(int n, float* x, float s);
/// golden::dynamic_input_requant over one call tensor; returns s_dyn.
float dynamic_input_requant(int n, const int8_t* q, float s_xz, int8_t* out);
/// golden::linear_f32_deq.
void linear_f32_deq(int M, int K, int Nout, const float* x, const int8_t* W, float w_scale, float* y);

/// Benchmarks (bench/gpu_bench.cc): GPU milliseconds per launch of one kernel on device-resident
/// random operands (CUDA events around `reps` launches after one warm-up).
double time_gemm_ms(GemmKernel k, int M, int N, int K, bool out_f16, int reps);
/// The int8 scan over `docs` documents of L tokens each (E channels, N states) with kernel k and
/// tables t (kOn: the table kernel's time included).
double time_scan_ms(ScanKernel k, ScanTable t, int docs, int L, int E, int N, int reps);
/// Timing probe of the 12-channel shared-memory scan (bench only: the results are wrong on
/// purpose): probe 0 is the kernel itself; 1, 2, 4, 8, 16 replace one stage of its loop by
/// register arithmetic (B/C loads, table reads, u/dt/z loads, the division, the y stores;
/// kernels.cuh, ScanProbe), 31 all of them. The difference against probe 0 is what the stage
/// costs. N must be 16; docs documents of L tokens.
double time_scan_probe_ms(int probe, int docs, int L, int E, int N, int reps);
/// n correctly rounded e^x (16 per thread) of inputs spread over (-20, 0]: num::exp_cr_ff (ff)
/// or num::exp_cr.
double time_exp_ms(bool ff, size_t n, int reps);

/// num::exp_cr_ff against num::exp_cr on the GPU for every binary32 input (2^32): the count of
/// inputs where the two differ (bitwise; NaN == NaN), the first such input in *first.
uint64_t exp_ff_mismatches_all_inputs(uint32_t* first);
/// num::f32_to_f16_rne, num::f16_to_f32, num::f32_to_i32_sat and num::f32_to_i32_rne_sat on the
/// device (hardware cvt) against their portable definitions (_soft, the host's code) on every
/// binary32 input and every binary16 input: the count of inputs where they differ, the first such
/// input (bit pattern) in *first.
uint64_t f16_conversion_mismatches_all_inputs(uint32_t* first);
/// The conv output quantizer of k_conv4 (approximations with a certified margin, golden's
/// definition inside it) against golden's num::quant_rna_sat8(num::silu_f32(y) / s_u) for every
/// binary32 y (2^32): the count of y where the codes differ (first such bit pattern in *first) and
/// the count of y with |y| <= 64 that took golden's definition (*fallbacks: the inputs near a
/// rounding boundary; larger |y| always take it).
uint64_t conv_quant_mismatches_all_inputs(float s_u, uint32_t* first, uint64_t* fallbacks);

}  // namespace ops
}  // namespace gpu
}  // namespace qmsim
