// FP checkpoint loader/saver: HF and state-spaces config.json, safetensors weights (spec §1.1-1.2).
#include "qmsim/model/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <iostream>
#include <limits>
#include <set>

#include "model_dir.h"
#include "qmsim/model/safetensors.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace {

constexpr int kMaxDim = 1 << 24;  // sanity bound for every config dimension

int get_int(const nlohmann::json& j, const std::string& key, const std::string& file, const std::string& prefix,
            const int* fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    throw ModelFileError(file, prefix + key, "missing required key");
  }
  if (!it->is_number_integer()) throw ModelFileError(file, prefix + key, "expected an integer, got " + it->dump());
  const bool too_large = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(kMaxDim);
  const int64_t v = too_large ? 0 : it->get<int64_t>();
  if (too_large || v <= 0 || v > kMaxDim) {
    throw ModelFileError(file, prefix + key, "value " + it->dump() + " out of range [1, " + std::to_string(kMaxDim) + "]");
  }
  return static_cast<int>(v);
}

int required_int(const nlohmann::json& j, const std::string& key, const std::string& file, const std::string& prefix = "") {
  return get_int(j, key, file, prefix, nullptr);
}

int optional_int(const nlohmann::json& j, const std::string& key, int fallback, const std::string& file,
                 const std::string& prefix = "") {
  return get_int(j, key, file, prefix, &fallback);
}

bool optional_bool(const nlohmann::json& j, const std::string& key, bool fallback, const std::string& file,
                   const std::string& prefix = "") {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ModelFileError(file, prefix + key, "expected true/false, got " + it->dump());
  return it->get<bool>();
}

float optional_epsilon(const nlohmann::json& j, const std::string& key, const std::string& file) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 1e-5f;
  if (!it->is_number()) throw ModelFileError(file, key, "expected a number, got " + it->dump());
  const float eps = static_cast<float>(it->get<double>());
  if (!(eps > 0.0f) || !std::isfinite(eps)) throw ModelFileError(file, key, "must be finite and positive, got " + it->dump());
  return eps;
}

/// dt_rank: "auto" -> ceil(d_model / 16) (spec §1.1), else a positive integer.
int parse_dt_rank(const nlohmann::json& j, const std::string& key, int d_model, const std::string& file,
                  const std::string& prefix) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null() || (it->is_string() && it->get<std::string>() == "auto")) {
    return (d_model + 15) / 16;
  }
  if (it->is_string()) throw ModelFileError(file, prefix + key, "expected \"auto\" or an integer, got " + it->dump());
  return required_int(j, key, file, prefix);
}

/// The double whose shortest decimal form equals the float's shortest form (1e-5f -> 1e-05).
double float_as_short_double(float v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

const char* storage_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::F32: return "float32";
    case Dtype::F16: return "float16";
    case Dtype::BF16: return "bfloat16";
    default: return "?";
  }
}

std::string layer_prefix(int layer) { return "backbone.layers." + std::to_string(layer) + "."; }

/// Sizes of every FpModel tensor in the order the HF names list them.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

void check_size(const std::string& file, const std::string& name, size_t actual, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (actual != static_cast<size_t>(n)) {
    throw ModelFileError(file, name, "model holds " + std::to_string(actual) + " values, shape " +
                                         shape_to_string(shape) + " needs " + std::to_string(n));
  }
}

}  // namespace

