// LAMBADA driver: lm-eval request construction, scoring, statistics, resume, and the full
// pipeline against transformers' scores of the shared fixture model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>

#include "qmsim/eval/lambada.h"
#include "qmsim/numerics.h"
#include "qmsim/golden/forward_fp32.h"
#include "qmsim/model/checkpoint.h"
#include "qmsim/tokenizer.h"
#include "test_util.h"

namespace qmsim {
namespace {

const std::string kLambada = std::string(QMSIM_SOURCE_DIR) + "/data/lambada_test.jsonl";
const std::string kTokenizer = std::string(QMSIM_SOURCE_DIR) + "/data/gpt-neox-20b-tokenizer.json";

TEST(Lambada, SplitsContextAndContinuationLikeLmEval) {
  const auto docs = eval::load_lambada(kLambada);
  ASSERT_EQ(docs.size(), 5153u);
  for (const auto& d : docs) {
    EXPECT_EQ(d.context + d.continuation, d.text);
    EXPECT_EQ(d.continuation[0], ' ');
    EXPECT_EQ(d.continuation.find(' ', 1), std::string::npos);
  }
}

TEST(Lambada, RequestsMatchHuggingFaceTokenization) {
  const Tokenizer tok = Tokenizer::from_file(kTokenizer);
  const auto docs = eval::load_lambada(kLambada);
  const auto refs = test::load_jsonl(std::string(QMSIM_SHARED_DATA) + "/reference/tokenizer-ref-lambada.jsonl.xz");
  for (int i = 0; i < 300; ++i) {
    const eval::DocRequest r = eval::make_request(tok, docs[i]);
    const auto ctx = refs[i]["context_ids"].get<std::vector<int32_t>>();
    const auto cont = refs[i]["continuation_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(r.n_ctx, static_cast<int>(ctx.size())) << "doc " << i;
    EXPECT_EQ(r.continuation, cont) << "doc " << i;
    std::vector<int32_t> inp = ctx;
    inp.insert(inp.end(), cont.begin(), cont.end());
    inp.pop_back();
    EXPECT_EQ(r.input, inp) << "doc " << i;
    ASSERT_EQ(r.logit_positions.size(), cont.size());
    EXPECT_EQ(r.logit_positions.back(), static_cast<int>(inp.size()) - 1);
  }
}

TEST(Lambada, TruncatesToTheLastMaxLengthTokens) {
  const Tokenizer tok = Tokenizer::from_file(kTokenizer);
  const auto docs = eval::load_lambada(kLambada);
  const eval::DocRequest full = eval::make_request(tok, docs[0]);
  const eval::DocRequest cut = eval::make_request(tok, docs[0], 8);
  ASSERT_EQ(cut.input.size(), 8u);
  // (ctx + cont)[-(8+1):][:-1]: the 8 tokens before the last one.
  std::vector<int32_t> all(full.input);
  all.push_back(full.continuation.back());
  EXPECT_EQ(cut.input, std::vector<int32_t>(all.end() - 9, all.end() - 1));
  EXPECT_EQ(cut.continuation, full.continuation);
}

TEST(Score, UniformLogitsTieGoesToLowestIndex) {
  eval::DocRequest r;
  r.continuation = {1};
  r.input = {5};
  r.logit_positions = {0};
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f, 0.0f};
  eval::DocResult d = eval::score_document(r, logits, 4, false);
  EXPECT_FALSE(d.is_greedy);  // argmax tie -> index 0, target 1
  EXPECT_NEAR(d.loglikelihood, -std::log(4.0), 1e-15);
  r.continuation = {0};
  EXPECT_TRUE(eval::score_document(r, logits, 4, false).is_greedy);
}

TEST(Score, LogSoftmaxKnownAnswer) {
  eval::DocRequest r;
  r.continuation = {2, 0};
  r.input = {1, 2};
  r.logit_positions = {0, 1};
  // Row 0: logits (0, ln 2, ln 5) -> p = (1/8, 2/8, 5/8); row 1: (ln 3, 0, 0) -> p0 = 3/5.
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(5.0f), std::log(3.0f), 0.0f, 0.0f};
  const eval::DocResult d = eval::score_document(r, logits, 3, false);
  EXPECT_TRUE(d.is_greedy);
  EXPECT_NEAR(d.loglikelihood, std::log(5.0 / 8.0) + std::log(3.0 / 5.0), 1e-6);
}

// score_row is the f64 log-softmax: against an independent long-double evaluation on random
// rows (within 1e-13 relative), greedy when the target is the first maximum.
TEST(Score, ScoreRowMatchesLongDoubleLogSoftmax) {
  std::mt19937 g(5);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (int trial = 0; trial < 20; ++trial) {
    const int V = 1000 + trial * 37;
    std::vector<float> x(V);
    for (float& v : x) v = nd(g);
    long double mx = x[0];
    int arg = 0;
    for (int v = 1; v < V; ++v)
      if (x[v] > mx) mx = x[v], arg = v;
    long double s = 0;
    for (int v = 0; v < V; ++v) s += std::exp(static_cast<long double>(x[v]) - mx);
    for (const int t : {0, arg, V - 1}) {
      const eval::RowScore r = eval::score_row(x.data(), V, t, false);
      const long double want = static_cast<long double>(x[t]) - mx - std::log(s);
      EXPECT_NEAR(r.logprob, static_cast<double>(want), 1e-13 * std::fabs(static_cast<double>(want)) + 1e-15) << trial;
      EXPECT_EQ(r.greedy, t == arg) << trial << " target " << t;
    }
  }
  // f16 log-probs are f16 values.
  const std::vector<float> x = {0.1f, 2.0f, -3.0f};
  const double lp = eval::score_row(x.data(), 3, 0, true).logprob;
  EXPECT_EQ(lp, static_cast<double>(num::round_to_f16(static_cast<float>(lp))));
}

// combine_rows sums in row order (f64, or f16 with f16 log-probs) and needs one row per
// continuation token.
TEST(Score, CombineRows) {
  eval::DocRequest r;
  r.continuation = {1, 2, 3};
  const eval::RowScore rows[3] = {{-1.25, true}, {-0.5, true}, {-2.0, false}};
  const eval::DocResult d = eval::combine_rows(r, rows, 3, false);
  EXPECT_EQ(d.loglikelihood, -3.75);
  EXPECT_FALSE(d.is_greedy);
  EXPECT_EQ(d.n_cont, 3);
  EXPECT_THROW(eval::combine_rows(r, rows, 2, false), std::runtime_error);
  EXPECT_TRUE(eval::combine_rows(r, rows, 3, false).is_greedy == false);
  // f16: every partial sum rounded to f16 (-0.1 three times: -0.300048828125 by numpy float16, not the f64 sum).
  const eval::RowScore tenths[3] = {{-0.1, true}, {-0.1, true}, {-0.1, true}};
  const eval::DocResult h = eval::combine_rows(r, tenths, 3, true);
  EXPECT_EQ(h.loglikelihood, -0.300048828125);
  EXPECT_NE(h.loglikelihood, -0.1 + -0.1 + -0.1);
  EXPECT_TRUE(h.is_greedy);
}

TEST(Summary, TextbookMeanStderrAndPerplexity) {
  std::vector<eval::DocResult> rs(4);
  const bool g[4] = {true, false, true, true};
  const double ll[4] = {-1.0, -2.0, -3.0, -2.0};
  for (int i = 0; i < 4; ++i) { rs[i].is_greedy = g[i]; rs[i].loglikelihood = ll[i]; }
  const eval::Summary s = eval::summarize(rs, 2000);
  EXPECT_DOUBLE_EQ(s.acc, 0.75);
  EXPECT_DOUBLE_EQ(s.acc_stderr, 0.25);  // sample sd 0.5 / sqrt(4)
  EXPECT_NEAR(s.perplexity, std::exp(2.0), 1e-12);
  EXPECT_GT(s.perplexity_stderr, 0.0);
  EXPECT_LT(s.perplexity_stderr, 5.0);
}

// The driver end to end on the fixture, against transformers' own lm-eval style scores.
class FixtureEval : public ::testing::Test {
 protected:
  void SetUp() override {
    model = load_fp_checkpoint(test::fixture_dir());
    plan = golden::make_fp32_plan(model);
    const Tokenizer tok = Tokenizer::from_file(kTokenizer);
    auto docs = eval::load_lambada(kLambada);
    docs.resize(50);
    for (const auto& d : docs) reqs.push_back(eval::make_request(tok, d));
    fn = [this](const std::vector<int32_t>& t, const std::vector<int>& p) {
      golden::ForwardOptions o;
      return golden::forward_fp32(model, *plan, t, p, o);
    };
  }
  FpModel model;
  std::shared_ptr<const golden::Fp32Plan> plan;
  std::vector<eval::DocRequest> reqs;
  eval::LogitsFn fn;
};

TEST_F(FixtureEval, MatchesTransformersScoresOnFirst50Docs) {
  std::ifstream in(test::fixture_dir() + "/ref_lambada_first50.json");
  const nlohmann::json ref = nlohmann::json::parse(in);
  eval::EvalOptions o;
  o.threads = 2;
  o.progress = false;
  const eval::EvalRun run = eval::run_lambada(reqs, model.cfg.vocab_size, fn, o);
  ASSERT_EQ(run.results.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const auto& s = ref["samples"][i];
    EXPECT_EQ(run.results[i].n_ctx, s["n_ctx"].get<int>()) << i;
    EXPECT_EQ(run.results[i].n_cont, s["n_cont"].get<int>()) << i;
    EXPECT_EQ(run.results[i].is_greedy, s["is_greedy"].get<bool>()) << i;
    const double want = s["loglikelihood"];
    EXPECT_NEAR(run.results[i].loglikelihood, want, 1e-4 * std::fabs(want)) << i;
  }
  EXPECT_DOUBLE_EQ(run.summary.acc, ref["results"]["acc"].get<double>());
  EXPECT_NEAR(run.summary.perplexity / ref["results"]["perplexity"].get<double>(), 1.0, 1e-3);
}

TEST_F(FixtureEval, BatchedDriverGivesTheSameResultsAsPerDocument) {
  reqs.resize(23);
  eval::EvalOptions o;
  o.threads = 2;
  o.progress = false;
  const eval::EvalRun per_doc = eval::run_lambada(reqs, model.cfg.vocab_size, fn, o);
  // One call at a time, and calls overlapping with the scoring of earlier ones (in_flight 2, 3).
  for (const int in_flight : {1, 2, 3}) {
    std::mutex mu;
    std::vector<size_t> batch_sizes;
    const eval::BatchLogitsFn batched = [&](const std::vector<const eval::DocRequest*>& docs) {
      {
        std::lock_guard<std::mutex> lock(mu);
        batch_sizes.push_back(docs.size());
      }
      std::vector<std::vector<float>> out;
      for (const auto* d : docs) out.push_back(fn(d->input, d->logit_positions));
      return out;
    };
    o.batch = 5;
    o.in_flight = in_flight;
    const eval::EvalRun b = eval::run_lambada_batched(reqs, model.cfg.vocab_size, batched, o);
    if (in_flight == 1) {
      EXPECT_EQ(batch_sizes, (std::vector<size_t>{5, 5, 5, 5, 3}));  // file order, the last one partial
    } else {
      std::sort(batch_sizes.begin(), batch_sizes.end());
      EXPECT_EQ(batch_sizes, (std::vector<size_t>{3, 5, 5, 5, 5})) << "in_flight " << in_flight;
    }
    ASSERT_EQ(b.results.size(), per_doc.results.size());
    for (size_t i = 0; i < b.results.size(); ++i) {
      EXPECT_EQ(b.results[i].index, per_doc.results[i].index);
      EXPECT_EQ(b.results[i].loglikelihood, per_doc.results[i].loglikelihood) << i << " in_flight " << in_flight;
      EXPECT_EQ(b.results[i].is_greedy, per_doc.results[i].is_greedy) << i << " in_flight " << in_flight;
    }
    EXPECT_EQ(b.summary.perplexity, per_doc.summary.perplexity);
  }
  const eval::BatchLogitsFn short_answer = [&](const std::vector<const eval::DocRequest*>& docs) {
    return std::vector<std::vector<float>>(docs.size() - 1);
  };
  EXPECT_THROW(eval::run_lambada_batched(reqs, model.cfg.vocab_size, short_answer, o), std::runtime_error);
}

// run_lambada_scored (a path that scores on its own) gives run_lambada's results when its rows
// are score_row of the same logits.
TEST_F(FixtureEval, ScoredDriverGivesTheSameResultsAsPerDocument) {
  reqs.resize(12);
  eval::EvalOptions o;
  o.threads = 2;
  o.progress = false;
  const eval::EvalRun per_doc = eval::run_lambada(reqs, model.cfg.vocab_size, fn, o);
  const int V = model.cfg.vocab_size;
  const eval::BatchScoresFn scored = [&](const std::vector<const eval::DocRequest*>& docs) {
    std::vector<std::vector<eval::RowScore>> out;
    for (const auto* d : docs) {
      const std::vector<float> lg = fn(d->input, d->logit_positions);
      std::vector<eval::RowScore> rows;
      for (size_t j = 0; j < d->continuation.size(); ++j)
        rows.push_back(eval::score_row(lg.data() + j * V, V, d->continuation[j], false));
      out.push_back(rows);
    }
    return out;
  };
  o.batch = 5;
  const eval::EvalRun b = eval::run_lambada_scored(reqs, scored, o);
  ASSERT_EQ(b.results.size(), per_doc.results.size());
  for (size_t i = 0; i < b.results.size(); ++i) {
    EXPECT_EQ(b.results[i].loglikelihood, per_doc.results[i].loglikelihood) << i;
    EXPECT_EQ(b.results[i].is_greedy, per_doc.results[i].is_greedy) << i;
  }
  const eval::BatchScoresFn short_answer = [&](const std::vector<const eval::DocRequest*>& docs) {
    return std::vector<std::vector<eval::RowScore>>(docs.size());  // no rows: continuation mismatch
  };
  EXPECT_THROW(eval::run_lambada_scored(reqs, short_answer, o), std::runtime_error);
}

// --warmup: the untimed calls come first, hold the longest documents (batch of them a call), are
// not counted in the run's tokens, and leave the results those of a run without them.
TEST_F(FixtureEval, WarmupCallsTakeTheLongestDocumentsAndChangeNoResult) {
  reqs.resize(11);
  eval::EvalOptions o;
  o.threads = 1;
  o.progress = false;
  o.batch = 4;
  o.in_flight = 1;
  std::vector<std::vector<size_t>> calls;  // the input lengths of each call, in call order
  const eval::BatchLogitsFn batched = [&](const std::vector<const eval::DocRequest*>& docs) {
    std::vector<size_t> lens;
    std::vector<std::vector<float>> out;
    for (const auto* d : docs) lens.push_back(d->input.size()), out.push_back(fn(d->input, d->logit_positions));
    calls.push_back(lens);
    return out;
  };
  const eval::EvalRun cold = eval::run_lambada_batched(reqs, model.cfg.vocab_size, batched, o);
  EXPECT_EQ(cold.warmup_calls, 0);
  ASSERT_EQ(calls.size(), 3u);
  calls.clear();
  o.warmup = 2;
  const eval::EvalRun warm = eval::run_lambada_batched(reqs, model.cfg.vocab_size, batched, o);
  EXPECT_EQ(warm.warmup_calls, 2);
  ASSERT_EQ(calls.size(), 5u);  // 2 warm-up calls, then the 3 timed ones
  std::vector<size_t> all;
  for (const auto& r : reqs) all.push_back(r.input.size());
  std::sort(all.rbegin(), all.rend());
  std::vector<size_t> warmed = calls[0];
  warmed.insert(warmed.end(), calls[1].begin(), calls[1].end());
  std::sort(warmed.rbegin(), warmed.rend());
  EXPECT_EQ(warmed, std::vector<size_t>(all.begin(), all.begin() + 8)) << "the 8 longest documents";
  EXPECT_EQ(warm.tokens, cold.tokens);
  ASSERT_EQ(warm.results.size(), cold.results.size());
  for (size_t i = 0; i < warm.results.size(); ++i) {
    EXPECT_EQ(warm.results[i].loglikelihood, cold.results[i].loglikelihood) << i;
    EXPECT_EQ(warm.results[i].is_greedy, cold.results[i].is_greedy) << i;
  }
  // More warm-up calls than the documents fill: as many as there are batches.
  calls.clear();
  o.warmup = 10;
  EXPECT_EQ(eval::run_lambada_batched(reqs, model.cfg.vocab_size, batched, o).warmup_calls, 3);
}

TEST_F(FixtureEval, ResumeAfterInterruptionGivesIdenticalResults) {
  reqs.resize(12);
  const std::string out = ::testing::TempDir() + "/qmsim_resume_test.json";
  std::remove(out.c_str());
  std::remove((out + ".partial.jsonl").c_str());
  eval::EvalOptions o;
  o.threads = 1;
  o.progress = false;
  o.output = out;
  o.config = {{"model_hash", model.source_hash}, {"mode", "fp32"}, {"path", "golden"}};
  // A run that dies after 5 documents.
  int calls = 0;
  eval::LogitsFn dying = [&](const std::vector<int32_t>& t, const std::vector<int>& p) {
    if (++calls > 5) throw std::runtime_error("simulated interruption");
    return fn(t, p);
  };
  EXPECT_THROW(eval::run_lambada(reqs, model.cfg.vocab_size, dying, o), std::runtime_error);
  // Resume with 2 threads: only the 7 missing documents are computed.
  o.resume = true;
  o.threads = 2;
  int resumed_calls = 0;
  eval::LogitsFn counting = [&](const std::vector<int32_t>& t, const std::vector<int>& p) {
    ++resumed_calls;
    return fn(t, p);
  };
  const eval::EvalRun resumed = eval::run_lambada(reqs, model.cfg.vocab_size, counting, o);
  EXPECT_EQ(resumed_calls, 7);
  // A fresh uninterrupted run gives the same samples and summary.
  eval::EvalOptions f;
  f.progress = false;
  const eval::EvalRun fresh = eval::run_lambada(reqs, model.cfg.vocab_size, fn, f);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(resumed.results[i].loglikelihood, fresh.results[i].loglikelihood) << i;
    EXPECT_EQ(resumed.results[i].is_greedy, fresh.results[i].is_greedy) << i;
  }
  EXPECT_EQ(resumed.summary.perplexity, fresh.summary.perplexity);
  std::ifstream res(out);
  const nlohmann::json j = nlohmann::json::parse(res);
  EXPECT_EQ(j["samples"]["lambada_openai"].size(), 12u);
  EXPECT_TRUE(j["results"]["lambada_openai"].contains("acc,none"));
  EXPECT_TRUE(j["results"]["lambada_openai"].contains("perplexity_stderr,none"));
  EXPECT_FALSE(std::ifstream(out + ".partial.jsonl").good());  // journal removed at the end
}

TEST_F(FixtureEval, ResumeRefusesAJournalOfAnotherRun) {
  reqs.resize(3);
  const std::string out = ::testing::TempDir() + "/qmsim_resume_mismatch.json";
  {
    std::ofstream j(out + ".partial.jsonl");
    j << R"({"resume_key":{"mode":"0","limit":-1,"f16_logprobs":false}})" << "\n";
  }
  eval::EvalOptions o;
  o.progress = false;
  o.output = out;
  o.resume = true;
  o.config = {{"mode", "fp32"}};
  EXPECT_THROW(eval::run_lambada(reqs, model.cfg.vocab_size, fn, o), std::runtime_error);
}

TEST(Lambada, MalformedFileNamesFileAndLine) {
  const std::string p = ::testing::TempDir() + "/bad_lambada.jsonl";
  {
    std::ofstream o(p);
    o << R"({"text": "a b"})" << "\n" << R"({"txt": "a b"})" << "\n";
  }
  try {
    eval::load_lambada(p);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p + ":2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("text"), std::string::npos) << e.what();
  }
  EXPECT_THROW(eval::load_lambada(p + ".missing"), std::runtime_error);
}

}  // namespace
}  // namespace qmsim
