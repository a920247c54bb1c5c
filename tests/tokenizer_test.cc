// GPT-NeoX-20B tokenizer against Hugging Face `tokenizers` output (an implementation this
// project did not write): LAMBADA and book-corpus references from the shared data bundle,
// plus edge cases made by tools/make_tokenizer_ref.py.
#include "qmsim/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace qmsim {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kTokenizerJson = QMSIM_SHARED_DATA "/gpt-neox-20b-tokenizer.json";
const std::string kLambadaTexts = QMSIM_SHARED_DATA "/lambada_test.jsonl";
constexpr size_t kLambadaDocumentCount = 5153;
// "The first 10,000 non-empty lines" of corpus-valid.txt: it has only 5612, all of them here.
constexpr size_t kCorpusLineCount = 5612;

// The shipped copy in tests/data/tokenizer, else the one in the shared data bundle.
std::string reference_file(const std::string& name) {
  const std::string shipped = QMSIM_TEST_DATA "/tokenizer/" + name;
  if (fs::exists(shipped)) return shipped;
  return QMSIM_SHARED_DATA "/reference/" + name;
}

std::vector<std::string> split_lines(const std::string& contents) {
  std::vector<std::string> lines;
  std::istringstream stream(contents);
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// xz-utils is always installed; the project does not link liblzma.
std::vector<std::string> read_xz_lines(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error("missing " + path);
  FILE* pipe = popen(("xz -dc '" + path + "'").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run xz on " + path);
  std::string contents;
  char buffer[1 << 16];
  for (size_t count; (count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) {
    contents.append(buffer, count);
  }
  if (pclose(pipe) != 0) throw std::runtime_error("xz -dc failed on " + path);
  return split_lines(contents);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return split_lines(contents.str());
}

const Tokenizer& neox() {
  static const Tokenizer tokenizer = Tokenizer::from_file(kTokenizerJson);
  return tokenizer;
}

const std::vector<std::string>& lambada_texts() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> result;
    for (const std::string& line : read_lines(kLambadaTexts)) {
      result.push_back(json::parse(line).at("text").get<std::string>());
    }
    return result;
  }();
  return texts;
}

std::string show(const std::vector<int32_t>& ids) { return json(ids).dump(); }

TEST(Tokenizer, KnownAnswerHelloWorld) {
  EXPECT_EQ(neox().encode("Hello world"), (std::vector<int32_t>{12092, 1533}));
  EXPECT_EQ(neox().decode({12092, 1533}), "Hello world");
}

TEST(Tokenizer, VocabularySizeAndTokenLookup) {
  EXPECT_EQ(neox().vocab_size(), 50277);  // 50254 BPE tokens + 23 added whitespace runs
  EXPECT_EQ(neox().token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(neox().token_to_id("<|padding|>"), 1);
  EXPECT_EQ(neox().token_to_id("\xC4\xA0the"), 253);  // "Ġthe"
  EXPECT_EQ(neox().token_to_id("  "), 50276);
  EXPECT_EQ(neox().token_to_id("not a token"), std::nullopt);
}

TEST(Tokenizer, EmptyTextGivesNoIds) {
  EXPECT_TRUE(neox().encode("").empty());
  EXPECT_EQ(neox().decode({}), "");
}

TEST(Tokenizer, LambadaMatchesHuggingFace) {
  const std::vector<std::string>& texts = lambada_texts();
  const std::vector<std::string> references =
      read_xz_lines(reference_file("tokenizer-ref-lambada.jsonl.xz"));
  ASSERT_EQ(texts.size(), kLambadaDocumentCount);
  ASSERT_EQ(references.size(), kLambadaDocumentCount);
  size_t mismatches = 0;
  for (size_t index = 0; index < texts.size(); ++index) {
    const json reference = json::parse(references[index]);
    ASSERT_EQ(reference.at("index").get<size_t>(), index);
    // lm-eval's split: text.rsplit(" ", 1) gives context and the target word.
    const std::string& text = texts[index];
    const size_t last_space = text.rfind(' ');
    ASSERT_NE(last_space, std::string::npos) << "document " << index;
    const std::string context = text.substr(0, last_space);
    const std::string last_word = text.substr(last_space + 1);

    const std::vector<int32_t> ids = neox().encode(text);
    const std::vector<int32_t> context_ids = neox().encode(context);
    const std::vector<int32_t> whole = neox().encode(context + " " + last_word);
    const std::vector<int32_t> continuation_ids(
        whole.begin() + static_cast<std::ptrdiff_t>(std::min(context_ids.size(), whole.size())),
        whole.end());
    const auto expected_ids = reference.at("ids").get<std::vector<int32_t>>();
    const auto expected_context = reference.at("context_ids").get<std::vector<int32_t>>();
    const auto expected_continuation = reference.at("continuation_ids").get<std::vector<int32_t>>();
    if (ids != expected_ids || context_ids != expected_context ||
        continuation_ids != expected_continuation) {
      if (++mismatches <= 5) {
        ADD_FAILURE() << "document " << index << "\n ids " << show(ids) << "\n HF  "
                      << show(expected_ids) << "\n context " << show(context_ids) << "\n HF      "
                      << show(expected_context) << "\n continuation " << show(continuation_ids)
                      << "\n HF           " << show(expected_continuation);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size() << " documents";
}

TEST(Tokenizer, CorpusLinesMatchHuggingFace) {
  const std::vector<std::string> references =
      read_xz_lines(reference_file("tokenizer-ref-corpus.jsonl.xz"));
  ASSERT_EQ(references.size(), kCorpusLineCount);
  size_t mismatches = 0;
  for (size_t index = 0; index < references.size(); ++index) {
    const json reference = json::parse(references[index]);
    const std::string text = reference.at("text").get<std::string>();
    const std::vector<int32_t> ids = neox().encode(text);
    const auto expected = reference.at("ids").get<std::vector<int32_t>>();
    if (ids != expected && ++mismatches <= 5) {
      ADD_FAILURE() << "line " << index << " " << json(text).dump() << "\n ids " << show(ids)
                    << "\n HF  " << show(expected);
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << references.size() << " lines";
}

// Unicode whitespace, space runs, contractions, NFC, special tokens, random mixes, and decode()
// of random id sequences (tools/make_tokenizer_ref.py, tokenizers 0.22.1).
TEST(Tokenizer, EdgeCasesMatchHuggingFace) {
  const std::vector<std::string> references =
      read_xz_lines(reference_file("tokenizer-ref-edge-cases.jsonl.xz"));
  size_t encode_cases = 0;
  size_t decode_cases = 0;
  size_t mismatches = 0;
  for (const std::string& line : references) {
    const json reference = json::parse(line);
    const std::string kind = reference.at("kind").get<std::string>();
    const std::string text = reference.contains("text") ? reference["text"].get<std::string>() : "";
    if (kind == "encode") {
      ++encode_cases;
      const std::vector<int32_t> ids = neox().encode(text);
      const auto expected = reference.at("ids").get<std::vector<int32_t>>();
      if (ids != expected && ++mismatches <= 10) {
        ADD_FAILURE() << "encode " << json(text).dump() << "\n ids " << show(ids) << "\n HF  "
                      << show(expected);
      }
    } else if (kind == "decode") {
      ++decode_cases;
      const auto ids = reference.at("ids").get<std::vector<int32_t>>();
      const std::string decoded = neox().decode(ids);
      if (decoded != text && ++mismatches <= 10) {
        ADD_FAILURE() << "decode " << show(ids) << "\n got " << json(decoded).dump() << "\n HF  "
                      << json(text).dump();
      }
    }
  }
  EXPECT_GT(encode_cases, 3000u);
  EXPECT_EQ(decode_cases, 1000u);
  EXPECT_EQ(mismatches, 0u);
}

// All 5153 texts are already NFC (checked with Python's unicodedata.is_normalized), so the
// round trip must give the text back byte for byte.
TEST(Tokenizer, DecodeOfEncodeGivesLambadaTextBack) {
  size_t mismatches = 0;
  for (size_t index = 0; index < lambada_texts().size(); ++index) {
    const std::string& text = lambada_texts()[index];
    if (neox().decode(neox().encode(text)) != text && ++mismatches <= 5) {
      ADD_FAILURE() << "document " << index;
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(Tokenizer, DecodeOfEncodeGivesNfc) {
  EXPECT_EQ(neox().decode(neox().encode("Cafe\xCC\x81")), "Caf\xC3\xA9");          // e + U+0301
  EXPECT_EQ(neox().decode(neox().encode("A\xCC\x8A")), "\xC3\x85");                // A + ring
  EXPECT_EQ(neox().decode(neox().encode("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8")),  // jamo
            "\xEA\xB0\x81");                                                       // U+AC01
  EXPECT_EQ(neox().encode("Cafe\xCC\x81"), neox().encode("Caf\xC3\xA9"));
}

// Expected strings are Python's bytes.decode("utf-8", "replace") of the same bytes.
TEST(Tokenizer, InvalidUtf8IsReplacedNotFatal) {
  const std::string replacement = "\xEF\xBF\xBD";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xFF", replacement},
      {"a\xC3", "a" + replacement},
      {"\xED\xA0\x80 x", replacement + replacement + replacement + " x"},  // surrogate
      {"\xF0\x9F\x98!", replacement + "!"},                                // truncated emoji
      {"\xC0\xAF", replacement + replacement},                             // overlong
      {"\xF4\x90\x80\x80", replacement + replacement + replacement + replacement},
      {std::string("a\0b", 3), std::string("a\0b", 3)},
  };
  for (const auto& [bytes, repaired] : cases) {
    EXPECT_EQ(neox().encode(bytes), neox().encode(repaired)) << json(repaired).dump();
  }
  EXPECT_EQ(neox().decode(neox().encode("\xFF")), replacement);
  // U+4E02 is tokens [3218, 213]: bytes E4 B8 | 82; each half alone is invalid UTF-8.
  EXPECT_EQ(neox().encode("\xE4\xB8\x82"), (std::vector<int32_t>{3218, 213}));
  EXPECT_EQ(neox().decode({3218}), replacement);
  EXPECT_EQ(neox().decode({213}), replacement);
  EXPECT_EQ(neox().decode({3218, 213}), "\xE4\xB8\x82");
}

TEST(Tokenizer, LongAndRandomInputsFinish) {
  EXPECT_FALSE(neox().encode(std::string(200000, 'a')).empty());
  // 200000 spaces are 8333 runs of 24 (added token 50254) and one of 8 (50270).
  const std::vector<int32_t> spaces = neox().encode(std::string(200000, ' '));
  ASSERT_EQ(spaces.size(), 8334u);
  EXPECT_EQ(spaces.front(), 50254);
  EXPECT_EQ(spaces.back(), 50270);
  std::mt19937 random_bytes(12345);
  std::string noise(1 << 20, '\0');
  for (char& byte : noise) byte = static_cast<char>(random_bytes() & 0xFF);
  const std::vector<int32_t> ids = neox().encode(noise);
  EXPECT_FALSE(ids.empty());
  EXPECT_FALSE(neox().decode(ids).empty());
}

TEST(Tokenizer, DecodeSkipsIdsWithoutToken) {
  EXPECT_EQ(neox().decode({12092, -1, 50277, 50279, 1533}), "Hello world");
}

TEST(Tokenizer, ConcurrentEncodeMatchesSerial) {
  const std::vector<std::string>& texts = lambada_texts();
  std::vector<std::vector<int32_t>> serial(texts.size());
  for (size_t index = 0; index < texts.size(); ++index) serial[index] = neox().encode(texts[index]);
  constexpr size_t kThreadCount = 4;
  std::vector<std::vector<std::vector<int32_t>>> parallel(kThreadCount);
  std::vector<std::thread> threads;
  for (size_t thread = 0; thread < kThreadCount; ++thread) {
    threads.emplace_back([&, thread] {
      // Every thread encodes every text, in a different order, to overlap the same words.
      parallel[thread].resize(texts.size());
      for (size_t step = 0; step < texts.size(); ++step) {
        const size_t index = (step + thread * texts.size() / kThreadCount) % texts.size();
        parallel[thread][index] = neox().encode(texts[index]);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t thread = 0; thread < kThreadCount; ++thread) {
    EXPECT_TRUE(parallel[thread] == serial) << "thread " << thread;
  }
}

TEST(Tokenizer, EncodesAllLambadaQuickly) {
  const std::vector<std::string>& texts = lambada_texts();
  neox();
  size_t token_count = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& text : texts) token_count += neox().encode(text).size();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ timing   ] encoded " << texts.size() << " LAMBADA documents (" << token_count
            << " tokens) in " << seconds << " s, one thread\n";
  RecordProperty("lambada_encode_seconds", std::to_string(seconds));
#ifdef NDEBUG
  EXPECT_LT(seconds, 3.0);
#endif
}

// ---------------------------------------------------------------------------------------------
// Malformed tokenizer files: the error names the file and the field.

class TokenizerLoadError : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = fs::temp_directory_path() /
                 ("qmsim_tokenizer_test_" + std::to_string(::getpid()) + "_" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  static const json& real_tokenizer_json() {
    static const json parsed = [] {
      std::ifstream file(kTokenizerJson, std::ios::binary);
      return json::parse(file);
    }();
    return parsed;
  }

  std::string write_file(const std::string& name, const std::string& contents) {
    const std::string path = (directory_ / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // Loading must throw std::runtime_error whose message contains every fragment.
  static void expect_load_error(const std::string& path,
                                const std::vector<std::string>& fragments) {
    try {
      Tokenizer::from_file(path);
      ADD_FAILURE() << "no error loading " << path;
    } catch (const std::runtime_error& error) {
      const std::string message = error.what();
      for (const std::string& fragment : fragments) {
        EXPECT_NE(message.find(fragment), std::string::npos)
            << "'" << fragment << "' not in: " << message;
      }
    }
  }

  fs::path directory_;
};

TEST_F(TokenizerLoadError, MissingFileNamesTheFile) {
  const std::string path = (directory_ / "no-such-tokenizer.json").string();
  expect_load_error(path, {path});
}

TEST_F(TokenizerLoadError, TruncatedJsonNamesTheFile) {
  const std::string text = real_tokenizer_json().dump();
  const std::string path = write_file("truncated.json", text.substr(0, text.size() / 2));
  expect_load_error(path, {path, "JSON"});
}

TEST_F(TokenizerLoadError, MissingMergesNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"].erase("merges");
  const std::string path = write_file("no-merges.json", broken.dump());
  expect_load_error(path, {path, "model.merges"});
}

TEST_F(TokenizerLoadError, MissingVocabNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"].erase("vocab");
  const std::string path = write_file("no-vocab.json", broken.dump());
  expect_load_error(path, {path, "model.vocab"});
}

TEST_F(TokenizerLoadError, MissingModelNamesTheField) {
  json broken = real_tokenizer_json();
  broken.erase("model");
  const std::string path = write_file("no-model.json", broken.dump());
  expect_load_error(path, {path, "'model'"});
}

TEST_F(TokenizerLoadError, MergeOfUnknownTokenNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"]["merges"][7] = "\xC4\xA0 no_such_token";
  const std::string path = write_file("unknown-merge.json", broken.dump());
  expect_load_error(path, {path, "model.merges[7]", "no_such_token"});
}

TEST_F(TokenizerLoadError, MergeWhoseResultIsUnknownNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"]["vocab"].erase("\xC4\xA0t");  // "Ġt", the result of merges[1]
  const std::string path = write_file("unknown-result.json", broken.dump());
  expect_load_error(path, {path, "model.merges[1]"});
}

TEST_F(TokenizerLoadError, MalformedMergeNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"]["merges"][3] = 42;
  const std::string path = write_file("bad-merge.json", broken.dump());
  expect_load_error(path, {path, "model.merges[3]"});
}

TEST_F(TokenizerLoadError, NonIntegerVocabIdNamesTheField) {
  json broken = real_tokenizer_json();
  broken["model"]["vocab"]["hello"] = "twelve";
  const std::string path = write_file("bad-id.json", broken.dump());
  expect_load_error(path, {path, "model.vocab[\"hello\"]"});
}

TEST_F(TokenizerLoadError, UnsupportedNormalizerNamesTheField) {
  json broken = real_tokenizer_json();
  broken["normalizer"]["type"] = "NFKC";
  const std::string path = write_file("nfkc.json", broken.dump());
  expect_load_error(path, {path, "normalizer.type"});
}

TEST_F(TokenizerLoadError, AddedTokenWithoutContentNamesTheField) {
  json broken = real_tokenizer_json();
  broken["added_tokens"][2].erase("content");
  const std::string path = write_file("no-content.json", broken.dump());
  expect_load_error(path, {path, "added_tokens[2].content"});
}

TEST_F(TokenizerLoadError, MergesInArrayFormLoad) {
  json variant = real_tokenizer_json();
  for (json& merge : variant["model"]["merges"]) {
    const std::string line = merge.get<std::string>();
    const size_t space = line.find(' ');
    merge = json::array({line.substr(0, space), line.substr(space + 1)});
  }
  const Tokenizer tokenizer = Tokenizer::from_file(write_file("array-merges.json", variant.dump()));
  EXPECT_EQ(tokenizer.encode(lambada_texts()[0]), neox().encode(lambada_texts()[0]));
}

}  // namespace
}  // namespace qmsim
