// qmsim quantized format: bit-identical round trips, byte determinism, sharding, the documented
// on-disk layout (read back with the plain safetensors reader) and validation errors.
#include "qmsim/model/quant_format.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qmsim/model/safetensors.h"

namespace qmsim {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Deterministic filler (LCG), independent of the code under test.
struct Filler {
  uint32_t state = 12345;
  uint32_t next() { return state = state * 1664525u + 1013904223u; }
  std::vector<int8_t> i8(size_t n) {
    std::vector<int8_t> v(n);
    for (int8_t& x : v) x = static_cast<int8_t>(next() >> 24);
    return v;
  }
  std::vector<uint16_t> f16(size_t n) {
    std::vector<uint16_t> v(n);
    for (uint16_t& x : v) x = static_cast<uint16_t>((next() >> 16) & 0x7BFF);  // finite halves, both signs below
    for (size_t i = 0; i < n; i += 3) v[i] |= 0x8000;
    return v;
  }
  float scale() { return static_cast<float>((next() >> 8) + 1) * 1.0e-9f; }
};

QModel make_qmodel() {
  QModel m;
  m.cfg.d_model = 16;
  m.cfg.n_layer = 2;
  m.cfg.vocab_size = 40;
  m.cfg.d_state = 4;
  m.cfg.d_conv = 4;
  m.cfg.expand = 2;
  m.cfg.dt_rank = 1;
  m.cfg.tie_embeddings = false;
  const size_t D = 16, E = 32, N = 4, K = 4, R = 1, V = 40;
  Filler f;
  m.embedding_f16 = f.f16(V * D);
  m.norm_f_f16 = std::vector<uint16_t>(D, 0x3C00);
  m.lm_head_f16 = f.f16(V * D);
  m.layers.resize(2);
  for (QLayer& l : m.layers) {
    l.in_proj_w = f.i8(2 * E * D);
    l.conv_w = f.i8(E * K);
    l.conv_b = f.i8(E);
    l.x_proj_w = f.i8((R + 2 * N) * E);
    l.dt_proj_w = f.i8(E * R);
    l.A_log_q = f.i8(E * N);
    l.D_q = f.i8(E);
    l.dt_bias_q = f.i8(E);
    l.out_proj_w = f.i8(D * E);
    for (float* s : {&l.norm_output_scale, &l.in_proj_a, &l.in_proj_b, &l.in_proj_alpha, &l.conv_weight_scale,
                     &l.conv_bias_scale, &l.conv_input_scale, &l.conv_output_scale, &l.x_proj_a, &l.x_proj_b,
                     &l.x_proj_alpha, &l.dt_proj_a, &l.dt_proj_b, &l.dt_proj_alpha, &l.A_scale, &l.D_scale,
                     &l.dt_bias_scale, &l.u_scale, &l.dt_scale, &l.B_scale, &l.C_scale, &l.z_scale,
                     &l.ssm_state_scale, &l.had_output_scale, &l.out_proj_a, &l.out_proj_b, &l.out_proj_alpha}) {
      *s = f.scale();
    }
  }
  m.numerics_profile = "quamba-compat";
  m.metadata = {{"calibration", {{"percentile", 0.9999}, {"samples", 512}}}, {"source_hash", "abc"}, {"note", "x"}};
  return m;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

void expect_identical(const QModel& a, const QModel& b) {
  EXPECT_EQ(a.cfg.d_model, b.cfg.d_model);
  EXPECT_EQ(a.cfg.n_layer, b.cfg.n_layer);
  EXPECT_EQ(a.cfg.vocab_size, b.cfg.vocab_size);
  EXPECT_EQ(a.cfg.d_state, b.cfg.d_state);
  EXPECT_EQ(a.cfg.d_conv, b.cfg.d_conv);
  EXPECT_EQ(a.cfg.expand, b.cfg.expand);
  EXPECT_EQ(a.cfg.dt_rank, b.cfg.dt_rank);
  EXPECT_EQ(a.cfg.tie_embeddings, b.cfg.tie_embeddings);
  EXPECT_TRUE(same_bits(a.cfg.norm_eps, b.cfg.norm_eps));
  EXPECT_EQ(a.embedding_f16, b.embedding_f16);
  EXPECT_EQ(a.norm_f_f16, b.norm_f_f16);
  EXPECT_EQ(a.lm_head_f16, b.lm_head_f16);
  EXPECT_EQ(a.numerics_profile, b.numerics_profile);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const QLayer& x = a.layers[i];
    const QLayer& y = b.layers[i];
    EXPECT_EQ(x.in_proj_w, y.in_proj_w);
    EXPECT_EQ(x.conv_w, y.conv_w);
    EXPECT_EQ(x.conv_b, y.conv_b);
    EXPECT_EQ(x.x_proj_w, y.x_proj_w);
    EXPECT_EQ(x.dt_proj_w, y.dt_proj_w);
    EXPECT_EQ(x.A_log_q, y.A_log_q);
    EXPECT_EQ(x.D_q, y.D_q);
    EXPECT_EQ(x.dt_bias_q, y.dt_bias_q);
    EXPECT_EQ(x.out_proj_w, y.out_proj_w);
    const float QLayer::*scales[] = {
        &QLayer::norm_output_scale, &QLayer::in_proj_a, &QLayer::in_proj_b, &QLayer::in_proj_alpha,
        &QLayer::conv_weight_scale, &QLayer::conv_bias_scale, &QLayer::conv_input_scale, &QLayer::conv_output_scale,
        &QLayer::x_proj_a, &QLayer::x_proj_b, &QLayer::x_proj_alpha, &QLayer::dt_proj_a, &QLayer::dt_proj_b,
        &QLayer::dt_proj_alpha, &QLayer::A_scale, &QLayer::D_scale, &QLayer::dt_bias_scale, &QLayer::u_scale,
        &QLayer::dt_scale, &QLayer::B_scale, &QLayer::C_scale, &QLayer::z_scale, &QLayer::ssm_state_scale,
        &QLayer::had_output_scale, &QLayer::out_proj_a, &QLayer::out_proj_b, &QLayer::out_proj_alpha};
    for (size_t k = 0; k < sizeof(scales) / sizeof(scales[0]); ++k) {
      EXPECT_TRUE(same_bits(x.*scales[k], y.*scales[k])) << "layer " << i << " scale #" << k;
    }
  }
}

class QuantFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qmsim_q_" + std::to_string(getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string sub(const std::string& name) const { return (dir_ / name).string(); }