MambaConfig parse_mamba_config(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw ModelFileError(file, "JSON", "config is not an object");
  MambaConfig cfg;
  if (j.contains("hidden_size")) {  // HF transformers MambaConfig
    if (j.contains("model_type") && j["model_type"] != "mamba") {
      throw ModelFileError(file, "model_type", "expected \"mamba\" (Mamba-1), got " + j["model_type"].dump());
    }
    cfg.d_model = required_int(j, "hidden_size", file);
    cfg.n_layer = required_int(j, "num_hidden_layers", file);
    cfg.vocab_size = required_int(j, "vocab_size", file);
    cfg.d_state = optional_int(j, "state_size", 16, file);
    cfg.expand = optional_int(j, "expand", 2, file);
    cfg.d_conv = optional_int(j, "conv_kernel", 4, file);
    cfg.dt_rank = parse_dt_rank(j, "time_step_rank", cfg.d_model, file, "");
    cfg.norm_eps = optional_epsilon(j, "layer_norm_epsilon", file);
    cfg.linear_bias = optional_bool(j, "use_bias", false, file);
    cfg.conv_bias = optional_bool(j, "use_conv_bias", true, file);
    cfg.tie_embeddings = optional_bool(j, "tie_word_embeddings", true, file);
    if (cfg.linear_bias) {
      throw ModelFileError(file, "use_bias", "in_proj/out_proj biases (use_bias=true) are not supported (Mamba-1 uses none)");
    }
    if (static_cast<int64_t>(cfg.expand) * cfg.d_model > kMaxDim) throw ModelFileError(file, "expand", "d_inner too large");
    if (j.contains("intermediate_size") && !j["intermediate_size"].is_null()) {
      const int inner = required_int(j, "intermediate_size", file);
      if (inner != cfg.d_inner()) {
        throw ModelFileError(file, "intermediate_size", std::to_string(inner) + " != expand * hidden_size = " +
                                                            std::to_string(cfg.d_inner()));
      }
    }
  } else if (j.contains("d_model")) {  // state-spaces mamba_ssm MambaConfig
    cfg.d_model = required_int(j, "d_model", file);
    cfg.n_layer = required_int(j, "n_layer", file);
    const int raw_vocab = required_int(j, "vocab_size", file);
    const int multiple = optional_int(j, "pad_vocab_size_multiple", 8, file);
    // mamba_ssm mixer_seq_simple.py: vocab_size += multiple - vocab_size % multiple (if not a multiple).
    const int64_t padded = (static_cast<int64_t>(raw_vocab) + multiple - 1) / multiple * multiple;
    if (padded > kMaxDim) throw ModelFileError(file, "vocab_size", "padded vocabulary too large");
    cfg.vocab_size = static_cast<int>(padded);
    nlohmann::json ssm = nlohmann::json::object();
    if (j.contains("ssm_cfg") && !j["ssm_cfg"].is_null()) {
      if (!j["ssm_cfg"].is_object()) throw ModelFileError(file, "ssm_cfg", "is not an object");
      ssm = j["ssm_cfg"];
    }
    if (ssm.contains("layer") && ssm["layer"] != "Mamba1") {
      throw ModelFileError(file, "ssm_cfg.layer", "only Mamba1 is supported, got " + ssm["layer"].dump());
    }
    cfg.d_state = optional_int(ssm, "d_state", 16, file, "ssm_cfg.");
    cfg.d_conv = optional_int(ssm, "d_conv", 4, file, "ssm_cfg.");
    cfg.expand = optional_int(ssm, "expand", 2, file, "ssm_cfg.");
    cfg.dt_rank = parse_dt_rank(ssm, "dt_rank", cfg.d_model, file, "ssm_cfg.");
    cfg.linear_bias = optional_bool(ssm, "bias", false, file, "ssm_cfg.");
    cfg.conv_bias = optional_bool(ssm, "conv_bias", true, file, "ssm_cfg.");
    cfg.tie_embeddings = optional_bool(j, "tie_embeddings", true, file);
    cfg.norm_eps = optional_epsilon(j, "norm_epsilon", file);
    if (cfg.linear_bias) {
      throw ModelFileError(file, "ssm_cfg.bias", "in_proj/out_proj biases (bias=true) are not supported (Mamba-1 uses none)");
    }
    if (!optional_bool(j, "rms_norm", true, file)) {
      throw ModelFileError(file, "rms_norm", "LayerNorm models (rms_norm=false) are not supported");
    }
    if (j.contains("d_intermediate") && j["d_intermediate"] != 0) {
      throw ModelFileError(file, "d_intermediate", "MLP blocks are not supported (expected 0), got " + j["d_intermediate"].dump());
    }
    if (j.contains("attn_layer_idx") && !j["attn_layer_idx"].empty()) {
      throw ModelFileError(file, "attn_layer_idx", "attention layers are not supported");
    }
    if (static_cast<int64_t>(cfg.expand) * cfg.d_model > kMaxDim) throw ModelFileError(file, "ssm_cfg.expand", "d_inner too large");
  } else {
    throw ModelFileError(file, "hidden_size", "neither \"hidden_size\" (HF) nor \"d_model\" (state-spaces) is present");
  }
  return cfg;
}

