// Calls the installed golden model: FP32 forward of a small synthetic model, finite logits.
#include <cmath>
#include <cstdio>

#include "qmsim/golden/forward_fp32.h"
#include "qmsim/model/synth.h"

int main() {
  qmsim::MambaConfig cfg = qmsim::shape_preset("mamba-tiny-test");
  cfg.vocab_size = 512;
  const qmsim::FpModel m = qmsim::synth_model(cfg, 1);
  const std::vector<float> logits = qmsim::golden::forward_fp32(m, {1, 2, 3}, {2}, {});
  for (float v : logits)
    if (!std::isfinite(v)) return 1;
  std::printf("consumer: %zu logits, first %g\n", logits.size(), logits[0]);
  return logits.size() == 512 ? 0 : 1;
}
