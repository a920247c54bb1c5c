// Quamba-1 W8A8 calibration (spec §3) and weight quantization (spec §2.1).
#include "qmsim/golden/calibrate.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "qmsim/golden/capture.h"
#include "qmsim/golden/forward_fp32.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/golden/preprocess.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

// The observer sites of spec §3.2 in forward_fp32's capture names; index = Site.
enum Site { kIn, kXz, kU, kXdbl, kDt, kY, kH, kNumSites };
constexpr const char* kSiteNames[kNumSites] = {"in_proj.in", "in_proj.out", "x_proj.in", "x_proj.out",
                                               "dt_proj.out", "out_proj.in", "ssm.state"};
constexpr bool kSiteIsPercentile[kNumSites] = {false, false, true, false, false, false, true};

std::string site_name(int layer, int site) { return "layers." + std::to_string(layer) + "." + kSiteNames[site]; }

// One document's statistics: m_k (min/max sites) or c_k (percentile sites), per layer and site.
using DocStats = std::vector<float>;  // [n_layer * kNumSites]

DocStats document_stats(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& doc, float alpha,
                        int threads) {
  const int n_layer = model.cfg.n_layer;
  std::vector<std::string> patterns;
  for (int i = 0; i < n_layer; ++i)
    for (int s = 0; s < kNumSites; ++s) patterns.push_back(site_name(i, s));
  Capture cap(patterns);
  ForwardOptions fo;
  fo.threads = threads;
  fo.capture = &cap;
  forward_fp32(model, plan, doc, {}, fo);  // no logit positions: lm_head is not needed
  DocStats st(static_cast<size_t>(n_layer) * kNumSites);
  for (int i = 0; i < n_layer; ++i)
    for (int s = 0; s < kNumSites; ++s) {
      const CapturedTensor* t = cap.find(site_name(i, s));
      if (!t || t->dtype != "float32") throw std::logic_error("calibrate: forward_fp32 did not capture " + site_name(i, s));
      const float* x = t->as<float>();
      const size_t n = static_cast<size_t>(t->numel());
      st[static_cast<size_t>(i) * kNumSites + s] = kSiteIsPercentile[s] ? percentile_abs(x, n, alpha)
                                                                        : minmax_document_max(x, n);
    }
  return st;
}

void check_scale(float s, int layer, const char* what) {
  if (!(std::isfinite(s) && s > 0.0f))
    throw std::invalid_argument("quantize_model: layer " + std::to_string(layer) + " " + what + " = " +
                                std::to_string(s) + " is not a finite positive scale");
}

// fl32 of the f64 quotient of two f32 values, rounded once (spec §2.1, §5.4 item 6).
float ratio_f64(float num, float den) { return static_cast<float>(static_cast<double>(num) / static_cast<double>(den)); }

std::vector<uint16_t> to_f16_bits(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = num::f32_to_f16_rne(v[i]);
  return out;
}

}  // namespace

std::vector<LayerActivationScales> calibrate_activation_scales(const FpModel& preprocessed,
                                                               const std::vector<std::vector<int32_t>>& docs,
                                                               const CalibrationOptions& opt) {
  if (!preprocessed.hadamard_rotated)
    throw std::invalid_argument("calibrate_activation_scales: model is not preprocessed (hadamard_rotated is false)");
  if (docs.empty()) throw std::invalid_argument("calibrate_activation_scales: no calibration documents");
  for (size_t d = 0; d < docs.size(); ++d)
    if (docs[d].empty()) throw std::invalid_argument("calibrate_activation_scales: document " + std::to_string(d) + " is empty");
  const int n_layer = preprocessed.cfg.n_layer;
  const int threads = std::max(1, opt.threads);
  const int total = static_cast<int>(docs.size());

  std::vector<MinMaxObserver> minmax(static_cast<size_t>(n_layer) * kNumSites);
  std::vector<PercentileObserver> percentile(static_cast<size_t>(n_layer) * kNumSites,
                                             PercentileObserver(opt.percentile_alpha));
  const float alpha = percentile.front().alpha();
  auto plan = make_fp32_plan(preprocessed, threads);

  // Documents in waves of `threads`; each document's statistics are independent of the others
  // and of the thread count, and are folded into the observers strictly in document order.
  for (int begin = 0; begin < total; begin += threads) {
    const int count = std::min(threads, total - begin);
    const int inner_threads = std::max(1, threads / count);
    std::vector<DocStats> wave(static_cast<size_t>(count));
    parallel_for(count, count, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) wave[k] = document_stats(preprocessed, *plan, docs[begin + k], alpha, inner_threads);
    });
    for (int k = 0; k < count; ++k) {
      for (size_t j = 0; j < wave[k].size(); ++j) {
        if (kSiteIsPercentile[j % kNumSites]) percentile[j].observe_document_quantile(wave[k][j]);
        else minmax[j].observe_document_max(wave[k][j]);
      }
      if (opt.progress) opt.progress(begin + k + 1, total);
    }
  }

  std::vector<LayerActivationScales> out(static_cast<size_t>(n_layer));
  for (int i = 0; i < n_layer; ++i) {
    auto scale = [&](int s) {
      const size_t j = static_cast<size_t>(i) * kNumSites + s;
      return kSiteIsPercentile[s] ? percentile[j].scale() : minmax[j].scale();
    };
    LayerActivationScales& l = out[i];
    l.s_in = scale(kIn);
    l.s_xz = scale(kXz);
    l.s_u = scale(kU);
    l.s_xdbl = scale(kXdbl);
    l.s_dt = scale(kDt);
    l.s_y = scale(kY);
    l.s_h = scale(kH);
  }
  return out;
}

