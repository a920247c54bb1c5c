// GPT-NeoX-20B byte-level BPE, step for step as Hugging Face `tokenizers` does it:
// AddedVocabulary::extract_and_normalize, then the ByteLevel pre-tokenizer, then BPE::merge_word.
#include "qmsim/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace qmsim {
namespace {

using json = nlohmann::json;

constexpr char32_t kReplacementCharacter = 0xFFFD;
// Ids index a decode table; a bound keeps a corrupt file from asking for gigabytes.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

// ---------------------------------------------------------------------------------------------
// UTF-8

struct Utf8Step {
  char32_t code_point;
  size_t length;  // bytes consumed; for an invalid sequence, its maximal subpart
  bool valid;
};

// Unicode §3.9 Table 3-7 (well-formed byte sequences): no overlongs, surrogates or > U+10FFFF.
Utf8Step decode_utf8_at(std::string_view text, size_t position) {
  const auto byte_at = [&](size_t index) { return static_cast<unsigned char>(text[index]); };
  const unsigned char lead = byte_at(position);
  if (lead < 0x80) return {lead, 1, true};
  size_t continuation_count = 0;
  char32_t code_point = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation_count = 1;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation_count = 2;
    code_point = lead & 0x0F;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation_count = 3;
    code_point = lead & 0x07;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return {kReplacementCharacter, 1, false};
  }
  for (size_t offset = 1; offset <= continuation_count; ++offset) {
    const unsigned char low = offset == 1 ? second_min : 0x80;
    const unsigned char high = offset == 1 ? second_max : 0xBF;
    if (position + offset >= text.size() || byte_at(position + offset) < low ||
        byte_at(position + offset) > high) {
      return {kReplacementCharacter, offset, false};
    }
    code_point = (code_point << 6) | (byte_at(position + offset) & 0x3F);
  }
  return {code_point, continuation_count + 1, true};
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool is_valid_utf8(std::string_view text) {
  for (size_t position = 0; position < text.size();) {
    if (static_cast<unsigned char>(text[position]) < 0x80) {
      ++position;
      continue;
    }
    const Utf8Step step = decode_utf8_at(text, position);
    if (!step.valid) return false;
    position += step.length;
  }
  return true;
}

// One U+FFFD per maximal invalid subpart, as Rust's String::from_utf8_lossy and Python's
// bytes.decode("utf-8", "replace") do (Unicode §3.9 "U+FFFD substitution of maximal subparts").
void append_replacing_invalid_utf8(std::string& out, std::string_view bytes) {
  for (size_t position = 0; position < bytes.size();) {
    const Utf8Step step = decode_utf8_at(bytes, position);
    if (step.valid) {
      out.append(bytes.substr(position, step.length));
    } else {
      append_utf8(out, kReplacementCharacter);
    }
    position += step.length;
  }
}

// spec: normalizer {"type": "NFC"}; utf8proc_NFC's flags, with an explicit length.
std::string to_nfc(std::string_view valid_utf8) {
  if (is_ascii(valid_utf8)) return std::string(valid_utf8);
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid_utf8.data()),
                   static_cast<utf8proc_ssize_t>(valid_utf8.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) {
    throw std::runtime_error(std::string("qmsim::Tokenizer: NFC normalization failed: ") +
                             utf8proc_errmsg(length));
  }
  std::string result(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
  std::free(normalized);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer: the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// as Oniguruma (the engine `tokenizers` uses) evaluates it, written as a scanner.

enum class CharClass : uint8_t { kLetter, kNumber, kWhitespace, kOther };

// Oniguruma's Unicode \s: U+0009..U+000D, U+0085 and categories Zs, Zl, Zp, which is exactly
// the White_Space property (PropList.txt); U+001C..U+001F and U+200B are not in it.
bool is_white_space(char32_t code_point) {
  if (code_point <= 0x20) return code_point == 0x20 || (code_point >= 0x09 && code_point <= 0x0D);
  if (code_point < 0x85) return false;
  switch (code_point) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return code_point >= 0x2000 && code_point <= 0x200A;
  }
}

CharClass classify(char32_t code_point) {
  if (code_point < 0x80) {
    if ((code_point | 0x20) >= 'a' && (code_point | 0x20) <= 'z') return CharClass::kLetter;
    if (code_point >= '0' && code_point <= '9') return CharClass::kNumber;
    return is_white_space(code_point) ? CharClass::kWhitespace : CharClass::kOther;
  }
  if (is_white_space(code_point)) return CharClass::kWhitespace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(code_point))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

// Length of the contraction alternative ('s 't 're 've 'm 'll 'd, case-sensitive) at index, or 0.
size_t contraction_length(const std::vector<char32_t>& code_points, size_t index) {
  if (code_points[index] != U'\'' || index + 1 >= code_points.size()) return 0;
  const char32_t first = code_points[index + 1];
  if (first == U's' || first == U't' || first == U'm' || first == U'd') return 2;
  if (index + 2 >= code_points.size()) return 0;
  const char32_t second = code_points[index + 2];
  if ((first == U'r' && second == U'e') || (first == U'v' && second == U'e') ||
      (first == U'l' && second == U'l')) {
    return 3;
  }
  return 0;
}

// Every code point falls in some alternative, so matches tile the text: each call of
// emit(begin, end) covers code points [begin, end) and the next match starts at end.
template <typename Emit>
void split_by_gpt2_pattern(const std::vector<char32_t>& code_points,
                           const std::vector<CharClass>& classes, Emit&& emit) {
  const size_t count = code_points.size();
  size_t begin = 0;
  while (begin < count) {
    const size_t contraction = contraction_length(code_points, begin);
    if (contraction > 0) {
      emit(begin, begin + contraction);
      begin += contraction;
      continue;
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one class.
    size_t run_start = begin;
    if (code_points[begin] == U' ' && begin + 1 < count &&
        classes[begin + 1] != CharClass::kWhitespace) {
      run_start = begin + 1;
    }
    size_t end = run_start + 1;
    if (classes[run_start] != CharClass::kWhitespace) {
      while (end < count && classes[end] == classes[run_start]) ++end;
      emit(begin, end);
      begin = end;
      continue;
    }
    while (end < count && classes[end] == CharClass::kWhitespace) ++end;
    // `\s+(?!\S)` backtracks one step so the run's last whitespace goes with the next word;
    // a single whitespace before a non-space falls through to `\s+`.
    if (end < count && end - begin > 1) --end;
    emit(begin, end);
    begin = end;
  }
}

// GPT-2 bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 onwards in byte order.
std::array<char32_t, 256> byte_level_alphabet() {
  std::array<char32_t, 256> alphabet{};
  char32_t next_unprintable = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
                           (byte >= 0xAE && byte <= 0xFF);
    alphabet[byte] = printable ? static_cast<char32_t>(byte) : next_unprintable++;
  }
  return alphabet;
}

// ---------------------------------------------------------------------------------------------
// Added tokens: leftmost-longest matching, as the aho-corasick automaton in AddedVocabulary.

class AddedTokenTrie {
 public:
  void insert(std::string_view content, int32_t id) {
    int32_t node = 0;
    for (const char byte : content) {
      int32_t child = find_child(node, static_cast<unsigned char>(byte));
      if (child < 0) {
        child = static_cast<int32_t>(nodes_.size());
        nodes_[node].children.emplace_back(static_cast<unsigned char>(byte), child);
        nodes_.emplace_back();
      }
      node = child;
    }
    nodes_[node].token_id = id;
  }