nlohmann::json mamba_config_to_hf_json(const MambaConfig& cfg) {
  return {
      {"architectures", {"MambaForCausalLM"}},
      {"model_type", "mamba"},
      {"hidden_size", cfg.d_model},
      {"num_hidden_layers", cfg.n_layer},
      {"vocab_size", cfg.vocab_size},
      {"state_size", cfg.d_state},
      {"expand", cfg.expand},
      {"conv_kernel", cfg.d_conv},
      {"intermediate_size", cfg.d_inner()},
      {"time_step_rank", cfg.dt_rank},
      {"layer_norm_epsilon", float_as_short_double(cfg.norm_eps)},
      {"use_bias", cfg.linear_bias},
      {"use_conv_bias", cfg.conv_bias},
      {"tie_word_embeddings", cfg.tie_embeddings},
      {"residual_in_fp32", true},
      {"hidden_act", "silu"},
  };
}

FpModel load_fp_checkpoint(const std::string& dir) {
  const std::string config_path = detail::join_path(dir, detail::kConfigFile);
  const nlohmann::json config = detail::read_json_file(config_path);
  if (config.contains("qmsim_format")) {
    throw ModelFileError(config_path, "qmsim_format", "this is a qmsim quantized model; use load_quant_model");
  }
  FpModel model;
  model.cfg = parse_mamba_config(config, config_path);
  const MambaConfig& cfg = model.cfg;
  if (config.contains("qmsim_hadamard_rotated")) {
    model.hadamard_rotated = optional_bool(config, "qmsim_hadamard_rotated", false, config_path);
  }
  const detail::WeightSet weights = detail::WeightSet::open(dir);
  std::set<std::string> used;

  auto load = [&](const std::string& name, const std::vector<int64_t>& shape) {
    const SafetensorsFile& file = weights.file_of(name);
    const Dtype dtype = file.info(name).dtype;
    if (dtype != Dtype::F32 && dtype != Dtype::F16 && dtype != Dtype::BF16) {
      throw ModelFileError(file.path(), name, std::string("unsupported storage dtype ") + dtype_name(dtype) +
                                                  " (expected F32, F16 or BF16)");
    }
    file.check_shape(name, shape);
    used.insert(name);
    return file.fetch_f32(name);
  };

  const int64_t D = cfg.d_model, E = cfg.d_inner(), N = cfg.d_state, K = cfg.d_conv, R = cfg.dt_rank, V = cfg.vocab_size;
  const std::string hf_embedding = "backbone.embeddings.weight";
  const std::string ss_embedding = "backbone.embedding.weight";
  std::string embedding_name;
  if (weights.has(hf_embedding) && weights.has(ss_embedding)) {
    throw ModelFileError(weights.source(), hf_embedding, "both " + hf_embedding + " and " + ss_embedding + " are present");
  } else if (weights.has(hf_embedding)) {
    embedding_name = hf_embedding;
  } else if (weights.has(ss_embedding)) {
    embedding_name = ss_embedding;
  } else {
    throw ModelFileError(weights.source(), hf_embedding, "missing tensor (nor " + ss_embedding + ")");
  }
  model.embedding = load(embedding_name, {V, D});
  model.storage_dtype = storage_name(weights.file_of(embedding_name).info(embedding_name).dtype);

  model.layers.resize(static_cast<size_t>(cfg.n_layer));
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = layer_prefix(i);
    FpLayer& layer = model.layers[static_cast<size_t>(i)];
    layer.norm_w = load(p + "norm.weight", {D});
    layer.in_proj = load(p + "mixer.in_proj.weight", {2 * E, D});
    layer.conv_w = load(p + "mixer.conv1d.weight", {E, 1, K});
    if (cfg.conv_bias) {
      layer.conv_b = load(p + "mixer.conv1d.bias", {E});
    } else {
      layer.conv_b.assign(static_cast<size_t>(E), 0.0f);  // use_conv_bias=false: a zero bias is equivalent
    }
    layer.x_proj = load(p + "mixer.x_proj.weight", {R + 2 * N, E});
    layer.dt_proj_w = load(p + "mixer.dt_proj.weight", {E, R});
    layer.dt_proj_b = load(p + "mixer.dt_proj.bias", {E});
    layer.A_log = load(p + "mixer.A_log", {E, N});
    layer.D = load(p + "mixer.D", {E});
    layer.out_proj = load(p + "mixer.out_proj.weight", {D, E});
  }
  model.norm_f = load("backbone.norm_f.weight", {D});
  if (!cfg.tie_embeddings) {
    model.lm_head = load("lm_head.weight", {V, D});
  } else if (weights.has("lm_head.weight")) {
    weights.file_of("lm_head.weight").check_shape("lm_head.weight", {V, D});  // tied: ignored, shape checked
    used.insert("lm_head.weight");
  }

  std::vector<std::string> extras;
  for (const std::string& name : weights.names()) {
    if (!used.count(name)) extras.push_back(name);
  }
  if (!extras.empty()) {
    std::cerr << "qmsim: warning: " << weights.source() << ": ignoring " << extras.size() << " unexpected tensor(s):";
    for (size_t i = 0; i < extras.size() && i < 5; ++i) std::cerr << ' ' << extras[i];
    std::cerr << (extras.size() > 5 ? " ...\n" : "\n");
  }
  model.source_path = dir;
  model.source_hash = detail::hash_model_dir(config_path, weights);
  return model;
}

