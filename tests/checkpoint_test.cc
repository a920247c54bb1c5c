// FP checkpoint loader/saver against the real HF fixture (values cross-checked with python3
// json+struct reads of the file), round trips in fp32/f16/bf16 and sharded, the state-spaces
// variant, error cases, and the SHA-256 known answers (FIPS 180-4 / NIST CSRC examples).
#include "qmsim/model/checkpoint.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qmsim/model/safetensors.h"
#include "qmsim/model/sha256.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = std::string(QMSIM_SHARED_DATA) + "/reference/mamba-fixture";

struct RawTensor {
  Dtype dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
using RawTensors = std::map<std::string, RawTensor>;

RawTensors read_tensors(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  RawTensors out;
  for (const std::string& name : file.names()) {
    out[name] = {file.info(name).dtype, file.info(name).shape, file.fetch_raw(name)};
  }
  return out;
}

void write_tensors(const std::string& path, const RawTensors& tensors) {
  std::vector<TensorToWrite> list;
  for (const auto& kv : tensors) {
    list.push_back({kv.first, kv.second.dtype, kv.second.shape, kv.second.bytes.data(), kv.second.bytes.size()});
  }
  write_safetensors(path, list, {{"format", "pt"}});
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path) << j.dump(2); }

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint32_t bits(float f) { return num::f32_bits(f); }

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qmsim_ckpt_" + std::to_string(getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string sub(const std::string& name) const { return (dir_ / name).string(); }

  /// A copy of the fixture directory in `name`, with the tensors and config edited by callbacks.
  template <typename EditTensors, typename EditConfig>
  std::string variant(const std::string& name, EditTensors edit_tensors, EditConfig edit_config) {
    const std::string d = sub(name);
    fs::create_directories(d);
    RawTensors tensors = read_tensors(kFixture + "/model.safetensors");
    edit_tensors(tensors);
    write_tensors(d + "/model.safetensors", tensors);
    nlohmann::json config = read_json(kFixture + "/config.json");
    edit_config(config);
    write_json(d + "/config.json", config);
    return d;
  }
  fs::path dir_;
};

