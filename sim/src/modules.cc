// SystemC modules of the ASIC model. See modules.h; cycle model in docs/SIM.md.
#include "modules.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "datapath.h"

namespace qmsim {
namespace sim {

using sc_core::sc_time;
using sc_core::SC_NS;

const char* unit_name(int u) {
  static const char* names[kNumUnits] = {"sequencer", "dma", "mac_array", "postproc", "conv", "scan", "sfu", "vector"};
  return u >= 0 && u < kNumUnits ? names[u] : "?";
}

namespace {
void transport(tlm::tlm_generic_payload& p, tlm::tlm_command cmd, uint64_t addr, void* data, size_t len) {
  p.set_command(cmd);
  p.set_address(addr);
  p.set_data_ptr(static_cast<unsigned char*>(data));
  p.set_data_length(static_cast<unsigned int>(len));
  p.set_streaming_width(static_cast<unsigned int>(len));
  p.set_byte_enable_ptr(nullptr);
  p.set_dmi_allowed(false);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}
void check(const tlm::tlm_generic_payload& p, const char* who) {
  if (p.is_response_error())
    throw std::runtime_error(std::string(who) + ": TLM error response " + p.get_response_string() + " at address 0x" +
                             [&] { std::ostringstream os; os << std::hex << p.get_address(); return os.str(); }());
}
}  // namespace

// ------------------------------------------------------------------------------------------ Memory
Memory::Memory(sc_core::sc_module_name n, Kind kind, uint64_t base, const config::HwConfig& hw, Counters& ctr)
    : sc_module(n), socket("socket"), kind_(kind), base_(base), hw_(hw), ctr_(ctr) {
  socket.register_b_transport(this, &Memory::b_transport);
  if (kind == Kind::kWeightBuffer) bytes.resize(static_cast<size_t>(hw.weight_kib) * 1024);
}

uint8_t* Memory::host_ptr(uint64_t addr, size_t len) {
  if (addr < base_ || addr - base_ + len > bytes.size()) return nullptr;
  return bytes.data() + (addr - base_);
}

void Memory::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t addr = p.get_address();
  const size_t len = p.get_data_length();
  if (p.get_byte_enable_ptr() != nullptr || p.get_streaming_width() < len) {
    p.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return;
  }
  uint8_t* mem = host_ptr(addr, len);
  if (mem == nullptr) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const bool rd = p.get_command() == tlm::TLM_READ_COMMAND;
  if (rd)
    std::memcpy(p.get_data_ptr(), mem, len);
  else if (p.get_command() == tlm::TLM_WRITE_COMMAND)
    std::memcpy(mem, p.get_data_ptr(), len);
  else {
    p.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  ++ctr_.transactions;
  const double dram_ns = hw_.dram_latency_ns + static_cast<double>(len) / hw_.dram_gbps;  // GB/s = bytes/ns
  const double sram_ns = std::ceil(static_cast<double>(len) / hw_.sram_bytes_per_cycle) * hw_.cycle_ns();
  const bool spilled =
      kind_ == Kind::kSram && addr - base_ + len > static_cast<uint64_t>(hw_.activation_kib) * 1024;
  if (kind_ == Kind::kDram || spilled) {
    delay += sc_time(dram_ns, SC_NS);
    (rd ? ctr_.dram_read : ctr_.dram_write) += static_cast<double>(len);
    if (spilled) ctr_.spill_bytes += static_cast<double>(len);
  } else {
    delay += sc_time(sram_ns, SC_NS);
    (rd ? ctr_.sram_read : ctr_.sram_write) += static_cast<double>(len);
  }
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

// ------------------------------------------------------------------------------------------ Router
Router::Router(sc_core::sc_module_name n) : sc_module(n), in("in"), to_dram("to_dram"), to_sram("to_sram"), to_wbuf("to_wbuf") {
  in.register_b_transport(this, &Router::b_transport);
}
void Router::b_transport(int, tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t a = p.get_address();
  (a >= kWeightBufBase ? to_wbuf : a >= kSramBase ? to_sram : to_dram)->b_transport(p, delay);
}

// ------------------------------------------------------------------------------------------ UnitBase
UnitBase::UnitBase(sc_core::sc_module_name n, int unit, const config::HwConfig& hw, Counters& ctr)
    : sc_module(n), cmd("cmd"), mem("mem"), hw_(hw), ctr_(ctr), unit_(unit) {
  cmd.register_b_transport(this, &UnitBase::b_transport);
}

void UnitBase::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (p.get_data_length() != sizeof(Instr*)) {
    p.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  const Instr* in = nullptr;
  std::memcpy(&in, p.get_data_ptr(), sizeof in);
  const sc_time t0 = delay;
  execute(*in, delay);
  account(*in, delay - t0);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

void UnitBase::account(const Instr& in, const sc_time& spent) {
  const double ns = spent.to_seconds() * 1e9;
  ctr_.charge(unit_, in.layer, ns);
  if (ctr_.tracing) {
    std::ostringstream os;
    os << sc_core::sc_time_stamp().to_seconds() * 1e9 << " ns +" << ns << " ns " << unit_name(unit_) << " "
       << op_name(in.op) << " " << in.name;
    ctr_.trace.push_back(os.str());
  }
}

void UnitBase::read(uint64_t addr, void* dst, size_t len, sc_time& delay) {
  tlm::tlm_generic_payload p;
  transport(p, tlm::TLM_READ_COMMAND, addr, dst, len);
  mem->b_transport(p, delay);
  check(p, name());
}

void UnitBase::write(uint64_t addr, const void* src, size_t len, sc_time& delay) {
  tlm::tlm_generic_payload p;
  transport(p, tlm::TLM_WRITE_COMMAND, addr, const_cast<void*>(src), len);
  mem->b_transport(p, delay);
  check(p, name());
}

// ------------------------------------------------------------------------------------------ Dma
Dma::Dma(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr)
    : UnitBase(n, kUnitDma, hw, ctr), desc("desc") {
  desc.register_b_transport(this, &Dma::desc_transport);
}

void Dma::desc_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (p.get_data_length() != sizeof(DmaDesc)) {
    p.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  DmaDesc d;
  std::memcpy(&d, p.get_data_ptr(), sizeof d);
  const sc_time t0 = delay;
  std::vector<uint8_t> buf(d.len);
  read(d.src, buf.data(), buf.size(), delay);
  write(d.dst, buf.data(), buf.size(), delay);
  ctr_.charge(kUnitDma, d.layer, (delay - t0).to_seconds() * 1e9);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

void Dma::execute(const Instr& in, sc_time& delay) {
  // kEmbed: gather one embedding row (D f16) per token id.
  const int L = in.M, D = in.N;
  std::vector<int32_t> ids(static_cast<size_t>(L));
  read(in.addr[0], ids.data(), ids.size() * 4, delay);
  std::vector<uint8_t> row(static_cast<size_t>(D) * 2);
  for (int t = 0; t < L; ++t) {
    read(in.addr[1] + static_cast<uint64_t>(ids[t]) * D * 2, row.data(), row.size(), delay);
    write(in.addr[2] + static_cast<uint64_t>(t) * D * 2, row.data(), row.size(), delay);
  }
}

// ------------------------------------------------------------------------------------------ PostProc
PostProc::PostProc(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr)
    : sc_module(n), in("in"), mem("mem"), hw_(hw), ctr_(ctr) {
  in.register_b_transport(this, &PostProc::b_transport);
}

void PostProc::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (p.get_data_length() != sizeof(AccTile)) {
    p.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  AccTile t;
  std::memcpy(&t, p.get_data_ptr(), sizeof t);
  const Instr& g = *t.in;
  const sc_time t0 = delay;
  // One output row of the tile per cycle (cols lanes), then a write of the row segment.
  std::vector<uint8_t> row(static_cast<size_t>(t.cols) * (g.out_f16 ? 2 : 1));
  for (int r = 0; r < t.rows; ++r) {
    const int32_t* a = t.acc + static_cast<size_t>(r) * t.ldacc;
    for (int c = 0; c < t.cols; ++c) {
      if (g.out_f16) {
        const uint16_t v = g.use_alpha ? dp::post_f16_alpha(a[c], g.scale[2]) : dp::post_f16(a[c], g.scale[0], g.scale[1]);
        std::memcpy(row.data() + 2 * c, &v, 2);
      } else {
        const int8_t v = g.use_alpha ? dp::post_s8_alpha(a[c], g.scale[2]) : dp::post_s8(a[c], g.scale[0], g.scale[1]);
        row[c] = static_cast<uint8_t>(v);
      }
    }
    const uint64_t addr = g.addr[2] + (static_cast<uint64_t>(t.row0 + r) * g.ldo + t.col0) * (g.out_f16 ? 2 : 1);
    tlm::tlm_generic_payload w;
    transport(w, tlm::TLM_WRITE_COMMAND, addr, row.data(), row.size());
    mem->b_transport(w, delay);
    check(w, name());
  }
  delay += sc_time(t.rows * hw_.cycle_ns(), SC_NS);
  ctr_.charge(kUnitPost, g.layer, (delay - t0).to_seconds() * 1e9);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

// ------------------------------------------------------------------------------------------ MacArray
MacArray::MacArray(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr)
    : UnitBase(n, kUnitMac, hw, ctr), dma("dma"), post("post") {}

void MacArray::dma_copy(uint64_t src, uint64_t dst, uint64_t len, int layer, sc_time& delay) {
  DmaDesc d{src, dst, len, layer};
  tlm::tlm_generic_payload p;
  transport(p, tlm::TLM_WRITE_COMMAND, 0, &d, sizeof d);
  dma->b_transport(p, delay);
  check(p, name());
}

void MacArray::execute(const Instr& in, sc_time& delay) {
  if (in.op == Op::kGemm && in.iv[0] == 1)
    gemm_f32(in, delay);
  else if (in.op == Op::kGemm)
    gemm(in, delay);
  else if (in.op == Op::kLmHead)
    lm_head(in, delay);
  else
    throw std::logic_error("mac_array: cannot run " + std::string(op_name(in.op)));
}

// Output-stationary array, rows x cols int32 accumulators. For each column tile the weights
// [cols, kt] are DMA'd DRAM -> weight buffer (one burst when a tile is contiguous). When all of K
// fits the buffer (kt = K) the tile stays in the buffer for every row tile; otherwise K is split
// into tiles whose int32 partial sums accumulate in the array, and the weights are re-fetched per
// row tile. Weight DMA is double-buffered: a step costs max(DMA time, compute time).
void MacArray::gemm(const Instr& g, sc_time& delay) {
  const int rows = hw_.mac_rows, cols = hw_.mac_cols;
  const int kt_max = std::max(1, static_cast<int>(static_cast<int64_t>(hw_.weight_kib) * 1024 / cols));
  const int ktile = std::min(kt_max, g.K);
  std::vector<int32_t> acc(static_cast<size_t>(rows) * cols);
  std::vector<int8_t> a(static_cast<size_t>(rows) * ktile), w(static_cast<size_t>(cols) * ktile);
  auto load_weights = [&](int c0, int cc, int k0, int kt) {
    sc_time d = sc_core::SC_ZERO_TIME;
    if (kt == g.K) {  // rows c0..c0+cc of W are contiguous
      dma_copy(g.addr[1] + static_cast<uint64_t>(c0) * g.K, kWeightBufBase, static_cast<uint64_t>(cc) * kt, g.layer, d);
    } else {
      for (int c = 0; c < cc; ++c)
        dma_copy(g.addr[1] + static_cast<uint64_t>(c0 + c) * g.K + k0, kWeightBufBase + static_cast<uint64_t>(c) * kt,
                 static_cast<uint64_t>(kt), g.layer, d);
    }
    return d;
  };
  for (int c0 = 0; c0 < g.N; c0 += cols) {
    const int cc = std::min(cols, g.N - c0);
    const bool stationary = ktile == g.K;
    sc_time pending_dma = stationary ? load_weights(c0, cc, 0, g.K) : sc_core::SC_ZERO_TIME;
    if (stationary) read(kWeightBufBase, w.data(), static_cast<size_t>(cc) * g.K, delay);
    for (int r0 = 0; r0 < g.M; r0 += rows) {
      const int rr = std::min(rows, g.M - r0);
      std::fill(acc.begin(), acc.end(), 0);
      for (int k0 = 0; k0 < g.K; k0 += ktile) {
        const int kt = std::min(ktile, g.K - k0);
        if (!stationary) {
          pending_dma += load_weights(c0, cc, k0, kt);
          read(kWeightBufBase, w.data(), static_cast<size_t>(cc) * kt, delay);
        }
        for (int r = 0; r < rr; ++r)
          read(g.addr[0] + static_cast<uint64_t>(r0 + r) * g.lda + k0, a.data() + static_cast<size_t>(r) * kt,
               static_cast<size_t>(kt), delay);
        dp::mac_tile(rr, cc, kt, a.data(), kt, w.data(), kt, acc.data(), cols);
        const sc_time compute = cycles(kt + rows + cols);  // kt MAC steps plus systolic fill/drain
        delay += pending_dma > compute ? pending_dma : compute;  // double-buffered weight DMA
        pending_dma = sc_core::SC_ZERO_TIME;
        ctr_.macs += static_cast<double>(rr) * cc * kt;
      }
      AccTile t{&g, acc.data(), r0, c0, rr, cc, cols};
      tlm::tlm_generic_payload p;
      transport(p, tlm::TLM_WRITE_COMMAND, 0, &t, sizeof t);
      post->b_transport(p, delay);
      check(p, name());
    }
  }
}

// FP32 mode (fp32_units.linears, modes 6-x): the same tiling; each output keeps an f32 partial sum
// that continues across K tiles in ascending k (fl32 product, then fl32 add: spec §5.8 order).
void MacArray::gemm_f32(const Instr& g, sc_time& delay) {
  const int rows = hw_.mac_rows, cols = hw_.mac_cols;
  const int kt_max = std::max(1, static_cast<int>(static_cast<int64_t>(hw_.weight_kib) * 1024 / cols));
  const int ktile = std::min(kt_max, g.K);
  const bool act_i8 = g.iv[2] == 1;
  std::vector<float> acc(static_cast<size_t>(rows) * cols), a(static_cast<size_t>(rows) * ktile), row;
  std::vector<int8_t> w(static_cast<size_t>(cols) * ktile), a8(static_cast<size_t>(ktile));
  for (int c0 = 0; c0 < g.N; c0 += cols) {
    const int cc = std::min(cols, g.N - c0);
    for (int r0 = 0; r0 < g.M; r0 += rows) {
      const int rr = std::min(rows, g.M - r0);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int k0 = 0; k0 < g.K; k0 += ktile) {
        const int kt = std::min(ktile, g.K - k0);
        sc_time dma_t = sc_core::SC_ZERO_TIME;
        for (int c = 0; c < cc; ++c)
          dma_copy(g.addr[1] + static_cast<uint64_t>(c0 + c) * g.K + k0, kWeightBufBase + static_cast<uint64_t>(c) * kt,
                   static_cast<uint64_t>(kt), g.layer, dma_t);
        read(kWeightBufBase, w.data(), static_cast<size_t>(cc) * kt, delay);
        for (int r = 0; r < rr; ++r) {
          float* ar = a.data() + static_cast<size_t>(r) * kt;
          if (act_i8) {
            read(g.addr[0] + static_cast<uint64_t>(r0 + r) * g.lda + k0, a8.data(), static_cast<size_t>(kt), delay);
            for (int k = 0; k < kt; ++k) ar[k] = g.scale[5] * static_cast<float>(a8[k]);  // fl32(s_u·q)
          } else {
            read(g.addr[0] + (static_cast<uint64_t>(r0 + r) * g.lda + k0) * 4, ar, static_cast<size_t>(kt) * 4, delay);
          }
        }
        for (int r = 0; r < rr; ++r)
          for (int c = 0; c < cc; ++c) {
            float s = acc[static_cast<size_t>(r) * cols + c];
            const float* ar = a.data() + static_cast<size_t>(r) * kt;
            const int8_t* wc = w.data() + static_cast<size_t>(c) * kt;
            for (int k = 0; k < kt; ++k) s = s + ar[k] * (static_cast<float>(wc[k]) * g.scale[3]);
            acc[static_cast<size_t>(r) * cols + c] = s;
          }
        const sc_time compute = cycles(kt + rows + cols);
        delay += dma_t > compute ? dma_t : compute;
        ctr_.macs += static_cast<double>(rr) * cc * kt;
      }
      row.resize(static_cast<size_t>(cc));
      for (int r = 0; r < rr; ++r) {
        for (int c = 0; c < cc; ++c) {
          float v = acc[static_cast<size_t>(r) * cols + c];
          if (g.iv[1] == 1) v = static_cast<float>(num::requant_sat8(num::Rounding::kRne, v, g.scale[4])) * g.scale[4];
          row[c] = v;
        }
        write(g.addr[2] + (static_cast<uint64_t>(r0 + r) * g.ldo + c0) * 4, row.data(), row.size() * 4, delay);
      }
    }
  }
}

// lm_head on the array's FP16 mode: logits[p, v] = Σ_k fl32(y·w) ascending k, per output; weight
// tiles of `cols` vocabulary rows streamed from DRAM.
void MacArray::lm_head(const Instr& in, sc_time& delay) {
  const int P = in.M, V = in.N, D = in.K, cols = hw_.mac_cols;
  std::vector<int32_t> pos(static_cast<size_t>(P));
  read(in.addr[3], pos.data(), pos.size() * 4, delay);
  std::vector<uint16_t> y(static_cast<size_t>(P) * D), w(static_cast<size_t>(cols) * D);
  for (int p = 0; p < P; ++p)
    read(in.addr[0] + static_cast<uint64_t>(pos[p]) * D * 2, y.data() + static_cast<size_t>(p) * D, static_cast<size_t>(D) * 2,
         delay);
  std::vector<float> logits(static_cast<size_t>(P) * V);
  const bool fits = static_cast<int64_t>(cols) * D * 2 <= static_cast<int64_t>(hw_.weight_kib) * 1024;
  for (int v0 = 0; v0 < V; v0 += cols) {
    const int cc = std::min(cols, V - v0);
    const uint64_t bytes = static_cast<uint64_t>(cc) * D * 2;
    if (fits) {
      dma_copy(in.addr[1] + static_cast<uint64_t>(v0) * D * 2, kWeightBufBase, bytes, -1, delay);
      read(kWeightBufBase, w.data(), bytes, delay);
    } else {
      read(in.addr[1] + static_cast<uint64_t>(v0) * D * 2, w.data(), bytes, delay);  // streamed past the buffer
    }
    for (int p = 0; p < P; ++p)
      for (int c = 0; c < cc; ++c) {
        float v = dp::lm_head_dot(D, y.data() + static_cast<size_t>(p) * D, w.data() + static_cast<size_t>(c) * D);
        if (in.flag) v = num::round_to_f16(v);
        logits[static_cast<size_t>(p) * V + v0 + c] = v;
      }
    delay += cycles(static_cast<double>((P + hw_.mac_rows - 1) / hw_.mac_rows) * D + hw_.mac_rows + cols);
    ctr_.macs += static_cast<double>(P) * cc * D;
  }
  write(in.addr[2], logits.data(), logits.size() * 4, delay);
}

// ------------------------------------------------------------------------------------------ ConvUnit
// `lanes` channels in parallel; each lane walks its channel over t with a K-tap window.
void ConvUnit::execute(const Instr& in, sc_time& delay) {
  const int L = in.M, E = in.N, K = in.K, lanes = hw_.conv_lanes;
  std::vector<int8_t> x(static_cast<size_t>(L) * E), out(static_cast<size_t>(L) * E), w(static_cast<size_t>(E) * K),
      b(static_cast<size_t>(E), 0);
  std::vector<float> v(in.addr[4] ? static_cast<size_t>(L) * E : 0);
  for (int t = 0; t < L; ++t)  // the x half of each in_proj row
    read(in.addr[0] + static_cast<uint64_t>(t) * 2 * E, x.data() + static_cast<size_t>(t) * E, static_cast<size_t>(E), delay);
  read(in.addr[1], w.data(), w.size(), delay);
  if (in.addr[3] != 0) read(in.addr[3], b.data(), b.size(), delay);
  float s_xz = in.scale[2];
  if (in.flag) {
    // Doc mode 3 (FP32 conv unit): the input requantized with s = max|q·s_xz| / 127 over the call.
    float mx = 0.0f;
    for (int8_t q : x) mx = std::max(mx, std::fabs(static_cast<float>(q) * in.scale[2]));
    const float s_dyn = mx > 0.0f ? mx / 127.0f : in.scale[2];
    for (int8_t& q : x) q = num::requant_sat8(num::Rounding::kRne, static_cast<float>(q) * in.scale[2], s_dyn);
    s_xz = s_dyn;
    delay += cycles(2.0 * std::ceil(static_cast<double>(L) * E / lanes));  // max pass + requant pass
  }
  for (int e = 0; e < E; ++e)
    dp::conv_channel(L, K, x.data() + e, E, w.data() + static_cast<size_t>(e) * K, b[e], in.scale[0], in.scale[1], s_xz,
                     in.scale[3], out.data() + e, v.empty() ? nullptr : v.data() + e);
  write(in.addr[2], out.data(), out.size(), delay);
  if (!v.empty()) write(in.addr[4], v.data(), v.size() * 4, delay);
  delay += cycles(static_cast<double>((E + lanes - 1) / lanes) * L * K);
  ctr_.sfu_ops += 2.0 * L * E;  // SiLU's exp and division
}

// ------------------------------------------------------------------------------------------ ScanUnit
// `lanes` (channel, state) pairs per cycle; the SFU computes exp / log1p / division at
// sfu_ops_per_cycle. The recurrence is sequential in t for every channel.
void ScanUnit::execute(const Instr& in, sc_time& delay) {
  const int L = in.M, E = in.N, N = in.K, R = in.lda, X = R + 2 * N;
  const size_t LE = static_cast<size_t>(L) * E, EN = static_cast<size_t>(E) * N;
  const bool u_f32 = in.flag, dtbc_f32 = in.iv[1] == 1, pseq = in.iv[0] == 1;
  // Operands: u (int8 or f32), z (the second half of each in_proj row), A_log, D, dt_bias, and dt,
  // B, C either int8 (dt_proj, x_proj) or f32 (the FP32 linears of 6-x).
  std::vector<int8_t> u(u_f32 ? 0 : LE), z(LE), A(EN), Dq(static_cast<size_t>(E)), db(static_cast<size_t>(E));
  std::vector<float> uf(u_f32 ? LE : 0);
  if (u_f32)
    read(in.addr[0], uf.data(), LE * 4, delay);
  else
    read(in.addr[0], u.data(), LE, delay);
  for (int t = 0; t < L; ++t)
    read(in.addr[3] + static_cast<uint64_t>(t) * 2 * E + E, z.data() + static_cast<size_t>(t) * E, static_cast<size_t>(E),
         delay);
  read(in.addr[4], A.data(), A.size(), delay);
  read(in.addr[8], Dq.data(), Dq.size(), delay);
  read(in.addr[9], db.data(), db.size(), delay);
  std::vector<int8_t> dt, B, C, row;
  std::vector<float> dtp, xf;
  if (dtbc_f32) {
    dtp.resize(LE);
    xf.resize(static_cast<size_t>(L) * X);
    read(in.addr[1], dtp.data(), LE * 4, delay);
    read(in.addr[2], xf.data(), xf.size() * 4, delay);
    for (int t = 0; t < L; ++t)
      for (int e = 0; e < E; ++e) {
        float& d = dtp[static_cast<size_t>(t) * E + e];
        d = d + in.scale[7] * static_cast<float>(db[e]);  // fl32(dt + fl32(s_db·q_db))
      }
    if (!u_f32) {  // the f32-input kernel reads u as fl32(s_u·q)
      uf.resize(LE);
      for (size_t i = 0; i < LE; ++i) uf[i] = in.scale[0] * static_cast<float>(u[i]);
    }
  } else {
    dt.resize(LE), B.resize(static_cast<size_t>(L) * N), C.resize(B.size()), row.resize(static_cast<size_t>(X));
    read(in.addr[1], dt.data(), LE, delay);
    for (int t = 0; t < L; ++t) {
      read(in.addr[2] + static_cast<uint64_t>(t) * X, row.data(), row.size(), delay);
      std::copy_n(row.data() + R, N, B.data() + static_cast<size_t>(t) * N);
      std::copy_n(row.data() + R + N, N, C.data() + static_cast<size_t>(t) * N);
    }
  }
  const dp::ScanScales s{in.scale[0], in.scale[1], in.scale[2], in.scale[3], in.scale[4],
                         in.scale[5], in.scale[6], in.scale[7], in.scale[8]};
  std::vector<uint16_t> y(LE);
  std::vector<float> st(EN);
  std::vector<int8_t> sq(EN);
  for (int e = 0; e < E; ++e) {
    const size_t en = static_cast<size_t>(e) * N;
    const int8_t* ue = u_f32 ? nullptr : u.data() + e;
    const float* uef = uf.empty() ? nullptr : uf.data() + e;
    if (dtbc_f32)  // golden kernel on f32 dt/B/C (fp32_units.linears)
      dp::scan_channel_f32in(L, N, uef, dtp.data() + e, z.data() + e, E, xf.data() + R, xf.data() + R + N, X,
                             A.data() + en, Dq[e], s, y.data() + e, st.data() + en, sq.data() + en);
    else if (pseq)  // the FP32 P-seq datapath (fp32_units.ssm_pseq)
      dp::scan_channel_pseq(L, N, ue, uef, dt.data() + e, z.data() + e, E, B.data(), C.data(), A.data() + en, Dq[e],
                            db[e], s, y.data() + e, st.data() + en, sq.data() + en);
    else
      dp::scan_channel(L, N, ue, dt.data() + e, z.data() + e, E, B.data(), C.data(), A.data() + en, Dq[e], db[e], s,
                       y.data() + e, st.data() + en, sq.data() + en, uef);
  }
  write(in.addr[5], y.data(), y.size() * 2, delay);
  write(in.addr[6], st.data(), st.size() * 4, delay);
  write(in.addr[7], sq.data(), sq.size(), delay);
  const double lane_cycles = std::ceil(static_cast<double>(E) * N / hw_.scan_lanes) * L;
  const double sfu = static_cast<double>(L) * E * (N + 4);  // exp per (t,e,n); softplus 2 + gate 2 per (t,e)
  const double sfu_cycles = sfu / hw_.sfu_ops_per_cycle;
  delay += cycles(std::max(lane_cycles, sfu_cycles));
  ctr_.sfu_ops += sfu;
  ctr_.charge(kUnitSfu, in.layer, sfu_cycles * hw_.cycle_ns());
}

// ------------------------------------------------------------------------------------------ VectorUnit
void VectorUnit::execute(const Instr& in, sc_time& delay) {
  const int L = in.M, D = in.N, lanes = hw_.norm_lanes;
  if (in.op == Op::kNorm || in.op == Op::kFinalNorm) {
    std::vector<uint16_t> h(static_cast<size_t>(L) * D), w;
    std::vector<float> res(static_cast<size_t>(L) * D);
    read(in.addr[0], h.data(), h.size() * 2, delay);
    const bool with_res = in.op == Op::kNorm ? in.flag : in.addr[1] != 0;
    if (with_res) read(in.addr[1], res.data(), res.size() * 4, delay);
    if (in.op == Op::kNorm) {
      std::vector<int8_t> q(static_cast<size_t>(L) * D);
      std::vector<float> res_out(res.size());
      for (int t = 0; t < L; ++t)
        dp::rmsnorm_token(D, h.data() + static_cast<size_t>(t) * D, with_res ? res.data() + static_cast<size_t>(t) * D : nullptr,
                          in.eps, in.scale[0], res_out.data() + static_cast<size_t>(t) * D, q.data() + static_cast<size_t>(t) * D);
      write(in.addr[1], res_out.data(), res_out.size() * 4, delay);
      write(in.addr[2], q.data(), q.size(), delay);
    } else {
      if (in.addr[3] != 0) {
        w.resize(static_cast<size_t>(D));
        read(in.addr[3], w.data(), w.size() * 2, delay);
      }
      std::vector<uint16_t> out(static_cast<size_t>(L) * D);
      for (int t = 0; t < L; ++t)
        dp::final_norm_token(D, h.data() + static_cast<size_t>(t) * D, with_res ? res.data() + static_cast<size_t>(t) * D : nullptr,
                             w.empty() ? nullptr : w.data(), in.eps, in.flag, out.data() + static_cast<size_t>(t) * D);
      write(in.addr[2], out.data(), out.size() * 2, delay);
    }
    // Two passes over D (sum of squares, scale + quantize) and one sqrt + division per token.
    delay += cycles(2.0 * L * std::ceil(static_cast<double>(D) / lanes) + 2.0 * L / hw_.sfu_ops_per_cycle);
    ctr_.sfu_ops += 2.0 * L;
    return;
  }
  if (in.op == Op::kHadamard) {
    std::vector<uint16_t> y(static_cast<size_t>(L) * D);
    std::vector<int8_t> q(y.size());
    read(in.addr[0], y.data(), y.size() * 2, delay);
    for (int t = 0; t < L; ++t)
      dp::hadamard_token(D, y.data() + static_cast<size_t>(t) * D, in.scale[0], in.flag, q.data() + static_cast<size_t>(t) * D);
    write(in.addr[2], q.data(), q.size(), delay);
    int stages = 0, block = (D % 12 == 0 && (D & (D - 1)) != 0) ? D / 12 : D;
    while ((1 << stages) < block) ++stages;
    const double passes = stages + (block != D ? 12.0 : 0.0) + 1.0;  // butterflies, H_12 stage, quantizer
    delay += cycles(static_cast<double>(L) * passes * std::ceil(static_cast<double>(D) / lanes));
    return;
  }
  if (in.op == Op::kUSite) {
    // FP32 u unit: x = grid value fl32(s_u·q) or TRUE FP32 v, through the mode's u quantizer
    // (num::u_quantize); the per-call outlier scale needs a first pass over the call tensor.
    const size_t n = static_cast<size_t>(L) * D;
    std::vector<float> x(n);
    if (in.iv[0] == 1) {
      std::vector<int8_t> q(n);
      read(in.addr[0], q.data(), n, delay);
      for (size_t i = 0; i < n; ++i) x[i] = in.scale[0] * static_cast<float>(q[i]);
    } else {
      read(in.addr[0], x.data(), n * 4, delay);
    }
    num::UQuantParams p;
    p.kind = static_cast<num::UQuantizer>(in.iv[1]);
    p.rounding = static_cast<num::Rounding>(in.iv[2]);
    p.s = in.scale[0];
    p.fine_threshold = in.iv[3];
    p.fine_divisor = in.iv[4];
    double passes = 1;
    if (p.kind == num::UQuantizer::kGridRequantOutliers) {
      if (in.iv[5] == static_cast<int>(golden::OutlierScale::kPerCallMax)) {
        float mx = 0.0f;
        for (float v : x)
          if (num::u_is_outlier(p, v)) mx = std::max(mx, std::fabs(v));
        p.s_o = std::max(mx / 127.0f, p.s);
        passes = 2;
      } else {
        p.s_o = in.scale[1] > 0.0f ? in.scale[1] : p.s;  // alpha = 1 scale, or the original's fallback
      }
    }
    if (in.iv[6] == 1) {
      std::vector<int8_t> codes(n);
      for (size_t i = 0; i < n; ++i) codes[i] = num::requant_sat8(p.rounding, x[i], p.s);
      write(in.addr[2], codes.data(), n, delay);
    } else {
      std::vector<float> u(n);
      for (size_t i = 0; i < n; ++i) u[i] = num::u_quantize(p, x[i]);
      write(in.addr[2], u.data(), n * 4, delay);
    }
    delay += cycles(passes * L * std::ceil(static_cast<double>(D) / lanes));
    return;
  }
  if (in.op == Op::kRequant) {
    // Columns [c0, c0 + D) of each of L rows: f32 (row stride lda) -> int8 (row stride ldo).
    const int c0 = in.iv[3];
    std::vector<float> x(static_cast<size_t>(D));
    std::vector<int8_t> q(static_cast<size_t>(D));
    for (int t = 0; t < L; ++t) {
      read(in.addr[0] + (static_cast<uint64_t>(t) * in.lda + c0) * 4, x.data(), x.size() * 4, delay);
      for (int j = 0; j < D; ++j) q[j] = num::requant_sat8(static_cast<num::Rounding>(in.iv[2]), x[j], in.scale[0]);
      write(in.addr[2] + static_cast<uint64_t>(t) * in.ldo + c0, q.data(), q.size(), delay);
    }
    delay += cycles(static_cast<double>(L) * std::ceil(static_cast<double>(D) / lanes));
    return;
  }
  throw std::logic_error("vector unit: cannot run " + std::string(op_name(in.op)));
}

// ------------------------------------------------------------------------------------------ Sequencer
Sequencer::Sequencer(sc_core::sc_module_name n, const config::HwConfig& hw, Counters& ctr)
    : sc_module(n), to_dma("to_dma"), to_mac("to_mac"), to_conv("to_conv"), to_scan("to_scan"),
      to_vector("to_vector"), hw_(hw), ctr_(ctr) {
  SC_HAS_PROCESS(Sequencer);
  SC_THREAD(run);
  for (auto* s : {&to_dma, &to_mac, &to_conv, &to_scan, &to_vector}) s->register_nb_transport_bw(this, &Sequencer::nb_bw);
  tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_time(hw.quantum_ns, SC_NS));
}

void Sequencer::run() {
  for (;;) {
    wait(start);
    qk_.reset();
    for (const Instr& in : program->instrs) {
      tlm_utils::simple_initiator_socket<Sequencer>* s = nullptr;
      switch (in.op) {
        case Op::kEmbed: s = &to_dma; break;
        case Op::kGemm:
        case Op::kLmHead: s = &to_mac; break;
        case Op::kConv: s = &to_conv; break;
        case Op::kScan: s = &to_scan; break;
        case Op::kNorm:
        case Op::kFinalNorm:
        case Op::kHadamard:
        case Op::kUSite:
        case Op::kRequant: s = &to_vector; break;
      }
      const Instr* ptr = &in;
      tlm::tlm_generic_payload p;
      transport(p, tlm::TLM_WRITE_COMMAND, 0, &ptr, sizeof ptr);
      if (hw_.approximately_timed) {
        issue_at(*s, p);
      } else {
        sc_time delay = qk_.get_local_time();
        (*s)->b_transport(p, delay);
        qk_.set(delay);
        if (qk_.need_sync()) qk_.sync();
      }
      check(p, name());
      if (after_instr) after_instr(in);
    }
    qk_.sync();
    done = true;
  }
}

void Sequencer::protocol_error(const std::string& what) {
  ++ctr_.protocol_errors;
  ctr_.trace.push_back(std::string("TLM protocol error: ") + what);
}

// One command under the base protocol. The unit's socket answers BEGIN_REQ with TLM_ACCEPTED and
// later calls nb_transport_bw with BEGIN_RESP (END_REQ implied), or completes early.
void Sequencer::issue_at(tlm_utils::simple_initiator_socket<Sequencer>& s, tlm::tlm_generic_payload& p) {
  if (at_state_ != AtState::kIdle) protocol_error("BEGIN_REQ while a command is outstanding");
  outstanding_ = &p;
  at_state_ = AtState::kRequest;
  tlm::tlm_phase ph = tlm::BEGIN_REQ;
  sc_time d = sc_core::SC_ZERO_TIME;
  ++ctr_.at_phases;
  const tlm::tlm_sync_enum st = s->nb_transport_fw(p, ph, d);
  if (st == tlm::TLM_COMPLETED) {
    wait(d);
  } else if (st == tlm::TLM_UPDATED) {
    if (ph == tlm::END_REQ) {
      at_state_ = AtState::kRequestEnded;
      wait(response_);
    } else if (ph == tlm::BEGIN_RESP) {
      wait(d);
      tlm::tlm_phase end = tlm::END_RESP;
      sc_time d2 = sc_core::SC_ZERO_TIME;
      s->nb_transport_fw(p, end, d2);
    } else {
      protocol_error("nb_transport_fw returned TLM_UPDATED with an illegal phase");
    }
  } else {  // TLM_ACCEPTED: wait for BEGIN_RESP on the backward path
    wait(response_);
  }
  at_state_ = AtState::kIdle;
  outstanding_ = nullptr;
}

tlm::tlm_sync_enum Sequencer::nb_bw(tlm::tlm_generic_payload& p, tlm::tlm_phase& ph, sc_time& d) {
  ++ctr_.at_phases;
  if (&p != outstanding_) {
    protocol_error("backward call for a payload that is not outstanding");
    return tlm::TLM_COMPLETED;
  }
  if (ph == tlm::END_REQ) {
    if (at_state_ != AtState::kRequest) protocol_error("END_REQ outside a request");
    at_state_ = AtState::kRequestEnded;
    return tlm::TLM_ACCEPTED;
  }
  if (ph == tlm::BEGIN_RESP) {
    if (at_state_ != AtState::kRequest && at_state_ != AtState::kRequestEnded) protocol_error("BEGIN_RESP before BEGIN_REQ");
    at_state_ = AtState::kResponse;
    response_.notify(d);
    ph = tlm::END_RESP;  // complete the response on the return path
    return tlm::TLM_COMPLETED;
  }
  protocol_error("illegal phase on the backward path");
  return tlm::TLM_COMPLETED;
}

}  // namespace sim
}  // namespace qmsim
