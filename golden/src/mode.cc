// Built-in experiment modes (spec §5.8 canonical mode table).
#include "qmsim/golden/mode.h"

#include <stdexcept>

namespace qmsim {
namespace golden {

std::vector<std::string> builtin_mode_names() { return {"0", "2-0", "2-1", "2-2"}; }

ModeSpec builtin_mode(const std::string& name) {
  ModeSpec m;
  m.name = name;
  if (name == "0") return m;
  if (name == "2-0") {  // spec §5.8: fl32(q·s_u) -> RNE(u/s_u) -> q, golden SSM
    m.ssm_input = ModeSpec::SsmInput::kGridRequantRne;
    return m;
  }
  if (name == "2-1") {  // spec §5.8: q, P-seq
    m.ssm_arithmetic = ModeSpec::SsmArithmetic::kPseq;
    return m;
  }
  if (name == "2-2") {  // spec §5.8: fl32(q·s_u), P-seq
    m.ssm_input = ModeSpec::SsmInput::kGrid;
    m.ssm_arithmetic = ModeSpec::SsmArithmetic::kPseq;
    return m;
  }
  std::string known;
  for (const auto& n : builtin_mode_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown mode '" + name + "' (known W8A8 modes: " + known + "; and fp32)");
}

}  // namespace golden
}  // namespace qmsim
