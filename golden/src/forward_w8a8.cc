// Quamba W8A8 forward, mode 0 (spec §2.2 dataflow, golden arithmetic §5.8), token-major.
#include "qmsim/golden/forward_w8a8.h"
#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmsim/golden/conv1d.h"
#include "qmsim/golden/embedding.h"
#include "qmsim/golden/forward.h"
#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/linear_int8.h"
#include "qmsim/golden/lm_head.h"
#include "qmsim/golden/mode_ops.h"
#include "qmsim/golden/rmsnorm_quant.h"
#include "qmsim/golden/selective_scan.h"
#include "qmsim/golden/selective_scan_pseq.h"

namespace qmsim {
namespace golden {
namespace {

std::string layer_name(int layer, const char* op) { return "layers." + std::to_string(layer) + "." + op; }

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("forward_w8a8: " + what);
}

void check_model(const QModel& m) {
  const MambaConfig& c = m.cfg;
  const size_t D = c.d_model, E = c.d_inner(), N = c.d_state, K = c.d_conv, R = c.dt_rank, X = c.xproj_rows(),
               V = c.vocab_size;
  require(c.d_model > 0 && c.d_state > 0 && c.d_conv > 0 && c.dt_rank > 0 && c.vocab_size > 0, "bad config");
  require(m.layers.size() == static_cast<size_t>(c.n_layer), "layer count != n_layer");
  require(m.embedding_f16.size() == V * D, "embedding size");
  require(m.lm_head_f16.empty() || m.lm_head_f16.size() == V * D, "lm_head size");
  require(m.norm_f_f16.empty() || m.norm_f_f16.size() == D, "norm_f size");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const QLayer& l = m.layers[i];
    const std::string at = " (layer " + std::to_string(i) + ")";
    require(l.in_proj_w.size() == 2 * E * D, "in_proj size" + at);
    require(l.conv_w.size() == E * K, "conv1d weight size" + at);
    require(l.conv_b.empty() || l.conv_b.size() == E, "conv1d bias size" + at);
    require(l.x_proj_w.size() == X * E, "x_proj size" + at);
    require(l.dt_proj_w.size() == E * R, "dt_proj size" + at);
    require(l.A_log_q.size() == E * N && l.D_q.size() == E && l.dt_bias_q.size() == E, "ssm size" + at);
    require(l.out_proj_w.size() == D * E, "out_proj size" + at);
  }
}

// Columns [c0, c0 + width) of a row-major [L, cols] int8 matrix.
std::vector<int8_t> columns(const std::vector<int8_t>& m, int L, int cols, int c0, int width) {
  std::vector<int8_t> out(static_cast<size_t>(L) * width);
  for (int t = 0; t < L; ++t)
    std::copy_n(m.data() + static_cast<size_t>(t) * cols + c0, width, out.data() + static_cast<size_t>(t) * width);
  return out;
}

// int8-output linear at `site` (spec §2.4): two-scale epilogue, or alpha on the GEMV path.
void linear_s8(LinearSite site, int M, const int8_t* x, const PackedWeightsS8& W, float inner, float outer,
               float alpha, int8_t* y, const ForwardOptions& opt) {
  if (linear_uses_alpha(site, M, opt.profile))
    linear_int8_s8_alpha(M, x, W, alpha, y, opt.threads);
  else
    linear_int8_s8(M, x, W, inner, outer, y, opt.threads);
}

}  // namespace

std::shared_ptr<const W8A8Plan> make_w8a8_plan(const QModel& model, int threads) {
  check_model(model);
  const MambaConfig& c = model.cfg;
  const int D = c.d_model, E = c.d_inner(), R = c.dt_rank, X = c.xproj_rows();
  auto plan = std::make_shared<W8A8Plan>();
  plan->layers.resize(model.layers.size());
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const QLayer& l = model.layers[i];
    W8A8Plan::Layer& p = plan->layers[i];
    p.in_proj = pack_weights_s8(2 * E, D, l.in_proj_w.data(), threads);
    p.x_proj = pack_weights_s8(X, E, l.x_proj_w.data(), threads);
    p.dt_proj = pack_weights_s8(E, R, l.dt_proj_w.data(), threads);
    p.out_proj = pack_weights_s8(D, E, l.out_proj_w.data(), threads);
  }
  const std::vector<uint16_t>& W = model.lm_head_f16.empty() ? model.embedding_f16 : model.lm_head_f16;
  plan->lm_head = make_lm_head_tiles(c.vocab_size, D, W.data(), threads);
  return plan;
}

