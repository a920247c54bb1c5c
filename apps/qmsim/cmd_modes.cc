// qmsim compare-modes: LAMBADA for a list of experiment modes on one model, with confidence
// intervals, paired tests and a plot. qmsim diverge: layer-by-layer, op-by-op divergence between
// two modes on the same documents.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "common.h"
#include "png_chart.h"
#include "qmsim/eval/lambada.h"
#include "qmsim/eval/stats.h"
#include "qmsim/golden/capture.h"
#include "qmsim/golden/mode_ops.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace app {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string fmt_p(double p) { return p < 1e-4 ? "<1e-4" : fmt("%.4f", p); }

// ------------------------------------------------------------------------------------------ compare-modes

struct CompareArgs {
  std::string model, modes, baselines = "0,fp32", output, plot, lambada, tokenizer, profile, alpha1_model;
  std::vector<std::string> reuse;
  int limit = -1, threads = 0, max_length = 2048, bootstrap = 2000;
  bool no_progress = false;
};

struct ModeRun {
  config::Mode mode;
  std::string same_as;  // label of an earlier mode with the same computation (results shared)
  eval::EvalRun run;
  eval::Interval acc_ci, ppl_ci;
};

nlohmann::json paired_json(const ModeRun& a, const ModeRun& b, int iters) {
  // a = baseline, b = this mode; same documents in the same order.
  int64_t only_a = 0, only_b = 0;
  std::vector<double> la, lb;
  for (size_t i = 0; i < a.run.results.size(); ++i) {
    const bool ga = a.run.results[i].is_greedy, gb = b.run.results[i].is_greedy;
    only_a += ga && !gb;
    only_b += gb && !ga;
    la.push_back(a.run.results[i].loglikelihood);
    lb.push_back(b.run.results[i].loglikelihood);
  }
  const eval::PairedBootstrap pb = eval::paired_bootstrap(la, lb, iters);
  return {{"baseline", a.mode.label()},
          {"delta_acc", b.run.summary.acc - a.run.summary.acc},
          {"mcnemar", {{"only_baseline_correct", only_a}, {"only_mode_correct", only_b},
                       {"p_value", eval::mcnemar_exact_p(only_a, only_b)}}},
          {"loglikelihood_paired_bootstrap",
           {{"mean_diff", pb.mean_diff}, {"ci95", {pb.interval.lo, pb.interval.hi}}, {"p_value", pb.p_value}}}};
}

