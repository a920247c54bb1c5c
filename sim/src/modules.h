// SystemC TLM-2.0 modules of the ASIC (loosely timed, blocking transport + quantum keeper):
//
//   Sequencer --cmd--> MacArray --acc tiles--> PostProc
//       |       --cmd--> ConvUnit, ScanUnit (+ SFU), VectorUnit (norms, Hadamard)
//       |       --cmd--> Dma
//   every unit --mem--> Router --> Memory (DRAM image, activation SRAM, weight buffer)
//   MacArray --desc--> Dma (weight tiles DRAM -> weight buffer)
//
// Commands carry an Instr (program.h); units move data only through TLM transactions on their
// `mem` socket, compute with the lane arithmetic of datapath.h and annotate time from the
// hardware config (cycle counts in docs/SIM.md).
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "program.h"
#include "qmsim/config/hw.h"

namespace qmsim {
namespace sim {

enum Unit : int { kUnitSequencer, kUnitDma, kUnitMac, kUnitPost, kUnitConv, kUnitScan, kUnitSfu, kUnitVector, kNumUnits };
const char* unit_name(int u);

/// Counters of one run (reset per document by the runner).
struct Counters {
  std::array<double, kNumUnits> busy_ns{};          // per unit
  std::vector<std::array<double, kNumUnits>> layer_ns;  // per layer, per unit (index n_layer = model-level)
  double dram_read = 0, dram_write = 0, sram_read = 0, sram_write = 0, spill_bytes = 0;
  double macs = 0, sfu_ops = 0;
  int64_t transactions = 0;
  int64_t at_phases = 0, protocol_errors = 0;  // approximately-timed command phases seen / illegal ones
  std::vector<std::string> trace;  // unit activity log when tracing is on (and protocol errors)
  bool tracing = false;
  /// Adds busy time of `unit` to its total and to its layer's row (layer -1: the model-level row).
  void charge(int unit, int layer, double ns) {
    busy_ns[unit] += ns;
    const size_t row = layer >= 0 ? static_cast<size_t>(layer) : layer_ns.size() - 1;
    if (row < layer_ns.size()) layer_ns[row][unit] += ns;
  }
};

/// A memory behind the router: the DRAM (model image), the activation SRAM (served with DRAM
/// timing past `sram.activation_kib`: spills) or the weight buffer. Addresses are global (the
/// region's base included). Blocking transport; annotates access time; no DMI.
class Memory : public sc_core::sc_module {
 public:
  enum class Kind { kDram, kSram, kWeightBuffer };
  tlm_utils::simple_target_socket<Memory> socket;
  Memory(sc_core::sc_module_name n, Kind kind, uint64_t base, const config::HwConfig& hw, Counters& ctr);
  std::vector<uint8_t> bytes;
  uint64_t base() const { return base_; }
  uint8_t* host_ptr(uint64_t addr, size_t len);  // host (runner) access for loading and captures

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  Kind kind_;
  uint64_t base_;
  const config::HwConfig& hw_;
  Counters& ctr_;
};

/// Address-decoding interconnect: every initiator binds to `in`; DRAM below kSramBase, the
/// activation SRAM below kWeightBufBase, the weight buffer above.
class Router : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<Router> in;
  tlm_utils::simple_initiator_socket<Router> to_dram, to_sram, to_wbuf;
  explicit Router(sc_core::sc_module_name n);

 private:
  void b_transport(int id, tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
};

/// Base of the units: a command target socket and a memory initiator socket.
class UnitBase : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<UnitBase> cmd;
  tlm_utils::simple_initiator_socket<UnitBase> mem;
  UnitBase(sc_core::sc_module_name n, int unit, const config::HwConfig& hw, Counters& ctr);

 protected:
  virtual void execute(const Instr& in, sc_core::sc_time& delay) = 0;
  void read(uint64_t addr, void* dst, size_t len, sc_core::sc_time& delay);
  void write(uint64_t addr, const void* src, size_t len, sc_core::sc_time& delay);
  sc_core::sc_time cycles(double n) const { return sc_core::sc_time(n * hw_.cycle_ns(), sc_core::SC_NS); }
  void account(const Instr& in, const sc_core::sc_time& spent);
  const config::HwConfig& hw_;
  Counters& ctr_;
  int unit_;

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
};

/// A DMA descriptor: copy len bytes src -> dst (through the memory socket).
struct DmaDesc {
  uint64_t src = 0, dst = 0, len = 0;
  int layer = -1;  // for the per-layer accounting
};
class Dma : public UnitBase {
 public:
  tlm_utils::simple_target_socket<Dma> desc;  // descriptor transactions (data = DmaDesc) from the MAC array
  Dma(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr);