/// Expects load_fp_checkpoint(dir) to throw ModelFileError whose message holds every needle.
void expect_load_error(const std::string& dir, const std::vector<std::string>& needles) {
  try {
    load_fp_checkpoint(dir);
    ADD_FAILURE() << "no error for " << dir;
  } catch (const ModelFileError& e) {
    const std::string msg = e.what();
    for (const std::string& needle : needles) EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

void expect_same_model(const FpModel& a, const FpModel& b) {
  EXPECT_EQ(a.cfg.d_model, b.cfg.d_model);
  EXPECT_EQ(a.cfg.n_layer, b.cfg.n_layer);
  EXPECT_EQ(a.cfg.vocab_size, b.cfg.vocab_size);
  EXPECT_EQ(a.cfg.d_state, b.cfg.d_state);
  EXPECT_EQ(a.cfg.d_conv, b.cfg.d_conv);
  EXPECT_EQ(a.cfg.expand, b.cfg.expand);
  EXPECT_EQ(a.cfg.dt_rank, b.cfg.dt_rank);
  EXPECT_EQ(a.cfg.norm_eps, b.cfg.norm_eps);
  EXPECT_EQ(a.cfg.conv_bias, b.cfg.conv_bias);
  EXPECT_EQ(a.embedding, b.embedding);
  EXPECT_EQ(a.norm_f, b.norm_f);
  EXPECT_EQ(a.lm_head, b.lm_head);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const FpLayer& x = a.layers[i];
    const FpLayer& y = b.layers[i];
    EXPECT_EQ(x.norm_w, y.norm_w);
    EXPECT_EQ(x.in_proj, y.in_proj);
    EXPECT_EQ(x.conv_w, y.conv_w);
    EXPECT_EQ(x.conv_b, y.conv_b);
    EXPECT_EQ(x.x_proj, y.x_proj);
    EXPECT_EQ(x.dt_proj_w, y.dt_proj_w);
    EXPECT_EQ(x.dt_proj_b, y.dt_proj_b);
    EXPECT_EQ(x.A_log, y.A_log);
    EXPECT_EQ(x.D, y.D);
    EXPECT_EQ(x.out_proj, y.out_proj);
  }
}

/// Applies `round` to every tensor of `m` (what a save in a narrower dtype must produce).
FpModel rounded(FpModel m, float (*round)(float)) {
  auto r = [&](std::vector<float>& v) {
    for (float& x : v) x = round(x);
  };
  r(m.embedding);
  r(m.norm_f);
  r(m.lm_head);
  for (FpLayer& l : m.layers) {
    for (auto* v : {&l.norm_w, &l.in_proj, &l.conv_w, &l.conv_b, &l.x_proj, &l.dt_proj_w, &l.dt_proj_b, &l.A_log, &l.D, &l.out_proj}) r(*v);
  }
  return m;
}

float round_bf16(float f) { return num::bf16_to_f32(num::f32_to_bf16_rne(f)); }

TEST(Sha256, FipsKnownAnswers) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, MillionAInUnevenChunks) {
  const std::string a(1000000, 'a');
  Sha256 hasher;
  size_t pos = 0, chunk = 1;
  while (pos < a.size()) {
    const size_t n = std::min(chunk, a.size() - pos);
    hasher.update(a.data() + pos, n);
    pos += n;
    chunk = chunk * 7 % 191 + 1;
  }
  EXPECT_EQ(hasher.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_F(CheckpointTest, LoadsTheHfFixture) {
  const FpModel m = load_fp_checkpoint(kFixture);
  EXPECT_EQ(m.cfg.d_model, 32);
  EXPECT_EQ(m.cfg.n_layer, 2);
  EXPECT_EQ(m.cfg.vocab_size, 50280);
  EXPECT_EQ(m.cfg.d_state, 16);
  EXPECT_EQ(m.cfg.d_conv, 4);
  EXPECT_EQ(m.cfg.expand, 2);
  EXPECT_EQ(m.cfg.dt_rank, 2);
  EXPECT_EQ(m.cfg.norm_eps, 1e-5f);
  EXPECT_TRUE(m.cfg.tie_embeddings);
  EXPECT_TRUE(m.cfg.conv_bias);
  EXPECT_FALSE(m.cfg.linear_bias);
  EXPECT_EQ(m.storage_dtype, "float32");
  EXPECT_EQ(m.source_path, kFixture);
  EXPECT_FALSE(m.hadamard_rotated);
  EXPECT_TRUE(m.lm_head.empty());
  EXPECT_EQ(&m.lm_head_weight(), &m.embedding);
  EXPECT_EQ(m.embedding.size(), 50280u * 32);
  ASSERT_EQ(m.layers.size(), 2u);
  for (const FpLayer& l : m.layers) {
    EXPECT_EQ(l.norm_w.size(), 32u);
    EXPECT_EQ(l.in_proj.size(), 128u * 32);
    EXPECT_EQ(l.conv_w.size(), 64u * 4);
    EXPECT_EQ(l.conv_b.size(), 64u);
    EXPECT_EQ(l.x_proj.size(), 34u * 64);
    EXPECT_EQ(l.dt_proj_w.size(), 64u * 2);
    EXPECT_EQ(l.dt_proj_b.size(), 64u);
    EXPECT_EQ(l.A_log.size(), 64u * 16);
    EXPECT_EQ(l.D.size(), 64u);
    EXPECT_EQ(l.out_proj.size(), 32u * 64);
  }
  EXPECT_EQ(m.norm_f.size(), 32u);
  // Bit patterns read with python3 (json + struct.unpack('<f')) from model.safetensors.
  EXPECT_EQ(bits(m.embedding[0 * 32 + 0]), 0xbeaced35u);       // -0.3377472460269928
  EXPECT_EQ(bits(m.embedding[50279 * 32 + 31]), 0x3f7cb1d5u);  // 0.9870885014533997
  EXPECT_EQ(bits(m.embedding[12345 * 32 + 7]), 0x3ef60a48u);   // 0.4805471897125244
  EXPECT_EQ(bits(m.layers[1].A_log[63 * 16 + 15]), 0x402ccaedu);     // 2.699885606765747
  EXPECT_EQ(bits(m.layers[0].conv_w[5 * 4 + 2]), 0xbeb01bccu);       // -0.34396207332611084
  EXPECT_EQ(bits(m.layers[0].x_proj[33 * 64 + 63]), 0x3da57755u);    // 0.08079401403665543
  EXPECT_EQ(bits(m.layers[1].dt_proj_b[10]), 0xc0363498u);           // -2.8469600677490234
  EXPECT_EQ(bits(m.norm_f[7]), 0x3f89edb5u);                         // 1.0775667428970337
  EXPECT_EQ(bits(m.layers[0].in_proj[127 * 32 + 31]), 0x3e5c0939u);  // 0.21487893164157867
  EXPECT_EQ(bits(m.layers[1].D[0]), 0x3fa425fbu);                    // 1.2824090719223022
  EXPECT_EQ(bits(m.layers[0].out_proj[31 * 64 + 0]), 0x3d8b3c94u);   // 0.0679866373538971
  EXPECT_EQ(bits(m.layers[0].dt_proj_w[63 * 2 + 1]), 0x3e2f8aebu);   // 0.1714283674955368
  // python3: hashlib.sha256(config.json bytes + model.safetensors bytes).hexdigest()
  EXPECT_EQ(m.source_hash, "0d7d2ce2abbfa86b5806d12fc70593ed439758877e677673dc99adcfa26f1c46");
}

TEST_F(CheckpointTest, Float32RoundTripIsExact) {
  const FpModel original = load_fp_checkpoint(kFixture);
  save_fp_checkpoint(original, sub("f32"), "float32");
  const FpModel again = load_fp_checkpoint(sub("f32"));
  expect_same_model(original, again);
  EXPECT_EQ(again.storage_dtype, "float32");
  EXPECT_TRUE(again.cfg.tie_embeddings);
  // The tensor bytes are the fixture's bytes.
  const RawTensors a = read_tensors(kFixture + "/model.safetensors");
  const RawTensors b = read_tensors(sub("f32") + "/model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) EXPECT_EQ(kv.second.bytes, b.at(kv.first).bytes) << kv.first;
  // Saving twice gives identical files.
  save_fp_checkpoint(again, sub("f32b"), "float32");
  EXPECT_EQ(read_all(sub("f32") + "/model.safetensors"), read_all(sub("f32b") + "/model.safetensors"));
  EXPECT_EQ(read_all(sub("f32") + "/config.json"), read_all(sub("f32b") + "/config.json"));
  EXPECT_EQ(read_json(sub("f32") + "/config.json")["layer_norm_epsilon"].get<double>(), 1e-5);
}

TEST_F(CheckpointTest, Float16RoundTripRoundsToNearestEven) {
  const FpModel original = load_fp_checkpoint(kFixture);
  save_fp_checkpoint(original, sub("f16"), "float16");
  const FpModel again = load_fp_checkpoint(sub("f16"));
  EXPECT_EQ(again.storage_dtype, "float16");
  expect_same_model(rounded(original, num::round_to_f16), again);
  // f16 bits from python3 struct.pack('<e', value) (RNE) of the fixture values.
  const SafetensorsFile file = SafetensorsFile::open(sub("f16") + "/model.safetensors");
  EXPECT_EQ(file.info("backbone.embeddings.weight").dtype, Dtype::F16);
  const std::vector<uint16_t> emb = file.fetch_f16_bits("backbone.embeddings.weight");
  EXPECT_EQ(emb[0], 0xb567u);
  EXPECT_EQ(emb[50279 * 32 + 31], 0x3be6u);
  EXPECT_EQ(file.fetch_f16_bits("backbone.layers.1.mixer.A_log")[63 * 16 + 15], 0x4166u);
  EXPECT_EQ(file.fetch_f16_bits("backbone.layers.1.mixer.dt_proj.bias")[10], 0xc1b2u);
}

TEST_F(CheckpointTest, Bfloat16RoundTripRoundsToNearestEven) {
  const FpModel original = load_fp_checkpoint(kFixture);
  save_fp_checkpoint(original, sub("bf16"), "bfloat16");
  const FpModel again = load_fp_checkpoint(sub("bf16"));
  EXPECT_EQ(again.storage_dtype, "bfloat16");
  expect_same_model(rounded(original, round_bf16), again);
  // bf16 bits computed in python3 as (u + 0x7fff + ((u >> 16) & 1)) >> 16 on the f32 bits.
  const SafetensorsFile file = SafetensorsFile::open(sub("bf16") + "/model.safetensors");
  const std::vector<uint8_t> raw = file.fetch_raw("backbone.embeddings.weight");
  uint16_t first, last;
  std::memcpy(&first, raw.data(), 2);
  std::memcpy(&last, raw.data() + 2 * (50279 * 32 + 31), 2);
  EXPECT_EQ(first, 0xbeadu);
  EXPECT_EQ(last, 0x3f7du);
}

TEST_F(CheckpointTest, ShardedRoundTrip) {
  const FpModel original = load_fp_checkpoint(kFixture);
  save_fp_checkpoint(original, sub("sharded"), "float32", 20000);
  EXPECT_FALSE(fs::exists(sub("sharded") + "/model.safetensors"));
  ASSERT_TRUE(fs::exists(sub("sharded") + "/model.safetensors.index.json"));
  const nlohmann::json index = read_json(sub("sharded") + "/model.safetensors.index.json");
  EXPECT_EQ(index["weight_map"].size(), 22u);
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), 6515584u);
  // Embedding (6435840 bytes > limit) sits alone in the first shard; the rest pack into <= 20000.
  EXPECT_EQ(index["weight_map"]["backbone.embeddings.weight"], "model-00001-of-00007.safetensors");
  for (int i = 1; i <= 7; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-00007.safetensors", i);
    EXPECT_TRUE(fs::exists(sub("sharded") + "/" + name)) << name;
  }
  for (int i = 2; i <= 7; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "/model-%05d-of-00007.safetensors", i);
    const SafetensorsFile shard = SafetensorsFile::open(sub("sharded") + name);
    uint64_t data_bytes = 0;
    for (const std::string& t : shard.names()) data_bytes += shard.info(t).nbytes();
    EXPECT_LE(data_bytes, 20000u) << name;
  }
  const FpModel again = load_fp_checkpoint(sub("sharded"));
  expect_same_model(original, again);
  EXPECT_NE(again.source_hash, original.source_hash);
  // Re-saving unsharded into the same directory removes the index, so the new file is used.
  save_fp_checkpoint(original, sub("sharded"), "float16");
  EXPECT_FALSE(fs::exists(sub("sharded") + "/model.safetensors.index.json"));
  EXPECT_EQ(load_fp_checkpoint(sub("sharded")).storage_dtype, "float16");
}

