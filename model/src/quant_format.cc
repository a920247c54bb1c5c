// qmsim quantized format "quamba-w8a8-v1" (tensor names of spec §2.1, row-major [out, in] weights).
#include "qmsim/model/quant_format.h"

#include <cmath>
#include <deque>
#include <filesystem>
#include <set>

#include "model_dir.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/model/safetensors.h"

namespace qmsim {
namespace {

struct ScaleField {
  const char* suffix;
  float QLayer::*member;
};

/// Every per-layer scalar (spec §2.1), in a fixed order.
const ScaleField kScaleFields[] = {
    {"norm.output_scale", &QLayer::norm_output_scale},
    {"mixer.in_proj.a", &QLayer::in_proj_a},
    {"mixer.in_proj.b", &QLayer::in_proj_b},
    {"mixer.in_proj.alpha", &QLayer::in_proj_alpha},
    {"mixer.conv1d.weight_scale", &QLayer::conv_weight_scale},
    {"mixer.conv1d.bias_scale", &QLayer::conv_bias_scale},
    {"mixer.conv1d.input_scale", &QLayer::conv_input_scale},
    {"mixer.conv1d.output_scale", &QLayer::conv_output_scale},
    {"mixer.x_proj.a", &QLayer::x_proj_a},
    {"mixer.x_proj.b", &QLayer::x_proj_b},
    {"mixer.x_proj.alpha", &QLayer::x_proj_alpha},
    {"mixer.dt_proj.a", &QLayer::dt_proj_a},
    {"mixer.dt_proj.b", &QLayer::dt_proj_b},
    {"mixer.dt_proj.alpha", &QLayer::dt_proj_alpha},
    {"mixer.selective_scan.A_scale", &QLayer::A_scale},
    {"mixer.selective_scan.D_scale", &QLayer::D_scale},
    {"mixer.selective_scan.dt_bias_scale", &QLayer::dt_bias_scale},
    {"mixer.selective_scan.u_scale", &QLayer::u_scale},
    {"mixer.selective_scan.dt_scale", &QLayer::dt_scale},
    {"mixer.selective_scan.B_scale", &QLayer::B_scale},
    {"mixer.selective_scan.C_scale", &QLayer::C_scale},
    {"mixer.selective_scan.z_scale", &QLayer::z_scale},
    {"mixer.selective_scan.ssm_state_scale", &QLayer::ssm_state_scale},
    {"mixer.had.x_H_scale", &QLayer::had_output_scale},
    {"mixer.out_proj.a", &QLayer::out_proj_a},
    {"mixer.out_proj.b", &QLayer::out_proj_b},
    {"mixer.out_proj.alpha", &QLayer::out_proj_alpha},
};

struct Int8Field {
  const char* suffix;
  std::vector<int8_t> QLayer::*member;
  std::vector<int64_t> shape;
};

/// Every per-layer int8 tensor with its row-major shape.
std::vector<Int8Field> int8_fields(const MambaConfig& cfg) {
  const int64_t D = cfg.d_model, E = cfg.d_inner(), N = cfg.d_state, K = cfg.d_conv, R = cfg.dt_rank;
  return {
      {"mixer.in_proj.weight", &QLayer::in_proj_w, {2 * E, D}},
      {"mixer.conv1d.weight", &QLayer::conv_w, {E, K}},
      {"mixer.conv1d.bias", &QLayer::conv_b, {E}},
      {"mixer.x_proj.weight", &QLayer::x_proj_w, {R + 2 * N, E}},
      {"mixer.dt_proj.weight", &QLayer::dt_proj_w, {E, R}},
      {"mixer.selective_scan.A_log", &QLayer::A_log_q, {E, N}},
      {"mixer.selective_scan.D", &QLayer::D_q, {E}},
      {"mixer.selective_scan.dt_bias", &QLayer::dt_bias_q, {E}},
      {"mixer.out_proj.weight", &QLayer::out_proj_w, {D, E}},
  };
}

constexpr const char* kEmbedding = "backbone.embedding.weight";
constexpr const char* kNormF = "backbone.norm_f.weight";
constexpr const char* kLmHead = "lm_head.weight";
constexpr const char* kMetadataKey = "qmsim";

std::string layer_prefix(int layer) { return "backbone.layers." + std::to_string(layer) + "."; }

size_t numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

void check_count(const std::string& file, const std::string& name, size_t actual, const std::vector<int64_t>& shape) {
  if (actual != numel(shape)) {
    throw ModelFileError(file, name, "model holds " + std::to_string(actual) + " values, shape " +
                                         shape_to_string(shape) + " needs " + std::to_string(numel(shape)));
  }
}

void check_scale(const std::string& file, const std::string& name, float value) {
  if (!std::isfinite(value) || !(value > 0.0f)) {
    throw ModelFileError(file, name, "scale must be finite and positive, got " + std::to_string(value));
  }
}

void check_profile(const std::string& file, const std::string& profile) {
  if (profile != "golden" && profile != "quamba-compat") {
    throw ModelFileError(file, "numerics_profile", "unknown profile '" + profile + "' (expected golden or quamba-compat)");
  }
}

}  // namespace

void save_quant_model(const QModel& model, const std::string& dir, uint64_t max_shard_bytes) {
  const MambaConfig& cfg = model.cfg;
  const std::string weights_path = detail::join_path(dir, detail::kSingleWeightsFile);
  if (cfg.linear_bias) throw ModelFileError(weights_path, "use_bias", "linear biases are not supported");
  if (static_cast<int>(model.layers.size()) != cfg.n_layer || cfg.n_layer <= 0) {
    throw ModelFileError(weights_path, "backbone.layers", std::to_string(model.layers.size()) + " layers but n_layer = " +
                                                              std::to_string(cfg.n_layer));
  }
  check_profile(weights_path, model.numerics_profile);
  if (!model.metadata.is_null() && !model.metadata.is_object()) {
    throw ModelFileError(weights_path, "__metadata__.qmsim", "QModel::metadata must be a JSON object");
  }
  const int64_t D = cfg.d_model, V = cfg.vocab_size;

  std::vector<TensorToWrite> tensors;
  std::deque<float> scalars;  // deque: stable addresses
  auto add = [&](const std::string& name, Dtype dtype, const std::vector<int64_t>& shape, const void* data, size_t count) {
    check_count(weights_path, name, count, shape);
    tensors.push_back({name, dtype, shape, data, count * dtype_size(dtype)});
  };
  add(kEmbedding, Dtype::F16, {V, D}, model.embedding_f16.data(), model.embedding_f16.size());
  add(kNormF, Dtype::F16, {D}, model.norm_f_f16.data(), model.norm_f_f16.size());
  if (!model.lm_head_f16.empty()) {
    add(kLmHead, Dtype::F16, {V, D}, model.lm_head_f16.data(), model.lm_head_f16.size());
  } else if (!cfg.tie_embeddings) {
    throw ModelFileError(weights_path, kLmHead, "config is untied but QModel::lm_head_f16 is empty");
  }
  const std::vector<Int8Field> int8s = int8_fields(cfg);
  for (int i = 0; i < cfg.n_layer; ++i) {
    const QLayer& layer = model.layers[static_cast<size_t>(i)];
    const std::string p = layer_prefix(i);
    for (const Int8Field& f : int8s) {
      const std::vector<int8_t>& values = layer.*(f.member);
      add(p + f.suffix, Dtype::I8, f.shape, values.data(), values.size());
    }
    for (const ScaleField& f : kScaleFields) {
      check_scale(weights_path, p + f.suffix, layer.*(f.member));
      scalars.push_back(layer.*(f.member));
      add(p + f.suffix, Dtype::F32, {}, &scalars.back(), 1);
    }
  }

  nlohmann::json meta = model.metadata.is_null() ? nlohmann::json::object() : model.metadata;
  meta["numerics_profile"] = model.numerics_profile;
  std::string meta_text;
  try {
    meta_text = meta.dump();
  } catch (const nlohmann::json::exception& e) {
    throw ModelFileError(weights_path, "__metadata__.qmsim", std::string("cannot serialize metadata: ") + e.what());
  }
  nlohmann::json config = mamba_config_to_hf_json(cfg);
  config["qmsim_format"] = kQuantFormatVersion;
  config["torch_dtype"] = "int8";

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw ModelFileError(dir, "directory", "cannot create: " + ec.message());
  detail::write_weight_files(dir, tensors, {{kMetadataKey, meta_text}}, max_shard_bytes);
  detail::write_file_atomic(detail::join_path(dir, detail::kConfigFile), config.dump(2) + "\n");
}

QModel load_quant_model(const std::string& dir) {
  const std::string config_path = detail::join_path(dir, detail::kConfigFile);
  const nlohmann::json config = detail::read_json_file(config_path);
  const auto format_it = config.find("qmsim_format");
  if (format_it == config.end()) {
    throw ModelFileError(config_path, "qmsim_format", "missing: not a qmsim quantized model directory");
  }
  if (*format_it != kQuantFormatVersion) {
    throw ModelFileError(config_path, "qmsim_format", "unsupported format " + format_it->dump() + " (expected \"" +
                                                          kQuantFormatVersion + "\")");
  }
  QModel model;
  model.cfg = parse_mamba_config(config, config_path);
  const MambaConfig& cfg = model.cfg;
  const detail::WeightSet weights = detail::WeightSet::open(dir);
  std::set<std::string> used;

  auto checked = [&](const std::string& name, Dtype dtype, const std::vector<int64_t>& shape) -> const SafetensorsFile& {
    const SafetensorsFile& file = weights.file_of(name);
    file.check_dtype(name, dtype);
    file.check_shape(name, shape);
    used.insert(name);
    return file;
  };
  auto scale = [&](const std::string& name) {
    const SafetensorsFile& file = weights.file_of(name);
    file.check_dtype(name, Dtype::F32);
    const std::vector<int64_t>& shape = file.info(name).shape;
    if (!(shape.empty() || shape == std::vector<int64_t>{1} || shape == std::vector<int64_t>{1, 1})) {
      throw ModelFileError(file.path(), name, "scale must have shape [], [1] or [1, 1], got " + shape_to_string(shape));
    }
    used.insert(name);
    const float value = file.fetch_f32(name)[0];
    check_scale(file.path(), name, value);
    return value;
  };

  const int64_t D = cfg.d_model, V = cfg.vocab_size;
  model.embedding_f16 = checked(kEmbedding, Dtype::F16, {V, D}).fetch_f16_bits(kEmbedding);
  model.norm_f_f16 = checked(kNormF, Dtype::F16, {D}).fetch_f16_bits(kNormF);
  if (weights.has(kLmHead) || !cfg.tie_embeddings) {
    model.lm_head_f16 = checked(kLmHead, Dtype::F16, {V, D}).fetch_f16_bits(kLmHead);
  }
  const std::vector<Int8Field> int8s = int8_fields(cfg);
  model.layers.resize(static_cast<size_t>(cfg.n_layer));
  for (int i = 0; i < cfg.n_layer; ++i) {
    QLayer& layer = model.layers[static_cast<size_t>(i)];
    const std::string p = layer_prefix(i);
    for (const Int8Field& f : int8s) {
      const std::string name = p + f.suffix;
      layer.*(f.member) = checked(name, Dtype::I8, f.shape).fetch_i8(name);
    }
    for (const ScaleField& f : kScaleFields) layer.*(f.member) = scale(p + f.suffix);
  }
  for (const std::string& name : weights.names()) {
    if (!used.count(name)) throw ModelFileError(weights.file_of(name).path(), name, "unexpected tensor");
  }

  const SafetensorsFile& meta_file = weights.file_of(kEmbedding);
  const auto meta_it = meta_file.metadata().find(kMetadataKey);
  if (meta_it == meta_file.metadata().end()) {
    throw ModelFileError(meta_file.path(), "__metadata__.qmsim", "missing");
  }
  nlohmann::json meta = nlohmann::json::parse(meta_it->second, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) {
    throw ModelFileError(meta_file.path(), "__metadata__.qmsim", "not a JSON object");
  }
  const auto profile_it = meta.find("numerics_profile");
  if (profile_it == meta.end() || !profile_it->is_string()) {
    throw ModelFileError(meta_file.path(), "__metadata__.qmsim.numerics_profile", "missing or not a string");
  }
  model.numerics_profile = profile_it->get<std::string>();
  check_profile(meta_file.path(), model.numerics_profile);
  meta.erase("numerics_profile");
  model.metadata = std::move(meta);
  model.source_path = dir;
  model.source_hash = detail::hash_model_dir(config_path, weights);
  return model;
}

}  // namespace qmsim