 protected:
  void execute(const Instr& in, sc_core::sc_time& delay) override;  // kEmbed: gather embedding rows

 private:
  void desc_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
};

/// Requant / post-processing unit: an accumulator tile -> int8 (two scales or alpha) or f16.
struct AccTile {
  const Instr* in = nullptr;
  const int32_t* acc = nullptr;
  int row0 = 0, col0 = 0, rows = 0, cols = 0, ldacc = 0;
};
class PostProc : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<PostProc> in;
  tlm_utils::simple_initiator_socket<PostProc> mem;
  PostProc(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr);

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  const config::HwConfig& hw_;
  Counters& ctr_;
};

/// Output-stationary INT8 MAC array (rows x cols int32 accumulators), K tiled by the weight
/// buffer; weights DMA'd per tile; also runs lm_head in its FP16 mode.
class MacArray : public UnitBase {
 public:
  tlm_utils::simple_initiator_socket<MacArray> dma;   // -> Dma.desc
  tlm_utils::simple_initiator_socket<MacArray> post;  // -> PostProc.in
  MacArray(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr);

 protected:
  void execute(const Instr& in, sc_core::sc_time& delay) override;

 private:
  void gemm(const Instr& in, sc_core::sc_time& delay);
  void gemm_f32(const Instr& in, sc_core::sc_time& delay);
  void lm_head(const Instr& in, sc_core::sc_time& delay);
  void dma_copy(uint64_t src, uint64_t dst, uint64_t len, int layer, sc_core::sc_time& delay);
};

class ConvUnit : public UnitBase {
 public:
  ConvUnit(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr) : UnitBase(n, kUnitConv, hw, ctr) {}

 protected:
  void execute(const Instr& in, sc_core::sc_time& delay) override;
};

class ScanUnit : public UnitBase {
 public:
  ScanUnit(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr) : UnitBase(n, kUnitScan, hw, ctr) {}

 protected:
  void execute(const Instr& in, sc_core::sc_time& delay) override;
};

/// Norms (QRMSNorm, final norm) and the Hadamard transform + quantizer.
class VectorUnit : public UnitBase {
 public:
  VectorUnit(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr)
      : UnitBase(n, kUnitVector, hw, ctr) {}

 protected:
  void execute(const Instr& in, sc_core::sc_time& delay) override;
};

/// Runs the program: one command transaction per instruction to its unit; a hook after each.
/// Loosely timed (timing.style lt): blocking transport + quantum keeper. Approximately timed (at):
/// non-blocking transport with the base-protocol phases BEGIN_REQ -> (END_REQ) -> BEGIN_RESP ->
/// END_RESP, each unit's time consumed with wait(); every phase is checked against the protocol's
/// state machine and an illegal one is counted in Counters::protocol_errors and logged.
class Sequencer : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Sequencer> to_dma, to_mac, to_conv, to_scan, to_vector;
  sc_core::sc_event start;
  const Program* program = nullptr;
  std::function<void(const Instr&)> after_instr;
  bool done = false;
  Sequencer(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr);

 private:
  void run();
  void issue_at(tlm_utils::simple_initiator_socket<Sequencer>& s, tlm::tlm_generic_payload& p);
  tlm::tlm_sync_enum nb_bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_core::sc_time& d);
  void protocol_error(const std::string& what);
  const config::HwConfig& hw_;
  Counters& ctr_;
  tlm_utils::tlm_quantumkeeper qk_;
  // AT protocol state of the one outstanding command.
  enum class AtState { kIdle, kRequest, kRequestEnded, kResponse } at_state_ = AtState::kIdle;
  const tlm::tlm_generic_payload* outstanding_ = nullptr;
  sc_core::sc_event response_;
};

}  // namespace sim
}  // namespace qmsim