TEST_F(CheckpointTest, ShardedIndexPointingAtWrongShard) {
  const FpModel original = load_fp_checkpoint(kFixture);
  save_fp_checkpoint(original, sub("bad"), "float32", 20000);
  nlohmann::json index = read_json(sub("bad") + "/model.safetensors.index.json");
  index["weight_map"]["backbone.norm_f.weight"] = "model-00001-of-00007.safetensors";
  write_json(sub("bad") + "/model.safetensors.index.json", index);
  expect_load_error(sub("bad"), {"model-00001-of-00007.safetensors", "backbone.norm_f.weight", "not in this shard"});
  index["weight_map"]["backbone.norm_f.weight"] = "../evil.safetensors";
  write_json(sub("bad") + "/model.safetensors.index.json", index);
  expect_load_error(sub("bad"), {"model.safetensors.index.json", "backbone.norm_f.weight", "invalid shard"});
}

TEST_F(CheckpointTest, StateSpacesNamingAndVocabPadding) {
  const std::string d = variant(
      "ss",
      [](RawTensors& t) {
        t["backbone.embedding.weight"] = t["backbone.embeddings.weight"];
        t.erase("backbone.embeddings.weight");
      },
      [](nlohmann::json& c) {
        c = {{"d_model", 32}, {"n_layer", 2}, {"vocab_size", 50277}, {"pad_vocab_size_multiple", 8},
             {"ssm_cfg", {{"dt_rank", 2}}}, {"rms_norm", true}, {"residual_in_fp32", true},
             {"fused_add_norm", true}, {"tie_embeddings", true}, {"d_intermediate", 0}};
      });
  const FpModel ss = load_fp_checkpoint(d);
  EXPECT_EQ(ss.cfg.vocab_size, 50280);  // 50277 padded to a multiple of 8
  expect_same_model(load_fp_checkpoint(kFixture), ss);

  // dt_rank "auto" = ceil(32 / 16) = 2 as well.
  nlohmann::json c = read_json(d + "/config.json");
  c["ssm_cfg"]["dt_rank"] = "auto";
  write_json(d + "/config.json", c);
  EXPECT_EQ(load_fp_checkpoint(d).cfg.dt_rank, 2);
  c["ssm_cfg"]["layer"] = "Mamba2";
  write_json(d + "/config.json", c);
  expect_load_error(d, {"config.json", "ssm_cfg.layer", "Mamba2"});
  c["ssm_cfg"].erase("layer");
  c["rms_norm"] = false;
  write_json(d + "/config.json", c);
  expect_load_error(d, {"config.json", "rms_norm"});
}