void run_compare(const CompareArgs& a) {
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  const int threads = a.threads > 0 ? a.threads : hardware_threads();
  std::vector<std::string> names = a.modes.empty() ? config::builtin_mode_names() : split_list(a.modes);
  std::vector<ModeRun> runs;
  for (const auto& n : names) {
    ModeRun r;
    r.mode = mode_from_list_item(n);
    runs.push_back(r);
  }
  ModelSet models(model_dir, threads);
  if (!a.alpha1_model.empty()) models.set_alpha1_model(a.alpha1_model);
  const std::vector<eval::DocRequest> reqs = lambada_requests(a.lambada, a.tokenizer, 0, a.limit, a.max_length);
  std::fprintf(stderr, "qmsim compare-modes: %zu modes x %zu documents, model %s, %d threads\n", runs.size(),
               reqs.size(), model_dir.c_str(), threads);

  for (size_t i = 0; i < runs.size(); ++i) {
    ModeRun& r = runs[i];
    // Modes with the same computation on every site share one run (e.g. 2-3:committed and 2-1).
    for (size_t j = 0; j < i && !r.mode.fp32_reference; ++j)
      if (!runs[j].mode.fp32_reference && runs[j].same_as.empty() && runs[j].mode.spec.same_computation(r.mode.spec)) {
        r.same_as = runs[j].mode.label();
        r.run = runs[j].run;
        break;
      }
    // Results of an earlier compare-modes run of the same model, documents and profile.
    for (const auto& file : a.reuse) {
      if (!r.same_as.empty()) break;
      std::ifstream in(file);
      if (!in) throw std::runtime_error("--reuse " + file + ": cannot open");
      nlohmann::json prev;
      try {
        prev = nlohmann::json::parse(in);
      } catch (const std::exception& e) {
        throw std::runtime_error("--reuse " + file + ": not JSON: " + e.what());
      }
      if (!prev.contains("modes") || !prev.contains("config"))
        throw std::runtime_error("--reuse " + file + ": not a compare-modes result (no modes/config)");
      for (const auto& m : prev["modes"]) {
        if (m.value("mode", "") != r.mode.label()) continue;
        // Older result files have no per-mode model hash: then the model path must match.
        const bool same_model = m.contains("model_hash") ? m["model_hash"] == models.model_hash(r.mode)
                                                         : prev["config"].value("model", "") == model_dir;
        if (!same_model || m.value("profile", "") != models.profile_name(r.mode, a.profile) ||
            m["documents"]["rows"].size() != reqs.size())
          throw std::runtime_error("--reuse " + file + ": mode " + r.mode.label() +
                                   " was run on another model, profile or document set");
        for (size_t k = 0; k < reqs.size(); ++k) {
          const auto& row = m["documents"]["rows"][k];
          if (row[0].get<int>() != reqs[k].index)
            throw std::runtime_error("--reuse " + file + ": document order differs at row " + std::to_string(k));
          eval::DocResult d;
          d.index = row[0].get<int>();
          d.loglikelihood = row[1].get<double>();
          d.is_greedy = row[2].get<bool>();
          r.run.results.push_back(d);
        }
        r.run.summary = eval::summarize(r.run.results);
        r.same_as = "reused from " + file;
        break;
      }
    }
    if (r.same_as.empty()) {
      const std::string profile_name = models.profile_name(r.mode, a.profile);
      const num::NumericsProfile profile = profile_by_name(profile_name);
      eval::EvalOptions eo;
      eo.threads = threads;
      eo.progress = !a.no_progress;
      eo.f16_logprobs = profile.f16_logprobs;
      std::fprintf(stderr, "[%zu/%zu] mode %s (%s)\n", i + 1, runs.size(), r.mode.label().c_str(),
                   r.mode.spec.description.c_str());
      r.run = eval::run_lambada(reqs, models.vocab_size(r.mode), models.logits_fn(r.mode, profile), eo);
    } else {
      std::fprintf(stderr, "[%zu/%zu] mode %s: %s\n", i + 1, runs.size(), r.mode.label().c_str(),
                   r.same_as.rfind("reused", 0) == 0 ? r.same_as.c_str() : ("same computation as " + r.same_as).c_str());
    }
    int64_t correct = 0;
    std::vector<double> ll;
    for (const auto& d : r.run.results) {
      correct += d.is_greedy;
      ll.push_back(d.loglikelihood);
    }
    r.acc_ci = eval::wilson_interval(correct, static_cast<int64_t>(r.run.results.size()));
    r.ppl_ci = eval::bootstrap_perplexity_interval(ll, a.bootstrap);
  }

  // Paired tests against each baseline present in the list.
  std::vector<const ModeRun*> bases;
  for (const auto& b : split_list(a.baselines)) {
    const config::Mode bm = mode_from_args(b, "");
    for (const auto& r : runs)
      if (r.mode.label() == bm.label()) bases.push_back(&r);
  }

  // Table.
  std::ostringstream t;
  t << "LAMBADA (lambada_openai), " << reqs.size() << " documents, model " << model_dir << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-30s %-34s %21s %25s", "mode", "conv1d output", "SSM", "acc [95% Wilson]",
                "ppl [95% bootstrap]");
  t << line;
  for (const ModeRun* b : bases) t << "  vs " << b->mode.label() << ": dAcc  McNemar p  dLL  p";
  t << "\n";
  for (const auto& r : runs) {
    std::snprintf(line, sizeof line, "%-16s %-30.30s %-34.34s %6.4f [%6.4f,%6.4f] %9.3f [%9.3f,%9.3f]",
                  r.mode.label().c_str(), r.mode.fp32_reference ? "FP32" : r.mode.spec.conv_precision.c_str(),
                  r.mode.fp32_reference ? "FP32" : r.mode.spec.ssm_precision.c_str(), r.run.summary.acc, r.acc_ci.lo,
                  r.acc_ci.hi, r.run.summary.perplexity, r.ppl_ci.lo, r.ppl_ci.hi);
    t << line;
    for (const ModeRun* b : bases) {
      if (b == &r) {
        t << "  (baseline)";
        continue;
      }
      const nlohmann::json pj = paired_json(*b, r, a.bootstrap);
      std::snprintf(line, sizeof line, "  %+.4f %9s %+.4f %6s", pj["delta_acc"].get<double>(),
                    fmt_p(pj["mcnemar"]["p_value"].get<double>()).c_str(),
                    pj["loglikelihood_paired_bootstrap"]["mean_diff"].get<double>(),
                    fmt_p(pj["loglikelihood_paired_bootstrap"]["p_value"].get<double>()).c_str());
      t << line;
    }
    if (!r.same_as.empty()) t << "  (= " << r.same_as << ")";
    t << "\n";
  }
  std::cout << t.str() << std::flush;

  // JSON.
  nlohmann::json j;
  j["config"] = {{"model", model_dir}, {"documents", reqs.size()}, {"limit", a.limit}, {"git_revision", git_revision()},
                 {"bootstrap_iters", a.bootstrap}, {"threads", threads}, {"task", "lambada_openai"}};
  for (const auto& r : runs) {
    nlohmann::json m;
    m["mode"] = r.mode.label();
    m["description"] = r.mode.fp32_reference ? "FP32 reference" : r.mode.spec.description;
    m["file"] = r.mode.spec.file;
    m["conv1d_output"] = r.mode.fp32_reference ? "FP32" : r.mode.spec.conv_precision;
    m["ssm"] = r.mode.fp32_reference ? "FP32" : r.mode.spec.ssm_precision;
    m["profile"] = models.profile_name(r.mode, a.profile);
    m["model_hash"] = models.model_hash(r.mode);
    m["acc"] = r.run.summary.acc;
    m["acc_stderr"] = r.run.summary.acc_stderr;
    m["acc_wilson95"] = {r.acc_ci.lo, r.acc_ci.hi};
    m["perplexity"] = r.run.summary.perplexity;
    m["perplexity_bootstrap95"] = {r.ppl_ci.lo, r.ppl_ci.hi};
    if (r.same_as.rfind("reused", 0) == 0)
      m["results_from"] = r.same_as;
    else if (!r.same_as.empty())
      m["same_computation_as"] = r.same_as;
    m["seconds"] = r.run.seconds;
    nlohmann::json paired = nlohmann::json::array();
    for (const ModeRun* b : bases)
      if (b != &r) paired.push_back(paired_json(*b, r, a.bootstrap));
    m["paired_tests"] = paired;
    nlohmann::json docs = nlohmann::json::array();
    for (const auto& d : r.run.results) docs.push_back({d.index, d.loglikelihood, d.is_greedy});
    m["documents"] = {{"columns", {"index", "loglikelihood", "is_greedy"}}, {"rows", docs}};
    j["modes"].push_back(m);
  }
  if (!a.output.empty()) write_json_file("--output", a.output, j);

  // Plot: accuracy and perplexity per mode with their 95% intervals.
  const std::string plot = plot_path(a.plot, a.output);
  if (!plot.empty()) {
    chart::CategoryChart acc, ppl;
    chart::CategorySeries sa, sp;
    for (const auto& r : runs) {
      acc.categories.push_back(r.mode.label());
      sa.value.push_back(r.run.summary.acc);
      sa.lo.push_back(r.acc_ci.lo);
      sa.hi.push_back(r.acc_ci.hi);
      sp.value.push_back(r.run.summary.perplexity);
      sp.lo.push_back(r.ppl_ci.lo);
      sp.hi.push_back(r.ppl_ci.hi);
    }
    ppl.categories = acc.categories;
    acc.series = {sa};
    ppl.series = {sp};
    acc.title = "LAMBADA accuracy per mode (" + std::to_string(reqs.size()) + " docs, 95% Wilson CI)";
    acc.y_label = "accuracy";
    ppl.title = "LAMBADA perplexity per mode (95% bootstrap CI)";
    ppl.y_label = "perplexity";
    ppl.x_label = "mode";
    ppl.log_y = true;
    const int width = std::max(900, 70 * static_cast<int>(runs.size()) + 200);
    chart::write_png(chart::render_panels({acc, ppl}, width, 420), plot);
    std::fprintf(stderr, "plot: %s\n", plot.c_str());
  }
}

