// qmsim crosscheck (golden vs sim, bit for bit, per layer/op/token/channel) and qmsim perf (the
// SystemC model's timing: cycles per token per layer and unit, utilisation, DRAM traffic,
// roofline, tokens/s, a per-unit plot). `eval --path sim` is in cmd_eval.cc via sim_logits_fn.
#include <chrono>
#include <functional>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "common.h"
#include "png_chart.h"
#include "qmsim/config/hw.h"
#include "qmsim/golden/capture.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/numerics.h"
#if defined(QMSIM_HAVE_SIM)
#include "qmsim/sim/sim.h"
#endif
#if defined(QMSIM_HAVE_GPU)
#include "qmsim/gpu/gpu.h"
#endif

namespace qmsim {
namespace app {

std::string default_hw_file() { return repo_path("configs/hw/default.yaml"); }

namespace {

config::HwConfig load_hw(const std::string& file) {
  try {
    return config::load_hw_file(file.empty() ? default_hw_file() : file);
  } catch (const config::ConfigError& e) {
    throw std::runtime_error(std::string("--hw: ") + e.what());
  }
}

// Distance in units in the last place: int8 codes, or ordered f16 / f32 bit patterns.
int64_t lsb_distance(const golden::CapturedTensor& t, size_t i, const golden::CapturedTensor& u) {
  if (t.dtype == "int8") return std::llabs(static_cast<int64_t>(static_cast<int8_t>(t.bytes[i])) - static_cast<int8_t>(u.bytes[i]));
  auto ordered = [&](const golden::CapturedTensor& x) -> int64_t {
    if (x.dtype == "float16") {
      uint16_t h;
      std::memcpy(&h, x.bytes.data() + 2 * i, 2);
      return (h & 0x8000) ? -static_cast<int64_t>(h & 0x7fff) : static_cast<int64_t>(h);
    }
    uint32_t b;
    std::memcpy(&b, x.bytes.data() + 4 * i, 4);
    return (b & 0x80000000u) ? -static_cast<int64_t>(b & 0x7fffffffu) : static_cast<int64_t>(b);
  };
  return std::llabs(ordered(t) - ordered(u));
}

struct CrossArgs {
  std::string paths = "golden,sim", mode = "0", mode_file, model, hw, profile, alpha1_model;
  int limit = 3, first_doc = 0, max_report = 10, threads = 0;
};

using OtherPath =
    std::function<std::vector<float>(const std::vector<int32_t>&, const std::vector<int>&, golden::Capture*)>;

// The model on the GPU, uploaded once for every mode of a crosscheck run (an opaque handle, so
// that builds without CUDA need no gpu header).
struct GpuHandle {
#if defined(QMSIM_HAVE_GPU)
  std::shared_ptr<gpu::GpuModel> model;
#endif
};

// The second path of a crosscheck in one mode.
OtherPath make_other_path(bool gpu_path, const QModel& q, const config::Mode& mode, const num::NumericsProfile& profile,
                          const ModelSet& models, const CrossArgs& a, GpuHandle& gpu_model, std::string* hw_name) {
  if (gpu_path) {
#if defined(QMSIM_HAVE_GPU)
    if (!gpu_model.model) gpu_model.model = std::make_shared<gpu::GpuModel>(q);
    std::shared_ptr<gpu::GpuModel> g = gpu_model.model;
    gpu::RunOptions ro;
    ro.profile = profile;
    ro.mode = mode.spec;
    ro.alpha1_u_scales = models.alpha1_u_scales();
    return [g, ro](const std::vector<int32_t>& t, const std::vector<int>& p, golden::Capture* c) {
      return g->forward(t, p, ro, c);
    };
#else
    (void)q, (void)mode, (void)profile, (void)models, (void)a, (void)gpu_model, (void)hw_name;
    throw std::runtime_error("--paths golden,gpu: this qmsim was built without CUDA");
#endif
  }
#if defined(QMSIM_HAVE_SIM)
  const config::HwConfig hw = load_hw(a.hw);
  *hw_name = hw.name;
  auto runner = std::make_shared<sim::SimRunner>(q, hw, mode.spec, profile);
  runner->set_alpha1_u_scales(models.alpha1_u_scales());
  return [runner](const std::vector<int32_t>& t, const std::vector<int>& p, golden::Capture* c) {
    return runner->forward(t, p, c);
  };
#else
  (void)q, (void)mode, (void)profile, (void)models, (void)a, (void)gpu_model, (void)hw_name;
  throw std::runtime_error("--paths golden,sim: this qmsim was built without SystemC (libsystemc-dev)");
#endif
}

// One mode: golden (documents in parallel on `threads` threads) against the other path (one
// document at a time), every tensor the other path captures compared with ==. Returns mismatches.
int64_t crosscheck_mode(const CrossArgs& a, bool gpu_path, const OtherPath& other, const std::string& hw_name,
                        ModelSet& models, const config::Mode& mode, const std::string& profile_name,
                        const num::NumericsProfile& profile, const std::vector<eval::DocRequest>& reqs,
                        const golden::W8A8Plan& plan, int threads) {
  const QModel& q = models.quant();
  int64_t tensors = 0, elements = 0, mismatches = 0;
  int reported = 0;
  std::string first_bad;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t c0 = 0; c0 < reqs.size(); c0 += static_cast<size_t>(threads)) {
    const size_t c1 = std::min(reqs.size(), c0 + static_cast<size_t>(threads));
    std::vector<golden::Capture> cgs(c1 - c0);
    std::vector<std::thread> pool;
    std::exception_ptr err;
    std::mutex mu;
    for (size_t k = c0; k < c1; ++k)
      pool.emplace_back([&, k] {
        try {
          const eval::DocRequest& r = reqs[k];
          golden::Capture& cg = cgs[k - c0];
          golden::ForwardOptions o;
          o.threads = 1;
          o.profile = profile;
          o.mode = mode.spec;
          o.alpha1_u_scales = models.alpha1_u_scales();
          o.capture = &cg;
          const std::vector<float> lg = golden::forward_w8a8(q, plan, r.input, r.logit_positions, o);
          cg.put("logits", "float32", {static_cast<int64_t>(r.logit_positions.size()), q.cfg.vocab_size}, lg.data(),
                 lg.size());
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu);
          if (!err) err = std::current_exception();
        }
      });
    for (auto& t : pool) t.join();
    if (err) std::rethrow_exception(err);
    for (size_t k = c0; k < c1; ++k) {
      const eval::DocRequest& r = reqs[k];
      const golden::Capture& cg = cgs[k - c0];
      golden::Capture cs;
      const std::vector<float> ls = other(r.input, r.logit_positions, &cs);
      cs.put("logits", "float32", {static_cast<int64_t>(r.logit_positions.size()), q.cfg.vocab_size}, ls.data(), ls.size());
      for (const std::string& name : cs.order()) {
        const golden::CapturedTensor* g = cg.find(name);
        const golden::CapturedTensor& s = cs.tensors().at(name);
        if (g == nullptr) {
          ++mismatches;
          std::printf("MISMATCH doc %d %s: golden has no such tensor\n", r.index, name.c_str());
          continue;
        }
        ++tensors;
        if (g->dtype != s.dtype || g->shape != s.shape) {
          ++mismatches;
          std::printf("MISMATCH doc %d %s: dtype/shape differ\n", r.index, name.c_str());
          continue;
        }
        const size_t n = g->bytes.size() / (g->dtype == "int8" ? 1 : g->dtype == "float16" ? 2 : 4);
        const size_t esz = g->bytes.size() / std::max<size_t>(1, n);
        const int64_t cols = g->shape.size() == 2 ? g->shape[1] : 1;
        elements += static_cast<int64_t>(n);
        if (g->bytes == s.bytes) continue;  // the common case: one memcmp for the whole tensor
        for (size_t i = 0; i < n; ++i) {
          if (std::memcmp(g->bytes.data() + i * esz, s.bytes.data() + i * esz, esz) == 0) continue;
          ++mismatches;
          if (first_bad.empty()) first_bad = "doc " + std::to_string(r.index) + " " + name;
          if (reported++ < a.max_report) {
            const size_t dot = name.find('.', 7);
            const std::string layer = name.rfind("layers.", 0) == 0 ? name.substr(7, dot - 7) : "-";
            const std::string op = name.rfind("layers.", 0) == 0 ? name.substr(dot + 1) : name;
            std::printf("MISMATCH mode %s doc %d layer %s op %s token %lld channel %lld: golden %.9g %s %.9g (%lld LSB)\n",
                        mode.label().c_str(), r.index, layer.c_str(), op.c_str(), static_cast<long long>(i / cols),
                        static_cast<long long>(i % cols), captured_value(*g, i), gpu_path ? "gpu" : "sim",
                        captured_value(s, i), static_cast<long long>(lsb_distance(*g, i, s)));
          }
        }
      }
    }
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("crosscheck golden,%s mode %s profile %s hw %s: %zu documents, %lld tensors, %lld elements, %lld mismatches%s (%.1f s)\n",
              gpu_path ? "gpu" : "sim", mode.label().c_str(), profile_name.c_str(), hw_name.c_str(), reqs.size(),
              static_cast<long long>(tensors), static_cast<long long>(elements), static_cast<long long>(mismatches),
              mismatches ? (" (first: " + first_bad + ")").c_str() : " - bit-exact", sec);
  std::fflush(stdout);
  return mismatches;
}

int run_crosscheck(const CrossArgs& a) {
  const bool gpu_path = a.paths == "golden,gpu" || a.paths == "gpu,golden";
  if (!gpu_path && a.paths != "golden,sim" && a.paths != "sim,golden")
    throw std::runtime_error("--paths " + a.paths + ": known pairs are golden,sim and golden,gpu");
  // --mode all: every built-in W8A8 mode with each of its variants.
  std::vector<config::Mode> modes;
  if (a.mode == "all" && a.mode_file.empty()) {
    for (const config::Mode& m : config::builtin_modes_and_variants())
      if (!m.fp32_reference) modes.push_back(m);
  } else {
    modes.push_back(mode_from_args(a.mode, a.mode_file));
    if (modes[0].fp32_reference) throw std::runtime_error("--mode fp32: crosscheck compares W8A8 paths");
  }
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  ModelSet models(model_dir, 1);
  if (!a.alpha1_model.empty()) models.set_alpha1_model(a.alpha1_model);
  const QModel& q = models.quant();
  const std::string profile_name = a.profile.empty() ? q.numerics_profile : a.profile;
  const num::NumericsProfile profile = profile_by_name(profile_name);
  const int threads = a.threads > 0 ? a.threads : hardware_threads();
  const auto plan = golden::make_w8a8_plan(q, threads);
  const std::vector<eval::DocRequest> reqs = lambada_requests("", "", a.first_doc, a.limit);
  // Every mode's second path exists before the first forward (SystemC elaborates once).
  GpuHandle gpu_model;
  std::vector<OtherPath> others;
  std::vector<std::string> hw_names(modes.size(), "-");
  for (size_t i = 0; i < modes.size(); ++i)
    others.push_back(make_other_path(gpu_path, q, modes[i], profile, models, a, gpu_model, &hw_names[i]));
  int64_t mismatches = 0;
  int bad_modes = 0;
  for (size_t i = 0; i < modes.size(); ++i) {
    const config::Mode& mode = modes[i];
    const int64_t m = crosscheck_mode(a, gpu_path, others[i], hw_names[i], models, mode, profile_name, profile, reqs,
                                      *plan, threads);
    mismatches += m;
    bad_modes += m ? 1 : 0;
  }
  if (modes.size() > 1)
    std::printf("crosscheck golden,%s: %zu modes, %d with mismatches%s\n", gpu_path ? "gpu" : "sim", modes.size(),
                bad_modes, bad_modes ? "" : " - every mode bit-exact");
  return mismatches == 0 ? 0 : 1;
}

#if defined(QMSIM_HAVE_SIM)
struct PerfArgs {
  std::string model, hw, output, plot, trace, profile;
  int docs = 8, first_doc = 0;
};

void run_perf(const PerfArgs& a) {
  const std::string model_dir = a.model.empty() ? default_model_dir() : a.model;
  ModelSet models(model_dir, 1);
  const QModel& q = models.quant();
  const config::HwConfig hw = load_hw(a.hw);
  const num::NumericsProfile profile = profile_by_name(a.profile.empty() ? q.numerics_profile : a.profile);
  sim::SimRunner runner(q, hw, config::resolve_mode("0").spec, profile);
  runner.set_tracing(!a.trace.empty());
  const std::vector<eval::DocRequest> reqs = lambada_requests("", "", a.first_doc, a.docs);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& r : reqs) runner.forward(r.input, r.logit_positions, nullptr);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const sim::SimStats& s = runner.stats();
  const double cyc = hw.cycle_ns();
  const double tokens = static_cast<double>(s.tokens);
  std::ostringstream t;
  t << "qmsim perf: hw " << hw.name << " (" << hw.file << "), " << hw.clock_mhz << " MHz, MAC array " << hw.mac_rows << "x"
    << hw.mac_cols << ", model " << model_dir << " (d_model " << q.cfg.d_model << ", " << q.cfg.n_layer << " layers), "
    << reqs.size() << " LAMBADA documents, " << s.tokens << " tokens\n";
  char line[512];
  std::snprintf(line, sizeof line, "simulated time %.3f ms = %.0f cycles; %.1f cycles/token; %.0f tokens/s at %.0f MHz\n",
                s.sim_ns * 1e-6, s.sim_ns / cyc, s.sim_ns / cyc / tokens, tokens / (s.sim_ns * 1e-9), hw.clock_mhz);
  t << line;
  t << "per unit: busy cycles/token, utilisation (busy / simulated time)\n";
  nlohmann::json units = nlohmann::json::array();
  int bottleneck = 0;
  for (size_t u = 0; u < s.units.size(); ++u) {
    if (s.busy_ns[u] > s.busy_ns[bottleneck]) bottleneck = static_cast<int>(u);
    std::snprintf(line, sizeof line, "  %-10s %12.1f %7.1f%%\n", s.units[u].c_str(), s.busy_ns[u] / cyc / tokens,
                  100.0 * s.busy_ns[u] / std::max(1e-9, s.sim_ns));
    t << line;
    units.push_back({{"unit", s.units[u]}, {"busy_cycles_per_token", s.busy_ns[u] / cyc / tokens},
                     {"utilisation", s.busy_ns[u] / std::max(1e-9, s.sim_ns)}});
  }
  t << "bottleneck unit: " << s.units[bottleneck] << "\n";
  // Roofline: INT8 ops (2 per MAC) against DRAM bytes.
  const double peak_ops = 2.0 * hw.mac_rows * hw.mac_cols * hw.clock_mhz * 1e6;  // ops/s
  const double dram = s.dram_read + s.dram_write;
  const double intensity = 2.0 * s.macs / std::max(1.0, dram);
  const double achieved = 2.0 * s.macs / (s.sim_ns * 1e-9);
  const double ridge = peak_ops / (hw.dram_gbps * 1e9);
  std::snprintf(line, sizeof line,
                "DRAM: %.2f MB read, %.2f MB written (%.1f KB/token), spills %.2f MB; SRAM %.2f MB read, %.2f MB written\n"
                "roofline: %.2f ops/byte (ridge %.1f: %s-bound), achieved %.2f TOPS of %.2f peak (%.1f%%)\n",
                s.dram_read * 1e-6, s.dram_write * 1e-6, dram / tokens * 1e-3, s.spill_bytes * 1e-6, s.sram_read * 1e-6,
                s.sram_write * 1e-6, intensity, ridge, intensity < ridge ? "memory" : "compute", achieved * 1e-12,
                peak_ops * 1e-12, 100.0 * achieved / peak_ops);
  t << line;
  t << "per layer (cycles/token): layer";
  for (const auto& u : s.units) t << " " << u;
  t << "\n";
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < s.layer_ns.size(); ++l) {
    t << "  " << (l + 1 == s.layer_ns.size() ? std::string("head") : std::to_string(l));
    nlohmann::json row = nlohmann::json::object();
    for (size_t u = 0; u < s.units.size(); ++u) {
      std::snprintf(line, sizeof line, " %.1f", s.layer_ns[l][u] / cyc / tokens);
      t << line;
      row[s.units[u]] = s.layer_ns[l][u] / cyc / tokens;
    }
    t << "\n";
    layers.push_back({{"layer", l + 1 == s.layer_ns.size() ? -1 : static_cast<int>(l)}, {"cycles_per_token", row}});
  }
  std::snprintf(line, sizeof line, "simulation speed: %.0f tokens/s of wall time (%.2f s for %lld tokens, %lld TLM transactions)\n",
                tokens / wall, wall, static_cast<long long>(s.tokens), static_cast<long long>(s.transactions));
  t << line;
  t << "timing style: " << (hw.approximately_timed ? "approximately timed (" + std::to_string(s.at_phases) +
                                                         " base-protocol phases, " + std::to_string(s.protocol_errors) +
                                                         " protocol errors)"
                                                   : std::string("loosely timed, quantum keeper")) << "\n";
  std::cout << t.str() << std::flush;
  if (!a.output.empty()) {
    nlohmann::json j = {{"hw", hw.file},
                        {"model", model_dir},
                        {"documents", reqs.size()},
                        {"tokens", s.tokens},
                        {"simulated_ns", s.sim_ns},
                        {"cycles_per_token", s.sim_ns / cyc / tokens},
                        {"tokens_per_s", tokens / (s.sim_ns * 1e-9)},
                        {"units", units},
                        {"bottleneck", s.units[bottleneck]},
                        {"dram_bytes", {{"read", s.dram_read}, {"write", s.dram_write}, {"spill", s.spill_bytes}}},
                        {"roofline", {{"ops_per_byte", intensity}, {"ridge", ridge}, {"achieved_tops", achieved * 1e-12},
                                      {"peak_tops", peak_ops * 1e-12}}},
                        {"layers", layers},
                        {"simulation_tokens_per_wall_s", tokens / wall},
                        {"git_revision", git_revision()}};
    write_json_file("--output", a.output, j);
  }
  const std::string plot = plot_path(a.plot, a.output);
  if (!plot.empty()) {
    chart::CategoryChart c;
    c.title = "cycles per token per unit (" + hw.name + ", " + std::to_string(s.tokens) + " tokens)";
    c.y_label = "busy cycles / token";
    c.x_label = "unit";
    c.bars = true;
    chart::CategorySeries sr;
    sr.name = "busy";
    for (size_t u = 0; u < s.units.size(); ++u) {
      c.categories.push_back(s.units[u]);
      sr.value.push_back(s.busy_ns[u] / cyc / tokens);
    }
    c.series = {sr};
    chart::LineChart lc;
    lc.title = "cycles per token per layer and unit";
    lc.x_label = "layer";
    lc.y_label = "cycles / token";
    for (size_t u = 0; u < s.units.size(); ++u) {
      chart::LineSeries ls;
      ls.name = s.units[u];
      for (size_t l = 0; l + 1 < s.layer_ns.size(); ++l) ls.y.push_back(s.layer_ns[l][u] / cyc / tokens);
      lc.series.push_back(ls);
    }
    chart::Image top = chart::render(c, 1000, 450), bottom = chart::render(lc, 1000, 450);
    chart::Image img(1000, 900);
    for (int y = 0; y < 450; ++y)
      for (int x = 0; x < 1000; ++x) {
        img.set(x, y, top.get(x, y));
        img.set(x, y + 450, bottom.get(x, y));
      }
    chart::write_png(img, plot);
    std::fprintf(stderr, "plot: %s\n", plot.c_str());
  }
  if (!a.trace.empty()) {
    std::ofstream tr(a.trace);
    for (const auto& l : s.trace) tr << l << "\n";
    std::fprintf(stderr, "trace: %s (%zu unit activities)\n", a.trace.c_str(), s.trace.size());
  }
}

