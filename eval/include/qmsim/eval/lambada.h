// lambada_openai exactly as lm-evaluation-harness defines it (spec §6.3).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace qmsim {
class Tokenizer;
namespace eval {

/// One LAMBADA test document split the lm-eval way: context = words but the last joined by ' ',
/// continuation = ' ' + last word (text.split(' ')).
struct LambadaDoc {
  int index = 0;
  std::string text, context, continuation;
};
/// Reads lambada_test.jsonl (field "text" per line). Throws std::runtime_error naming the file
/// and line on malformed input.
std::vector<LambadaDoc> load_lambada(const std::string& path);

/// Tokenized request: model input = (ctx + cont)[-(max_length+1):][:-1].
struct DocRequest {
  int index = 0;
  std::vector<int32_t> input;         // tokens fed to the model
  std::vector<int32_t> continuation;  // target tokens (from the joint tokenization)
  int n_ctx = 0;                      // context tokens (before truncation)
  std::vector<int> logit_positions;   // input positions whose logits predict continuation[j]
};
DocRequest make_request(const Tokenizer& tok, const LambadaDoc& doc, int max_length = 2048);

struct DocResult {
  int index = 0;
  double loglikelihood = 0;
  bool is_greedy = false;
  int n_ctx = 0, n_cont = 0, n_input = 0;
};
/// One logits row scored: log p(target) and whether target is the (first) argmax.
struct RowScore {
  double logprob = 0;
  bool greedy = false;
};
/// The scoring of one row x[0..V): log_softmax in f64, lp[v] = x[v] - (max + ln Σ e^(x[v] - max))
/// with the sum in ascending index order and e^x, ln x = num::exp_f64, num::log_f64 (the GPU's
/// scoring kernel evaluates the same, so both give the same bits); with f16_logprobs lp is rounded
/// to f16. greedy: target is the lowest index of the maximal lp.
RowScore score_row(const float* x, int vocab, int32_t target, bool f16_logprobs);
/// A document's result from its scored rows (continuation order): ll = Σ logprob in row order (in
/// f16 with f16_logprobs, lm-eval on f16 logits, §6.3), greedy = every row greedy.
DocResult combine_rows(const DocRequest& req, const RowScore* rows, size_t n_rows, bool f16_logprobs);
/// Scores one document from its logits [n_cont, V] (rows in continuation order): score_row per
/// row, then combine_rows.
DocResult score_document(const DocRequest& req, const std::vector<float>& logits, int vocab, bool f16_logprobs);

struct Summary {
  int n = 0;
  double acc = 0, acc_stderr = 0, perplexity = 0, perplexity_stderr = 0;
};
/// acc = mean(is_greedy), acc_stderr = sample stddev / sqrt(n) (lm-eval mean_stderr);
/// perplexity = exp(-mean ll); perplexity_stderr = deterministic bootstrap (seed 1234,
/// `bootstrap_iters` resamples; lm-eval also bootstraps this metric, with its own RNG).
Summary summarize(const std::vector<DocResult>& results, int bootstrap_iters = 1000);

/// A path's scoring function: logits [positions.size(), V] for a token sequence.
using LogitsFn = std::function<std::vector<float>(const std::vector<int32_t>& tokens, const std::vector<int>& positions)>;

/// A path that scores many documents per call (the GPU): logits [positions, V] per document.
using BatchLogitsFn = std::function<std::vector<std::vector<float>>(const std::vector<const DocRequest*>& docs)>;

/// A path that scores on its own (the GPU: log-softmax on the device): RowScores per document
/// (one per continuation token), the same values as score_row on its logits.
using BatchScoresFn = std::function<std::vector<std::vector<RowScore>>(const std::vector<const DocRequest*>& docs)>;

struct EvalOptions {
  int threads = 1;          // documents in flight at once (each doc runs on one thread)
  int limit = -1;           // first N documents in file order; -1 = all
  int batch = 1;            // run_lambada_batched: documents per call
  int in_flight = 2;        // run_lambada_batched: calls in flight (one runs while the last one's documents are scored)
  bool f16_logprobs = false;
  bool resume = false;
  bool progress = true;
  int warmup = 0;           // untimed calls of the longest documents before the timed run (results dropped)
  std::string output;       // result JSON path ("" = none); progress journal at output + ".partial.jsonl"
  nlohmann::json config;    // goes to the result's "config" (model, hash, path, mode, profile, ...)
};
struct EvalRun {
  std::vector<DocResult> results;  // in document order
  Summary summary;
  double seconds = 0;
  int64_t tokens = 0;              // model input tokens processed in this run (not resumed ones)
  int warmup_calls = 0;            // untimed calls made before `seconds` started (EvalOptions::warmup)
  double warmup_seconds = 0;
};
/// Runs the documents through `fn` (each document independent; results do not depend on the
/// thread count or on interruption + --resume). Writes the lm-eval style JSON when output is set.
EvalRun run_lambada(const std::vector<DocRequest>& requests, int vocab, const LogitsFn& fn, const EvalOptions& opt);

/// run_lambada for a batched path: up to opt.batch documents per call, taken in file order by
/// opt.in_flight workers, so that one call runs while the documents of the previous one are scored
/// (`fn` must accept calls from several threads; the GPU path serializes them); opt.threads host
/// threads score (log-softmax) the documents of a call. Scoring, journal, --resume and the result
/// are those of run_lambada, so a batched path gives the same file as its per-document form.
EvalRun run_lambada_batched(const std::vector<DocRequest>& requests, int vocab, const BatchLogitsFn& fn,
                            const EvalOptions& opt);

/// run_lambada_batched for a path that returns scored rows (BatchScoresFn) instead of logits: the
/// host only sums them (combine_rows).
EvalRun run_lambada_scored(const std::vector<DocRequest>& requests, const BatchScoresFn& fn, const EvalOptions& opt);

/// The lm-evaluation-harness shaped result document.
nlohmann::json result_json(const EvalRun& run, const EvalOptions& opt);
/// Human-readable table.
std::string result_table(const EvalRun& run, const EvalOptions& opt);

}  // namespace eval
}  // namespace qmsim