// ------------------------------------------------------------------------------------------ diverge

struct DivergeArgs {
  std::string model, modes, output, plot, lambada, tokenizer, profile, alpha1_model;
  int docs = 4, first_doc = 0, threads = 0;
};

/// Divergence of one tensor (name) accumulated over documents.
struct TensorDiff {
  std::string name, dtype;
  int64_t n = 0, n_diff = 0;
  double max_abs = 0, sq_err = 0, sq_a = 0, sq_b = 0, dot = 0;
  int64_t lsb_hist[4] = {0, 0, 0, 0};  // |d| = 1, 2, 3..7, >= 8 LSB (int8 tensors)
  int64_t sat_a = 0, sat_b = 0;        // int8 codes at -128 or 127
  double nmse() const { return sq_a > 0 ? sq_err / sq_a : (sq_err > 0 ? INFINITY : 0.0); }
  double cosine() const { return sq_a > 0 && sq_b > 0 ? dot / std::sqrt(sq_a * sq_b) : (sq_err == 0 ? 1.0 : 0.0); }
};

size_t elem_count(const golden::CapturedTensor& t) {
  size_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  return n;
}

void accumulate(TensorDiff& d, const golden::CapturedTensor& a, const golden::CapturedTensor& b) {
  const size_t n = elem_count(a);
  const bool i8 = a.dtype == "int8";
  for (size_t i = 0; i < n; ++i) {
    const double x = captured_value(a, i), y = captured_value(b, i);
    const double e = std::fabs(x - y);
    d.n += 1;
    if (x != y) d.n_diff += 1;
    if (std::isfinite(e)) {
      d.max_abs = std::max(d.max_abs, e);
      d.sq_err += e * e;
    }
    if (std::isfinite(x) && std::isfinite(y)) {
      d.sq_a += x * x;
      d.sq_b += y * y;
      d.dot += x * y;
    }
    if (i8) {
      const int lsb = static_cast<int>(e);
      if (lsb >= 1) d.lsb_hist[lsb == 1 ? 0 : lsb == 2 ? 1 : lsb < 8 ? 2 : 3] += 1;
      d.sat_a += (x == 127 || x == -128);
      d.sat_b += (y == 127 || y == -128);
    }
  }
}

