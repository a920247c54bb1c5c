// Floating-point Mamba-1 checkpoints: config.json (HF or state-spaces keys) + safetensors weights
// (model.safetensors, or model-0000i-of-0000n.safetensors + model.safetensors.index.json).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "qmsim/model/errors.h"
#include "qmsim/model/model.h"

namespace qmsim {

/// Parses a Mamba-1 config.json object. HF keys (hidden_size, num_hidden_layers, vocab_size,
/// state_size, expand, conv_kernel, time_step_rank "auto"|int, layer_norm_epsilon, use_bias,
/// use_conv_bias, tie_word_embeddings; intermediate_size checked if present) are used when
/// "hidden_size" is present; otherwise state-spaces keys (d_model, n_layer, vocab_size,
/// pad_vocab_size_multiple (default 8), ssm_cfg {d_state, d_conv, expand, dt_rank, bias,
/// conv_bias, layer}, tie_embeddings, rms_norm, norm_epsilon). state-spaces vocab_size is padded
/// up to the multiple like mamba_ssm; an HF vocab_size is taken as is. Rejects use_bias=true,
/// rms_norm=false, non-Mamba-1 layers. Errors name `file` and the key.
MambaConfig parse_mamba_config(const nlohmann::json& config, const std::string& file);

/// The HF-style config.json object for `cfg` (model_type "mamba", keys sorted when dumped).
nlohmann::json mamba_config_to_hf_json(const MambaConfig& cfg);

/// Loads an FP checkpoint directory (HF `backbone.embeddings.weight` or state-spaces
/// `backbone.embedding.weight` naming). F32/F16/BF16 storage is widened exactly to f32.
/// Every shape is checked against the config; `lm_head.weight` is loaded when the config is
/// untied, and when tied only its shape is checked. Tensors the loader does not know are
/// reported with one warning line on stderr and otherwise ignored.
/// storage_dtype = the embedding tensor's dtype ("float32" | "float16" | "bfloat16").
/// source_hash = sha256(config.json bytes || each weight file's bytes, files in sorted name order)
/// (the index JSON is not hashed). A config.json key "qmsim_hadamard_rotated" restores
/// FpModel::hadamard_rotated. Throws ModelFileError.
FpModel load_fp_checkpoint(const std::string& dir);

/// Writes `model` in HF layout: config.json + model.safetensors, values converted to `dtype`
/// ("float32" | "float16" | "bfloat16", RNE). With max_shard_bytes > 0 the tensors (sorted by
/// name) are packed greedily into model-0000i-of-0000n.safetensors files of at most that many
/// data bytes each (a larger tensor gets a file of its own) plus model.safetensors.index.json;
/// if everything fits in one shard a plain model.safetensors is written. lm_head.weight is
/// written (and tie_word_embeddings=false) iff model.lm_head is non-empty. Each file is written
/// atomically (tmp + rename); a stale index.json is removed when writing unsharded.
void save_fp_checkpoint(const FpModel& model, const std::string& dir, const std::string& dtype,
                        uint64_t max_shard_bytes = 0);

}  // namespace qmsim
