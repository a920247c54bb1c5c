// Quamba-1 W8A8 calibration and quantization of an FP Mamba-1 model (spec §1.4, §2.1, §3):
// preprocess, run the FP32 forward over the calibration documents with observers at the sites
// of spec §3.2, then quantize the weights and fill every QLayer field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/golden/observers.h"
#include "qmsim/model/model.h"

namespace qmsim {
namespace golden {

struct CalibrationOptions {
  double percentile_alpha = kDefaultPercentileAlpha;  // α of the x_proj-input and SSM-state observers
  int threads = 1;                                      // results are identical for any thread count
  std::function<void(int done, int total)> progress;    // called after each document is observed
  std::string profile = "golden";                       // QModel::numerics_profile: "golden" | "quamba-compat"
  nlohmann::json extra_metadata = nlohmann::json::object();  // merged into metadata["calibration"] (e.g. corpus)
};

/// The activation scales of one layer (spec §2.1 names), all f32 values: min/max scales are
/// f16 values widened, s_u and s_h are percentile (f32) scales.
struct LayerActivationScales {
  float s_in = 0;    // in_proj:input   (min/max)     "layers.<i>.in_proj.in"
  float s_xz = 0;    // in_proj:output  (min/max)     "layers.<i>.in_proj.out"
  float s_u = 0;     // x_proj:input    (percentile)  "layers.<i>.x_proj.in"
  float s_xdbl = 0;  // x_proj:output   (min/max)     "layers.<i>.x_proj.out"
  float s_dt = 0;    // dt_proj:output  (min/max)     "layers.<i>.dt_proj.out" (no bias)
  float s_y = 0;     // out_proj:input  (min/max)     "layers.<i>.out_proj.in" (= H_E·y)
  float s_h = 0;     // ssm_state_act:input (percentile) "layers.<i>.ssm.state" (final state [E, N])
};

/// Runs forward_fp32 of the *preprocessed* model (hadamard_rotated) on each document (one
/// document per forward, its own length, no padding) and feeds the observers in document
/// order. Documents may be evaluated concurrently (opt.threads); each document's statistics are
/// reduced on its own and folded in order, so the result does not depend on the thread count.
/// Peak memory grows with the number of documents in flight (≈ threads). Throws
/// std::invalid_argument for no documents, an empty document or an unrotated model.
std::vector<LayerActivationScales> calibrate_activation_scales(const FpModel& preprocessed,
                                                               const std::vector<std::vector<int32_t>>& docs,
                                                               const CalibrationOptions& opt);

/// A per-tensor symmetric int8 quantized tensor.
struct QuantizedTensor {
  std::vector<int8_t> values;
  float scale = 0;
};

/// Quamba's quantize_tensor_per_tensor_absmax on an f16 tensor (UP:quamba/quant_utils.py; spec
/// §2.1, §3.3), every step in f16: m = round_to_f16(max(max|W|, 1e-5)); s = round_to_f16(fl32(m/127));
/// q = sat8(RNE(round_to_f16(fl32(W/s)))). Every input must be an f16 value (throws
/// std::invalid_argument otherwise, or on NaN/inf or an empty tensor).
QuantizedTensor quantize_weight_f16(const std::vector<float>& w);

/// Quamba's quantize_weight_per_tensor_absmax on an f32 tensor (UP:quamba/qSelectiveScan.py,
/// for A_log, D, dt_bias): s = fl32(max(max|W|, 1e-5f) / 127); q = RNE(fl32(W / s)) — no int8
/// clamp in the original; |q| <= 127 holds by construction and is checked (std::logic_error).
QuantizedTensor quantize_weight_f32(const std::vector<float>& w);

/// Quantizes a preprocessed model with the given per-layer activation scales and fills every
/// QLayer field (spec §2.1): derived constants
///   in_proj  a = fl32((double)s_in / s_xz),   b = w_in,  alpha = fl32(fl32(w_in·s_in) / s_xz)
///   x_proj   a = fl32((double)s_u / s_xdbl),  b = w_x,   alpha = fl32(fl32(w_x·s_u) / s_xdbl)
///   dt_proj  a = fl32((double)s_xdbl / s_dt), b = w_dt,  alpha = fl32(fl32(w_dt·s_xdbl) / s_dt)
///   out_proj a = s_y,                         b = w_out, alpha = fl32(w_out·s_y)
/// conv: weight/bias scales from quantize_weight_f16, input_scale = s_xz, output_scale = s_u
/// (without a conv bias: zeros with bias_scale 1.0, as Quamba); SSM: u = s_u, dt = s_dt,
/// B = C = s_xdbl, z = s_xz, ssm_state = s_h; had_output_scale = s_y; embedding/lm_head/norm_f
/// as f16 bits of the preprocessed model. metadata is left empty, numerics_profile = profile.
/// Throws std::invalid_argument for an unrotated model, a scale count mismatch, a non-finite
/// or non-positive scale (naming layer and site) or an unknown profile.
QModel quantize_model(const FpModel& preprocessed, const std::vector<LayerActivationScales>& scales,
                      const std::string& profile = "golden");

/// The whole pipeline: quamba_preprocess(fp) (f16 rounding), calibrate_activation_scales,
/// quantize_model, and metadata
///   {calibration: {docs, seqlen (longest document), tokens, percentile_alpha, observers,
///                  preprocess, <extra_metadata keys>}, source_checkpoint_hash, qmsim_version}
/// (numerics_profile is QModel::numerics_profile; save_quant_model writes it into the metadata).
/// Deterministic: the same inputs give the same QModel and the same saved bytes.
QModel calibrate(const FpModel& fp, const std::vector<std::vector<int32_t>>& docs, const CalibrationOptions& opt);

/// qmsim version recorded in the metadata.
constexpr const char* kQmsimVersion = "0.1.0";

}  // namespace golden
}  // namespace qmsim