// "layers.12.ssm.out" -> (12, "ssm.out"); model-level tensors -> (-1, name).
std::pair<int, std::string> split_layer(const std::string& name) {
  if (name.rfind("layers.", 0) != 0) return {-1, name};
  const size_t dot = name.find('.', 7);
  return {std::atoi(name.substr(7, dot - 7).c_str()), name.substr(dot + 1)};
}

void run_diverge(const DivergeArgs& a) {
  const std::vector<std::string> names = split_list(a.modes);
  if (names.size() != 2) throw std::runtime_error("--modes: give exactly two modes, e.g. --modes 0,2-1");
  std::vector<config::Mode> modes;
  for (const auto& n : names) {
    modes.push_back(mode_from_list_item(n));
    if (modes.back().fp32_reference)
      throw std::runtime_error("--modes " + a.modes + ": diverge compares two W8A8 modes (the FP32 reference has no int8 sites)");
  }
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  const int threads = a.threads > 0 ? a.threads : hardware_threads();
  ModelSet models(model_dir, threads);
  const QModel& q = models.quant();
  if (!a.alpha1_model.empty()) models.set_alpha1_model(a.alpha1_model);
  const std::string profile_name = a.profile.empty() ? q.numerics_profile : a.profile;
  const num::NumericsProfile profile = profile_by_name(profile_name);
  const std::vector<eval::DocRequest> reqs = lambada_requests(a.lambada, a.tokenizer, a.first_doc, a.docs);
  if (reqs.empty()) throw std::runtime_error("--first-doc/--docs select no documents");

  std::map<std::string, TensorDiff> diffs;
  std::vector<std::string> order;  // dataflow order of A's first document
  std::set<std::string> only_a, only_b;
  golden::ModeStats stats[2];
  std::vector<std::vector<float>> conv_vmax(2, std::vector<float>(q.cfg.n_layer, 0.0f));
  for (size_t di = 0; di < reqs.size(); ++di) {
    std::fprintf(stderr, "diverge: document %d (%zu tokens) [%zu/%zu]\n", reqs[di].index, reqs[di].input.size(),
                 di + 1, reqs.size());
    golden::Capture cap[2];
    for (int m = 0; m < 2; ++m) {
      golden::ForwardOptions o;
      o.threads = threads;
      o.profile = profile;
      o.mode = modes[m].spec;
      o.capture = &cap[m];
      o.mode_stats = &stats[m];
      o.alpha1_u_scales = models.alpha1_u_scales();
      golden::forward_w8a8(q, reqs[di].input, reqs[di].logit_positions, o);
    }
    for (const std::string& name : cap[0].order()) {
      const golden::CapturedTensor* tb = cap[1].find(name);
      const golden::CapturedTensor& ta = cap[0].tensors().at(name);
      if (tb == nullptr || tb->dtype != ta.dtype || tb->shape != ta.shape) {
        only_a.insert(name);
        continue;
      }
      if (!diffs.count(name)) {
        order.push_back(name);
        diffs[name].name = name;
        diffs[name].dtype = ta.dtype;
      }
      accumulate(diffs[name], ta, *tb);
    }
    for (const std::string& name : cap[1].order())
      if (cap[0].find(name) == nullptr) only_b.insert(name);
    // Observed range of the TRUE FP32 conv output against its calibrated int8 range (127.5·s_u).
    for (int m = 0; m < 2; ++m)
      for (int l = 0; l < q.cfg.n_layer; ++l)
        if (const golden::CapturedTensor* v = cap[m].find("layers." + std::to_string(l) + ".conv1d.v"))
          for (size_t i = 0; i < elem_count(*v); ++i)
            conv_vmax[m][l] = std::max(conv_vmax[m][l], static_cast<float>(std::fabs(captured_value(*v, i))));
  }

  // First tensor (dataflow order) that differs.
  std::string first;
  for (const auto& n : order)
    if (diffs[n].n_diff > 0) {
      first = n;
      break;
    }
  std::ostringstream t;
  const std::string A = modes[0].label(), B = modes[1].label();
  t << "diverge: mode " << A << " (A) vs " << B << " (B), " << reqs.size() << " documents from " << a.first_doc
    << ", model " << model_dir << ", profile " << profile_name << "\n";
  t << "first difference (dataflow order): " << (first.empty() ? "none: the two modes agree bit for bit" : first) << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-8s %11s %11s %10s %9s %24s %15s\n", "tensor", "dtype", "max|A-B|", "NMSE",
                "cosine", "differ", "int8 |d| LSB 1/2/3-7/8+", "sat A / B");
  t << line;
  for (const auto& n : order) {
    const TensorDiff& d = diffs[n];
    std::string lsb = "-", sat = "-";
    if (d.dtype == "int8") {
      lsb = std::to_string(d.lsb_hist[0]) + "/" + std::to_string(d.lsb_hist[1]) + "/" + std::to_string(d.lsb_hist[2]) +
            "/" + std::to_string(d.lsb_hist[3]);
      sat = std::to_string(d.sat_a) + "/" + std::to_string(d.sat_b);
    }
    std::snprintf(line, sizeof line, "%-28s %-8s %11.4g %11.4g %10.7f %8.4f%% %24s %15s\n", n.c_str(), d.dtype.c_str(),
                  d.max_abs, d.nmse(), d.cosine(), 100.0 * d.n_diff / std::max<int64_t>(1, d.n), lsb.c_str(), sat.c_str());
    t << line;
  }
  if (!only_a.empty() || !only_b.empty()) {
    t << "only in A:";
    for (const auto& n : only_a) t << " " << n;
    t << "\nonly in B:";
    for (const auto& n : only_b) t << " " << n;
    t << "\n";
  }
  // Scales against observed ranges, and quantizer overflow (wrap under quamba-compat).
  t << "per layer: conv1d TRUE FP32 max|v| / (127.5 s_u) (A, B; > 1 = the calibrated u scale clips), u outliers, "
       "Hadamard outputs outside int8 ("
    << (profile.hadamard_wrap ? "wrapped" : "saturated") << ")\n";
  nlohmann::json layers = nlohmann::json::array();
  for (int l = 0; l < q.cfg.n_layer; ++l) {
    const float lim = 127.5f * q.layers[l].u_scale;
    auto at = [&](const std::vector<int64_t>& v) { return l < static_cast<int>(v.size()) ? v[l] : int64_t{0}; };
    std::snprintf(line, sizeof line, "  layer %2d: v/range %6.3f %6.3f  u outliers %lld %lld  hadamard out-of-range %lld %lld\n", l,
                  conv_vmax[0][l] / lim, conv_vmax[1][l] / lim, static_cast<long long>(at(stats[0].u_outliers)),
                  static_cast<long long>(at(stats[1].u_outliers)), static_cast<long long>(at(stats[0].hadamard_out_of_range)),
                  static_cast<long long>(at(stats[1].hadamard_out_of_range)));
    t << line;
    layers.push_back({{"layer", l}, {"u_scale", q.layers[l].u_scale}, {"conv_v_max_over_range", {conv_vmax[0][l] / lim, conv_vmax[1][l] / lim}},
                      {"u_outliers", {at(stats[0].u_outliers), at(stats[1].u_outliers)}},
                      {"u_elements", {at(stats[0].u_elements), at(stats[1].u_elements)}},
                      {"hadamard_out_of_range", {at(stats[0].hadamard_out_of_range), at(stats[1].hadamard_out_of_range)}},
                      {"hadamard_elements", at(stats[0].hadamard_elements)}});
  }
  std::cout << t.str() << std::flush;

  if (!a.output.empty()) {
    nlohmann::json j;
    j["config"] = {{"model", model_dir}, {"modes", {A, B}}, {"documents", reqs.size()}, {"first_doc", a.first_doc},
                   {"profile", profile_name}, {"git_revision", git_revision()}};
    j["first_difference"] = first;
    for (const auto& n : order) {
      const TensorDiff& d = diffs[n];
      nlohmann::json e = {{"tensor", n},         {"dtype", d.dtype},       {"elements", d.n},
                          {"differ", d.n_diff},  {"max_abs", d.max_abs},   {"nmse", d.nmse()},
                          {"cosine", d.cosine()}};
      if (d.dtype == "int8")
        e["int8"] = {{"lsb_hist_1_2_3to7_8plus", {d.lsb_hist[0], d.lsb_hist[1], d.lsb_hist[2], d.lsb_hist[3]}},
                     {"saturated_A", d.sat_a}, {"saturated_B", d.sat_b}};
      j["tensors"].push_back(e);
    }
    j["only_in_A"] = only_a;
    j["only_in_B"] = only_b;
    j["layers"] = layers;
    write_json_file("--output", a.output, j);
  }
  const std::string plot = plot_path(a.plot, a.output);
  if (!plot.empty()) {
    // NMSE per op over layers (log y); ops in dataflow order of layer 0.
    std::vector<std::string> ops;
    for (const auto& n : order) {
      const auto [layer, op] = split_layer(n);
      if (layer >= 0 && std::find(ops.begin(), ops.end(), op) == ops.end() && op != "ssm.state" && op != "ssm.state_q")
        ops.push_back(op);
    }
    chart::LineChart c;
    c.title = "NMSE per layer: mode " + A + " vs " + B + " (" + std::to_string(reqs.size()) + " docs)";
    c.x_label = "layer";
    c.y_label = "NMSE";
    c.log_y = true;
    for (const auto& op : ops) {
      chart::LineSeries s;
      s.name = op;
      for (int l = 0; l < q.cfg.n_layer; ++l) {
        const auto it = diffs.find("layers." + std::to_string(l) + "." + op);
        s.x.push_back(l);
        s.y.push_back(it == diffs.end() ? NAN : it->second.nmse());
      }
      c.series.push_back(s);
    }
    chart::write_png(chart::render(c, 1000, 600), plot);
    std::fprintf(stderr, "plot: %s\n", plot.c_str());
  }
}

}  // namespace