  // Calls on_text for each stretch between matches and on_token for each match, in order.
  template <typename OnText, typename OnToken>
  void split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
    if (nodes_[0].children.empty()) {
      if (!text.empty()) on_text(text);
      return;
    }
    size_t text_start = 0;
    size_t position = 0;
    while (position < text.size()) {
      size_t match_length = 0;
      int32_t match_id = -1;
      int32_t node = 0;
      for (size_t offset = position; offset < text.size(); ++offset) {
        node = find_child(node, static_cast<unsigned char>(text[offset]));
        if (node < 0) break;
        if (nodes_[node].token_id >= 0) {
          match_length = offset + 1 - position;
          match_id = nodes_[node].token_id;
        }
      }
      if (match_length == 0) {
        ++position;
        continue;
      }
      if (position > text_start) on_text(text.substr(text_start, position - text_start));
      on_token(match_id);
      position += match_length;
      text_start = position;
    }
    if (text_start < text.size()) on_text(text.substr(text_start));
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token_id = -1;
  };

  int32_t find_child(int32_t node, unsigned char byte) const {
    for (const auto& [child_byte, child] : nodes_[node].children) {
      if (child_byte == byte) return child;
    }
    return -1;
  }

  std::vector<Node> nodes_ = std::vector<Node>(1);
};

