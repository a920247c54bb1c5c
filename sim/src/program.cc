// Compiler: model + hardware config + document length -> memory map and instruction stream.
#include "program.h"

#include <cstring>
#include <stdexcept>

namespace qmsim {
namespace sim {

const char* op_name(Op op) {
  switch (op) {
    case Op::kEmbed: return "embed";
    case Op::kNorm: return "norm";
    case Op::kGemm: return "gemm";
    case Op::kConv: return "conv";
    case Op::kScan: return "scan";
    case Op::kHadamard: return "hadamard";
    case Op::kFinalNorm: return "final_norm";
    case Op::kLmHead: return "lm_head";
    case Op::kUSite: return "u_site";
    case Op::kRequant: return "requant";
  }
  return "?";
}

namespace {

struct Image {
  std::vector<uint8_t> bytes;
  uint64_t put(const void* p, size_t n) {
    const uint64_t at = (bytes.size() + 63) & ~uint64_t{63};  // 64-byte aligned bursts
    bytes.resize(at + n);
    if (n) std::memcpy(bytes.data() + at, p, n);
    return at;
  }
};

// Per layer, in this order: in_proj, conv w, conv b, x_proj, dt_proj, A_log, D, dt_bias, out_proj.
constexpr int kLayerFields = 9;

}  // namespace

std::vector<uint8_t> build_dram_image(const QModel& m, std::vector<uint64_t>* off) {
  Image img;
  off->clear();
  for (const QLayer& l : m.layers) {
    off->push_back(img.put(l.in_proj_w.data(), l.in_proj_w.size()));
    off->push_back(img.put(l.conv_w.data(), l.conv_w.size()));
    off->push_back(l.conv_b.empty() ? 0 : img.put(l.conv_b.data(), l.conv_b.size()));
    off->push_back(img.put(l.x_proj_w.data(), l.x_proj_w.size()));
    off->push_back(img.put(l.dt_proj_w.data(), l.dt_proj_w.size()));
    off->push_back(img.put(l.A_log_q.data(), l.A_log_q.size()));
    off->push_back(img.put(l.D_q.data(), l.D_q.size()));
    off->push_back(img.put(l.dt_bias_q.data(), l.dt_bias_q.size()));
    off->push_back(img.put(l.out_proj_w.data(), l.out_proj_w.size()));
  }
  off->push_back(img.put(m.embedding_f16.data(), m.embedding_f16.size() * 2));
  const auto& head = m.lm_head_f16.empty() ? m.embedding_f16 : m.lm_head_f16;
  off->push_back(img.put(head.data(), head.size() * 2));
  off->push_back(m.norm_f_f16.empty() ? 0 : img.put(m.norm_f_f16.data(), m.norm_f_f16.size() * 2));
  return img.bytes;
}

Program compile(const QModel& m, const num::NumericsProfile& profile,
                const golden::ModeSpec& mode, int L, int P, const std::vector<uint64_t>& off,
                const std::vector<float>& alpha1) {
  using MS = golden::ModeSpec;
  const MambaConfig& c = m.cfg;
  const int D = c.d_model, E = c.d_inner(), N = c.d_state, R = c.dt_rank, X = c.xproj_rows(), V = c.vocab_size;
  if (off.size() != static_cast<size_t>(c.n_layer) * kLayerFields + 3) throw std::logic_error("sim: bad DRAM image");
  Program p;
  uint64_t top = kSramBase;
  auto alloc = [&](std::vector<int64_t> shape, size_t elem) {  // 64-byte aligned SRAM buffer
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    const uint64_t at = (top + 63) & ~uint64_t{63};
    top = at + n * elem;
    return at;
  };
  p.tokens_addr = alloc({L}, 4);
  p.positions_addr = alloc({P}, 4);
  const uint64_t pos = p.positions_addr;
  const uint64_t h = alloc({L, D}, 2), res = alloc({L, D}, 4);
  const uint64_t qn = alloc({L, D}, 1), xz = alloc({L, 2 * E}, 1);
  const uint64_t xc = alloc({L, E}, 1), xdbl = alloc({L, X}, 1);
  const uint64_t dt = alloc({L, E}, 1), y = alloc({L, E}, 2);
  const uint64_t yq = alloc({L, E}, 1), st = alloc({E, N}, 4);
  const uint64_t stq = alloc({E, N}, 1), yf = alloc({L, D}, 2);
  // Buffers of the FP32 units (experiment modes).
  const bool need_v = mode.u_source == MS::USource::kV || mode.lin_input == MS::LinearInput::kRequantV;
  const uint64_t vbuf = need_v ? alloc({L, E}, 4) : 0;
  const bool u_moded = mode.u_source != MS::USource::kQ;
  const uint64_t ubuf = u_moded ? alloc({L, E}, mode.u_int8 ? 1 : 4) : 0;
  const uint64_t xpbuf = alloc({L, E}, 1);
  const uint64_t xdbl_f = mode.lin_f32 ? alloc({L, X}, 4) : 0;
  const uint64_t dt_f = mode.lin_f32 ? alloc({L, E}, 4) : 0;
  p.logits_addr = alloc({P, V}, 4);
  p.sram_bytes = top - kSramBase;
  const uint64_t emb = off[static_cast<size_t>(c.n_layer) * kLayerFields];
  const uint64_t head = off[static_cast<size_t>(c.n_layer) * kLayerFields + 1];
  const uint64_t normf = off[static_cast<size_t>(c.n_layer) * kLayerFields + 2];

  auto emit = [&](Instr in) { p.instrs.push_back(in); };
  auto lname = [](int i, const char* op) { return "layers." + std::to_string(i) + "." + op; };
  auto gemm = [&](int layer, const char* name, int N_, int K_, uint64_t act, int lda, uint64_t w, uint64_t out, int ldo,
                  float inner, float outer, float alpha, bool alpha_path, bool f16) {
    Instr g;
    g.op = Op::kGemm;
    g.layer = layer;
    g.name = lname(layer, name);
    g.M = L, g.N = N_, g.K = K_, g.lda = lda, g.ldo = ldo;
    g.addr[0] = act, g.addr[1] = w, g.addr[2] = out;
    g.scale[0] = inner, g.scale[1] = outer, g.scale[2] = alpha;
    g.use_alpha = alpha_path, g.out_f16 = f16;
    g.outputs = {{g.name, f16 ? "float16" : "int8", out, {L, N_}}};
    emit(g);
  };
  const bool m1 = profile.gemv_alpha_m1 && L == 1;  // spec §2.4: GEMV alpha for x_proj / out_proj

  Instr e;
  e.op = Op::kEmbed, e.name = "embedding.out", e.M = L, e.N = D;
  e.addr[0] = p.tokens_addr, e.addr[1] = emb, e.addr[2] = h;
  e.outputs = {{"embedding.out", "float16", h, {L, D}}};
  emit(e);
  for (int i = 0; i < c.n_layer; ++i) {
    const QLayer& l = m.layers[static_cast<size_t>(i)];
    const uint64_t* o = off.data() + static_cast<size_t>(i) * kLayerFields;
    Instr n;
    n.op = Op::kNorm, n.layer = i, n.name = lname(i, "norm.out"), n.M = L, n.N = D;
    n.addr[0] = h, n.addr[1] = res, n.addr[2] = qn, n.scale[0] = l.norm_output_scale, n.eps = c.norm_eps, n.flag = i > 0;
    n.outputs = {{lname(i, "norm.res"), "float32", res, {L, D}}, {lname(i, "norm.out"), "int8", qn, {L, D}}};
    emit(n);
    gemm(i, "in_proj.out", 2 * E, D, qn, D, o[0], xz, 2 * E, l.in_proj_a, l.in_proj_b, l.in_proj_alpha, false, false);
    Instr cv;
    cv.op = Op::kConv, cv.layer = i, cv.name = lname(i, "conv1d.out"), cv.M = L, cv.N = E, cv.K = c.d_conv;
    cv.addr[0] = xz, cv.addr[1] = o[1], cv.addr[2] = xc, cv.addr[3] = o[2];
    cv.scale[0] = l.conv_weight_scale, cv.scale[1] = l.conv_bias_scale, cv.scale[2] = l.conv_input_scale;
    cv.scale[3] = l.conv_output_scale;
    cv.addr[4] = vbuf;
    cv.flag = mode.conv_dynamic_input_scale;
    cv.outputs = {{cv.name, "int8", xc, {L, E}}};
    if (vbuf) cv.outputs.push_back({lname(i, "conv1d.v"), "float32", vbuf, {L, E}});
    emit(cv);
    // Mode site u (FP32 u unit): grid value or v through the u quantizer.
    uint64_t u_addr = xc;
    if (u_moded) {
      Instr us;
      us.op = Op::kUSite, us.layer = i, us.name = lname(i, "ssm.u"), us.M = L, us.N = E;
      us.addr[0] = mode.u_source == MS::USource::kGrid ? xc : vbuf;
      us.addr[2] = ubuf;
      us.scale[0] = l.u_scale;
      us.scale[1] = static_cast<size_t>(i) < alpha1.size() ? alpha1[static_cast<size_t>(i)] : 0.0f;
      us.iv[0] = mode.u_source == MS::USource::kGrid ? 1 : 2;
      us.iv[1] = static_cast<int>(mode.u_quantizer), us.iv[2] = static_cast<int>(mode.u_rounding);
      us.iv[3] = mode.u_fine_threshold, us.iv[4] = mode.u_fine_divisor, us.iv[5] = static_cast<int>(mode.u_outlier_scale);
      us.iv[6] = mode.u_int8 ? 1 : 0;
      us.outputs = {{us.name, mode.u_int8 ? "int8" : "float32", ubuf, {L, E}}};
      emit(us);
      u_addr = ubuf;
    }
    // Mode site linears input: conv q, or u / v requantized.
    uint64_t xp_addr = xc;
    if (mode.lin_f32) {
      xp_addr = u_addr;  // f32 linears read u
    } else if (mode.lin_input == MS::LinearInput::kRequantU && u_moded && mode.u_int8) {
      xp_addr = ubuf;  // an int8 u is on the s_u grid: requantizing it is the identity (spec §4.2)
    } else if (mode.lin_input == MS::LinearInput::kRequantU || mode.lin_input == MS::LinearInput::kRequantV) {
      Instr rq;
      rq.op = Op::kRequant, rq.layer = i, rq.name = lname(i, "x_proj.in"), rq.M = L, rq.N = E, rq.lda = E, rq.ldo = E;
      rq.addr[0] = mode.lin_input == MS::LinearInput::kRequantV ? vbuf : ubuf;
      rq.addr[2] = xpbuf;
      rq.scale[0] = l.u_scale;
      rq.iv[2] = static_cast<int>(mode.lin_input_rounding);
      rq.outputs = {{rq.name, "int8", xpbuf, {L, E}}};
      emit(rq);
      xp_addr = xpbuf;
    }
    bool f32_dtbc = false;
    if (!mode.lin_f32) {
      gemm(i, "x_proj.out", X, E, xp_addr, E, o[3], xdbl, X, l.x_proj_b, l.x_proj_a, l.x_proj_alpha, m1, false);
      gemm(i, "dt_proj.out", E, R, xdbl, X, o[4], dt, E, l.dt_proj_a, l.dt_proj_b, l.dt_proj_alpha, false, false);
    } else {
      // FP32 linears (6-x): the MAC array's FP32 mode with dequantized weights.
      const bool grid = mode.lin_output == MS::LinearOutput::kGridRne;
      auto gemm_f32 = [&](const char* name, int N_, int K_, uint64_t act, int lda, uint64_t w, float w_s, uint64_t out,
                          int ldo, float regrid) {
        Instr g;
        g.op = Op::kGemm, g.layer = i, g.name = lname(i, name), g.M = L, g.N = N_, g.K = K_, g.lda = lda, g.ldo = ldo;
        g.addr[0] = act, g.addr[1] = w, g.addr[2] = out;
        g.scale[3] = w_s, g.scale[4] = regrid;
        g.iv[0] = 1, g.iv[1] = grid ? 1 : 0;
        g.iv[2] = (u_moded && mode.u_int8) || !u_moded ? 1 : 0;  // int8 act: dequantized with scale[5]
        g.scale[5] = l.u_scale;
        g.outputs = {{g.name, "float32", out, {L, N_}}};
        emit(g);
      };
      gemm_f32("x_proj.out_f32", X, E, xp_addr, E, o[3], l.x_proj_b, xdbl_f, X, l.B_scale);
      gemm_f32("dt_proj.out_f32", E, R, xdbl_f, X, o[4], l.dt_proj_b, dt_f, E, l.dt_scale);
      p.instrs.back().iv[2] = 0;  // dt_raw is f32
      if (mode.lin_output == MS::LinearOutput::kInt8Rne) {
        // 6-4: dt, B, C re-quantized to int8 with RNE for the int8-input scan.
        auto requant = [&](const char* name, uint64_t src, int lda, uint64_t dst, int ldo, int col0, int ncols, float sc) {
          Instr rq;
          rq.op = Op::kRequant, rq.layer = i, rq.name = lname(i, name), rq.M = L, rq.N = ncols, rq.lda = lda, rq.ldo = ldo;
          rq.addr[0] = src, rq.addr[2] = dst, rq.scale[0] = sc, rq.iv[2] = static_cast<int>(golden::Rounding::kRne);
          rq.iv[3] = col0;
          emit(rq);
        };
        requant("dt_proj.out", dt_f, E, dt, E, 0, E, l.dt_scale);
        p.instrs.back().outputs = {{lname(i, "dt_proj.out"), "int8", dt, {L, E}}};
        requant("x_proj.B", xdbl_f, X, xdbl, X, R, N, l.B_scale);
        requant("x_proj.C", xdbl_f, X, xdbl, X, R + N, N, l.C_scale);
      } else {
        f32_dtbc = true;
      }
    }
    Instr sc;
    sc.op = Op::kScan, sc.layer = i, sc.name = lname(i, "ssm.out"), sc.M = L, sc.N = E, sc.K = N;
    const uint64_t a_block[] = {u_addr, f32_dtbc ? dt_f : dt, f32_dtbc ? xdbl_f : xdbl, xz, o[5], y, st, stq};
    for (int k = 0; k < 8; ++k) sc.addr[k] = a_block[k];
    const float sscale[] = {l.u_scale, l.dt_scale, l.B_scale, l.C_scale, l.z_scale, l.A_scale, l.D_scale, l.dt_bias_scale,
                            l.ssm_state_scale};
    for (int k = 0; k < 9; ++k) sc.scale[k] = sscale[k];
    sc.lda = R;  // B column in xdbl (C at R + N)
    sc.addr[8] = o[6], sc.addr[9] = o[7];
    sc.flag = u_moded && !mode.u_int8;
    sc.iv[0] = mode.ssm_arithmetic == MS::SsmArithmetic::kPseq ? 1 : 0;
    sc.iv[1] = f32_dtbc ? 1 : 0;
    sc.outputs = {{lname(i, "ssm.out"), "float16", y, {L, E}}, {lname(i, "ssm.state"), "float32", st, {E, N}},
                  {lname(i, "ssm.state_q"), "int8", stq, {E, N}}};
    emit(sc);
    Instr hd;
    hd.op = Op::kHadamard, hd.layer = i, hd.name = lname(i, "hadamard.out"), hd.M = L, hd.N = E;
    hd.addr[0] = y, hd.addr[2] = yq, hd.scale[0] = l.had_output_scale, hd.flag = profile.hadamard_wrap;
    hd.outputs = {{hd.name, "int8", yq, {L, E}}};
    emit(hd);
    gemm(i, "out_proj.out", D, E, yq, E, o[8], h, D, l.out_proj_b, l.out_proj_a, l.out_proj_alpha, m1, true);
  }
  Instr fn;
  fn.op = Op::kFinalNorm, fn.name = "norm_f.out", fn.M = L, fn.N = D;
  fn.addr[0] = h, fn.addr[1] = c.n_layer > 0 ? res : 0, fn.addr[2] = yf, fn.addr[3] = normf;
  fn.eps = c.norm_eps, fn.flag = profile.f16_residual_final_norm;
  fn.outputs = {{"norm_f.out", "float16", yf, {L, D}}};
  emit(fn);
  Instr lm;
  lm.op = Op::kLmHead, lm.name = "logits", lm.M = P, lm.N = V, lm.K = D;
  lm.addr[0] = yf, lm.addr[1] = head, lm.addr[2] = p.logits_addr, lm.addr[3] = pos, lm.flag = profile.f16_logits;
  lm.outputs = {{"logits", "float32", p.logits_addr, {P, V}}};
  emit(lm);
  return p;
}

}  // namespace sim
}  // namespace qmsim
