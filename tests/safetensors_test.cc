// safetensors reader/writer: round trips for every dtype, determinism, atomic writes and every
// malformed-header case (each must throw ModelFileError naming the file and the tensor/field).
#include "qmsim/model/safetensors.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qmsim/numerics.h"

namespace qmsim {
namespace {

namespace fs = std::filesystem;

/// A fresh directory per test under the system temp dir, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("qmsim_st_" + std::to_string(getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Writes 8-byte LE header length + header text + `data_bytes` zero bytes (header_len overridable).
void write_raw(const std::string& path, const std::string& header, size_t data_bytes, int64_t header_len = -1) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << header << std::string(data_bytes, '\0');
}

/// Expects open() to throw ModelFileError whose message names the file and every `needle`.
void expect_open_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    SafetensorsFile::open(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const ModelFileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const std::string& needle : needles) EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  }
}

TEST_F(SafetensorsTest, RoundTripEveryDtype) {
  const std::vector<float> f32 = {1.5f, -2.25f, 3.0e-8f, 65504.0f, -0.0f, 7.0f};
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x0001, 0x7BFF};     // 1, -2, min subnormal, 65504
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x0001};           // 1, -3, denormal
  const std::vector<int8_t> i8 = {-128, -1, 0, 127};
  const std::vector<int32_t> i32 = {-2147483647 - 1, 5};
  const std::vector<int64_t> i64 = {-3, 1ll << 40};
  const std::vector<uint8_t> u8 = {0, 255, 7};
  const std::vector<double> f64 = {0.1, -1e300};
  const float scalar = 0.125f;
  const std::vector<TensorToWrite> tensors = {
      {"f32", Dtype::F32, {2, 3}, f32.data(), 24},  {"f16", Dtype::F16, {4}, f16.data(), 8},
      {"bf16", Dtype::BF16, {3}, bf16.data(), 6},   {"i8", Dtype::I8, {2, 2}, i8.data(), 4},
      {"i32", Dtype::I32, {2}, i32.data(), 8},      {"i64", Dtype::I64, {2}, i64.data(), 16},
      {"u8", Dtype::U8, {3}, u8.data(), 3},         {"f64", Dtype::F64, {2, 1}, f64.data(), 16},
      {"scalar", Dtype::F32, {}, &scalar, 4},       {"empty", Dtype::F32, {0, 5}, nullptr, 0}};
  const std::string p = path("all.safetensors");
  write_safetensors(p, tensors, {{"format", "pt"}, {"note", "x"}});
  EXPECT_FALSE(fs::exists(p + ".tmp"));

  const SafetensorsFile file = SafetensorsFile::open(p);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"bf16", "empty", "f16", "f32", "f64", "i32", "i64", "i8", "scalar", "u8"}));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("note"), "x");
  for (const TensorToWrite& t : tensors) {
    const TensorInfo& info = file.info(t.name);
    EXPECT_EQ(info.dtype, t.dtype) << t.name;
    EXPECT_EQ(info.shape, t.shape) << t.name;
    const std::vector<uint8_t> raw = file.fetch_raw(t.name);
    ASSERT_EQ(raw.size(), t.nbytes) << t.name;
    if (t.nbytes) {
      EXPECT_EQ(std::memcmp(raw.data(), t.data, t.nbytes), 0) << t.name;
    }
  }
  EXPECT_EQ(file.fetch_f32("f32"), f32);
  const std::vector<float> widened16 = file.fetch_f32("f16");
  EXPECT_EQ(widened16, (std::vector<float>{1.0f, -2.0f, 5.9604644775390625e-8f, 65504.0f}));
  const std::vector<float> widened_bf = file.fetch_f32("bf16");
  EXPECT_EQ(widened_bf[0], 1.0f);
  EXPECT_EQ(widened_bf[1], -3.0f);
  EXPECT_EQ(num::f32_bits(widened_bf[2]), 0x00010000u);
  EXPECT_EQ(file.fetch_i8("i8"), i8);
  EXPECT_EQ(file.fetch_f16_bits("f16"), f16);
  EXPECT_EQ(file.fetch_f32("scalar"), std::vector<float>{0.125f});
  EXPECT_TRUE(file.fetch_f32("empty").empty());
  EXPECT_EQ(file.info("empty").numel(), 0u);
}