QuantizedTensor quantize_weight_f16(const std::vector<float>& w) {
  if (w.empty()) throw std::invalid_argument("quantize_weight_f16: empty tensor");
  float max_abs = 0.0f;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i]) || num::round_to_f16(w[i]) != w[i])
      throw std::invalid_argument("quantize_weight_f16: element " + std::to_string(i) + " is not a finite f16 value");
    max_abs = std::max(max_abs, std::fabs(w[i]));
  }
  QuantizedTensor q;
  // UP:quamba/quant_utils.py: w.abs().amax().clamp(min=1e-5) / 127, all on the f16 tensor
  const float m = num::round_to_f16(std::max(max_abs, kObserverMaxFloor));
  q.scale = num::round_to_f16(m / kInt8QMax);
  q.values.resize(w.size());
  // spec §2.1: W / s_w in f16 (f32 quotient rounded to f16), torch.round (RNE), clamp
  for (size_t i = 0; i < w.size(); ++i) q.values[i] = num::quant_rne_sat8(num::round_to_f16(w[i] / q.scale));
  return q;
}

QuantizedTensor quantize_weight_f32(const std::vector<float>& w) {
  if (w.empty()) throw std::invalid_argument("quantize_weight_f32: empty tensor");
  float max_abs = 0.0f;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) throw std::invalid_argument("quantize_weight_f32: element " + std::to_string(i) + " is not finite");
    max_abs = std::max(max_abs, std::fabs(w[i]));
  }
  QuantizedTensor q;
  // UP:quamba/qSelectiveScan.py: scales = |w|.max().clamp_(min=1e-5).div_(127); w.div_(scales).round_()
  q.scale = std::max(max_abs, kObserverMaxFloor) / kInt8QMax;
  q.values.resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const float r = num::round_rne(w[i] / q.scale);
    if (!(std::fabs(r) <= kInt8QMax)) throw std::logic_error("quantize_weight_f32: code outside [-127, 127]");
    q.values[i] = static_cast<int8_t>(r);
  }
  return q;
}