TEST_F(CheckpointTest, HfVocabIsNotPadded) {
  const std::string d = variant("vocab", [](RawTensors&) {}, [](nlohmann::json& c) { c["vocab_size"] = 50277; });
  expect_load_error(d, {d + "/model.safetensors", "backbone.embeddings.weight", "expected [50277, 32], got [50280, 32]"});
}

TEST_F(CheckpointTest, MissingTensor) {
  const std::string d = variant("missing", [](RawTensors& t) { t.erase("backbone.layers.1.mixer.D"); }, [](nlohmann::json&) {});
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.1.mixer.D", "missing"});
}

TEST_F(CheckpointTest, MismatchedShape) {
  const std::string d = variant(
      "shape", [](RawTensors& t) { t["backbone.layers.0.mixer.dt_proj.weight"].shape = {2, 64}; }, [](nlohmann::json&) {});
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.0.mixer.dt_proj.weight", "expected [64, 2], got [2, 64]"});
}

TEST_F(CheckpointTest, ConvWeightWithoutChannelAxis) {
  const std::string d = variant(
      "conv", [](RawTensors& t) { t["backbone.layers.1.mixer.conv1d.weight"].shape = {64, 4}; }, [](nlohmann::json&) {});
  expect_load_error(d, {"backbone.layers.1.mixer.conv1d.weight", "expected [64, 1, 4], got [64, 4]"});
}

