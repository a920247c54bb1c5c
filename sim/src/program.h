// The per-layer program the sequencer runs: instructions generated from the model, the hardware
// config and the document length, and the memory map they address (DRAM: model image; SRAM:
// activations). docs/SIM.md describes the instruction set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qmsim/golden/mode.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace sim {

/// Address map: DRAM from 0, SRAM (activations) from kSramBase, weight buffer from kWeightBufBase.
constexpr uint64_t kSramBase = 1ull << 40;
constexpr uint64_t kWeightBufBase = 1ull << 41;

enum class Op : uint8_t { kEmbed, kNorm, kGemm, kConv, kScan, kHadamard, kFinalNorm, kLmHead, kUSite, kRequant };
const char* op_name(Op op);

/// An SRAM tensor an instruction writes (read back for captures and cross-checks).
struct Tensor {
  std::string name, dtype;
  uint64_t addr = 0;
  std::vector<int64_t> shape;
};

/// One instruction. Operands by op (addresses: DRAM below kSramBase, SRAM above):
///   kEmbed     addr[0] token ids (SRAM int32 [L]), addr[1] embedding (DRAM f16 [V,D]), addr[2] h (f16 [L,D])
///   kNorm      addr[0] h, addr[1] residual (f32, in/out), addr[2] q out; scale[0] s_in, eps; flag: add residual
///   kGemm      addr[0] act [M,K] (row stride lda), addr[1] W (DRAM int8 [N,K]), addr[2] out [M,N] (stride ldo);
///              scale[0] inner, scale[1] outer, scale[2] alpha; use_alpha; out_f16 (else int8)
///   kConv      addr[0] x (xz columns 0..E-1, stride 2E), addr[1] w (DRAM [E,K]), addr[2] out [L,E],
///              addr[3] bias (DRAM [E], 0 = none), addr[4] TRUE FP32 v out (f32 [L,E], 0 = none);
///              scale: w_c, b_c, s_xz, s_u; flag: per-call dynamic input scale (doc mode 3)
///   kUSite     (FP32 u unit) addr[0] source (conv int8 q if iv[0] = 1 (grid), f32 v if iv[0] = 2),
///              addr[2] u out (int8 codes if iv[6] = 1, else f32); scale[0] s_u, scale[1] alpha1 scale;
///              iv[1] quantizer, iv[2] rounding, iv[3] T, iv[4] F, iv[5] outlier scale (num::UQuantizer etc.)
///   kRequant   addr[0] f32 [M, lda], addr[2] int8 out [M, ldo], columns iv[3] .. iv[3] + N; scale[0] s;
///              iv[2] rounding: sat8(R(x / s))
///   kGemm f32  (iv[0] = 1, fp32_units.linears) act f32 [M,K] (stride lda), W int8 dequantized with scale[3]:
///              out[m,o] = Σ_k fl32(act·fl32(W·w_s)) ascending k (f32 partial sums across K tiles); out f32
///              (stride ldo), re-gridded sat8(RNE(x/scale[4]))·scale[4] when iv[1] = 1
///   kScan      addr[0] u [L,E], addr[1] dt [L,E], addr[2] xdbl [L,X] (B at col R, C at R+N), addr[3] xz
///              (z at col E), addr[4] A_log/D/dt_bias (DRAM), addr[5] y f16 [L,E], addr[6] state f32 [E,N],
///              addr[7] state_q int8 [E,N], addr[8] D (DRAM [E]), addr[9] dt_bias (DRAM [E]); lda = R (B column);
///              scale: u, dt, B, C, z, A, D, dt_bias, state; flag: u is f32; iv[0] = 1: P-seq arithmetic;
///              iv[1] = 1: dt (addr[1]) and xdbl (addr[2]) are f32 (f32 linears), dt gets the bias added here
///   kHadamard  addr[0] y f16 [L,E], addr[2] out int8 [L,E]; scale[0] s_y; flag: wrap8 (quamba-compat)
///   kFinalNorm addr[0] h, addr[1] residual, addr[2] out f16, addr[3] weight (DRAM f16 [D], 0 = none); eps; flag: f16 residual
///   kLmHead    addr[0] normed f16 [L,D], addr[1] W (DRAM f16 [V,D]), addr[2] logits f32 [P,V], addr[3] positions
///              (SRAM int32 [P]); flag: f16 logits
struct Instr {
  Op op = Op::kEmbed;
  int layer = -1;       // -1: model-level (embedding, final norm, lm_head)
  std::string name;     // capture name of its output, e.g. "layers.3.in_proj.out"
  int M = 0, N = 0, K = 0, lda = 0, ldo = 0;
  uint64_t addr[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  float scale[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  float eps = 0;
  int iv[7] = {0, 0, 0, 0, 0, 0, 0};
  bool use_alpha = false, out_f16 = false, flag = false;
  std::vector<Tensor> outputs;  // capture names of what it writes (golden's names, docs/ARCHITECTURE.md)
};

struct Program {
  std::vector<Instr> instrs;
  std::vector<uint8_t> dram;     // model image (weights, embedding, lm_head, scales live in instrs)
  uint64_t sram_bytes = 0;       // activation footprint of this document
  uint64_t tokens_addr = 0, positions_addr = 0, logits_addr = 0;
};

/// The DRAM image of a model (built once per model).
std::vector<uint8_t> build_dram_image(const QModel& m, std::vector<uint64_t>* layer_offsets);

/// The program of one document of L tokens with logits at P positions.
/// mode: the experiment mode (sites other than mode 0's become kUSite / kRequant instructions and
/// flags on conv and scan; the runner has checked that the hardware declares those units).
/// The program is the same for every hardware config: tiling is the units' business.
Program compile(const QModel& m, const num::NumericsProfile& profile,
                const golden::ModeSpec& mode, int L, int P, const std::vector<uint64_t>& layer_offsets,
                const std::vector<float>& alpha1_u_scales = {});

}  // namespace sim
}  // namespace qmsim
