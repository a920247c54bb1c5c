// qmsim eval: LAMBADA (lambada_openai) through a path and a mode.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <iostream>
#include <memory>

#include "common.h"
#include "qmsim/eval/lambada.h"

namespace qmsim {
namespace app {
namespace {

struct EvalArgs {
  std::string model, path = "golden", mode = "0", mode_file, alpha1_model, output, lambada, tokenizer, profile, hw;
  int limit = -1, threads = 0, max_length = 2048, batch = 256, warmup = -1;
  bool resume = false, no_progress = false, f16_logprobs = false;
};

void run_eval(const EvalArgs& a) {
  if (a.path != "golden" && a.path != "sim" && a.path != "gpu")
    throw std::runtime_error("--path " + a.path + ": unknown (known: golden, sim, gpu)");
  const config::Mode mode = mode_from_args(a.mode, a.mode_file);
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  if (a.model.empty() && !std::ifstream(model_dir + "/config.json"))
    throw std::runtime_error("the default model " + model_dir +
                             " is not in this checkout yet; pass --model DIR (e.g. one made by `qmsim synth` + `qmsim calibrate`, "
                             "or run tools/quickstart.sh)");
  // SystemC is single-threaded: the sim path runs one document at a time (shard with --limit/--first-doc runs).
  const int threads = a.path == "sim" ? 1 : (a.threads > 0 ? a.threads : hardware_threads());

  ModelSet models(model_dir, threads);
  if (!a.alpha1_model.empty()) models.set_alpha1_model(a.alpha1_model);
  const std::string profile_name = models.profile_name(mode, a.profile);
  const num::NumericsProfile profile = profile_by_name(profile_name);
  if (a.path == "sim" && mode.fp32_reference) throw std::runtime_error("--path sim: the ASIC runs W8A8 modes, not fp32");
  if (a.path == "gpu" && mode.fp32_reference) throw std::runtime_error("--path gpu: runs W8A8 modes, not fp32");
  eval::LogitsFn fn;
  eval::BatchScoresFn batch_fn;
  std::function<std::string()> kernel_report;
  const bool f16_logprobs = a.f16_logprobs || profile.f16_logprobs;
  if (a.path == "gpu")
    batch_fn = gpu_batch_scores_fn(models.quant(), mode.spec, profile, models.alpha1_u_scales(), f16_logprobs,
                                   &kernel_report);
  else
    fn = a.path == "sim" ? sim_logits_fn(models.quant(), a.hw, mode.spec, profile) : models.logits_fn(mode, profile);
  const int vocab = models.vocab_size(mode);
  nlohmann::json config;
  config["model_hash"] = models.model_hash(mode);
  if (!mode.fp32_reference && mode.spec.u_outlier_scale == golden::OutlierScale::kAlpha1 &&
      mode.spec.u_quantizer == golden::UQuantizer::kGridRequantOutliers) {
    config["alpha1_model"] = a.alpha1_model.empty() ? "absent: s_u used (as the original's fallback)" : a.alpha1_model;
    if (a.alpha1_model.empty())
      std::fprintf(stderr, "qmsim eval: mode %s: no --alpha1-model; outliers use s_u (the original's fallback)\n",
                   mode.label().c_str());
  }
  config["model"] = model_dir;
  config["path"] = a.path;
  if (a.path == "sim") config["hw"] = a.hw.empty() ? default_hw_file() : a.hw;
  config["mode"] = mode.label();
  config["mode_file"] = mode.spec.file;
  config["mode_description"] = mode.spec.description;
  config["numerics_profile"] = profile_name;
  config["git_revision"] = git_revision();
  config["task"] = "lambada_openai";
  config["max_length"] = a.max_length;
  config["threads"] = threads;

  const std::string lambada = a.lambada.empty() ? repo_path("data/lambada_test.jsonl") : a.lambada;
  config["lambada_file"] = lambada;
  const std::vector<eval::DocRequest> reqs = lambada_requests(lambada, a.tokenizer, 0, a.limit, a.max_length);
  for (const auto& r : reqs)
    for (int32_t id : r.input)
      if (id >= vocab) throw std::runtime_error("document " + std::to_string(r.index) + ": token id " + std::to_string(id) + " >= model vocab " + std::to_string(vocab));

  eval::EvalOptions eo;
  eo.threads = threads;
  eo.limit = a.limit;
  eo.f16_logprobs = f16_logprobs;
  eo.resume = a.resume;
  eo.progress = !a.no_progress;
  eo.output = a.output;
  eo.config = config;
  std::fprintf(stderr, "qmsim eval: %zu documents, model %s, path %s, mode %s, profile %s, %d threads\n", reqs.size(),
               model_dir.c_str(), a.path.c_str(), mode.label().c_str(), profile_name.c_str(), threads);
  eo.batch = a.batch;
  if (a.warmup < -1) throw std::runtime_error("--warmup " + std::to_string(a.warmup) + ": must be >= 0 (or -1: the path's default)");
  eo.warmup = a.warmup >= 0 ? a.warmup : (a.path == "gpu" ? 1 : 0);
  const eval::EvalRun run = batch_fn ? eval::run_lambada_scored(reqs, batch_fn, eo)
                                     : eval::run_lambada(reqs, vocab, fn, eo);
  std::cout << eval::result_table(run, eo);
  std::printf("%lld tokens in %.3f s (%.0f tokens/s)", static_cast<long long>(run.tokens), run.seconds,
              run.seconds > 0 ? run.tokens / run.seconds : 0.0);
  if (run.warmup_calls > 0)
    std::printf(" after %d untimed warm-up call(s) of %.3f s", run.warmup_calls, run.warmup_seconds);
  std::printf("%s\n", a.output.empty() ? "" : (", results: " + a.output).c_str());
  const char* prof = std::getenv("QMSIM_GPU_PROFILE");
  if (kernel_report && prof != nullptr && prof[0] == '1') std::printf("gpu kernel times (QMSIM_GPU_PROFILE=1):\n%s", kernel_report().c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand("eval", "Run LAMBADA (lm-eval lambada_openai) through a path and a mode");
  c->add_option("--model", a->model, "Model folder: FP checkpoint (HF layout) or qmsim quantized model; default: the embedded model (models/mamba-tiny)");
  c->add_option("--path", a->path, "Implementation: golden | sim (SystemC ASIC model, one document at a time) | gpu (CUDA, every W8A8 mode, batched; QMSIM_GPU_PROFILE=1 prints per-kernel times, QMSIM_GPU_GEMM=wgmma|mma-lean|mma-staged|mma-async|mma|dp4a|naive picks the GEMM, the first the default; gpu_ref/README.md lists the other kernel selections)")->capture_default_str();
  c->add_option("--hw", a->hw, "--path sim: hardware config (default configs/hw/default.yaml)");
  c->add_option("--batch", a->batch, "--path gpu: documents per batched forward (log-softmax scoring runs on --threads host threads)")->capture_default_str();
  c->add_option("--warmup", a->warmup,
                 "Untimed calls of the longest documents (--batch of them a call) before the timed run, their results dropped, "
                 "as tools/bench_transformers.py's warm-up batch; -1 = 1 for --path gpu (module loading, buffers), 0 otherwise")
      ->capture_default_str();
  c->add_option("--mode", a->mode, mode_option_help())->capture_default_str();
  c->add_option("--mode-file", a->mode_file, "A mode written as YAML (schema: configs/modes/README.md); FILE:VARIANT picks a variant");
  c->add_option("--alpha1-model", a->alpha1_model, "Mode 6-4: a model calibrated with --alpha 1.0 whose conv output scales requantize the outliers");
  c->add_option("--limit", a->limit, "Evaluate only the first N documents in file order (the original's --testing is 100)");
  c->add_option("--threads", a->threads, "Worker threads (documents in flight); default: all cores");
  c->add_option("--output", a->output, "Write lm-eval style JSON results here (plus FILE.partial.jsonl while running)");
  c->add_flag("--resume", a->resume, "Continue an interrupted run from FILE.partial.jsonl (identical results)");
  c->add_option("--profile", a->profile, "Numerics profile: golden | quamba-compat (default: the model's)");
  c->add_flag("--f16-logprobs", a->f16_logprobs, "Round log-probs and their sum to f16 as lm-eval does on f16 logits");
  c->add_option("--lambada", a->lambada, "LAMBADA jsonl (default: data/lambada_test.jsonl)");
  c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: data/gpt-neox-20b-tokenizer.json)");
  c->add_option("--max-length", a->max_length, "Context window: inputs keep their last N tokens")->capture_default_str();
  c->add_flag("--no-progress", a->no_progress, "No progress output");
  c->callback([a] { run_eval(*a); });
}

}  // namespace app
}  // namespace qmsim