// ---------------------------------------------------------------------------------------------
// BPE

struct MergeRule {
  int32_t rank;
  int32_t merged_id;
};

uint64_t pair_key(int32_t left_id, int32_t right_id) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left_id)) << 32) |
         static_cast<uint32_t>(right_id);
}

// Reused across the words of one encode() call.
struct EncodeScratch {
  struct Symbol {
    int32_t token_id;
    int32_t previous;
    int32_t next;
    bool merged_away;
  };
  struct MergeCandidate {
    int32_t rank;
    int32_t position;
    int32_t merged_id;
  };
  std::vector<char32_t> code_points;
  std::vector<uint32_t> byte_offsets;
  std::vector<CharClass> classes;
  std::vector<Symbol> symbols;
  std::vector<MergeCandidate> candidates;
};

// ---------------------------------------------------------------------------------------------
// Loading

[[noreturn]] void fail(const std::string& path, const std::string& field,
                       const std::string& problem) {
  throw std::runtime_error("qmsim::Tokenizer: file '" + path + "': field '" + field + "': " +
                           problem);
}

const json& require_member(const std::string& path, const json& parent, const std::string& key,
                           const std::string& field) {
  if (!parent.is_object()) fail(path, field, "parent is not a JSON object");
  const auto found = parent.find(key);
  if (found == parent.end()) fail(path, field, "missing");
  return *found;
}

const json* optional_member(const json& parent, const std::string& key) {
  const auto found = parent.find(key);
  return found == parent.end() || found->is_null() ? nullptr : &*found;
}

std::string require_string(const std::string& path, const json& value, const std::string& field) {
  if (!value.is_string()) fail(path, field, "expected a string, got " + value.dump());
  return value.get<std::string>();
}

int32_t require_token_id(const std::string& path, const json& value, const std::string& field) {
  if (!value.is_number_integer()) fail(path, field, "expected an integer id, got " + value.dump());
  const int64_t id = value.get<int64_t>();
  if (id < 0 || id > kMaxTokenId) fail(path, field, "id " + std::to_string(id) + " out of range");
  return static_cast<int32_t>(id);
}

bool optional_bool(const std::string& path, const json& parent, const std::string& key,
                   const std::string& field, bool default_value) {
  const json* value = optional_member(parent, key);
  if (value == nullptr) return default_value;
  if (!value->is_boolean()) fail(path, field, "expected true or false, got " + value->dump());
  return value->get<bool>();
}

void require_absent_or_empty(const std::string& path, const json& parent, const std::string& key,
                             const std::string& field) {
  const json* value = optional_member(parent, key);
  if (value != nullptr && !(value->is_string() && value->get<std::string>().empty())) {
    fail(path, field, "not supported (must be null or empty), got " + value->dump());
  }
}

}  // namespace

struct Tokenizer::Tables {
  bool apply_nfc = false;
  std::unordered_map<uint64_t, MergeRule> merges;  // (left id, right id) -> rank, merged id
  std::array<int32_t, 256> byte_token_id{};        // -1 where the vocabulary lacks the byte
  AddedTokenTrie raw_added_tokens;                 // "normalized": false, matched before NFC
  AddedTokenTrie normalized_added_tokens;          // "normalized": true, matched after NFC
  std::unordered_map<std::string, int32_t> token_ids;  // added tokens override the model's
  std::vector<std::string> decoded_bytes;              // by id
  std::vector<bool> id_has_token;

  const MergeRule* find_merge(int32_t left_id, int32_t right_id) const {
    const auto found = merges.find(pair_key(left_id, right_id));
    return found == merges.end() ? nullptr : &found->second;
  }