  /// Saves make_qmodel() to `name`, rewrites model.safetensors through `edit`, returns the dir.
  template <typename Edit>
  std::string edited(const std::string& name, Edit edit) {
    const std::string d = sub(name);
    save_quant_model(make_qmodel(), d);
    const SafetensorsFile file = SafetensorsFile::open(d + "/model.safetensors");
    struct Owned {
      std::string name;
      Dtype dtype;
      std::vector<int64_t> shape;
      std::vector<uint8_t> bytes;
    };
    std::vector<Owned> tensors;
    for (const std::string& n : file.names()) tensors.push_back({n, file.info(n).dtype, file.info(n).shape, file.fetch_raw(n)});
    std::map<std::string, std::string> metadata = file.metadata();
    edit(tensors, metadata);
    std::vector<TensorToWrite> out;
    for (const Owned& t : tensors) out.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
    write_safetensors(d + "/model.safetensors", out, metadata);
    return d;
  }
  fs::path dir_;
};

void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  try {
    load_quant_model(dir);
    ADD_FAILURE() << "no error for " << dir;
  } catch (const ModelFileError& e) {
    const std::string msg = e.what();
    for (const std::string& needle : needles) EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

TEST_F(QuantFormatTest, RoundTripIsBitIdenticalAndDeterministic) {
  const QModel m = make_qmodel();
  save_quant_model(m, sub("a"));
  save_quant_model(m, sub("b"));
  EXPECT_EQ(read_all(sub("a") + "/model.safetensors"), read_all(sub("b") + "/model.safetensors"));
  EXPECT_EQ(read_all(sub("a") + "/config.json"), read_all(sub("b") + "/config.json"));
  const QModel loaded = load_quant_model(sub("a"));
  expect_identical(m, loaded);
  EXPECT_EQ(loaded.source_path, sub("a"));
  EXPECT_EQ(loaded.source_hash.size(), 64u);
  save_quant_model(loaded, sub("c"));
  EXPECT_EQ(read_all(sub("a") + "/model.safetensors"), read_all(sub("c") + "/model.safetensors"));
  EXPECT_EQ(load_quant_model(sub("c")).source_hash, loaded.source_hash);
}

TEST_F(QuantFormatTest, OnDiskLayoutIsTheDocumentedOne) {
  const QModel m = make_qmodel();
  save_quant_model(m, sub("a"));
  const SafetensorsFile file = SafetensorsFile::open(sub("a") + "/model.safetensors");
  EXPECT_EQ(file.names().size(), 3u + 2 * (9 + 27));
  const TensorInfo& in_proj = file.info("backbone.layers.1.mixer.in_proj.weight");
  EXPECT_EQ(in_proj.dtype, Dtype::I8);
  EXPECT_EQ(in_proj.shape, (std::vector<int64_t>{64, 16}));  // row-major [2E, D], not transposed
  EXPECT_EQ(file.fetch_i8("backbone.layers.1.mixer.in_proj.weight"), m.layers[1].in_proj_w);
  EXPECT_EQ(file.info("backbone.layers.0.mixer.conv1d.weight").shape, (std::vector<int64_t>{32, 4}));
  EXPECT_EQ(file.info("backbone.layers.0.mixer.x_proj.weight").shape, (std::vector<int64_t>{9, 32}));
  EXPECT_EQ(file.info("backbone.layers.0.mixer.dt_proj.weight").shape, (std::vector<int64_t>{32, 1}));
  EXPECT_EQ(file.info("backbone.layers.0.mixer.out_proj.weight").shape, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(file.info("backbone.layers.0.mixer.selective_scan.A_log").shape, (std::vector<int64_t>{32, 4}));
  const TensorInfo& scale = file.info("backbone.layers.0.mixer.had.x_H_scale");
  EXPECT_EQ(scale.dtype, Dtype::F32);
  EXPECT_TRUE(scale.shape.empty());
  EXPECT_TRUE(same_bits(file.fetch_f32("backbone.layers.0.mixer.had.x_H_scale")[0], m.layers[0].had_output_scale));
  EXPECT_TRUE(same_bits(file.fetch_f32("backbone.layers.1.norm.output_scale")[0], m.layers[1].norm_output_scale));
  EXPECT_TRUE(same_bits(file.fetch_f32("backbone.layers.1.mixer.selective_scan.ssm_state_scale")[0], m.layers[1].ssm_state_scale));
  EXPECT_EQ(file.info("backbone.embedding.weight").dtype, Dtype::F16);
  EXPECT_EQ(file.fetch_f16_bits("lm_head.weight"), m.lm_head_f16);
  const nlohmann::json meta = nlohmann::json::parse(file.metadata().at("qmsim"));
  EXPECT_EQ(meta["numerics_profile"], "quamba-compat");
  EXPECT_EQ(meta["calibration"]["samples"], 512);
  std::ifstream config_in(sub("a") + "/config.json");
  const nlohmann::json config = nlohmann::json::parse(config_in);
  EXPECT_EQ(config["qmsim_format"], "quamba-w8a8-v1");
  EXPECT_EQ(config["hidden_size"], 16);
  EXPECT_EQ(config["tie_word_embeddings"], false);
}

TEST_F(QuantFormatTest, ShardedRoundTrip) {
  const QModel m = make_qmodel();
  save_quant_model(m, sub("s"), 1500);
  EXPECT_FALSE(fs::exists(sub("s") + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(sub("s") + "/model.safetensors.index.json"));
  std::ifstream index_in(sub("s") + "/model.safetensors.index.json");
  const nlohmann::json index = nlohmann::json::parse(index_in);
  std::set<std::string> shards;
  for (const auto& kv : index["weight_map"].items()) shards.insert(kv.value().get<std::string>());
  EXPECT_GE(shards.size(), 4u);
  expect_identical(m, load_quant_model(sub("s")));
  save_quant_model(m, sub("s2"), 1500);
  for (const std::string& shard : shards) {
    EXPECT_EQ(read_all(sub("s") + "/" + shard), read_all(sub("s2") + "/" + shard)) << shard;
  }
  EXPECT_EQ(read_all(sub("s") + "/model.safetensors.index.json"), read_all(sub("s2") + "/model.safetensors.index.json"));
}

TEST_F(QuantFormatTest, TiedModelWithoutLmHead) {
  QModel m = make_qmodel();
  m.lm_head_f16.clear();
  m.cfg.tie_embeddings = true;
  m.metadata = nullptr;
  m.numerics_profile = "golden";
  save_quant_model(m, sub("t"));
  const QModel loaded = load_quant_model(sub("t"));
  EXPECT_TRUE(loaded.lm_head_f16.empty());
  EXPECT_EQ(loaded.metadata, nlohmann::json::object());
  EXPECT_EQ(loaded.numerics_profile, "golden");
  m.cfg.tie_embeddings = false;
  EXPECT_THROW(save_quant_model(m, sub("u")), ModelFileError);
}

TEST_F(QuantFormatTest, SaveRejectsBadScalesAndSizes) {
  QModel m = make_qmodel();
  m.layers[1].dt_scale = 0.0f;
  try {
    save_quant_model(m, sub("z"));
    ADD_FAILURE();
  } catch (const ModelFileError& e) {
    EXPECT_NE(std::string(e.what()).find("backbone.layers.1.mixer.selective_scan.dt_scale"), std::string::npos) << e.what();
  }
  m = make_qmodel();
  m.layers[0].x_proj_a = std::numeric_limits<float>::infinity();
  EXPECT_THROW(save_quant_model(m, sub("z")), ModelFileError);
  m = make_qmodel();
  m.layers[0].conv_b.pop_back();
  try {
    save_quant_model(m, sub("z"));
    ADD_FAILURE();
  } catch (const ModelFileError& e) {
    EXPECT_NE(std::string(e.what()).find("backbone.layers.0.mixer.conv1d.bias"), std::string::npos) << e.what();
  }
  m = make_qmodel();
  m.numerics_profile = "fast";
  EXPECT_THROW(save_quant_model(m, sub("z")), ModelFileError);
  EXPECT_FALSE(fs::exists(sub("z") + "/model.safetensors"));
}

TEST_F(QuantFormatTest, LoadRejectsNonPositiveScale) {
  const std::string d = edited("neg", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.1.mixer.x_proj.b") {
        const float v = -1.0f;
        std::memcpy(t.bytes.data(), &v, 4);
      }
    }
  });
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.1.mixer.x_proj.b", "positive"});
}

