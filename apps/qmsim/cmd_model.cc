// qmsim synth / calibrate / info / tokenize.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <memory>
#include <sstream>

#include "common.h"
#include "qmsim/golden/calibrate.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/sha256.h"
#include "qmsim/model/synth.h"
#include "qmsim/tokenizer.h"

namespace qmsim {
namespace app {
namespace {

// ------------------------------------------------------------------ synth
struct SynthArgs {
  std::string shape = "mamba-130m", out, dtype = "float32";
  uint64_t seed = 0;
  int d_model = 0, n_layer = 0, vocab = 0, shard_mib = 0;
};

void run_synth(const SynthArgs& a) {
  MambaConfig cfg = shape_preset(a.shape);
  if (a.d_model > 0) { cfg.d_model = a.d_model; cfg.dt_rank = (a.d_model + 15) / 16; }
  if (a.n_layer > 0) cfg.n_layer = a.n_layer;
  if (a.vocab > 0) cfg.vocab_size = a.vocab;
  const FpModel m = synth_model(cfg, a.seed);
  save_fp_checkpoint(m, a.out, a.dtype, static_cast<uint64_t>(a.shard_mib) << 20);
  std::printf("synth: %s (d_model %d, n_layer %d, vocab %d, seed %llu) -> %s [%s]\n", a.shape.c_str(), cfg.d_model,
              cfg.n_layer, cfg.vocab_size, static_cast<unsigned long long>(a.seed), a.out.c_str(), a.dtype.c_str());
}

// ------------------------------------------------------------------ calibrate
struct CalibArgs {
  std::string model, out, corpus, tokenizer, profile = "golden";
  int docs = 512, seqlen = 512, threads = 0, shard_mib = 0;
  double alpha = 0.9995;
};

/// Calibration documents from a corpus file (docs/ARCHITECTURE.md "Calibration data"): books are
/// separated by `<|endoftext|>` lines; inside a book, consecutive paragraphs (blank-line separated)
/// are joined with "\n\n" until the text reaches 2400 bytes; each document is tokenized and cut
/// to its first `seqlen` tokens; documents under 16 tokens are skipped; the first `n` in file
/// order are used.
constexpr size_t kCalibDocBytes = 2400;  // ~575 GPT-NeoX tokens: most documents fill --seqlen 512

std::vector<std::vector<int32_t>> corpus_documents(const std::string& text, const Tokenizer& tok, int n, int seqlen) {
  std::vector<std::vector<int32_t>> docs;
  std::istringstream in(text);
  std::string line, para, doc;
  auto flush_doc = [&](bool force) {
    if (doc.empty() || (!force && doc.size() < kCalibDocBytes)) return;
    std::vector<int32_t> ids = tok.encode(doc);
    if (static_cast<int>(ids.size()) > seqlen) ids.resize(static_cast<size_t>(seqlen));
    if (ids.size() >= 16 && static_cast<int>(docs.size()) < n) docs.push_back(std::move(ids));
    doc.clear();
  };
  auto flush_para = [&]() {
    if (para.empty()) return;
    if (!doc.empty()) doc += "\n\n";
    doc += para;
    para.clear();
    flush_doc(false);
  };
  while (std::getline(in, line) && static_cast<int>(docs.size()) < n) {
    if (line == "<|endoftext|>") { flush_para(); flush_doc(true); continue; }
    if (line.empty()) { flush_para(); continue; }
    if (!para.empty()) para += "\n";
    para += line;
  }
  flush_para();
  flush_doc(true);
  return docs;
}

void run_calibrate(const CalibArgs& a) {
  const FpModel fp = load_fp_checkpoint(a.model);
  const std::string corpus = a.corpus.empty() ? repo_path("data/corpus-valid.txt.xz") : a.corpus;
  const std::string tokfile = a.tokenizer.empty() ? repo_path("data/gpt-neox-20b-tokenizer.json") : a.tokenizer;
  const Tokenizer tok = Tokenizer::from_file(tokfile);
  const std::vector<std::vector<int32_t>> docs = corpus_documents(read_text_file(corpus), tok, a.docs, a.seqlen);
  if (docs.empty()) throw std::runtime_error(corpus + ": no calibration documents found");
  if (static_cast<int>(docs.size()) < a.docs)
    std::fprintf(stderr, "calibrate: warning: %s holds only %zu documents (asked for %d)\n", corpus.c_str(), docs.size(), a.docs);
  for (const auto& d : docs)
    for (int32_t id : d)
      if (id >= fp.cfg.vocab_size) throw std::runtime_error(corpus + ": token id " + std::to_string(id) + " >= model vocab");
  long long ntok = 0;
  for (const auto& d : docs) ntok += static_cast<long long>(d.size());
  std::fprintf(stderr, "calibrate: %zu documents, %lld tokens from %s\n", docs.size(), ntok, corpus.c_str());

  golden::CalibrationOptions o;
  o.percentile_alpha = a.alpha;
  o.threads = a.threads > 0 ? a.threads : hardware_threads();
  o.profile = a.profile;
  // Path-independent metadata (same bytes wherever the checkout lives): the corpus by name and hash.
  std::string corpus_bytes;
  {
    std::ifstream in(corpus, std::ios::binary);
    corpus_bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string corpus_name = corpus.substr(corpus.find_last_of('/') == std::string::npos ? 0 : corpus.find_last_of('/') + 1);
  o.extra_metadata = {{"corpus", corpus_name}, {"corpus_sha256", sha256_hex(corpus_bytes)}, {"docs", docs.size()},
                      {"seqlen", a.seqlen}, {"tokens", ntok},
                      {"document_rule", "paragraphs joined to >= 2400 bytes, first seqlen tokens, file order"}};
  const bool tty = isatty(STDERR_FILENO);
  o.progress = [tty](int done, int total) {
    // A live counter on a terminal; otherwise a line every 10% of the documents.
    if (tty) {
      std::fprintf(stderr, "\rcalibrate: %d/%d documents", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    } else if (done == total || (done * 10 / total) != ((done - 1) * 10 / total)) {
      std::fprintf(stderr, "calibrate: %d/%d documents\n", done, total);
    }
  };
  const QModel q = golden::calibrate(fp, docs, o);
  save_quant_model(q, a.out, static_cast<uint64_t>(a.shard_mib) << 20);
  std::printf("calibrate: %s -> %s (profile %s, alpha %g)\n", a.model.c_str(), a.out.c_str(), a.profile.c_str(), a.alpha);
}

// ------------------------------------------------------------------ info
void print_fp_info(const FpModel& m) {
  const MambaConfig& c = m.cfg;
  std::printf("floating-point Mamba-1 checkpoint: %s\n", m.source_path.c_str());
  std::printf("  storage dtype %s, sha256 %s\n", m.storage_dtype.c_str(), m.source_hash.c_str());
  std::printf("  d_model %d  n_layer %d  vocab %d  d_inner %d  d_state %d  d_conv %d  dt_rank %d  eps %g  tied %s\n",
              c.d_model, c.n_layer, c.vocab_size, c.d_inner(), c.d_state, c.d_conv, c.dt_rank, c.norm_eps,
              c.tie_embeddings ? "yes" : "no");
  long long params = static_cast<long long>(m.embedding.size()) + static_cast<long long>(m.norm_f.size()) +
                     static_cast<long long>(m.lm_head.size());
  for (const auto& l : m.layers)
    params += static_cast<long long>(l.norm_w.size() + l.in_proj.size() + l.conv_w.size() + l.conv_b.size() + l.x_proj.size() +
                                     l.dt_proj_w.size() + l.dt_proj_b.size() + l.A_log.size() + l.D.size() + l.out_proj.size());
  std::printf("  parameters %lld\n", params);
}

void print_quant_info(const QModel& q) {
  const MambaConfig& c = q.cfg;
  std::printf("qmsim W8A8 model: %s\n", q.source_path.c_str());
  std::printf("  numerics profile %s, sha256 %s\n", q.numerics_profile.c_str(), q.source_hash.c_str());
  std::printf("  d_model %d  n_layer %d  vocab %d  d_inner %d  d_state %d  d_conv %d  dt_rank %d\n", c.d_model,
              c.n_layer, c.vocab_size, c.d_inner(), c.d_state, c.d_conv, c.dt_rank);
  std::printf("  %-5s %10s %10s %10s %10s %10s %10s %10s %10s\n", "layer", "s_in", "s_xz", "s_u", "s_xdbl", "s_dt",
              "s_y", "s_h", "w_in");
  for (size_t i = 0; i < q.layers.size(); ++i) {
    const QLayer& l = q.layers[i];
    std::printf("  %-5zu %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g\n", i, l.norm_output_scale,
                l.conv_input_scale, l.u_scale, l.B_scale, l.dt_scale, l.had_output_scale, l.ssm_state_scale, l.in_proj_b);
  }
  if (!q.metadata.is_null()) std::printf("  metadata %s\n", q.metadata.dump().c_str());
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* c = app.add_subcommand("synth", "Write a random-weight FP Mamba-1 checkpoint (HF layout) of a given shape");
  c->add_option("--shape", a->shape, "Preset: mamba-130m, mamba-370m, mamba-tiny-test, mamba-small-test")->capture_default_str();
  c->add_option("--seed", a->seed, "PRNG seed (same seed, same bytes)")->capture_default_str();
  c->add_option("--out", a->out, "Output folder")->required();
  c->add_option("--dtype", a->dtype, "Storage dtype: float32 | float16 | bfloat16")->capture_default_str();
  c->add_option("--d-model", a->d_model, "Override d_model (dt_rank follows)");
  c->add_option("--n-layer", a->n_layer, "Override the number of layers");
  c->add_option("--vocab", a->vocab, "Override the vocabulary size");
  c->add_option("--shard-mib", a->shard_mib, "Split the safetensors into shards of at most N MiB (0: one file)")->capture_default_str();
  c->callback([a] { run_synth(*a); });
}

void add_calibrate_command(CLI::App& app) {
  auto a = std::make_shared<CalibArgs>();
  CLI::App* c = app.add_subcommand("calibrate", "Quamba W8A8 calibration + quantization of an FP checkpoint (spec §1.4, §2.1, §3)");
  c->add_option("--model", a->model, "FP checkpoint folder (HF layout)")->required();
  c->add_option("--out", a->out, "Output folder for the quantized model")->required();
  c->add_option("--corpus", a->corpus, "Calibration text (.txt or .txt.xz); default data/corpus-valid.txt.xz");
  c->add_option("--docs", a->docs, "Number of calibration documents")->capture_default_str();
  c->add_option("--seqlen", a->seqlen, "Tokens per document (first N)")->capture_default_str();
  c->add_option("--alpha", a->alpha, "Percentile of the s_u and s_h observers")->capture_default_str();
  c->add_option("--profile", a->profile, "Numerics profile recorded in the model: golden | quamba-compat")->capture_default_str();
  c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default data/gpt-neox-20b-tokenizer.json)");
  c->add_option("--threads", a->threads, "Threads; default all cores (results do not depend on it)");
  c->add_option("--shard-mib", a->shard_mib, "Split the safetensors into shards of at most N MiB (0: one file)")->capture_default_str();
  c->callback([a] { run_calibrate(*a); });
}

void add_info_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("info", "Shapes, dtypes, scales summary and numerics profile of a model folder");
  c->add_option("--model", *model, "Model folder (FP checkpoint or quantized)")->required();
  c->callback([model] {
    if (is_quant_model_dir(*model)) print_quant_info(load_quant_model(*model));
    else print_fp_info(load_fp_checkpoint(*model));
  });
}

void add_tokenize_command(CLI::App& app) {
  auto text = std::make_shared<std::string>();
  auto tokfile = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("tokenize", "Print GPT-NeoX token ids of a text");
  c->add_option("text", *text, "Text to tokenize")->required();
  c->add_option("--tokenizer", *tokfile, "tokenizer.json (default data/gpt-neox-20b-tokenizer.json)");
  c->callback([text, tokfile] {
    const Tokenizer tok = Tokenizer::from_file(tokfile->empty() ? repo_path("data/gpt-neox-20b-tokenizer.json") : *tokfile);
    const auto ids = tok.encode(*text);
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
  });
}

}  // namespace app
}  // namespace qmsim
