// Synthetic Mamba-1 models with realistic initialisation, for tests and benchmarks without a
// downloaded checkpoint. Bit-identical on every platform for the same (config, seed).
#pragma once

#include <cstdint>
#include <string>

#include "qmsim/model/model.h"

namespace qmsim {

/// Shapes of known models: "mamba-130m" (24 x 768), "mamba-370m" (48 x 1024), "mamba-tiny-test"
/// (2 x 64), "mamba-small-test" (4 x 128); all vocab 50280, d_state 16, d_conv 4, expand 2,
/// dt_rank ceil(D/16), tied. Throws std::invalid_argument for another name.
MambaConfig shape_preset(const std::string& name);

/// A model with Mamba's initialisation: embedding N(0, 0.02); in_proj/x_proj uniform
/// +-1/sqrt(fan_in), out_proj the same scaled by 1/sqrt(n_layer); conv weight +-1/sqrt(d_conv),
/// conv bias +-0.05; dt_proj weight +-dt_rank^-0.5, dt bias = softplus^-1(dt), dt log-uniform in
/// [1e-3, 1e-1]; A_log[e, n] = log(n + 1 + U[0, 0.05)) (>= 0); D = 1 + U(-0.05, 0.05); norm
/// weights 1 + U(-0.05, 0.05). Each tensor draws from its own xoshiro256** stream derived from
/// (seed, layer, tensor); normals by the Marsaglia polar method; all transcendental functions
/// are qmsim's own from IEEE basic operations, so the bytes do not depend on the C library.
/// storage_dtype "float32"; source_path "synth:seed=<seed>"; source_hash hashes config + seed.
FpModel synth_model(const MambaConfig& cfg, uint64_t seed);

}  // namespace qmsim