TEST_F(CheckpointTest, WrongDtype) {
  const std::string d = variant(
      "dtype", [](RawTensors& t) { t["backbone.layers.0.mixer.A_log"].dtype = Dtype::I32; }, [](nlohmann::json&) {});
  expect_load_error(d, {d + "/model.safetensors", "backbone.layers.0.mixer.A_log", "I32"});
  const std::string d64 = variant(
      "f64",
      [](RawTensors& t) {
        RawTensor& norm = t["backbone.norm_f.weight"];
        norm.dtype = Dtype::F64;
        norm.bytes.resize(norm.bytes.size() * 2);
      },
      [](nlohmann::json&) {});
  expect_load_error(d64, {"backbone.norm_f.weight", "F64"});
}

TEST_F(CheckpointTest, TruncatedWeights) {
  const std::string d = sub("trunc");
  fs::create_directories(d);
  fs::copy_file(kFixture + "/config.json", d + "/config.json");
  fs::copy_file(kFixture + "/model.safetensors", d + "/model.safetensors");
  fs::permissions(d + "/model.safetensors", fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(d + "/model.safetensors", fs::file_size(d + "/model.safetensors") - 100);
  // norm_f is the last tensor of the data section ([6515456, 6515584]).
  expect_load_error(d, {d + "/model.safetensors", "backbone.norm_f.weight", "out of range"});
}

TEST_F(CheckpointTest, MissingFiles) {
  fs::create_directories(sub("empty"));
  expect_load_error(sub("empty"), {sub("empty") + "/config.json", "cannot open"});
  fs::copy_file(kFixture + "/config.json", sub("empty") + "/config.json");
  expect_load_error(sub("empty"), {sub("empty") + "/model.safetensors", "no weights"});
}

TEST_F(CheckpointTest, RejectsUseBias) {
  const std::string d = variant("bias", [](RawTensors&) {}, [](nlohmann::json& c) { c["use_bias"] = true; });
  expect_load_error(d, {d + "/config.json", "use_bias"});
}

TEST_F(CheckpointTest, RejectsBadConfigValues) {
  std::string d = variant("cfg1", [](RawTensors&) {}, [](nlohmann::json& c) { c["hidden_size"] = -32; });
  expect_load_error(d, {d + "/config.json", "hidden_size", "out of range"});
  d = variant("cfg2", [](RawTensors&) {}, [](nlohmann::json& c) { c["intermediate_size"] = 96; });
  expect_load_error(d, {"intermediate_size", "96"});
  d = variant("cfg3", [](RawTensors&) {}, [](nlohmann::json& c) { c.erase("num_hidden_layers"); });
  expect_load_error(d, {"num_hidden_layers", "missing"});
  d = variant("cfg4", [](RawTensors&) {}, [](nlohmann::json& c) { c["time_step_rank"] = "big"; });
  expect_load_error(d, {"time_step_rank"});
  d = variant("cfg5", [](RawTensors&) {}, [](nlohmann::json& c) { c["model_type"] = "mamba2"; });
  expect_load_error(d, {"model_type"});
  d = sub("cfg6");
  fs::create_directories(d);
  std::ofstream(d + "/config.json") << "{ not json";
  expect_load_error(d, {d + "/config.json", "not valid JSON"});
}

TEST_F(CheckpointTest, UntiedLmHeadIsLoadedAndTiedOneOnlyChecked) {
  std::vector<uint8_t> head_bytes;
  const std::string d = variant(
      "untied",
      [&](RawTensors& t) {
        RawTensor head = t["backbone.embeddings.weight"];
        float first = 42.0f;
        std::memcpy(head.bytes.data(), &first, 4);
        t["lm_head.weight"] = head;
      },
      [](nlohmann::json& c) { c["tie_word_embeddings"] = false; });
  const FpModel untied = load_fp_checkpoint(d);
  ASSERT_EQ(untied.lm_head.size(), 50280u * 32);
  EXPECT_EQ(untied.lm_head[0], 42.0f);
  EXPECT_EQ(&untied.lm_head_weight(), &untied.lm_head);
  // Round trip keeps the separate head.
  save_fp_checkpoint(untied, sub("untied_out"), "float32");
  const FpModel again = load_fp_checkpoint(sub("untied_out"));
  EXPECT_FALSE(again.cfg.tie_embeddings);
  EXPECT_EQ(again.lm_head, untied.lm_head);

  // Tied: a present lm_head.weight is ignored, but a wrong shape is an error.
  nlohmann::json c = read_json(d + "/config.json");
  c["tie_word_embeddings"] = true;
  write_json(d + "/config.json", c);
  EXPECT_TRUE(load_fp_checkpoint(d).lm_head.empty());
  const std::string bad = variant(
      "tied_bad", [](RawTensors& t) { t["lm_head.weight"] = {Dtype::F32, {2, 32}, std::vector<uint8_t>(256)}; },
      [](nlohmann::json&) {});
  expect_load_error(bad, {"lm_head.weight", "expected [50280, 32], got [2, 32]"});
  // Untied without lm_head.weight: missing tensor.
  const std::string missing = variant("untied_missing", [](RawTensors&) {}, [](nlohmann::json& c2) { c2["tie_word_embeddings"] = false; });
  expect_load_error(missing, {"lm_head.weight", "missing"});
}

TEST_F(CheckpointTest, ExtraTensorsAreReportedAndIgnored) {
  const std::string d = variant(
      "extra", [](RawTensors& t) { t["backbone.layers.0.mixer.unknown"] = {Dtype::F32, {1}, std::vector<uint8_t>(4)}; },
      [](nlohmann::json&) {});
  ::testing::internal::CaptureStderr();
  const FpModel m = load_fp_checkpoint(d);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("backbone.layers.0.mixer.unknown"), std::string::npos) << err;
  expect_same_model(load_fp_checkpoint(kFixture), m);
}

