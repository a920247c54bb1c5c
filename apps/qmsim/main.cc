// qmsim: bit-accurate simulator of a Quamba-style W8A8 Mamba-1 ASIC. One binary, subcommands.
#include <cstdio>
#include <exception>
#include <fstream>
#include <thread>

#include "common.h"

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

golden::ModeSpec mode_from_arg(const std::string& name) {
  if (name == "fp32") return golden::ModeSpec{};
  try {
    return golden::builtin_mode(name);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("--mode " + name + ": " + e.what());
  }
}

}  // namespace app
}  // namespace qmsim

int main(int argc, char** argv) {
  CLI::App app{
      "qmsim: bit-accurate simulator of an INT8 ASIC running Quamba-style W8A8 Mamba-1 models.\n"
      "Paths: golden (C++ golden model). Modes: fp32 (FP32 reference), 0 (Quamba W8A8).\n"
      "Spec: docs/ARCHITECTURE.md and the Quamba W8A8 spec it cites."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "qmsim 0.1.0");
  qmsim::app::add_eval_command(app);
  qmsim::app::add_synth_command(app);
  qmsim::app::add_calibrate_command(app);
  qmsim::app::add_info_command(app);
  qmsim::app::add_tokenize_command(app);
  qmsim::app::add_capture_command(app);
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