#endif  // QMSIM_HAVE_SIM

}  // namespace

#if defined(QMSIM_HAVE_SIM)
eval::LogitsFn sim_logits_fn(const QModel& q, const std::string& hw_file, const golden::ModeSpec& mode,
                             const num::NumericsProfile& profile) {
  auto runner = std::make_shared<sim::SimRunner>(q, load_hw(hw_file), mode, profile);
  return [runner](const std::vector<int32_t>& toks, const std::vector<int>& pos) { return runner->forward(toks, pos); };
}
#else
eval::LogitsFn sim_logits_fn(const QModel&, const std::string&, const golden::ModeSpec&, const num::NumericsProfile&) {
  throw std::runtime_error("--path sim: this qmsim was built without SystemC (install libsystemc-dev and rebuild)");
}
#endif

eval::BatchScoresFn gpu_batch_scores_fn(const QModel& q, const golden::ModeSpec& mode,
                                        const num::NumericsProfile& profile, const std::vector<float>& alpha1_u_scales,
                                        bool f16_logprobs, std::function<std::string()>* kernel_report) {
#if defined(QMSIM_HAVE_GPU)
  auto g = std::make_shared<gpu::GpuModel>(q);
  gpu::RunOptions ro;
  ro.profile = profile;
  ro.mode = mode;
  ro.alpha1_u_scales = alpha1_u_scales;
  if (kernel_report != nullptr) *kernel_report = [g] { return g->kernel_report(); };
  // The model's device buffers serve one call at a time (the GPU lock); only P row scores come
  // back per call, so the host side is a few additions per document.
  auto gpu_lock = std::make_shared<std::mutex>();
  return [g, ro, gpu_lock, f16_logprobs](const std::vector<const eval::DocRequest*>& docs) {
    std::vector<std::vector<eval::RowScore>> out;
    size_t i = 0;
    while (i < docs.size()) {
      // Sub-batches of at most 60,000 tokens (the batched forward's limit is 65,535).
      std::vector<std::vector<int32_t>> toks, targets;
      std::vector<std::vector<int>> pos;
      size_t tokens = 0, rows = 0;
      while (i < docs.size() && (toks.empty() || tokens + docs[i]->input.size() <= 60000)) {
        toks.push_back(docs[i]->input);
        pos.push_back(docs[i]->logit_positions);
        targets.push_back(docs[i]->continuation);
        tokens += docs[i]->input.size();
        rows += docs[i]->logit_positions.size();
        ++i;
      }
      std::vector<double> lp(rows);
      std::vector<uint8_t> greedy(rows);
      {
        std::lock_guard<std::mutex> lock(*gpu_lock);
        g->score_batch(toks, pos, targets, ro, f16_logprobs, lp.data(), greedy.data(), rows);
      }
      size_t r = 0;
      for (const auto& ps : pos) {
        std::vector<eval::RowScore> doc(ps.size());
        for (auto& s : doc) s = eval::RowScore{lp[r], greedy[r] != 0}, ++r;
        out.push_back(std::move(doc));
      }
    }
    return out;
  };
#else
  (void)q, (void)mode, (void)profile, (void)alpha1_u_scales, (void)f16_logprobs, (void)kernel_report;
  throw std::runtime_error("--path gpu: this qmsim was built without CUDA (nvcc)");
#endif
}