void add_compare_modes_command(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* c = app.add_subcommand(
      "compare-modes",
      "LAMBADA for several experiment modes on one model: accuracy (Wilson 95% CI), perplexity (bootstrap 95% CI), "
      "paired tests (exact McNemar, paired bootstrap of log-likelihoods) against baselines, JSON and a PNG plot");
  c->add_option("--model", a->model, "FP checkpoint folder with its quantized model in DIR/w8a8 (fp32 needs the FP one), or a quantized model; default: the embedded model");
  c->add_option("--modes", a->modes, "Comma-separated modes or mode files (default: every built-in mode). " + mode_option_help());
  c->add_option("--baselines", a->baselines, "Modes the paired tests compare against (those in --modes)")->capture_default_str();
  c->add_option("--limit", a->limit, "First N documents (default: all 5153; the original's --testing is 100)");
  c->add_option("--threads", a->threads, "Documents in flight; default: all cores");
  c->add_option("--output", a->output, "Results JSON (per mode: acc, CIs, paired tests, per-document results)");
  c->add_option("--plot", a->plot, "PNG of accuracy and perplexity per mode (default: --output with .png)");
  c->add_option("--profile", a->profile, "Numerics profile for every mode (default: golden for fp32, the model's otherwise)");
  c->add_option("--alpha1-model", a->alpha1_model, "Mode 6-4: model calibrated with --alpha 1.0");
  c->add_option("--bootstrap", a->bootstrap, "Bootstrap resamples")->capture_default_str();
  c->add_option("--reuse", a->reuse, "Take a mode's per-document results from an earlier compare-modes JSON of the same model, documents and profile instead of running it (repeatable)");
  c->add_option("--lambada", a->lambada, "LAMBADA jsonl (default data/lambada_test.jsonl)");
  c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default data/gpt-neox-20b-tokenizer.json)");
  c->add_option("--max-length", a->max_length, "Context window")->capture_default_str();
  c->add_flag("--no-progress", a->no_progress, "No progress output");
  c->callback([a] { run_compare(*a); });
}

