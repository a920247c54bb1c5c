// Error type of every model-file reader and writer (safetensors, FP checkpoints, qmsim format).
#pragma once

#include <stdexcept>
#include <string>

namespace qmsim {

/// A model file is missing, malformed or does not match the configuration. what() always names
/// the file and the tensor or header field: "<file>: <field>: <detail>".
class ModelFileError : public std::runtime_error {
 public:
  ModelFileError(const std::string& file, const std::string& field, const std::string& detail)
      : std::runtime_error(file + ": " + field + ": " + detail), file_(file), field_(field) {}
  const std::string& file() const { return file_; }
  /// The tensor name or header field the error is about.
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

}  // namespace qmsim