void add_sim_commands(CLI::App& app) {
  auto c = std::make_shared<CrossArgs>();
  CLI::App* x = app.add_subcommand(
      "crosscheck", "Run LAMBADA documents through two paths (golden,sim or golden,gpu) and compare every captured intermediate with ==; reports "
                    "mismatches by layer/op/token/channel with both values and the LSB distance; exit 1 on any mismatch");
  x->add_option("--paths", c->paths, "Paths to compare")->capture_default_str();
  x->add_option("--mode", c->mode, mode_option_help() + "; all = every W8A8 mode and variant, one after the other")->capture_default_str();
  x->add_option("--mode-file", c->mode_file, "A mode written as YAML");
  x->add_option("--threads", c->threads, "Golden forwards in parallel (documents); default: all cores");
  x->add_option("--model", c->model, "Model folder (default: the embedded model)");
  x->add_option("--hw", c->hw, "Hardware config (default configs/hw/default.yaml)");
  x->add_option("--limit", c->limit, "Number of documents")->capture_default_str();
  x->add_option("--first-doc", c->first_doc, "First document index")->capture_default_str();
  x->add_option("--max-report", c->max_report, "Mismatching elements to print")->capture_default_str();
  x->add_option("--profile", c->profile, "golden | quamba-compat (default: the model's)");
  x->add_option("--alpha1-model", c->alpha1_model, "Mode 6-4: model calibrated with --alpha 1.0 (outlier scales)");
  x->callback([c] {
    const int rc = run_crosscheck(*c);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
#if defined(QMSIM_HAVE_SIM)
  auto p = std::make_shared<PerfArgs>();
  CLI::App* f = app.add_subcommand(
      "perf", "Timing of the SystemC ASIC model on LAMBADA documents: cycles per token per layer and unit, unit "
              "utilisation, DRAM traffic, roofline position, tokens/s at the configured clock; JSON and a PNG");
  f->add_option("--hw", p->hw, "Hardware config (default configs/hw/default.yaml)");
  f->add_option("--model", p->model, "Model folder (default: the embedded model)");
  f->add_option("--docs", p->docs, "Number of LAMBADA documents")->capture_default_str();
  f->add_option("--first-doc", p->first_doc, "First document index")->capture_default_str();
  f->add_option("--output", p->output, "JSON report");
  f->add_option("--plot", p->plot, "PNG per-unit breakdown (default: --output with .png)");
  f->add_option("--trace", p->trace, "Write a log of every unit activity (simulated time, unit, op, tensor)");
  f->add_option("--profile", p->profile, "golden | quamba-compat (default: the model's)");
  f->callback([p] { run_perf(*p); });
#endif
}

}  // namespace app
}  // namespace qmsim
