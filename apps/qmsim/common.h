// Shared helpers of the qmsim CLI subcommands.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "qmsim/golden/mode.h"
#include "qmsim/model/model.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace app {

/// Path of a file shipped in the repository (data/, models/), resolved against the source tree.
std::string repo_path(const std::string& rel);
/// The default model directory (models/mamba-tiny once issue 5 lands; see README).
std::string default_model_dir();
/// True when DIR/config.json declares qmsim's quantized format.
bool is_quant_model_dir(const std::string& dir);
/// Reads a text file, transparently decompressing .xz through `xz -dc`.
std::string read_text_file(const std::string& path);
/// `git rev-parse --short HEAD` of the source tree, or "unknown".
std::string git_revision();
int hardware_threads();
/// `--profile NAME` -> the numerics profile; an unknown name is an error naming it.
num::NumericsProfile profile_by_name(const std::string& name);
/// `--mode NAME` -> the W8A8 mode ("fp32" gives the default mode, unused by the FP32 path); an
/// unknown name is an error naming the option and the known modes.
golden::ModeSpec mode_from_arg(const std::string& name);

void add_eval_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_capture_command(CLI::App& app);

}  // namespace app
}  // namespace qmsim