void save_fp_checkpoint(const FpModel& model, const std::string& dir, const std::string& dtype,
                        uint64_t max_shard_bytes) {
  Dtype out_dtype;
  if (dtype == "float32") {
    out_dtype = Dtype::F32;
  } else if (dtype == "float16") {
    out_dtype = Dtype::F16;
  } else if (dtype == "bfloat16") {
    out_dtype = Dtype::BF16;
  } else {
    throw ModelFileError(dir, "dtype", "unknown dtype '" + dtype + "' (expected float32, float16 or bfloat16)");
  }
  const MambaConfig& cfg = model.cfg;
  const std::string weights_path = detail::join_path(dir, detail::kSingleWeightsFile);
  if (cfg.linear_bias) throw ModelFileError(weights_path, "use_bias", "linear biases are not supported");
  if (static_cast<int>(model.layers.size()) != cfg.n_layer) {
    throw ModelFileError(weights_path, "backbone.layers", std::to_string(model.layers.size()) + " layers but n_layer = " +
                                                              std::to_string(cfg.n_layer));
  }
  const int64_t D = cfg.d_model, E = cfg.d_inner(), N = cfg.d_state, K = cfg.d_conv, R = cfg.dt_rank, V = cfg.vocab_size;

  std::vector<TensorToWrite> tensors;
  std::deque<std::vector<uint16_t>> converted;  // deque: stable addresses
  auto add = [&](const std::string& name, const std::vector<float>& values, const std::vector<int64_t>& shape) {
    check_size(weights_path, name, values.size(), shape);
    TensorToWrite t;
    t.name = name;
    t.dtype = out_dtype;
    t.shape = shape;
    if (out_dtype == Dtype::F32) {
      t.data = values.data();
      t.nbytes = values.size() * 4;
    } else {
      converted.emplace_back(values.size());
      std::vector<uint16_t>& bits = converted.back();
      for (size_t i = 0; i < values.size(); ++i) {
        bits[i] = out_dtype == Dtype::F16 ? num::f32_to_f16_rne(values[i]) : num::f32_to_bf16_rne(values[i]);
      }
      t.data = bits.data();
      t.nbytes = bits.size() * 2;
    }
    tensors.push_back(std::move(t));
  };

  add("backbone.embeddings.weight", model.embedding, {V, D});
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string p = layer_prefix(i);
    const FpLayer& layer = model.layers[static_cast<size_t>(i)];
    add(p + "norm.weight", layer.norm_w, {D});
    add(p + "mixer.in_proj.weight", layer.in_proj, {2 * E, D});
    add(p + "mixer.conv1d.weight", layer.conv_w, {E, 1, K});
    if (cfg.conv_bias) add(p + "mixer.conv1d.bias", layer.conv_b, {E});
    add(p + "mixer.x_proj.weight", layer.x_proj, {R + 2 * N, E});
    add(p + "mixer.dt_proj.weight", layer.dt_proj_w, {E, R});
    add(p + "mixer.dt_proj.bias", layer.dt_proj_b, {E});
    add(p + "mixer.A_log", layer.A_log, {E, N});
    add(p + "mixer.D", layer.D, {E});
    add(p + "mixer.out_proj.weight", layer.out_proj, {D, E});
  }
  add("backbone.norm_f.weight", model.norm_f, {D});
  if (!model.lm_head.empty()) add("lm_head.weight", model.lm_head, {V, D});

  nlohmann::json config = mamba_config_to_hf_json(cfg);
  config["tie_word_embeddings"] = model.lm_head.empty();
  config["torch_dtype"] = dtype;
  if (model.hadamard_rotated) config["qmsim_hadamard_rotated"] = true;

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw ModelFileError(dir, "directory", "cannot create: " + ec.message());
  detail::write_weight_files(dir, tensors, {{"format", "pt"}}, max_shard_bytes);
  detail::write_file_atomic(detail::join_path(dir, detail::kConfigFile), config.dump(2) + "\n");
}

}  // namespace qmsim