  // BPE::merge_word / Word::merge_all: apply the lowest-ranked pair, leftmost on ties.
  void append_bpe(std::string_view word_bytes, EncodeScratch& scratch,
                  std::vector<int32_t>& ids) const {
    auto& symbols = scratch.symbols;
    symbols.clear();
    for (const char byte : word_bytes) {
      const int32_t token_id = byte_token_id[static_cast<unsigned char>(byte)];
      // HF skips a character missing from the vocabulary when there is no unk_token.
      if (token_id < 0) continue;
      const auto position = static_cast<int32_t>(symbols.size());
      symbols.push_back({token_id, position - 1, position + 1, false});
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    auto& candidates = scratch.candidates;
    candidates.clear();
    const auto later = [](const EncodeScratch::MergeCandidate& a,
                          const EncodeScratch::MergeCandidate& b) {
      return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
    };
    const auto push_candidate = [&](int32_t position, int32_t left_id, int32_t right_id) {
      if (const MergeRule* rule = find_merge(left_id, right_id)) {
        candidates.push_back({rule->rank, position, rule->merged_id});
        std::push_heap(candidates.begin(), candidates.end(), later);
      }
    };
    for (size_t position = 0; position + 1 < symbols.size(); ++position) {
      push_candidate(static_cast<int32_t>(position), symbols[position].token_id,
                     symbols[position + 1].token_id);
    }
    while (!candidates.empty()) {
      std::pop_heap(candidates.begin(), candidates.end(), later);
      const EncodeScratch::MergeCandidate top = candidates.back();
      candidates.pop_back();
      auto& left = symbols[top.position];
      if (left.merged_away || left.next < 0) continue;
      const auto right = symbols[left.next];
      // A candidate goes stale once either of its symbols has grown.
      const MergeRule* current = find_merge(left.token_id, right.token_id);
      if (current == nullptr || current->merged_id != top.merged_id) continue;
      left.token_id = top.merged_id;
      symbols[left.next].merged_away = true;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].previous = top.position;
      if (left.previous >= 0) {
        push_candidate(left.previous, symbols[left.previous].token_id, left.token_id);
      }
      if (left.next >= 0) push_candidate(top.position, left.token_id, symbols[left.next].token_id);
    }
    for (int32_t position = 0; position >= 0; position = symbols[position].next) {
      ids.push_back(symbols[position].token_id);
    }
  }

  // ByteLevel pre-tokenizer (add_prefix_space false, use_regex true), then BPE per word.
  void append_pretokenized(std::string_view text, EncodeScratch& scratch,
                           std::vector<int32_t>& ids) const {
    scratch.code_points.clear();
    scratch.byte_offsets.clear();
    scratch.classes.clear();
    for (size_t position = 0; position < text.size();) {
      const Utf8Step step = decode_utf8_at(text, position);
      scratch.code_points.push_back(step.code_point);
      scratch.byte_offsets.push_back(static_cast<uint32_t>(position));
      scratch.classes.push_back(classify(step.code_point));
      position += step.length;
    }
    scratch.byte_offsets.push_back(static_cast<uint32_t>(text.size()));
    split_by_gpt2_pattern(scratch.code_points, scratch.classes, [&](size_t begin, size_t end) {
      const size_t byte_begin = scratch.byte_offsets[begin];
      append_bpe(text.substr(byte_begin, scratch.byte_offsets[end] - byte_begin), scratch, ids);
    });
  }
};