void add_diverge_command(CLI::App& app) {
  auto a = std::make_shared<DivergeArgs>();
  CLI::App* c = app.add_subcommand(
      "diverge",
      "Layer-by-layer, op-by-op divergence between two W8A8 modes on the same documents: max abs error, NMSE, "
      "cosine, fraction of differing int8 values and by how many LSBs, saturation, u outliers, Hadamard overflow, "
      "the calibrated conv scale against the observed range; table, JSON and a PNG over layers");
  c->add_option("--modes", a->modes, "Two modes A,B (names or mode files)")->required();
  c->add_option("--model", a->model, "Model folder (default: the embedded model)");
  c->add_option("--docs", a->docs, "Number of LAMBADA documents")->capture_default_str();
  c->add_option("--first-doc", a->first_doc, "Index of the first document")->capture_default_str();
  c->add_option("--threads", a->threads, "Threads per forward; default: all cores");
  c->add_option("--output", a->output, "Results JSON");
  c->add_option("--plot", a->plot, "PNG of NMSE per op over layers (default: --output with .png)");
  c->add_option("--profile", a->profile, "golden | quamba-compat (default: the model's)");
  c->add_option("--alpha1-model", a->alpha1_model, "Mode 6-4: model calibrated with --alpha 1.0");
  c->add_option("--lambada", a->lambada, "LAMBADA jsonl (default data/lambada_test.jsonl)");
  c->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default data/gpt-neox-20b-tokenizer.json)");
  c->callback([a] { run_diverge(*a); });
}

}  // namespace app
}  // namespace qmsim
