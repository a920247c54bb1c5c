// The data files shipped in data/ are the bundle's bytes (checksums from data/README.md, which
// copies them from ../shared/data/README.md).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "qmsim/model/sha256.h"

namespace qmsim {
namespace {

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(bytes);
}

TEST(DataManifest, ShippedFilesMatchTheBundleChecksums) {
  const std::string d = std::string(QMSIM_SOURCE_DIR) + "/data/";
  EXPECT_EQ(file_sha256(d + "lambada_test.jsonl"), "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226");
  EXPECT_EQ(file_sha256(d + "gpt-neox-20b-tokenizer.json"), "56ac4821e129d2c520fdaba60abd920fa852ada51b45c0dd52bbb6bd8c985ade");
  EXPECT_EQ(file_sha256(d + "corpus-valid.txt.xz"), "23cb276cc0660d78854f8df55e2ccc9de2823dd7fccc435eb40e353a7b40ef3c");
}

}  // namespace
}  // namespace qmsim