Tokenizer::Tokenizer(std::shared_ptr<const Tables> tables) : tables_(std::move(tables)) {}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("qmsim::Tokenizer: cannot open file '" + path + "'");
  std::ostringstream contents;
  contents << file.rdbuf();
  json root;
  try {
    root = json::parse(contents.str());
  } catch (const json::parse_error& error) {
    throw std::runtime_error("qmsim::Tokenizer: file '" + path + "': not valid JSON: " +
                             error.what());
  }
  if (!root.is_object()) fail(path, "(root)", "expected a JSON object");

  auto tables = std::make_shared<Tables>();

  const json* normalizer = optional_member(root, "normalizer");
  if (normalizer != nullptr) {
    const std::string type =
        require_string(path, require_member(path, *normalizer, "type", "normalizer.type"),
                       "normalizer.type");
    if (type != "NFC") fail(path, "normalizer.type", "only NFC is supported, got " + type);
    tables->apply_nfc = true;
  }

  const json& pre_tokenizer = require_member(path, root, "pre_tokenizer", "pre_tokenizer");
  const std::string pre_tokenizer_type = require_string(
      path, require_member(path, pre_tokenizer, "type", "pre_tokenizer.type"),
      "pre_tokenizer.type");
  if (pre_tokenizer_type != "ByteLevel") {
    fail(path, "pre_tokenizer.type", "only ByteLevel is supported, got " + pre_tokenizer_type);
  }
  if (optional_bool(path, pre_tokenizer, "add_prefix_space", "pre_tokenizer.add_prefix_space",
                    false)) {
    fail(path, "pre_tokenizer.add_prefix_space", "only false is supported");
  }
  if (!optional_bool(path, pre_tokenizer, "use_regex", "pre_tokenizer.use_regex", true)) {
    fail(path, "pre_tokenizer.use_regex", "only true is supported");
  }

  const json& model = require_member(path, root, "model", "model");
  if (const json* type = optional_member(model, "type")) {
    if (require_string(path, *type, "model.type") != "BPE") {
      fail(path, "model.type", "only BPE is supported, got " + type->dump());
    }
  }
  if (const json* dropout = optional_member(model, "dropout")) {
    fail(path, "model.dropout", "not supported (must be null), got " + dropout->dump());
  }
  if (optional_member(model, "unk_token") != nullptr) {
    fail(path, "model.unk_token", "not supported (must be null)");
  }
  require_absent_or_empty(path, model, "continuing_subword_prefix",
                          "model.continuing_subword_prefix");
  require_absent_or_empty(path, model, "end_of_word_suffix", "model.end_of_word_suffix");
  if (optional_bool(path, model, "byte_fallback", "model.byte_fallback", false)) {
    fail(path, "model.byte_fallback", "only false is supported");
  }
  if (optional_bool(path, model, "ignore_merges", "model.ignore_merges", false)) {
    fail(path, "model.ignore_merges", "only false is supported");
  }

  const json& vocab = require_member(path, model, "vocab", "model.vocab");
  if (!vocab.is_object()) fail(path, "model.vocab", "expected an object of token: id");
  std::unordered_map<std::string, int32_t> model_vocab;
  model_vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    model_vocab.emplace(token, require_token_id(path, id, "model.vocab[\"" + token + "\"]"));
  }

  const json& merges = require_member(path, model, "merges", "model.merges");
  if (!merges.is_array()) fail(path, "model.merges", "expected an array");
  tables->merges.reserve(merges.size());
  const auto model_id = [&](const std::string& token, const std::string& field) {
    const auto found = model_vocab.find(token);
    if (found == model_vocab.end()) fail(path, field, "token '" + token + "' is not in model.vocab");
    return found->second;
  };
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string field = "model.merges[" + std::to_string(rank) + "]";
    const json& merge = merges[rank];
    std::string left;
    std::string right;
    // Two spellings: "left right" (tokenizers < 0.20) or ["left", "right"].
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        fail(path, field, "expected two tokens separated by one space, got " + merge.dump());
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2) {
      left = require_string(path, merge[0], field + "[0]");
      right = require_string(path, merge[1], field + "[1]");
    } else {
      fail(path, field, "expected \"left right\" or [left, right], got " + merge.dump());
    }
    const int32_t left_id = model_id(left, field);
    const int32_t right_id = model_id(right, field);
    const int32_t merged_id = model_id(left + right, field);
    // A repeated pair keeps its last entry, as HF's collect into a HashMap does.
    tables->merges[pair_key(left_id, right_id)] = {static_cast<int32_t>(rank), merged_id};
  }

  const std::array<char32_t, 256> alphabet = byte_level_alphabet();
  std::unordered_map<char32_t, unsigned char> byte_of_alphabet_char;
  for (int byte = 0; byte < 256; ++byte) {
    std::string spelled;
    append_utf8(spelled, alphabet[byte]);
    const auto found = model_vocab.find(spelled);
    tables->byte_token_id[byte] = found == model_vocab.end() ? -1 : found->second;
    byte_of_alphabet_char.emplace(alphabet[byte], static_cast<unsigned char>(byte));
  }

  tables->token_ids = model_vocab;
  std::vector<std::pair<int32_t, std::string>> added_tokens_in_order;
  if (const json* added_tokens = optional_member(root, "added_tokens")) {
    if (!added_tokens->is_array()) fail(path, "added_tokens", "expected an array");
    for (size_t index = 0; index < added_tokens->size(); ++index) {
      const std::string field = "added_tokens[" + std::to_string(index) + "]";
      const json& added = (*added_tokens)[index];
      const int32_t id = require_token_id(path, require_member(path, added, "id", field + ".id"),
                                          field + ".id");
      std::string content = require_string(
          path, require_member(path, added, "content", field + ".content"), field + ".content");
      if (content.empty()) fail(path, field + ".content", "empty");
      if (!is_valid_utf8(content)) fail(path, field + ".content", "not valid UTF-8");
      for (const char* unsupported : {"lstrip", "rstrip", "single_word"}) {
        if (optional_bool(path, added, unsupported, field + "." + unsupported, false)) {
          fail(path, field + "." + unsupported, "only false is supported");
        }
      }
      const bool special = optional_bool(path, added, "special", field + ".special", false);
      // HF's AddedToken default: special tokens are not normalized.
      const bool normalized =
          optional_bool(path, added, "normalized", field + ".normalized", !special);
      tables->token_ids[content] = id;
      added_tokens_in_order.emplace_back(id, content);
      if (normalized) {
        // AddedVocabulary normalizes the content of normalized tokens before matching.
        const std::string matched = tables->apply_nfc ? to_nfc(content) : content;
        tables->normalized_added_tokens.insert(matched, id);
      } else {
        tables->raw_added_tokens.insert(content, id);
      }
    }
  }

  std::vector<std::pair<int32_t, std::string>> tokens_by_id;
  tokens_by_id.reserve(model_vocab.size() + added_tokens_in_order.size());
  for (const auto& [token, id] : model_vocab) tokens_by_id.emplace_back(id, token);
  // Added tokens come last so they win for their id, as Tokenizer::id_to_token does.
  tokens_by_id.insert(tokens_by_id.end(), added_tokens_in_order.begin(),
                      added_tokens_in_order.end());
  int32_t largest_id = -1;
  for (const auto& entry : tokens_by_id) largest_id = std::max(largest_id, entry.first);
  tables->decoded_bytes.resize(static_cast<size_t>(largest_id + 1));
  tables->id_has_token.resize(static_cast<size_t>(largest_id + 1), false);
  for (const auto& [id, token] : tokens_by_id) {
    tables->id_has_token[id] = true;
    // ByteLevel decoder: map each char back to its byte; a token with any other char
    // (the whitespace added tokens) is taken as its own UTF-8 bytes.
    std::string bytes;
    bool all_in_alphabet = true;
    for (size_t position = 0; position < token.size() && all_in_alphabet;) {
      const Utf8Step step = decode_utf8_at(token, position);
      const auto found = byte_of_alphabet_char.find(step.code_point);
      all_in_alphabet = step.valid && found != byte_of_alphabet_char.end();
      if (all_in_alphabet) bytes.push_back(static_cast<char>(found->second));
      position += step.length;
    }
    tables->decoded_bytes[id] = all_in_alphabet ? bytes : token;
  }

  return Tokenizer(std::move(tables));
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8_text) const {
  const Tables& tables = *tables_;
  std::string repaired;
  std::string_view text = utf8_text;
  if (!is_valid_utf8(text)) {
    append_replacing_invalid_utf8(repaired, text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  EncodeScratch scratch;
  const auto append_id = [&ids](int32_t id) { ids.push_back(id); };
  // AddedVocabulary::extract_and_normalize: raw added tokens, NFC per remaining piece, then
  // normalized added tokens; pieces never merge across an added token.
  tables.raw_added_tokens.split(
      text,
      [&](std::string_view raw_piece) {
        const std::string normalized =
            tables.apply_nfc ? to_nfc(raw_piece) : std::string(raw_piece);
        tables.normalized_added_tokens.split(
            normalized,
            [&](std::string_view piece) { tables.append_pretokenized(piece, scratch, ids); },
            append_id);
      },
      append_id);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const Tables& tables = *tables_;
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tables.id_has_token.size() ||
        !tables.id_has_token[id]) {
      continue;
    }
    bytes += tables.decoded_bytes[id];
  }
  if (is_valid_utf8(bytes)) return bytes;
  std::string text;
  append_replacing_invalid_utf8(text, bytes);
  return text;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(tables_->token_ids.size()); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto found = tables_->token_ids.find(std::string(token));
  if (found == tables_->token_ids.end()) return std::nullopt;
  return found->second;
}

}  // namespace qmsim
