// ModeSpec: equality of computation and validation of site combinations (spec §5.8 mode table).
#include "qmsim/golden/mode.h"

#include <stdexcept>
#include <tuple>

namespace qmsim {
namespace golden {

namespace {
auto sites(const ModeSpec& m) {
  return std::make_tuple(m.conv_dynamic_input_scale, m.u_source, m.u_quantizer, m.u_rounding, m.u_fine_threshold,
                         m.u_fine_divisor, m.u_outlier_scale, m.u_int8, m.lin_input, m.lin_input_rounding, m.lin_f32,
                         m.lin_output, m.ssm_arithmetic);
}
}  // namespace

bool ModeSpec::same_computation(const ModeSpec& o) const {
  // Parameters a quantizer does not read do not make two modes different.
  ModeSpec a = *this, b = o;
  for (ModeSpec* m : {&a, &b}) {
    if (m->u_quantizer != UQuantizer::kTwoLevel) m->u_fine_threshold = m->u_fine_divisor = 0;
    if (m->u_quantizer != UQuantizer::kGridRequantOutliers) m->u_outlier_scale = OutlierScale::kPerCallMax;
    if (m->u_quantizer == UQuantizer::kNone) m->u_rounding = Rounding::kRne;
    if (m->lin_input != LinearInput::kRequantU && m->lin_input != LinearInput::kRequantV)
      m->lin_input_rounding = Rounding::kRne;
  }
  return sites(a) == sites(b);
}

void ModeSpec::validate() const {
  auto fail = [&](const std::string& key, const std::string& why) {
    throw std::invalid_argument("mode '" + name + "'" + (file.empty() ? "" : " (" + file + ")") + ": " + key + ": " +
                                why);
  };
  if (u_source == USource::kQ && u_quantizer != UQuantizer::kNone)
    fail("u.quantizer", "u.source q is already int8; a quantizer needs source grid or v");
  if (u_int8 && !(u_quantizer == UQuantizer::kGrid || (u_source == USource::kQ && u_quantizer == UQuantizer::kNone)))
    fail("u.dtype", "int8 u exists only on the s_u grid (source q, or quantizer grid)");
  if (u_quantizer == UQuantizer::kTwoLevel && (u_fine_threshold <= 0 || u_fine_divisor <= 0))
    fail("u.fine_threshold/u.fine_divisor", "two_level needs both > 0");
  if (conv_dynamic_input_scale && u_source != USource::kV)
    fail("conv.input_scale", "a dynamic conv input scale changes only the TRUE FP32 conv output; set u.source: v");
  if (conv_dynamic_input_scale && lin_input == LinearInput::kConvQ)
    fail("linears.input", "with a dynamic conv input scale the int8 conv output is not defined; use requant_v");
  if (lin_f32 != (lin_input == LinearInput::kU))
    fail("linears.input", "input u (f32) goes with arithmetic f32, and f32 arithmetic reads u");
  if (!lin_f32 && lin_output != LinearOutput::kInt8)
    fail("linears.output", "int8 arithmetic writes int8 outputs");
  if (lin_f32 && lin_output == LinearOutput::kInt8)
    fail("linears.output", "f32 arithmetic writes f32, grid_rne or int8_rne");
  const bool int8_dtbc = lin_output == LinearOutput::kInt8 || lin_output == LinearOutput::kInt8Rne;
  if (ssm_arithmetic == SsmArithmetic::kPseq && !int8_dtbc)
    fail("ssm.arithmetic", "pseq reads int8 dt, B, C (spec §4.5); linears.output must be int8 or int8_rne");
}

const char* to_string(Rounding r) { return r == Rounding::kRne ? "rne" : "rna"; }

const char* to_string(UQuantizer q) {
  switch (q) {
    case UQuantizer::kNone: return "none";
    case UQuantizer::kGrid: return "grid";
    case UQuantizer::kGridKeepOutliers: return "grid_keep_outliers";
    case UQuantizer::kGridRequantOutliers: return "grid_requant_outliers";
    case UQuantizer::kTwoLevel: return "two_level";
    case UQuantizer::kLogOutliers: return "log_outliers";
    case UQuantizer::kThreeSegment: return "three_segment";
  }
  return "?";
}

}  // namespace golden
}  // namespace qmsim
