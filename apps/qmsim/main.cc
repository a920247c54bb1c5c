// qmsim: bit-accurate simulator of a Quamba-style W8A8 Mamba-1 ASIC. One binary, subcommands.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <thread>

#include "common.h"
#include "qmsim/tokenizer.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/model/quant_format.h"

namespace qmsim {
namespace app {

std::string repo_path(const std::string& rel) { return std::string(QMSIM_SOURCE_DIR) + "/" + rel; }

std::string default_model_dir() { return repo_path("models/mamba-tiny"); }

bool is_quant_model_dir(const std::string& dir) {
  std::ifstream in(dir + "/config.json");
  if (!in) return false;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    return j.is_object() && j.contains("qmsim_format");
  } catch (...) {
    return false;
  }
}

std::string read_text_file(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw std::runtime_error(path + ": cannot open");
  }
  std::string out;
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".xz") == 0) {
    const std::string cmd = "xz -dc -- '" + path + "'";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error(path + ": cannot run xz");
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (pclose(p) != 0) throw std::runtime_error(path + ": xz decompression failed (corrupt or truncated file?)");
  } else {
    std::ifstream in(path, std::ios::binary);
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

std::string git_revision() {
  const std::string cmd = "git -C '" + std::string(QMSIM_SOURCE_DIR) + "' rev-parse --short HEAD 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "unknown";
  char buf[64] = {0};
  std::string rev = fgets(buf, sizeof buf, p) ? std::string(buf) : std::string();
  pclose(p);
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r')) rev.pop_back();
  return rev.empty() ? "unknown" : rev;
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

num::NumericsProfile profile_by_name(const std::string& name) {
  if (name == "golden") return num::profile_golden();
  if (name == "quamba-compat") return num::profile_quamba_compat();
  throw std::runtime_error("unknown numerics profile '" + name + "' (known: golden, quamba-compat)");
}

std::vector<eval::DocRequest> lambada_requests(const std::string& lambada, const std::string& tokenizer, int first,
                                               int count, int max_length) {
  const Tokenizer tok =
      Tokenizer::from_file(tokenizer.empty() ? repo_path("data/gpt-neox-20b-tokenizer.json") : tokenizer);
  const std::vector<eval::LambadaDoc> docs =
      eval::load_lambada(lambada.empty() ? repo_path("data/lambada_test.jsonl") : lambada);
  const size_t begin = std::min(docs.size(), static_cast<size_t>(std::max(0, first)));
  const size_t end = count < 0 ? docs.size() : std::min(docs.size(), begin + static_cast<size_t>(count));
  std::vector<eval::DocRequest> reqs;
  reqs.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) reqs.push_back(eval::make_request(tok, docs[i], max_length));
  return reqs;
}

config::Mode mode_from_list_item(const std::string& item) {
  const bool file = item.find(".yaml") != std::string::npos || item.find(".yml") != std::string::npos;
  return file ? mode_from_args("", item) : mode_from_args(item, "");
}

double captured_value(const golden::CapturedTensor& t, size_t i) {
  if (t.dtype == "int8") return static_cast<int8_t>(t.bytes[i]);
  if (t.dtype == "float16") {
    uint16_t h;
    std::memcpy(&h, t.bytes.data() + 2 * i, 2);
    return num::f16_to_f32(h);
  }
  if (t.dtype == "int32") {
    int32_t v;
    std::memcpy(&v, t.bytes.data() + 4 * i, 4);
    return v;
  }
  float f;
  std::memcpy(&f, t.bytes.data() + 4 * i, 4);
  return f;
}

void write_json_file(const std::string& option, const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(option + " " + path + ": cannot write");
  out << j.dump(1) << "\n";
  if (!out) throw std::runtime_error(option + " " + path + ": write failed");
  std::fprintf(stderr, "results: %s\n", path.c_str());
}

std::string plot_path(const std::string& plot, const std::string& output) {
  if (!plot.empty()) return plot;
  return output.empty() ? "" : output.substr(0, output.rfind('.')) + ".png";
}

config::Mode mode_from_args(const std::string& name, const std::string& mode_file) {
  try {
    if (!mode_file.empty()) {
      // FILE.yaml or FILE.yaml:VARIANT
      const size_t colon = mode_file.rfind(':');
      const bool has_variant = colon != std::string::npos && mode_file.find('/', colon) == std::string::npos &&
                               !std::ifstream(mode_file);
      return has_variant ? config::load_mode_file(mode_file.substr(0, colon), mode_file.substr(colon + 1))
                         : config::load_mode_file(mode_file);
    }
    return config::resolve_mode(name);
  } catch (const config::ConfigError& e) {
    throw std::runtime_error(std::string(mode_file.empty() ? "--mode " + name : "--mode-file " + mode_file) + ": " +
                             e.what());
  }
}

std::string mode_option_help() {
  std::string names;
  for (const auto& n : config::builtin_mode_names()) names += (names.empty() ? "" : ", ") + n;
  return "Experiment mode (configs/modes/*.yaml, docs/MODES.md): " + names +
         "; NAME:VARIANT picks documented|committed for 2-3, 2-4, 3; aliases: 1 = fp32, 5 = 5-1, the original's "
         "env-var sets (FLOAT_SIM_ASIC_INT8+SSM_USE_PYTORCH_INT8 = 2-1), and 'env' (read QUAMBA_MODE or those "
         "variables from the environment)";
}

const FpModel& ModelSet::fp() {
  if (!fp_) {
    if (is_quant_model_dir(dir_))
      throw std::runtime_error(dir_ + ": the FP32 reference needs the floating-point checkpoint, this is a quantized model");
    fp_ = std::make_shared<FpModel>(load_fp_checkpoint(dir_));
    fp_plan_ = golden::make_fp32_plan(*fp_, threads_);
  }
  return *fp_;
}

std::string ModelSet::quant_dir() {
  if (is_quant_model_dir(dir_)) return dir_;
  const std::string q = dir_ + "/w8a8";
  if (!is_quant_model_dir(q))
    throw std::runtime_error(dir_ + ": no quantized model (neither this folder nor " + q +
                             " holds one); make one with: qmsim calibrate --model " + dir_ + " --out " + q);
  return q;
}

const QModel& ModelSet::quant() {
  if (!q_) {
    q_ = std::make_shared<QModel>(load_quant_model(quant_dir()));
    q_plan_ = golden::make_w8a8_plan(*q_, threads_);
  }
  return *q_;
}

void ModelSet::set_alpha1_model(const std::string& dir) {
  const std::string qdir = is_quant_model_dir(dir) ? dir : dir + "/w8a8";
  const QModel a1 = load_quant_model(qdir);
  const QModel& q = quant();
  if (a1.cfg.n_layer != q.cfg.n_layer || a1.cfg.d_model != q.cfg.d_model)
    throw std::runtime_error("--alpha1-model " + dir + ": shape differs from the evaluated model");
  alpha1_.clear();
  for (const QLayer& l : a1.layers) alpha1_.push_back(l.conv_output_scale);
}

std::string ModelSet::profile_name(const config::Mode& mode, const std::string& requested) {
  if (!requested.empty()) return requested;
  return mode.fp32_reference ? "golden" : quant().numerics_profile;
}

int ModelSet::vocab_size(const config::Mode& mode) { return mode.fp32_reference ? fp().cfg.vocab_size : quant().cfg.vocab_size; }

std::string ModelSet::model_hash(const config::Mode& mode) { return mode.fp32_reference ? fp().source_hash : quant().source_hash; }

eval::LogitsFn ModelSet::logits_fn(const config::Mode& mode, const num::NumericsProfile& profile) {
  if (mode.fp32_reference) {
    fp();
    auto fp = fp_;
    auto plan = fp_plan_;
    return [fp, plan, profile](const std::vector<int32_t>& toks, const std::vector<int>& pos) {
      golden::ForwardOptions o;
      o.threads = 1;
      o.profile = profile;
      return golden::forward_fp32(*fp, *plan, toks, pos, o);
    };
  }
  quant();
  auto q = q_;
  auto plan = q_plan_;
  const golden::ModeSpec spec = mode.spec;
  const std::vector<float> alpha1 = alpha1_;
  return [q, plan, profile, spec, alpha1](const std::vector<int32_t>& toks, const std::vector<int>& pos) {
    golden::ForwardOptions o;
    o.threads = 1;
    o.profile = profile;
    o.mode = spec;
    o.alpha1_u_scales = alpha1;
    return golden::forward_w8a8(*q, *plan, toks, pos, o);
  };
}

}  // namespace app
}  // namespace qmsim

int main(int argc, char** argv) {
  CLI::App app{
      "qmsim: bit-accurate simulator of an INT8 ASIC running Quamba-style W8A8 Mamba-1 models.\n"
      "Paths: golden (C++ golden model), sim (SystemC TLM-2.0 model of the ASIC), gpu (CUDA, when built with nvcc). Modes: fp32 (FP32 reference), 0 (Quamba W8A8) and the\n"
      "float-sim-ASIC experiment modes of configs/modes (docs/MODES.md).\n"
      "Spec: docs/ARCHITECTURE.md and the Quamba W8A8 spec it cites."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "qmsim 0.1.0");
  qmsim::app::add_eval_command(app);
  qmsim::app::add_synth_command(app);
  qmsim::app::add_calibrate_command(app);
  qmsim::app::add_info_command(app);
  qmsim::app::add_tokenize_command(app);
  qmsim::app::add_capture_command(app);
  qmsim::app::add_compare_modes_command(app);
  qmsim::app::add_diverge_command(app);
  qmsim::app::add_sim_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qmsim: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
