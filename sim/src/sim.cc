// SimRunner: elaborates the ASIC (modules.h), loads the model image, compiles and runs a document.
#include "qmsim/sim/sim.h"

#include <cstring>
#include <stdexcept>

#include "modules.h"
#include "program.h"

int sc_main(int, char**) { return 0; }  // qmsim drives sc_start itself; libsystemc needs the symbol

namespace qmsim {
namespace sim {

namespace {
bool g_started = false;  // SystemC cannot elaborate after the first sc_start
int g_instances = 0;
}  // namespace

struct SimRunner::Impl {
  const QModel& model;
  golden::ModeSpec mode;
  std::vector<float> alpha1;
  config::HwConfig hw;
  num::NumericsProfile profile;
  Counters ctr;
  SimStats stats;
  std::vector<uint64_t> layer_offsets;
  std::unique_ptr<Memory> dram, sram, wbuf;
  std::unique_ptr<Router> router;
  std::unique_ptr<Dma> dma;
  std::unique_ptr<PostProc> post;
  std::unique_ptr<MacArray> mac;
  std::unique_ptr<ConvUnit> conv;
  std::unique_ptr<ScanUnit> scan;
  std::unique_ptr<VectorUnit> vec;
  std::unique_ptr<Sequencer> seq;

  Impl(const QModel& m, const golden::ModeSpec& md, const config::HwConfig& h, const num::NumericsProfile& p)
      : model(m), mode(md), hw(h), profile(p) {
    const std::string pre = "asic" + std::to_string(g_instances++) + "_";
    dram = std::make_unique<Memory>((pre + "dram").c_str(), Memory::Kind::kDram, 0, hw, ctr);
    sram = std::make_unique<Memory>((pre + "sram").c_str(), Memory::Kind::kSram, kSramBase, hw, ctr);
    wbuf = std::make_unique<Memory>((pre + "weight_buffer").c_str(), Memory::Kind::kWeightBuffer, kWeightBufBase, hw, ctr);
    router = std::make_unique<Router>((pre + "router").c_str());
    dma = std::make_unique<Dma>((pre + "dma").c_str(), hw, ctr);
    post = std::make_unique<PostProc>((pre + "postproc").c_str(), hw, ctr);
    mac = std::make_unique<MacArray>((pre + "mac_array").c_str(), hw, ctr);
    conv = std::make_unique<ConvUnit>((pre + "conv").c_str(), hw, ctr);
    scan = std::make_unique<ScanUnit>((pre + "scan").c_str(), hw, ctr);
    vec = std::make_unique<VectorUnit>((pre + "vector").c_str(), hw, ctr);
    seq = std::make_unique<Sequencer>((pre + "sequencer").c_str(), hw, ctr);
    router->to_dram.bind(dram->socket);
    router->to_sram.bind(sram->socket);
    router->to_wbuf.bind(wbuf->socket);
    for (UnitBase* u : std::initializer_list<UnitBase*>{dma.get(), mac.get(), conv.get(), scan.get(), vec.get()})
      u->mem.bind(router->in);
    post->mem.bind(router->in);
    mac->dma.bind(dma->desc);
    mac->post.bind(post->in);
    seq->to_dma.bind(dma->cmd);
    seq->to_mac.bind(mac->cmd);
    seq->to_conv.bind(conv->cmd);
    seq->to_scan.bind(scan->cmd);
    seq->to_vector.bind(vec->cmd);
    dram->bytes = build_dram_image(model, &layer_offsets);
    for (int u = 0; u < kNumUnits; ++u) stats.units.push_back(unit_name(u));
    stats.busy_ns.assign(kNumUnits, 0.0);
    stats.layer_ns.assign(static_cast<size_t>(model.cfg.n_layer) + 1, std::vector<double>(kNumUnits, 0.0));
  }
};

std::string SimRunner::unsupported_reason(const golden::ModeSpec& m, const config::HwConfig& hw) {
  using MS = golden::ModeSpec;
  const std::string at = " (" + (hw.file.empty() ? hw.name : hw.file) + ")";
  auto need = [&](const std::string& site, const char* key) {
    return "mode " + m.name + ": site " + site + " needs " + key + ": true in the hardware config" + at;
  };
  if (m.lin_f32 && !hw.fp32_linears) return need("linears (f32 x_proj/dt_proj)", "fp32_units.linears");
  const bool f32_u_path = m.conv_dynamic_input_scale || m.u_source != MS::USource::kQ ||
                          m.lin_input == MS::LinearInput::kRequantV || m.lin_input == MS::LinearInput::kRequantU;
  if (f32_u_path && !hw.fp32_conv_output) return need("conv output / u (FP32 path to the SSM)", "fp32_units.conv_output");
  if (m.ssm_arithmetic == MS::SsmArithmetic::kPseq && !hw.fp32_ssm_pseq) return need("ssm (P-seq arithmetic)", "fp32_units.ssm_pseq");
  return "";
}

void SimRunner::set_mode(const golden::ModeSpec& mode) {
  const std::string why = unsupported_reason(mode, impl_->hw);
  if (!why.empty()) throw std::invalid_argument(why);
  impl_->mode = mode;
}

void SimRunner::set_alpha1_u_scales(const std::vector<float>& s) { impl_->alpha1 = s; }

SimRunner::SimRunner(const QModel& model, const config::HwConfig& hw, const golden::ModeSpec& mode,
                     const num::NumericsProfile& profile) {
  const std::string why = unsupported_reason(mode, hw);
  if (!why.empty()) throw std::invalid_argument(why);
  if (g_started) throw std::logic_error("sim: create every SimRunner before the first forward (SystemC elaborates once)");
  impl_ = std::make_unique<Impl>(model, mode, hw, profile);
}

SimRunner::~SimRunner() = default;

const SimStats& SimRunner::stats() const { return impl_->stats; }

void SimRunner::reset_stats() {
  SimStats& s = impl_->stats;
  std::fill(s.busy_ns.begin(), s.busy_ns.end(), 0.0);
  for (auto& l : s.layer_ns) std::fill(l.begin(), l.end(), 0.0);
  s.sim_ns = s.dram_read = s.dram_write = s.sram_read = s.sram_write = s.spill_bytes = s.macs = s.sfu_ops = 0;
  s.tokens = s.transactions = s.documents = s.at_phases = s.protocol_errors = 0;
  s.trace.clear();
}

void SimRunner::set_tracing(bool on) { impl_->ctr.tracing = on; }

std::vector<float> SimRunner::forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                                      golden::Capture* cap) {
  Impl& I = *impl_;
  const MambaConfig& c = I.model.cfg;
  const int L = static_cast<int>(tokens.size()), P = static_cast<int>(positions.size());
  if (L == 0) throw std::invalid_argument("sim: empty token sequence");
  for (int32_t t : tokens)
    if (t < 0 || t >= c.vocab_size) throw std::out_of_range("sim: token id " + std::to_string(t) + " outside the vocabulary");
  for (int p : positions)
    if (p < 0 || p >= L) throw std::out_of_range("sim: logit position " + std::to_string(p) + " outside the document");
  const Program prog = compile(I.model, I.profile, I.mode, L, P, I.layer_offsets, I.alpha1);
  I.sram->bytes.assign(prog.sram_bytes, 0);
  std::memcpy(I.sram->host_ptr(prog.tokens_addr, tokens.size() * 4), tokens.data(), tokens.size() * 4);
  std::memcpy(I.sram->host_ptr(prog.positions_addr, positions.size() * 4), positions.data(), positions.size() * 4);
  // Counters of this document.
  I.ctr = Counters{};
  I.ctr.tracing = !I.stats.trace.empty() || I.ctr.tracing;
  I.ctr.layer_ns.assign(static_cast<size_t>(c.n_layer) + 1, {});
  I.seq->program = &prog;
  I.seq->after_instr = [&](const Instr& in) {
    if (cap == nullptr) return;
    for (const Tensor& t : in.outputs) {
      size_t n = 1;
      for (int64_t d : t.shape) n *= static_cast<size_t>(d);
      const size_t elem = t.dtype == "int8" ? 1 : t.dtype == "float16" ? 2 : 4;
      const uint8_t* src = I.sram->host_ptr(t.addr, n * elem);
      if (t.dtype == "int8")
        cap->put(t.name, "int8", t.shape, reinterpret_cast<const int8_t*>(src), n);
      else if (t.dtype == "float16")
        cap->put(t.name, "float16", t.shape, reinterpret_cast<const uint16_t*>(src), n);
      else
        cap->put(t.name, "float32", t.shape, reinterpret_cast<const float*>(src), n);
    }
  };
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  if (!g_started) {
    g_started = true;
    if (sc_core::sc_get_status() == sc_core::SC_ELABORATION)
      sc_core::sc_start(sc_core::SC_ZERO_TIME);  // initialize: the sequencer waits for `start`
  }
  I.seq->done = false;
  I.seq->start.notify(sc_core::SC_ZERO_TIME);
  sc_core::sc_start();
  if (!I.seq->done) throw std::runtime_error("sim: the sequencer did not finish the program");
  std::vector<float> logits(static_cast<size_t>(P) * c.vocab_size);
  std::memcpy(logits.data(), I.sram->host_ptr(prog.logits_addr, logits.size() * 4), logits.size() * 4);
  // Accumulate this document's counters.
  SimStats& s = I.stats;
  s.sim_ns += (sc_core::sc_time_stamp() - t0).to_seconds() * 1e9;  // exact time difference (integer ps)
  for (int u = 0; u < kNumUnits; ++u) s.busy_ns[u] += I.ctr.busy_ns[u];
  for (size_t l = 0; l < I.ctr.layer_ns.size(); ++l)
    for (int u = 0; u < kNumUnits; ++u) s.layer_ns[l][u] += I.ctr.layer_ns[l][u];
  s.dram_read += I.ctr.dram_read, s.dram_write += I.ctr.dram_write, s.sram_read += I.ctr.sram_read;
  s.sram_write += I.ctr.sram_write, s.spill_bytes += I.ctr.spill_bytes, s.macs += I.ctr.macs, s.sfu_ops += I.ctr.sfu_ops;
  s.tokens += L, s.transactions += I.ctr.transactions, s.documents += 1;
  s.at_phases += I.ctr.at_phases, s.protocol_errors += I.ctr.protocol_errors;
  for (auto& line : I.ctr.trace) s.trace.push_back(std::move(line));
  return logits;
}

}  // namespace sim
}  // namespace qmsim