TEST_F(SafetensorsTest, HeaderLayoutIsStandardAndDeterministic) {
  const std::vector<float> a = {1, 2, 3};
  const std::vector<int8_t> b = {4, 5};
  const std::string p1 = path("one.safetensors"), p2 = path("two.safetensors");
  write_safetensors(p1, {{"zeta", Dtype::F32, {3}, a.data(), 12}, {"alpha", Dtype::I8, {2}, b.data(), 2}}, {{"k", "v"}});
  write_safetensors(p2, {{"alpha", Dtype::I8, {2}, b.data(), 2}, {"zeta", Dtype::F32, {3}, a.data(), 12}}, {{"k", "v"}});
  const std::string bytes = read_all(p1);
  EXPECT_EQ(bytes, read_all(p2));  // input order does not matter
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
  const std::string header = bytes.substr(8, header_len);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            R"({"__metadata__":{"k":"v"},"alpha":{"data_offsets":[0,2],"dtype":"I8","shape":[2]},)"
            R"("zeta":{"data_offsets":[2,14],"dtype":"F32","shape":[3]}})");
  EXPECT_EQ(bytes.size(), 8 + header_len + 14);
}

TEST_F(SafetensorsTest, FailedWriteKeepsTheOldFile) {
  const std::vector<float> a = {1, 2, 3};
  const std::string p = path("keep.safetensors");
  write_safetensors(p, {{"a", Dtype::F32, {3}, a.data(), 12}});
  const std::string before = read_all(p);
  EXPECT_THROW(write_safetensors(p, {{"a", Dtype::F32, {4}, a.data(), 12}}), ModelFileError);  // size mismatch
  EXPECT_THROW(write_safetensors(p, {{"a", Dtype::F32, {3}, a.data(), 12}, {"a", Dtype::F32, {3}, a.data(), 12}}),
               ModelFileError);
  EXPECT_EQ(read_all(p), before);
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  EXPECT_THROW(write_safetensors(path("no/such/dir/x.safetensors"), {{"a", Dtype::F32, {3}, a.data(), 12}}), ModelFileError);
}

TEST_F(SafetensorsTest, FetchChecksDtypeAndName) {
  const std::vector<float> a = {1, 2};
  const std::vector<int32_t> b = {1, 2};
  const std::string p = path("x.safetensors");
  write_safetensors(p, {{"weights", Dtype::F32, {2}, a.data(), 8}, {"ints", Dtype::I32, {2}, b.data(), 8}});
  const SafetensorsFile file = SafetensorsFile::open(p);
  for (auto fn : {+[](const SafetensorsFile& f) { f.fetch_i8("weights"); },
                  +[](const SafetensorsFile& f) { f.fetch_f16_bits("weights"); },
                  +[](const SafetensorsFile& f) { f.fetch_f32("ints"); },
                  +[](const SafetensorsFile& f) { f.info("absent"); },
                  +[](const SafetensorsFile& f) { f.check_shape("weights", {3}); }}) {
    try {
      fn(file);
      ADD_FAILURE() << "no error";
    } catch (const ModelFileError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      EXPECT_TRUE(e.field() == "weights" || e.field() == "ints" || e.field() == "absent") << e.field();
    }
  }
}

TEST_F(SafetensorsTest, MissingFile) { expect_open_error(path("absent.safetensors"), {"cannot open"}); }

TEST_F(SafetensorsTest, FileShorterThanEightBytes) {
  const std::string p = path("short.safetensors");
  std::ofstream(p, std::ios::binary) << "abcde";
  expect_open_error(p, {"header length", "shorter"});
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFile) {
  const std::string p = path("hl.safetensors");
  write_raw(p, "{}", 0, 1000);
  expect_open_error(p, {"header length", "1000"});
}

TEST_F(SafetensorsTest, HeaderLengthAbsurd) {
  const std::string p = path("huge.safetensors");
  write_raw(p, "{}", 0, 200ll * 1000 * 1000);
  expect_open_error(p, {"header length", "exceeds"});
}

TEST_F(SafetensorsTest, HeaderNotJson) {
  const std::string p = path("nj.safetensors");
  write_raw(p, "{\"a\": {\"dtype\": ", 0);
  expect_open_error(p, {"header", "not valid JSON"});
}

TEST_F(SafetensorsTest, HeaderNotObject) {
  const std::string p = path("arr.safetensors");
  write_raw(p, "[1, 2]", 0);
  expect_open_error(p, {"header", "not an object"});
}

TEST_F(SafetensorsTest, TensorEntryNotObject) {
  const std::string p = path("entry.safetensors");
  write_raw(p, R"({"w": 5})", 0);
  expect_open_error(p, {"w", "not an object"});
}

