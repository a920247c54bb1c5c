// Shared helpers of the qmsim CLI subcommands.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <memory>

#include "qmsim/config/modes.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/golden/forward_fp32.h"
#include "qmsim/golden/forward_w8a8.h"
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
/// `--mode NAME` or `--mode-file FILE.yaml` -> the mode (config::resolve_mode / load_mode_file);
/// an unknown name or a bad file is an error naming the option, the file and the key.
config::Mode mode_from_args(const std::string& name, const std::string& mode_file);
/// Help text for --mode listing the built-in modes.
std::string mode_option_help();

/// A model folder's FP checkpoint and/or quantized model, loaded on first use, with the plans
/// the forwards run on. A folder is either a quantized model, or an FP checkpoint with the
/// quantized model in DIR/w8a8 (the layout of models/mamba-tiny).
class ModelSet {
 public:
  ModelSet(std::string dir, int threads) : dir_(std::move(dir)), threads_(threads) {}
  const std::string& dir() const { return dir_; }
  const FpModel& fp();
  const QModel& quant();
  std::string quant_dir();
  /// The conv output scales of an alpha = 1.0 calibration (mode 6-4), from --alpha1-model DIR.
  void set_alpha1_model(const std::string& dir);
  const std::vector<float>& alpha1_u_scales() const { return alpha1_; }
  /// Logits function of a mode under a profile ("" = golden for fp32, the model's for W8A8).
  /// stats (nullable) collects the mode-site counters (thread-safe accumulation by the caller).
  eval::LogitsFn logits_fn(const config::Mode& mode, const num::NumericsProfile& profile);
  /// The profile a run uses: the given name, else golden (fp32) or the quantized model's.
  std::string profile_name(const config::Mode& mode, const std::string& requested);
  int vocab_size(const config::Mode& mode);
  std::string model_hash(const config::Mode& mode);

 private:
  std::string dir_;
  int threads_;
  std::shared_ptr<FpModel> fp_;
  std::shared_ptr<const golden::Fp32Plan> fp_plan_;
  std::shared_ptr<QModel> q_;
  std::shared_ptr<const golden::W8A8Plan> q_plan_;
  std::vector<float> alpha1_;
};

void add_eval_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_capture_command(CLI::App& app);
void add_compare_modes_command(CLI::App& app);
void add_diverge_command(CLI::App& app);
/// LAMBADA requests of documents [first, first + count) in file order (count < 0: to the end);
/// empty file names take data/lambada_test.jsonl and data/gpt-neox-20b-tokenizer.json.
std::vector<eval::DocRequest> lambada_requests(const std::string& lambada, const std::string& tokenizer, int first,
                                               int count, int max_length = 2048);
/// One entry of a --modes list: a mode name (resolve_mode) or a mode file (*.yaml, *.yml).
config::Mode mode_from_list_item(const std::string& item);
/// Element i of a captured tensor as a double (int8, float16, float32, int32).
double captured_value(const golden::CapturedTensor& t, size_t i);
/// Writes JSON to `path` (error naming `option` and the path when it cannot).
void write_json_file(const std::string& option, const std::string& path, const nlohmann::json& j);
/// The PNG path of a command: --plot, else --output with .png, else "" (no plot).
std::string plot_path(const std::string& plot, const std::string& output);
/// crosscheck and perf (when built with SystemC).
void add_sim_commands(CLI::App& app);
/// configs/hw/default.yaml in the source tree.
std::string default_hw_file();
/// `eval --path sim`: a logits function running the SystemC model (one document at a time).
/// `eval --path gpu`: the CUDA path (every W8A8 mode), many documents per call, scored on the
/// device (GpuModel::score_batch: eval::score_row's log-softmax, only the row scores come back).
/// kernel_report (nullable) receives a function that prints the per-kernel times
/// (QMSIM_GPU_PROFILE=1).
eval::BatchScoresFn gpu_batch_scores_fn(const QModel& q, const golden::ModeSpec& mode,
                                        const num::NumericsProfile& profile, const std::vector<float>& alpha1_u_scales,
                                        bool f16_logprobs, std::function<std::string()>* kernel_report);
eval::LogitsFn sim_logits_fn(const QModel& q, const std::string& hw_file, const golden::ModeSpec& mode,
                             const num::NumericsProfile& profile);

}  // namespace app
}  // namespace qmsim