QModel quantize_model(const FpModel& pp, const std::vector<LayerActivationScales>& scales, const std::string& profile) {
  if (!pp.hadamard_rotated) throw std::invalid_argument("quantize_model: model is not preprocessed (hadamard_rotated is false)");
  if (profile != "golden" && profile != "quamba-compat")
    throw std::invalid_argument("quantize_model: unknown numerics profile '" + profile + "' (expected golden or quamba-compat)");
  const MambaConfig& c = pp.cfg;
  if (static_cast<int>(scales.size()) != c.n_layer || static_cast<int>(pp.layers.size()) != c.n_layer)
    throw std::invalid_argument("quantize_model: scale/layer count does not match cfg.n_layer");
  const int E = c.d_inner();

  QModel q;
  q.cfg = pp.cfg;
  q.numerics_profile = profile;
  q.metadata = nlohmann::json::object();
  q.embedding_f16 = to_f16_bits(pp.embedding);
  q.lm_head_f16 = to_f16_bits(pp.lm_head_weight());
  q.norm_f_f16 = to_f16_bits(pp.norm_f);
  q.layers.resize(pp.layers.size());
  for (int i = 0; i < c.n_layer; ++i) {
    const FpLayer& f = pp.layers[i];
    const LayerActivationScales& s = scales[i];
    check_scale(s.s_in, i, "s_in (in_proj:input)");
    check_scale(s.s_xz, i, "s_xz (in_proj:output)");
    check_scale(s.s_u, i, "s_u (x_proj:input)");
    check_scale(s.s_xdbl, i, "s_xdbl (x_proj:output)");
    check_scale(s.s_dt, i, "s_dt (dt_proj:output)");
    check_scale(s.s_y, i, "s_y (out_proj:input)");
    check_scale(s.s_h, i, "s_h (ssm_state_act:input)");
    QLayer& l = q.layers[i];

    l.norm_output_scale = s.s_in;
    QuantizedTensor in_proj = quantize_weight_f16(f.in_proj);
    l.in_proj_w = std::move(in_proj.values);
    l.in_proj_a = ratio_f64(s.s_in, s.s_xz);
    l.in_proj_b = in_proj.scale;
    l.in_proj_alpha = (in_proj.scale * s.s_in) / s.s_xz;  // UP:quamba/qLinearLayer.py:587, f32 tensor ops

    QuantizedTensor conv_w = quantize_weight_f16(f.conv_w);
    l.conv_w = std::move(conv_w.values);
    l.conv_weight_scale = conv_w.scale;
    if (c.conv_bias) {
      QuantizedTensor conv_b = quantize_weight_f16(f.conv_b);
      l.conv_b = std::move(conv_b.values);
      l.conv_bias_scale = conv_b.scale;
    } else {  // UP:quamba/qConvLayer.py: no bias -> bias_scale = 1.0
      l.conv_b.assign(static_cast<size_t>(E), 0);
      l.conv_bias_scale = 1.0f;
    }
    l.conv_input_scale = s.s_xz;
    l.conv_output_scale = s.s_u;

    QuantizedTensor x_proj = quantize_weight_f16(f.x_proj);
    l.x_proj_w = std::move(x_proj.values);
    l.x_proj_a = ratio_f64(s.s_u, s.s_xdbl);
    l.x_proj_b = x_proj.scale;
    l.x_proj_alpha = (x_proj.scale * s.s_u) / s.s_xdbl;

    // spec §2.1: dt_proj's input scale is the x_proj output scale; its bias moves to the SSM.
    QuantizedTensor dt_proj = quantize_weight_f16(f.dt_proj_w);
    l.dt_proj_w = std::move(dt_proj.values);
    l.dt_proj_a = ratio_f64(s.s_xdbl, s.s_dt);
    l.dt_proj_b = dt_proj.scale;
    l.dt_proj_alpha = (dt_proj.scale * s.s_xdbl) / s.s_dt;

    QuantizedTensor a_log = quantize_weight_f32(f.A_log);
    l.A_log_q = std::move(a_log.values);
    l.A_scale = a_log.scale;
    QuantizedTensor d_skip = quantize_weight_f32(f.D);
    l.D_q = std::move(d_skip.values);
    l.D_scale = d_skip.scale;
    QuantizedTensor dt_bias = quantize_weight_f32(f.dt_proj_b);  // f16 value widened (spec §2.1)
    l.dt_bias_q = std::move(dt_bias.values);
    l.dt_bias_scale = dt_bias.scale;
    l.u_scale = s.s_u;
    l.dt_scale = s.s_dt;
    l.B_scale = s.s_xdbl;
    l.C_scale = s.s_xdbl;
    l.z_scale = s.s_xz;
    l.ssm_state_scale = s.s_h;

    l.had_output_scale = s.s_y;
    QuantizedTensor out_proj = quantize_weight_f16(f.out_proj);
    l.out_proj_w = std::move(out_proj.values);
    l.out_proj_a = s.s_y;
    l.out_proj_b = out_proj.scale;
    l.out_proj_alpha = out_proj.scale * s.s_y;  // UP:quamba/qLinearLayer.py:784
  }
  return q;
}

QModel calibrate(const FpModel& fp, const std::vector<std::vector<int32_t>>& docs, const CalibrationOptions& opt) {
  PreprocessOptions po;
  po.round_to_f16 = true;
  po.threads = std::max(1, opt.threads);
  const FpModel pp = quamba_preprocess(fp, po);
  const std::vector<LayerActivationScales> scales = calibrate_activation_scales(pp, docs, opt);
  QModel q = quantize_model(pp, scales, opt.profile);

  size_t seqlen = 0, tokens = 0;
  for (const auto& d : docs) {
    seqlen = std::max(seqlen, d.size());
    tokens += d.size();
  }
  nlohmann::json cal = nlohmann::json::object();
  cal["docs"] = docs.size();
  cal["seqlen"] = seqlen;
  cal["tokens"] = tokens;
  cal["percentile_alpha"] = opt.percentile_alpha;
  cal["forward"] = "forward_fp32 of the preprocessed model, one document per forward, no padding";
  cal["preprocess"] =
      "f16 RNE of all parameters except A_log, D; embedding rows H_D*e; lm_head rows H_D*(r . w_norm_f); "
      "in_proj rows H_D*(r . w_norm); out_proj H_D*W*H_E^T; f64 transforms, one rounding (f32 then f16)";
  cal["observers"] = {
      {"minmax", "m_k = f16(max(max|x|, 1e-5)); running max; scale = max(f16(fl32(m/127)), 1e-6); sites "
                 "in_proj:input, in_proj:output, x_proj:output, dt_proj:output, out_proj:input"},
      {"percentile", "c_k = torch.quantile(|x|, alpha) (f32 rank, lerp with FMA); w_1 = c_1, "
                     "w_k = fl32(w + fl32(0.01f*fl32(c_k - w))); scale = max(fl32(w/127), 1e-6); sites "
                     "x_proj:input, ssm_state_act:input (final state per document)"}};
  if (opt.extra_metadata.is_object()) {
    for (auto it = opt.extra_metadata.begin(); it != opt.extra_metadata.end(); ++it) cal[it.key()] = it.value();
  } else if (!opt.extra_metadata.is_null()) {
    throw std::invalid_argument("calibrate: extra_metadata must be a JSON object");
  }
  q.metadata["calibration"] = std::move(cal);
  q.metadata["source_checkpoint_hash"] = fp.source_hash;
  q.metadata["qmsim_version"] = kQmsimVersion;
  return q;
}

}  // namespace golden
}  // namespace qmsim