TEST_F(SafetensorsTest, MissingDtype) {
  const std::string p = path("nodtype.safetensors");
  write_raw(p, R"({"layer.w": {"shape": [2], "data_offsets": [0, 8]}})", 8);
  expect_open_error(p, {"layer.w", "dtype"});
}

TEST_F(SafetensorsTest, MissingShape) {
  const std::string p = path("noshape.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8);
  expect_open_error(p, {"layer.w", "shape"});
}

TEST_F(SafetensorsTest, MissingDataOffsets) {
  const std::string p = path("nooff.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [2]}})", 8);
  expect_open_error(p, {"layer.w", "data_offsets"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string p = path("q4.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})", 8);
  expect_open_error(p, {"layer.w", "unknown dtype", "Q4"});
}

TEST_F(SafetensorsTest, OffsetsOutOfRange) {
  const std::string p = path("oor.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  expect_open_error(p, {"layer.w", "out of range"});
}

TEST_F(SafetensorsTest, EndBeforeBegin) {
  const std::string p = path("neg.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8);
  expect_open_error(p, {"layer.w", "end < begin"});
}

TEST_F(SafetensorsTest, NegativeOffset) {
  const std::string p = path("negoff.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 8);
  expect_open_error(p, {"layer.w", "data_offsets"});
}

TEST_F(SafetensorsTest, ByteSizeMismatch) {
  const std::string p = path("size.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 16);
  expect_open_error(p, {"layer.w", "needs 12"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  const std::string p = path("overlap.safetensors");
  write_raw(p,
            R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
            R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
            12);
  expect_open_error(p, {": b: ", "overlaps tensor 'a'"});
}

TEST_F(SafetensorsTest, NegativeDimension) {
  const std::string p = path("negdim.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [-2, -4], "data_offsets": [0, 32]}})", 32);
  expect_open_error(p, {"layer.w", "negative"});
}

TEST_F(SafetensorsTest, NumelOverflow) {
  const std::string p = path("overflow.safetensors");
  write_raw(p, R"({"layer.w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})", 0);
  expect_open_error(p, {"layer.w", "overflows"});
  const std::string p2 = path("overflow_bytes.safetensors");
  write_raw(p2, R"({"layer.w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0);
  expect_open_error(p2, {"layer.w", "overflows"});
}

TEST_F(SafetensorsTest, NonStringMetadata) {
  const std::string p = path("meta.safetensors");
  write_raw(p, R"({"__metadata__": {"format": 3}})", 0);
  expect_open_error(p, {"__metadata__.format", "not a string"});
}

TEST_F(SafetensorsTest, DuplicateTensorName) {
  const std::string p = path("dup.safetensors");
  write_raw(p,
            R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
            R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
            8);
  expect_open_error(p, {"w", "twice"});
}

TEST_F(SafetensorsTest, TruncatedFile) {
  const std::vector<float> a(16, 1.0f), b(16, 2.0f);
  const std::string p = path("trunc.safetensors");
  write_safetensors(p, {{"first", Dtype::F32, {16}, a.data(), 64}, {"second", Dtype::F32, {16}, b.data(), 64}});
  fs::resize_file(p, fs::file_size(p) - 10);
  expect_open_error(p, {"second", "out of range"});
}

TEST_F(SafetensorsTest, OpensTheFixtureLikePython) {
  // Header facts read with python3 json+struct: 22 tensors, __metadata__ {"format": "pt"},
  // backbone.layers.0.mixer.conv1d.weight F32 [64, 1, 4] at [6440448, 6441472].
  const std::string p = std::string(QMSIM_SHARED_DATA) + "/reference/mamba-fixture/model.safetensors";
  const SafetensorsFile file = SafetensorsFile::open(p);
  EXPECT_EQ(file.names().size(), 22u);
  EXPECT_EQ(file.metadata().size(), 1u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const TensorInfo& conv = file.info("backbone.layers.0.mixer.conv1d.weight");
  EXPECT_EQ(conv.dtype, Dtype::F32);
  EXPECT_EQ(conv.shape, (std::vector<int64_t>{64, 1, 4}));
  EXPECT_EQ(conv.begin, 6440448u);
  EXPECT_EQ(conv.end, 6441472u);
  EXPECT_EQ(file.file_size(), 6517832u);
}

}  // namespace
}  // namespace qmsim