TEST_F(QuantFormatTest, LoadAcceptsQuambaScaleShapes) {
  const std::string d = edited("shape11", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.0.mixer.in_proj.a") t.shape = {1, 1};
      if (t.name == "backbone.layers.0.mixer.in_proj.b") t.shape = {1};
    }
  });
  expect_identical(make_qmodel(), load_quant_model(d));
  const std::string bad = edited("shape2", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.0.mixer.in_proj.a") {
        t.shape = {2};
        t.bytes.resize(8);
      }
    }
  });
  expect_load_error(bad, {"backbone.layers.0.mixer.in_proj.a", "[2]"});
}

TEST_F(QuantFormatTest, LoadRejectsWrongDtypeShapeMissingAndExtra) {
  std::string d = edited("dtype", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.0.mixer.out_proj.weight") t.dtype = Dtype::U8;
    }
  });
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.0.mixer.out_proj.weight", "expected I8, got U8"});
  d = edited("scale_dtype", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.0.mixer.conv1d.input_scale") t.dtype = Dtype::I32;
    }
  });
  expect_load_error(d, {"backbone.layers.0.mixer.conv1d.input_scale", "expected F32, got I32"});
  d = edited("shape", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.layers.1.mixer.in_proj.weight") t.shape = {16, 64};
    }
  });
  expect_load_error(d, {"backbone.layers.1.mixer.in_proj.weight", "expected [64, 16], got [16, 64]"});
  d = edited("missing", [](auto& tensors, auto&) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const auto& t) { return t.name == "backbone.layers.1.mixer.selective_scan.D_scale"; }),
                  tensors.end());
  });
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.1.mixer.selective_scan.D_scale", "missing"});
  d = edited("extra", [](auto& tensors, auto&) {
    tensors.push_back({"backbone.layers.0.mixer.bonus", Dtype::I8, {1}, std::vector<uint8_t>(1)});
  });
  expect_load_error(d, {"backbone.layers.0.mixer.bonus", "unexpected"});
  d = edited("f16", [](auto& tensors, auto&) {
    for (auto& t : tensors) {
      if (t.name == "backbone.norm_f.weight") {
        t.dtype = Dtype::F32;
        t.bytes.resize(64);
      }
    }
  });
  expect_load_error(d, {"backbone.norm_f.weight", "expected F16, got F32"});
}

