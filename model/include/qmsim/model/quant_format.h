// qmsim's quantized model format "quamba-w8a8-v1": a directory with config.json (HF Mamba keys +
// "qmsim_format") and model.safetensors (or shards + index, as for FP checkpoints).
//
// Tensors (prefix backbone.layers.N.; names follow spec §2.1):
//   norm.output_scale                                      F32 []
//   mixer.in_proj.weight I8 [2E, D];  mixer.in_proj.{a, b, alpha}           F32 []
//   mixer.conv1d.weight I8 [E, K];  mixer.conv1d.bias I8 [E]
//   mixer.conv1d.{weight_scale, bias_scale, input_scale, output_scale}      F32 []
//   mixer.x_proj.weight I8 [R + 2N, E];  mixer.x_proj.{a, b, alpha}         F32 []
//   mixer.dt_proj.weight I8 [E, R];  mixer.dt_proj.{a, b, alpha}            F32 []
//   mixer.selective_scan.A_log I8 [E, N], .D I8 [E], .dt_bias I8 [E]
//   mixer.selective_scan.{A_scale, D_scale, dt_bias_scale, u_scale, dt_scale, B_scale, C_scale,
//                         z_scale, ssm_state_scale}                          F32 []
//   mixer.had.x_H_scale                                                     F32 []
//   mixer.out_proj.weight I8 [D, E];  mixer.out_proj.{a, b, alpha}          F32 []
// Global: backbone.embedding.weight F16 [V, D], backbone.norm_f.weight F16 [D],
//         lm_head.weight F16 [V, D] (absent iff QModel::lm_head_f16 is empty; then tied).
// Weight matrices are stored row-major [out, in] exactly as in QLayer -- unlike Quamba's
// pytorch_model.bin, which stores in_proj/x_proj/dt_proj/out_proj as transposed views.
// Scales are written with shape [] and accepted as [], [1] or [1, 1] on load.
// __metadata__["qmsim"] = JSON text of QModel::metadata with "numerics_profile" added
// (that key is reserved). Files are byte-deterministic: same QModel -> identical bytes.
#pragma once

#include <cstdint>
#include <string>

#include "qmsim/model/errors.h"
#include "qmsim/model/model.h"

namespace qmsim {

constexpr const char* kQuantFormatVersion = "quamba-w8a8-v1";

/// Validates `model` (sizes vs cfg, finite positive scales, profile name) and writes it to `dir`.
/// max_shard_bytes > 0 shards as in save_fp_checkpoint. Throws ModelFileError.
void save_quant_model(const QModel& model, const std::string& dir, uint64_t max_shard_bytes = 0);

/// Loads and validates (shapes vs config, dtypes, finite positive scales, format tag) a
/// directory written by save_quant_model. source_path = dir; source_hash as for FP checkpoints
/// (sha256 of config.json || weight files). Throws ModelFileError naming file and tensor.
QModel load_quant_model(const std::string& dir);

}  // namespace qmsim