std::vector<float> forward_w8a8(const QModel& model, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& options) {
  const auto plan = make_w8a8_plan(model, std::max(1, options.threads));
  return forward_w8a8(model, *plan, tokens, logit_positions, options);
}

std::vector<float> forward_w8a8(const QModel& model, const W8A8Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& options) {
  check_model(model);
  if (plan.layers.size() != model.layers.size() || plan.lm_head.V != model.cfg.vocab_size)
    throw std::invalid_argument("forward_w8a8: plan was made for another model");
  ForwardOptions opt = options;
  opt.threads = std::max(1, opt.threads);
  const MambaConfig& c = model.cfg;
  const int L = static_cast<int>(tokens.size()), D = c.d_model, E = c.d_inner(), N = c.d_state, K = c.d_conv,
            R = c.dt_rank, X = c.xproj_rows(), V = c.vocab_size;
  for (int p : logit_positions)
    if (p < 0 || p >= L) throw std::out_of_range("forward_w8a8: logit position " + std::to_string(p) + " outside [0, " +
                                                 std::to_string(L) + ")");
  Capture* cap = opt.capture;
  const size_t LD = static_cast<size_t>(L) * D, LE = static_cast<size_t>(L) * E;

  std::vector<uint16_t> h(LD);  // mixer output / embedding, f16 bits [L, D]
  embedding_lookup_f16(V, D, model.embedding_f16.data(), tokens.data(), L, h.data());
  if (cap) cap->put("embedding.out", "float16", {L, D}, h.data(), h.size());

  std::vector<float> res(LD);
  std::vector<int8_t> qn(LD), xz(2 * LE), xc(LE), xdbl(static_cast<size_t>(L) * X), dtq(LE), yq(LE);
  std::vector<uint16_t> y(LE);
  std::vector<float> state(static_cast<size_t>(E) * N);
  std::vector<int8_t> state_q(state.size());
  // Buffers of the mode sites (empty when the mode does not use them).
  const ModeSpec& m = opt.mode;
  m.validate();
  // v (TRUE FP32 conv output) when a site reads it, or for captures and site counters (computing it
  // does not change q).
  const bool need_v = m.u_source == ModeSpec::USource::kV || m.lin_input == ModeSpec::LinearInput::kRequantV ||
                      opt.capture != nullptr || opt.mode_stats != nullptr;
  const bool u_moded = m.u_source != ModeSpec::USource::kQ, u_f32 = u_moded && !m.u_int8;
  // The golden kernel on f32 inputs runs for an f32 u or f32 dt/B/C (f32 linears not requantized).
  const bool scan_f32in = m.ssm_arithmetic == ModeSpec::SsmArithmetic::kKernel &&
                          (u_f32 || (m.lin_f32 && m.lin_output != ModeSpec::LinearOutput::kInt8Rne));
  const bool requant_lin_in =
      m.lin_input == ModeSpec::LinearInput::kRequantU || m.lin_input == ModeSpec::LinearInput::kRequantV;
  std::vector<float> v(need_v ? LE : 0), u_src(m.u_source == ModeSpec::USource::kGrid ? LE : 0);
  std::vector<float> u_val(u_f32 ? LE : 0), u_deq((m.lin_f32 || scan_f32in) && !u_f32 ? LE : 0);
  std::vector<int8_t> u_code(u_moded && m.u_int8 ? LE : 0), xp_q(requant_lin_in ? LE : 0);
  std::vector<int8_t> xq_dyn(m.conv_dynamic_input_scale ? LE : 0);
  const size_t LX = static_cast<size_t>(L) * X, LR = static_cast<size_t>(L) * R, LN = static_cast<size_t>(L) * N;
  std::vector<float> xdbl_f(m.lin_f32 ? LX : 0), dt_raw_f(m.lin_f32 ? LR : 0), dt_f(m.lin_f32 ? LE : 0);
  std::vector<float> B_f(m.lin_f32 || scan_f32in ? LN : 0), C_f(B_f.size()), dt_pre_f(scan_f32in ? LE : 0);
  for (int i = 0; i < c.n_layer; ++i) {
    const QLayer& l = model.layers[i];
    const W8A8Plan::Layer& pw = plan.layers[i];
    // spec §2.3: residual add + RMSNorm + quantize (layer 0: residual = embedding, no add).
    rmsnorm_quant(L, D, h.data(), i == 0 ? nullptr : res.data(), nullptr, c.norm_eps, l.norm_output_scale,
                  res.data(), qn.data());
    if (cap) {
      cap->put(layer_name(i, "norm.res"), "float32", {L, D}, res.data(), res.size());
      cap->put(layer_name(i, "norm.out"), "int8", {L, D}, qn.data(), qn.size());
    }
    // spec §2.4: in_proj, inner a, outer b; x = cols 0..E-1, z = cols E..2E-1.
    linear_s8(LinearSite::kInProj, L, qn.data(), pw.in_proj, l.in_proj_a, l.in_proj_b,
              l.in_proj_alpha, xz.data(), opt);
    if (cap) cap->put(layer_name(i, "in_proj.out"), "int8", {L, 2 * E}, xz.data(), xz.size());
    const std::vector<int8_t> xq = columns(xz, L, 2 * E, 0, E), zq = columns(xz, L, 2 * E, E, E);
    const ModeSpec& mode = opt.mode;
    // spec §2.5: conv1d + SiLU + RNA requantization; v = the pre-quantizer TRUE FP32 value (§4.2)
    // when the mode reads it. Doc mode 3: the conv input is re-quantized with a per-call scale.
    Conv1dScales conv_scales{l.conv_weight_scale, l.conv_bias_scale, l.conv_input_scale, l.conv_output_scale};
    const int8_t* conv_in = xq.data();
    if (mode.conv_dynamic_input_scale) {
      conv_scales.input_scale = dynamic_input_requant(LE, xq.data(), l.conv_input_scale, xq_dyn.data());
      conv_in = xq_dyn.data();
      if (cap) cap->put(layer_name(i, "conv1d.in_dynamic"), "int8", {L, E}, xq_dyn.data(), xq_dyn.size());
    }
    conv1d_silu_quant(L, E, K, conv_in, l.conv_w.data(), l.conv_b.empty() ? nullptr : l.conv_b.data(), conv_scales,
                      xc.data(), need_v ? v.data() : nullptr, opt.threads);
    if (cap) {
      cap->put(layer_name(i, "conv1d.out"), "int8", {L, E}, xc.data(), xc.size());
      if (need_v) cap->put(layer_name(i, "conv1d.v"), "float32", {L, E}, v.data(), v.size());
    }
    // Mode site u (spec §4.2, §5.8): the scan's input, from q, its grid value or v, through the
    // mode's u quantizer, as int8 codes or f32 values.
    const int8_t* u_q = xc.data();
    const float* u_f = nullptr;
    if (mode.u_source == ModeSpec::USource::kQ && opt.mode_stats != nullptr) {
      // Mode 0's u: count the conv outputs outside the int8 grid (sat8(RNA(v/s_u)) saturates them).
      ModeSpec count = mode;
      count.u_quantizer = UQuantizer::kGrid;
      count.u_rounding = Rounding::kRna;
      opt.mode_stats->add_u(i, quantize_u(count, l.u_scale, 0.0f, LE, v.data(), nullptr, nullptr), LE);
    }
    if (mode.u_source != ModeSpec::USource::kQ) {
      const float* x_src = v.data();
      if (mode.u_source == ModeSpec::USource::kGrid) {
        for (size_t j = 0; j < LE; ++j) u_src[j] = l.u_scale * static_cast<float>(xc[j]);  // fl32(q·s_u)
        x_src = u_src.data();
      }
      const float s_a1 = i < static_cast<int>(opt.alpha1_u_scales.size()) ? opt.alpha1_u_scales[i] : 0.0f;
      const UQuantStats st = quantize_u(mode, l.u_scale, s_a1, LE, x_src, mode.u_int8 ? nullptr : u_val.data(),
                                        mode.u_int8 ? u_code.data() : nullptr);
      if (opt.mode_stats != nullptr) opt.mode_stats->add_u(i, st, LE);
      if (mode.u_int8) {
        u_q = u_code.data();
        if (cap) cap->put(layer_name(i, "ssm.u"), "int8", {L, E}, u_code.data(), u_code.size());
      } else {
        u_q = nullptr;
        u_f = u_val.data();
        if (cap) cap->put(layer_name(i, "ssm.u"), "float32", {L, E}, u_val.data(), u_val.size());
      }
    }
    // Mode site linears, input (spec §4.6): conv q, or u / v requantized to int8, or f32 u.
    const int8_t* xp_in = xc.data();
    switch (mode.lin_input) {
      case ModeSpec::LinearInput::kConvQ: break;
      case ModeSpec::LinearInput::kRequantU:
        if (u_q != nullptr) {
          xp_in = u_q;  // an int8 u is on the s_u grid: requantizing it is the identity (spec §4.2)
        } else {
          requant_s8(mode.lin_input_rounding, LE, u_f, l.u_scale, xp_q.data());
          xp_in = xp_q.data();
        }
        break;
      case ModeSpec::LinearInput::kRequantV:
        requant_s8(mode.lin_input_rounding, LE, v.data(), l.u_scale, xp_q.data());
        xp_in = xp_q.data();
        break;
      case ModeSpec::LinearInput::kU:
        xp_in = nullptr;
        break;
    }
    if (cap && xp_in != nullptr && xp_in != xc.data())
      cap->put(layer_name(i, "x_proj.in"), "int8", {L, E}, xp_in, LE);
    SsmScales ssm;
    ssm.u = l.u_scale;
    ssm.dt = l.dt_scale;
    ssm.B = l.B_scale;
    ssm.C = l.C_scale;
    ssm.z = l.z_scale;
    ssm.A = l.A_scale;
    ssm.D = l.D_scale;
    ssm.dt_bias = l.dt_bias_scale;
    ssm.state = l.ssm_state_scale;
    std::vector<int8_t> dt_raw, Bq, Cq;
    bool f32_dtbc = false;  // dt_pre_f / B_f / C_f hold the scan's f32 dt, B, C
    if (!mode.lin_f32) {
      // spec §2.4: x_proj, inner b, outer a (GEMV alpha when L == 1 under the profile).
      linear_s8(LinearSite::kXProj, L, xp_in, pw.x_proj, l.x_proj_b, l.x_proj_a, l.x_proj_alpha, xdbl.data(), opt);
      if (cap) cap->put(layer_name(i, "x_proj.out"), "int8", {L, X}, xdbl.data(), xdbl.size());
      dt_raw = columns(xdbl, L, X, 0, R);
      Bq = columns(xdbl, L, X, R, N);
      Cq = columns(xdbl, L, X, R + N, N);
      // spec §2.4: dt_proj on the int8 dt_raw, inner a, outer b (bias is added inside the scan).
      linear_s8(LinearSite::kDtProj, L, dt_raw.data(), pw.dt_proj, l.dt_proj_a, l.dt_proj_b, l.dt_proj_alpha,
                dtq.data(), opt);
      if (cap) cap->put(layer_name(i, "dt_proj.out"), "int8", {L, E}, dtq.data(), dtq.size());
    } else {
      // Mode site linears, f32 (6-x, spec §4.6): F.linear with dequantized weights on f32 u.
      const float* uin = u_f;
      if (uin == nullptr) {
        for (size_t j = 0; j < LE; ++j) u_deq[j] = l.u_scale * static_cast<float>(u_q[j]);
        uin = u_deq.data();
      }
      linear_f32_deq(L, E, X, uin, l.x_proj_w.data(), l.x_proj_b, xdbl_f.data(), opt.threads);
      if (mode.lin_output == ModeSpec::LinearOutput::kGridRne) regrid_rne(xdbl_f.size(), xdbl_f.data(), l.B_scale);
      if (cap) cap->put(layer_name(i, "x_proj.out_f32"), "float32", {L, X}, xdbl_f.data(), xdbl_f.size());
      for (int t = 0; t < L; ++t) {
        const float* row = xdbl_f.data() + static_cast<size_t>(t) * X;
        std::copy_n(row, R, dt_raw_f.data() + static_cast<size_t>(t) * R);
        std::copy_n(row + R, N, B_f.data() + static_cast<size_t>(t) * N);
        std::copy_n(row + R + N, N, C_f.data() + static_cast<size_t>(t) * N);
      }
      linear_f32_deq(L, R, E, dt_raw_f.data(), l.dt_proj_w.data(), l.dt_proj_b, dt_f.data(), opt.threads);
      if (mode.lin_output == ModeSpec::LinearOutput::kGridRne) regrid_rne(dt_f.size(), dt_f.data(), l.dt_scale);
      if (cap) cap->put(layer_name(i, "dt_proj.out_f32"), "float32", {L, E}, dt_f.data(), dt_f.size());
      if (mode.lin_output == ModeSpec::LinearOutput::kInt8Rne) {
        // 6-4: dt, B, C re-quantized to int8 with RNE for the int8-input scan.
        dtq.resize(LE);
        Bq.resize(static_cast<size_t>(L) * N);
        Cq.resize(static_cast<size_t>(L) * N);
        requant_s8(Rounding::kRne, LE, dt_f.data(), l.dt_scale, dtq.data());
        requant_s8(Rounding::kRne, Bq.size(), B_f.data(), l.B_scale, Bq.data());
        requant_s8(Rounding::kRne, Cq.size(), C_f.data(), l.C_scale, Cq.data());
        if (cap) cap->put(layer_name(i, "dt_proj.out"), "int8", {L, E}, dtq.data(), dtq.size());
      } else {
        f32_dtbc = true;
        const float bias_dt_scale = l.dt_bias_scale;
        for (int t = 0; t < L; ++t)
          for (int e = 0; e < E; ++e) {
            const size_t te = static_cast<size_t>(t) * E + e;
            dt_pre_f[te] = dt_f[te] + bias_dt_scale * static_cast<float>(l.dt_bias_q[e]);  // fl32(dt + fl32(s_db·q_db))
          }
      }
    }
    // Mode site ssm (spec §2.6 golden kernel, or §4.5 P-seq).
    if (mode.ssm_arithmetic == ModeSpec::SsmArithmetic::kPseq) {
      selective_scan_pseq(L, E, N, u_q, u_f, dtq.data(), Bq.data(), Cq.data(), zq.data(), l.A_log_q.data(),
                          l.D_q.data(), l.dt_bias_q.data(), ssm, y.data(), state.data(), opt.threads);
      for (size_t j = 0; j < state.size(); ++j) state_q[j] = num::quant_rna_sat8(state[j] / l.ssm_state_scale);
    } else if (u_q != nullptr && !f32_dtbc) {
      selective_scan(L, E, N, u_q, dtq.data(), Bq.data(), Cq.data(), zq.data(), l.A_log_q.data(), l.D_q.data(),
                     l.dt_bias_q.data(), ssm, y.data(), state.data(), state_q.data(), opt.threads);
    } else {
      // The golden kernel on f32 inputs: int8 ones dequantized exactly as the int8 kernel does.
      if (u_f == nullptr) {
        for (size_t j = 0; j < LE; ++j) u_deq[j] = l.u_scale * static_cast<float>(u_q[j]);
        u_f = u_deq.data();
      }
      if (!f32_dtbc) {
        for (int t = 0; t < L; ++t)
          for (int e = 0; e < E; ++e) {
            const size_t te = static_cast<size_t>(t) * E + e;
            const float bias = l.dt_bias_scale * static_cast<float>(l.dt_bias_q[e]);
            dt_pre_f[te] = num::fma_f32(l.dt_scale, static_cast<float>(dtq[te]), bias);
          }
        for (size_t j = 0; j < B_f.size(); ++j) {
          B_f[j] = l.B_scale * static_cast<float>(Bq[j]);
          C_f[j] = l.C_scale * static_cast<float>(Cq[j]);
        }
      }
      selective_scan_f32in(L, E, N, u_f, dt_pre_f.data(), B_f.data(), C_f.data(), zq.data(), l.A_log_q.data(),
                           l.D_q.data(), ssm, y.data(), state.data(), state_q.data(), opt.threads);
    }
    if (cap) {
      cap->put(layer_name(i, "ssm.out"), "float16", {L, E}, y.data(), y.size());
      cap->put(layer_name(i, "ssm.state"), "float32", {E, N}, state.data(), state.size());
      cap->put(layer_name(i, "ssm.state_q"), "int8", {E, N}, state_q.data(), state_q.size());
    }
    // spec §2.7: Hadamard + RNA quantizer (sat golden, wrap under the profile).
    int64_t had_out_of_range = 0;
    hadamard_quant(L, E, y.data(), l.had_output_scale, opt.profile.hadamard_wrap, yq.data(), &had_out_of_range,
                   opt.threads);
    if (opt.mode_stats != nullptr) opt.mode_stats->add_hadamard(i, had_out_of_range, LE);
    if (cap) cap->put(layer_name(i, "hadamard.out"), "int8", {L, E}, yq.data(), yq.size());
    // spec §2.8: out_proj to f16, inner b = w_out, outer a = s_y (alpha when M == 1 under the profile).
    if (linear_uses_alpha(LinearSite::kOutProj, L, opt.profile))
      linear_int8_f16_alpha(L, yq.data(), pw.out_proj, l.out_proj_alpha, h.data(), opt.threads);
    else
      linear_int8_f16(L, yq.data(), pw.out_proj, l.out_proj_b, l.out_proj_a, h.data(), opt.threads);
    if (cap) cap->put(layer_name(i, "out_proj.out"), "float16", {L, D}, h.data(), h.size());
  }

  // spec §2.11 / §5.8: final norm (f32 residual add; SE-fe5 f16 variant under the profile).
  std::vector<uint16_t> yf(LD);
  rmsnorm_final_f16(L, D, h.data(), c.n_layer > 0 ? res.data() : nullptr,
                    model.norm_f_f16.empty() ? nullptr : model.norm_f_f16.data(), c.norm_eps,
                    opt.profile.f16_residual_final_norm, yf.data());
  if (cap) cap->put("norm_f.out", "float16", {L, D}, yf.data(), yf.size());

  // spec §5.8: lm_head at the requested positions, f32 accumulation (f16 logits under the profile).
  const int P = static_cast<int>(logit_positions.size());
  std::vector<uint16_t> rows(static_cast<size_t>(P) * D);
  for (int p = 0; p < P; ++p)
    std::copy_n(yf.data() + static_cast<size_t>(logit_positions[p]) * D, D, rows.data() + static_cast<size_t>(p) * D);
  std::vector<float> logits(static_cast<size_t>(P) * V);
  lm_head_tiles(P, rows.data(), plan.lm_head, opt.profile.f16_logits, logits.data(), opt.threads);
  if (cap) cap->put("logits", "float32", {P, V}, logits.data(), logits.size());
  return logits;
}

}  // namespace golden
}  // namespace qmsim