TEST_F(CheckpointTest, BothEmbeddingNamesIsAnError) {
  const std::string d = variant(
      "both", [](RawTensors& t) { t["backbone.embedding.weight"] = t["backbone.embeddings.weight"]; }, [](nlohmann::json&) {});
  expect_load_error(d, {"backbone.embeddings.weight", "backbone.embedding.weight"});
}

TEST_F(CheckpointTest, HadamardFlagAndNoConvBiasRoundTrip) {
  FpModel m = load_fp_checkpoint(kFixture);
  m.hadamard_rotated = true;
  save_fp_checkpoint(m, sub("had"), "float32");
  EXPECT_TRUE(load_fp_checkpoint(sub("had")).hadamard_rotated);
  m.cfg.conv_bias = false;
  for (FpLayer& l : m.layers) l.conv_b.assign(l.conv_b.size(), 0.0f);
  save_fp_checkpoint(m, sub("nobias"), "float32");
  EXPECT_FALSE(read_tensors(sub("nobias") + "/model.safetensors").count("backbone.layers.0.mixer.conv1d.bias"));
  expect_same_model(m, load_fp_checkpoint(sub("nobias")));
}

TEST_F(CheckpointTest, SaveRejectsInconsistentModels) {
  FpModel m = load_fp_checkpoint(kFixture);
  EXPECT_THROW(save_fp_checkpoint(m, sub("x"), "float8"), ModelFileError);
  m.layers[1].x_proj.pop_back();
  try {
    save_fp_checkpoint(m, sub("y"), "float32");
    ADD_FAILURE();
  } catch (const ModelFileError& e) {
    EXPECT_NE(std::string(e.what()).find("backbone.layers.1.mixer.x_proj.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(sub("y") + "/model.safetensors"));
}

TEST_F(CheckpointTest, QuantizedDirectoryIsNotAnFpCheckpoint) {
  const std::string d = variant("q", [](RawTensors&) {}, [](nlohmann::json& c) { c["qmsim_format"] = "quamba-w8a8-v1"; });
  expect_load_error(d, {"qmsim_format", "load_quant_model"});
}

}  // namespace
}  // namespace qmsim
