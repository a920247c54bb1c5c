// qmsim capture: every named intermediate of one document's forward pass, written as safetensors
// (test vectors for RTL and cross-checks; names as in docs/ARCHITECTURE.md "Capture names").
#include <cstdio>
#include <memory>

#include "common.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/golden/capture.h"
#include "qmsim/golden/forward_fp32.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/safetensors.h"
#include "qmsim/tokenizer.h"

namespace qmsim {
namespace app {
namespace {

struct CaptureArgs {
  std::string model, mode = "0", mode_file, alpha1_model, out, lambada, tokenizer, profile, text;
  int doc = 0;
  std::vector<std::string> patterns{"*"};
};

Dtype dtype_of(const std::string& name, const std::string& tensor) {
  if (name == "int8") return Dtype::I8;
  if (name == "int32") return Dtype::I32;
  if (name == "float16") return Dtype::F16;
  if (name == "float32") return Dtype::F32;
  throw std::runtime_error("capture: tensor " + tensor + " has unsupported dtype " + name);
}

void run_capture(const CaptureArgs& a) {
  const config::Mode mode = mode_from_args(a.mode, a.mode_file);
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  const Tokenizer tok = Tokenizer::from_file(a.tokenizer.empty() ? repo_path("data/gpt-neox-20b-tokenizer.json") : a.tokenizer);
  std::vector<int32_t> tokens;
  std::string source;
  if (!a.text.empty()) {
    tokens = tok.encode(a.text);
    source = "text";
  } else {
    const auto docs = eval::load_lambada(a.lambada.empty() ? repo_path("data/lambada_test.jsonl") : a.lambada);
    if (a.doc < 0 || a.doc >= static_cast<int>(docs.size()))
      throw std::runtime_error("--doc " + std::to_string(a.doc) + ": outside [0, " + std::to_string(docs.size()) + ")");
    tokens = eval::make_request(tok, docs[static_cast<size_t>(a.doc)]).input;
    source = "lambada document " + std::to_string(a.doc);
  }
  if (tokens.empty()) throw std::runtime_error("capture: no tokens to run");
  golden::Capture cap(a.patterns);
  golden::ForwardOptions o;
  o.threads = hardware_threads();
  o.capture = &cap;
  const std::vector<int> last = {static_cast<int>(tokens.size()) - 1};
  std::string hash, profile = a.profile.empty() ? "golden" : a.profile;
  if (mode.fp32_reference) {
    const FpModel fp = load_fp_checkpoint(model_dir);
    hash = fp.source_hash;
    o.profile = profile_by_name(profile);
    golden::forward_fp32(fp, tokens, last, o);
  } else {
    const std::string qdir = is_quant_model_dir(model_dir) ? model_dir : model_dir + "/w8a8";
    const QModel q = load_quant_model(qdir);
    hash = q.source_hash;
    if (a.profile.empty()) profile = q.numerics_profile;
    o.profile = profile_by_name(profile);
    o.mode = mode.spec;
    if (!a.alpha1_model.empty()) {
      ModelSet ms(model_dir, 1);
      ms.set_alpha1_model(a.alpha1_model);
      o.alpha1_u_scales = ms.alpha1_u_scales();
    }
    golden::forward_w8a8(q, tokens, last, o);
  }
  std::vector<TensorToWrite> out;
  for (const std::string& name : cap.order()) {
    const golden::CapturedTensor& t = cap.tensors().at(name);
    out.push_back({name, dtype_of(t.dtype, name), t.shape, t.bytes.data(), t.bytes.size()});
  }
  out.push_back({"tokens", Dtype::I32, {static_cast<int64_t>(tokens.size())}, tokens.data(), tokens.size() * 4});
  nlohmann::json order = cap.order();
  write_safetensors(a.out, out,
                    {{"model", model_dir}, {"model_hash", hash}, {"mode", mode.label()}, {"numerics_profile", profile},
                     {"source", source}, {"dataflow_order", order.dump()}, {"git_revision", git_revision()}});
  std::printf("capture: %zu tensors of %s (%zu tokens, mode %s, profile %s) -> %s\n", out.size(), source.c_str(),
              tokens.size(), mode.label().c_str(), profile.c_str(), a.out.c_str());
}

}  // namespace

void add_capture_command(CLI::App& app) {
  auto a = std::make_shared<CaptureArgs>();
  CLI::App* c = app.add_subcommand("capture", "Write every named intermediate of one forward pass as safetensors (test vectors)");
  c->add_option("--model", a->model, "Model folder (default: the embedded model)");
  c->add_option("--mode", a->mode, mode_option_help())->capture_default_str();
  c->add_option("--mode-file", a->mode_file, "A mode written as YAML (configs/modes/README.md)");
  c->add_option("--alpha1-model", a->alpha1_model, "Mode 6-4: model calibrated with --alpha 1.0 (outlier scales)");
  c->add_option("--doc", a->doc, "LAMBADA document index (model input as eval builds it)")->capture_default_str();
  c->add_option("--text", a->text, "Run this text instead of a LAMBADA document");
  c->add_option("--only", a->patterns, "Capture only these names (exact, or prefix ending in '*')");
  c->add_option("--profile", a->profile, "golden | quamba-compat (default: the model's)");
  c->add_option("--lambada", a->lambada, "LAMBADA jsonl (default data/lambada_test.jsonl)");
  c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default data/gpt-neox-20b-tokenizer.json)");
  c->add_option("--out", a->out, "Output .safetensors file")->required();
  c->callback([a] { run_capture(*a); });
}

}  // namespace app
}  // namespace qmsim