TEST_F(QuantFormatTest, LoadRejectsBadMetadataAndFormatTag) {
  std::string d = edited("nometa", [](auto&, auto& metadata) { metadata.clear(); });
  expect_load_error(d, {d + "/model.safetensors", "__metadata__.qmsim", "missing"});
  d = edited("badprofile", [](auto&, auto& metadata) { metadata["qmsim"] = R"({"numerics_profile": "turbo"})"; });
  expect_load_error(d, {"numerics_profile", "turbo"});
  d = edited("notjson", [](auto&, auto& metadata) { metadata["qmsim"] = "{"; });
  expect_load_error(d, {"__metadata__.qmsim", "not a JSON object"});

  const std::string tag = sub("tag");
  save_quant_model(make_qmodel(), tag);
  std::ifstream in(tag + "/config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["qmsim_format"] = "quamba-w8a8-v0";
  std::ofstream(tag + "/config.json") << config.dump();
  expect_load_error(tag, {tag + "/config.json", "qmsim_format", "v0"});
  config.erase("qmsim_format");
  std::ofstream(tag + "/config.json") << config.dump();
  expect_load_error(tag, {tag + "/config.json", "qmsim_format", "missing"});
}

TEST_F(QuantFormatTest, FpCheckpointIsNotAQuantModel) {
  expect_load_error(std::string(QMSIM_SHARED_DATA) + "/reference/mamba-fixture", {"config.json", "qmsim_format"});
}

}  // namespace
}  // namespace qmsim
