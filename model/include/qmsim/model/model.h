// Model types shared by every path (golden, sim, gpu_ref, rtl_bridge): the Mamba-1 shape, the
// floating-point checkpoint and the Quamba W8A8 quantized model. Plain data, no arithmetic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qmsim {

/// Mamba-1 hyper-parameters (spec §1.1). d_inner = expand * d_model.
struct MambaConfig {
  int d_model = 0;
  int n_layer = 0;
  int vocab_size = 0;      // padded to a multiple of pad_vocab_multiple (50280 for GPT-NeoX)
  int d_state = 16;
  int d_conv = 4;
  int expand = 2;
  int dt_rank = 0;         // ceil(d_model / 16) when "auto"
  float norm_eps = 1e-5f;
  bool tie_embeddings = true;
  bool conv_bias = true;
  bool linear_bias = false;  // in_proj/out_proj bias (Mamba default false; we reject true)
  int d_inner() const { return expand * d_model; }
  int xproj_rows() const { return dt_rank + 2 * d_state; }
};

/// One Mamba-1 layer in floating point, all values widened to f32 (row-major, [out, in]).
struct FpLayer {
  std::vector<float> norm_w;     // [D]
  std::vector<float> in_proj;    // [2E, D]
  std::vector<float> conv_w;     // [E, K]   (checkpoint [E, 1, K])
  std::vector<float> conv_b;     // [E]
  std::vector<float> x_proj;     // [R + 2N, E]
  std::vector<float> dt_proj_w;  // [E, R]
  std::vector<float> dt_proj_b;  // [E]
  std::vector<float> A_log;      // [E, N]
  std::vector<float> D;          // [E]
  std::vector<float> out_proj;   // [D, E]
};

/// A floating-point Mamba-1 checkpoint (HF or state-spaces layout), values as f32.
struct FpModel {
  MambaConfig cfg;
  std::vector<float> embedding;  // [V, D]
  std::vector<FpLayer> layers;
  std::vector<float> norm_f;     // [D]
  std::vector<float> lm_head;    // [V, D]; empty when tied to the embedding
  std::string storage_dtype;     // "float32" | "float16" | "bfloat16" (as stored)
  std::string source_hash;       // sha256 of the tensor files, hex
  std::string source_path;
  /// Set by calibration preprocessing (spec §1.4): residual stream rotated by H_D, norm weights
  /// folded, in_proj/out_proj Hadamard-fused; the forward then applies H_E to y before out_proj.
  bool hadamard_rotated = false;
  const std::vector<float>& lm_head_weight() const { return lm_head.empty() ? embedding : lm_head; }
};

/// One quantized Quamba-1 W8A8 layer (spec §2.1). Weight matrices row-major [out, in].
struct QLayer {
  float norm_output_scale = 0;        // s_in
  std::vector<int8_t> in_proj_w;      // [2E, D]
  float in_proj_a = 0, in_proj_b = 0, in_proj_alpha = 0;  // a = s_in/s_xz, b = w_in
  std::vector<int8_t> conv_w;         // [E, K]
  std::vector<int8_t> conv_b;         // [E]
  float conv_weight_scale = 0, conv_bias_scale = 0, conv_input_scale = 0, conv_output_scale = 0;
  std::vector<int8_t> x_proj_w;       // [R + 2N, E]
  float x_proj_a = 0, x_proj_b = 0, x_proj_alpha = 0;     // a = s_u/s_xdbl, b = w_x
  std::vector<int8_t> dt_proj_w;      // [E, R]
  float dt_proj_a = 0, dt_proj_b = 0, dt_proj_alpha = 0;  // a = s_xdbl/s_dt, b = w_dt
  std::vector<int8_t> A_log_q;        // [E, N]
  float A_scale = 0;
  std::vector<int8_t> D_q;            // [E]
  float D_scale = 0;
  std::vector<int8_t> dt_bias_q;      // [E]
  float dt_bias_scale = 0;
  float u_scale = 0, dt_scale = 0, B_scale = 0, C_scale = 0, z_scale = 0, ssm_state_scale = 0;
  float had_output_scale = 0;         // s_y = mixer.had.x_H_scale (out_proj input scale)
  std::vector<int8_t> out_proj_w;     // [D, E]
  float out_proj_a = 0, out_proj_b = 0, out_proj_alpha = 0;  // a = s_y, b = w_out
};

/// A Quamba-1 W8A8 model in qmsim's quantized format (safetensors + JSON metadata).
struct QModel {
  MambaConfig cfg;
  std::vector<uint16_t> embedding_f16;  // [V, D] f16 bits, H_D-rotated, not quantized
  std::vector<QLayer> layers;
  std::vector<uint16_t> norm_f_f16;     // [D] f16 bits (all ones after folding)
  std::vector<uint16_t> lm_head_f16;    // [V, D] f16 bits, (E ⊙ w_norm_f)·H_D
  std::string numerics_profile = "golden";  // "golden" | "quamba-compat"
  nlohmann::json metadata;              // calibration settings, source checkpoint hash, ...
  std::string source_hash;              // sha256 of the quantized file(s)
  std::string source_path;
};

}  // namespace qmsim
