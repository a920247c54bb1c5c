#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qmsim {

/// Byte-level BPE tokenizer read from a Hugging Face `tokenizers` JSON file (GPT-NeoX-20B).
///
/// Gives the same ids as `tokenizers.Tokenizer.encode(text, add_special_tokens=False).ids`:
/// added tokens are split out first (non-normalized ones on the raw text, normalized ones after
/// NFC), the rest goes through the GPT-2 pre-tokenizer pattern and BPE merges.
/// Supported configuration: normalizer NFC or none, pre-tokenizer ByteLevel without prefix space,
/// BPE without dropout or affixes; from_file rejects anything else rather than tokenize it wrongly.
/// Invalid UTF-8 input is not rejected: each maximal invalid subsequence becomes U+FFFD first,
/// as Python's `bytes.decode("utf-8", "replace")` does.
/// Unicode tables are utf8proc's (Unicode 13 for utf8proc 2.6); HF's may be newer, which only
/// matters for code points assigned since.
/// Immutable after loading: copies share the tables, and concurrent encode()/decode() are safe.
class Tokenizer {
 public:
  /// Throws std::runtime_error naming the file and the offending field on bad input.
  static Tokenizer from_file(const std::string& path);

  /// No special tokens added (no BOS/EOS).
  std::vector<int32_t> encode(std::string_view utf8_text) const;

  /// Like `tokenizers` decode(ids, skip_special_tokens=False): special tokens are written out,
  /// ids with no token are skipped, and bytes that are not valid UTF-8 become U+FFFD.
  std::string decode(const std::vector<int32_t>& ids) const;

  /// Number of distinct tokens, model vocabulary and added tokens together (50277 for NeoX).
  int32_t vocab_size() const;

  /// Added tokens first, then the model vocabulary; BPE tokens are spelled byte-level ("Ġthe").
  std::optional<int32_t> token_to_id(std::string_view token) const;

 private:
  struct Tables;
  explicit Tokenizer(std::shared_ptr<const Tables> tables);

  std::shared_ptr<const Tables> tables_;
};

}  // namespace qmsim
