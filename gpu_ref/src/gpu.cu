// gpu_ref host side: the model on the GPU, the batched forward of every W8A8 mode (the dataflow of
// golden::forward_w8a8, one kernel per op of kernels.cuh), kernel timing, and the per-kernel entry
// points of ops.h for the tests.
#include "qmsim/gpu/gpu.h"
#include "qmsim/gpu/ops.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <utility>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels.cuh"

namespace qmsim {
namespace gpu {
namespace {

using namespace kern;
using golden::ModeSpec;

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("gpu: ") + what + ": " + cudaGetErrorString(e));
}

template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr, o.n = 0; }
  void resize(size_t count) {
    if (count <= n && p) return;
    if (p) cudaFree(p);
    p = nullptr;
    ck(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T) + 16), "cudaMalloc");
    n = count;
  }
  void upload(const T* v, size_t count) {
    resize(count);
    if (count) ck(cudaMemcpy(p, v, count * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  void upload(const std::vector<T>& v) { upload(v.data(), v.size()); }
  void download(T* out, size_t count) const {
    if (count) ck(cudaMemcpy(out, p, count * sizeof(T), cudaMemcpyDeviceToHost), "download");
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
};

unsigned blocks_for(size_t n, unsigned tb) { return static_cast<unsigned>((n + tb - 1) / tb); }

void load_h12() {
  static bool done = false;
  if (done) return;
  ck(cudaMemcpyToSymbol(c_h12, num::kHadamard12, sizeof(num::kHadamard12)), "H_12 table");
  done = true;
}

}  // namespace

// ------------------------------------------------------------------ GEMM selection

namespace {
// The names of a selection enum, the default (what an unset or empty variable means) first.
template <class E>
using EnumNames = std::initializer_list<std::pair<const char*, E>>;
template <class E>
const char* enum_name(E k, EnumNames<E> names) {
  for (const auto& [n, v] : names)
    if (v == k) return n;
  return "?";
}
// Parses environment variable `var` as one of `names`; throws std::invalid_argument naming the
// variable, its value and the known names otherwise.
template <class E>
E enum_from_env(const char* var, EnumNames<E> names) {
  const char* e = std::getenv(var);
  if (e == nullptr || *e == 0) return names.begin()->second;
  std::string known;
  for (const auto& [n, v] : names) {
    if (std::strcmp(e, n) == 0) return v;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  throw std::invalid_argument(std::string(var) + "=" + e + ": unknown (known: " + known + ")");
}
const EnumNames<GemmKernel> kGemmNames = {{"wgmma", GemmKernel::kWgmma},
                                          {"mma-lean", GemmKernel::kMmaLean},
                                          {"mma-staged", GemmKernel::kMmaStaged},
                                          {"mma-async", GemmKernel::kMmaAsync},
                                          {"mma", GemmKernel::kMma},
                                          {"dp4a", GemmKernel::kDp4a},
                                          {"naive", GemmKernel::kNaive}};
const EnumNames<ScanKernel> kScanNames = {{"auto", ScanKernel::kAuto},
                                          {"channels", ScanKernel::kChannels},
                                          {"states", ScanKernel::kStates},
                                          {"shared", ScanKernel::kShared},
                                          {"shared12", ScanKernel::kShared12},
                                          {"pipe", ScanKernel::kShared12Pipe},
                                          {"stream-f32", ScanKernel::kStreamF32},
                                          {"stream-pair", ScanKernel::kStreamPair}};
const EnumNames<ScanTable> kTableNames = {{"auto", ScanTable::kAuto}, {"on", ScanTable::kOn}, {"off", ScanTable::kOff}};
const EnumNames<ConvKernel> kConvNames = {
    {"staged", ConvKernel::kStaged}, {"dp4a", ConvKernel::kDp4a}, {"fast", ConvKernel::kFast}, {"exact", ConvKernel::kExact}};
const EnumNames<NormKernel> kNormNames = {
    {"tokens8", NormKernel::kTokens8}, {"tokens", NormKernel::kTokens}, {"warp", NormKernel::kWarp}};
const EnumNames<LmHeadKernel> kLmHeadNames = {{"tile128", LmHeadKernel::kTile128}, {"tile64", LmHeadKernel::kTile64}};
const EnumNames<HadamardKernel> kHadamardNames = {
    {"vec-lean", HadamardKernel::kVecLean}, {"vec", HadamardKernel::kVec}, {"lanes", HadamardKernel::kLanes}};
}  // namespace

const char* gemm_kernel_name(GemmKernel k) { return enum_name(k, kGemmNames); }
GemmKernel gemm_kernel_from_env() { return enum_from_env("QMSIM_GPU_GEMM", kGemmNames); }
const char* scan_kernel_name(ScanKernel k) { return enum_name(k, kScanNames); }
ScanKernel scan_kernel_from_env() { return enum_from_env("QMSIM_GPU_SCAN", kScanNames); }
const char* scan_table_name(ScanTable t) { return enum_name(t, kTableNames); }
ScanTable scan_table_from_env() { return enum_from_env("QMSIM_GPU_SCAN_TABLE", kTableNames); }
std::string scan_plan(ScanKernel k, ScanTable t, int B, int T, int E, int N, bool int8_dt) {
  static const int8_t code = 0;  // only its presence matters: plan_scan reads no operand
  ScanIn in{};
  in.dt_q = int8_dt ? &code : nullptr;
  in.ld_z = 2 * E, in.ld_bc = 2 * N;  // the forward's strides: z beside x in in_proj's rows, f32 B, C rows
  const ScanPlan p = plan_scan(k, t, B, T, E, N, in, true);
  const char* name = p.run == ScanRun::kStates     ? "states"
                     : p.run == ScanRun::kChannels ? "channels"
                     : p.run == ScanRun::kShared4  ? "shared"
                     : p.run == ScanRun::kShared12 ? "shared12"
                     : p.run == ScanRun::kPipe     ? "pipe"
                     : p.run == ScanRun::kStreamPair ? "stream-pair"
                                                   : "stream-f32";
  return std::string(name) + (p.use_tab ? "+tables" : "");
}
const char* conv_kernel_name(ConvKernel k) { return enum_name(k, kConvNames); }
ConvKernel conv_kernel_from_env() { return enum_from_env("QMSIM_GPU_CONV", kConvNames); }
const char* norm_kernel_name(NormKernel k) { return enum_name(k, kNormNames); }
NormKernel norm_kernel_from_env() { return enum_from_env("QMSIM_GPU_NORM", kNormNames); }
const char* lm_head_kernel_name(LmHeadKernel k) { return enum_name(k, kLmHeadNames); }
LmHeadKernel lm_head_kernel_from_env() { return enum_from_env("QMSIM_GPU_LM_HEAD", kLmHeadNames); }
const char* hadamard_kernel_name(HadamardKernel k) { return enum_name(k, kHadamardNames); }
HadamardKernel hadamard_kernel_from_env() { return enum_from_env("QMSIM_GPU_HADAMARD", kHadamardNames); }

namespace {
template <int kBN, int kMinBlocks, bool kStaged>
void launch_gemm_async(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, const GemmEpilogue& ep,
                       cudaStream_t st) {
  constexpr size_t bytes = GemmAsyncShape<kBN>::kBytes;
  auto* kernel = k_gemm_mma_async<kBN, kMinBlocks, kStaged>;
  allow_dynamic_smem(kernel, bytes, "k_gemm_mma_async");
  kernel<<<dim3(blocks_for(N, kBN), blocks_for(M, kMM)), 256, bytes, st>>>(M, N, K, x, ldx, W, ep);
}
template <int kStages>
void launch_gemm_lean(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, const GemmEpilogue& ep,
                      cudaStream_t st) {
  constexpr size_t bytes = GemmLeanShape<kStages>::kBytes;
  auto* kernel = k_gemm_mma_lean<kStages>;
  allow_dynamic_smem(kernel, bytes, "k_gemm_mma_lean");
  kernel<<<dim3(blocks_for(N, 128), blocks_for(M, kMM)), 256, bytes, st>>>(M, N, K, x, ldx, W, ep);
}
void launch_gemm(GemmKernel k, int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, const GemmEpilogue& ep,
                 cudaStream_t st = 0) {
  if (M == 0 || N == 0) return;
  switch (k) {
    case GemmKernel::kNaive:
      k_gemm_naive<<<dim3(blocks_for(N, 128), M), 128, 0, st>>>(M, N, K, x, ldx, W, ep);
      break;
    case GemmKernel::kDp4a:
      k_gemm_dp4a<<<dim3(blocks_for(N, kTN), blocks_for(M, kTM)), 256, 0, st>>>(M, N, K, x, ldx, W, ep);
      break;
    case GemmKernel::kMma:
    case GemmKernel::kMmaAsync:
    case GemmKernel::kMmaStaged:
    case GemmKernel::kWgmma:
    case GemmKernel::kMmaLean: {
      const bool vec = K % 16 == 0 && ldx % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(W) % 16 == 0;
      if (vec && (k == GemmKernel::kMmaLean || k == GemmKernel::kWgmma) && K <= 64) {
        allow_dynamic_smem(k_gemm_mma_smallk, kSkBytes, "k_gemm_mma_smallk");
        const unsigned nts = static_cast<unsigned>(((N + 127) / 128 + kSkTiles - 1) / kSkTiles);
        k_gemm_mma_smallk<<<dim3(blocks_for(M, kMM), nts), 256, kSkBytes, st>>>(M, N, K, x, ldx, W, ep);
      } else if (vec && k == GemmKernel::kWgmma && wgmma_available()) {
        launch_gemm_wgmma(M, N, K, x, ldx, W, ep, st);
      } else if (vec && (k == GemmKernel::kMmaLean || k == GemmKernel::kWgmma)) {  // kWgmma off compute capability 9.0
        launch_gemm_lean<3>(M, N, K, x, ldx, W, ep, st);
      } else if (vec && k == GemmKernel::kMmaAsync) {
        launch_gemm_async<128, 2, false>(M, N, K, x, ldx, W, ep, st);
      } else if (vec && k == GemmKernel::kMmaStaged) {
        launch_gemm_async<128, 2, true>(M, N, K, x, ldx, W, ep, st);
      } else {
        k_gemm_mma<<<dim3(blocks_for(N, kMN), blocks_for(M, kMM)), 256, 0, st>>>(M, N, K, x, ldx, W, ep, vec);
      }
      break;
    }
  }
}
}  // namespace

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ the model

struct LayerDev {
  DevBuf<int8_t> in_proj, conv_w, conv_b, x_proj, dt_proj, A_log, D, dt_bias, out_proj;
};

struct GpuModel::Impl {
  const QModel& m;
  GemmKernel gemm_kernel = GemmKernel::kWgmma;
  ScanKernel scan_kernel = ScanKernel::kAuto;
  ScanTable scan_table = ScanTable::kAuto;
  ConvKernel conv_kernel = ConvKernel::kStaged;
  NormKernel norm_kernel = NormKernel::kTokens8;
  LmHeadKernel lm_head_kernel = LmHeadKernel::kTile128;
  HadamardKernel hadamard_kernel = HadamardKernel::kVecLean;
  std::vector<LayerDev> layers;
  DevBuf<uint16_t> embedding, head, norm_f;
  // Activations of one batch (grown on demand).
  DevBuf<int32_t> tok, pos, off, start, doc, order;  // order: documents by decreasing length
  DevBuf<uint8_t> row_alpha;
  DevBuf<uint16_t> h, y, yf;
  DevBuf<float> res, st, logits, scan_tab, bc_f;
  DevBuf<int32_t> tgt;  // score_batch: each logit row's target token
  DevBuf<double> row_lp;
  DevBuf<uint8_t> row_greedy;
  DevBuf<int8_t> qn, xz, xc, xdbl, dt, yq, stq;
  // Mode sites.
  DevBuf<float> v, u_val, u_deq, xdbl_f, dt_f, dt_pre, doc_scale;
  DevBuf<int8_t> u_code, xp_q, xq_dyn;
  // Profiling: (name, ops, bytes, start, stop) per launch until collected.
  bool profiling = false;
  struct Pending {
    std::string name;
    double ops, bytes;
    cudaEvent_t a, b;
  };
  std::vector<Pending> pending;
  std::map<std::string, KernelStat> stats;

  explicit Impl(const QModel& model) : m(model) {
    gemm_kernel = gemm_kernel_from_env();
    // wgmma is sm_90a code: elsewhere launch_gemm runs mma-lean for it; say so in the kernel report.
    if (gemm_kernel == GemmKernel::kWgmma && !wgmma_available()) gemm_kernel = GemmKernel::kMmaLean;
    scan_kernel = scan_kernel_from_env();
    conv_kernel = conv_kernel_from_env();
    norm_kernel = norm_kernel_from_env();
    lm_head_kernel = lm_head_kernel_from_env();
    hadamard_kernel = hadamard_kernel_from_env();
    scan_table = scan_table_from_env();
    const char* p = std::getenv("QMSIM_GPU_PROFILE");
    profiling = p != nullptr && p[0] == '1';
    load_h12();
    layers.resize(m.layers.size());
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const QLayer& l = m.layers[i];
      LayerDev& d = layers[i];
      d.in_proj.upload(l.in_proj_w), d.conv_w.upload(l.conv_w), d.conv_b.upload(l.conv_b), d.x_proj.upload(l.x_proj_w);
      d.dt_proj.upload(l.dt_proj_w), d.A_log.upload(l.A_log_q), d.D.upload(l.D_q), d.dt_bias.upload(l.dt_bias_q);
      d.out_proj.upload(l.out_proj_w);
    }
    embedding.upload(m.embedding_f16);
    head.upload(m.lm_head_f16.empty() ? m.embedding_f16 : m.lm_head_f16);
    norm_f.upload(m.norm_f_f16);
  }
  ~Impl() {
    for (auto& p : pending) cudaEventDestroy(p.a), cudaEventDestroy(p.b);
  }

  // Runs `launch` (one kernel launch) and, when profiling, times it with two events.
  template <class F>
  void run(const char* name, double ops, double bytes, F launch) {
    if (!profiling) {
      launch();
      return;
    }
    Pending p{name, ops, bytes, nullptr, nullptr};
    ck(cudaEventCreate(&p.a), "event"), ck(cudaEventCreate(&p.b), "event");
    ck(cudaEventRecord(p.a), "event");
    launch();
    ck(cudaEventRecord(p.b), "event");
    pending.push_back(p);
  }
  void collect() {
    for (auto& p : pending) {
      ck(cudaEventSynchronize(p.b), "event");
      float ms = 0;
      ck(cudaEventElapsedTime(&ms, p.a, p.b), "event");
      KernelStat& s = stats[p.name];
      s.name = p.name;
      s.launches += 1;
      s.ms += ms;
      s.ops += p.ops;
      s.bytes += p.bytes;
      cudaEventDestroy(p.a), cudaEventDestroy(p.b);
    }
    pending.clear();
  }
};

GpuModel::GpuModel(const QModel& model) {
  std::string why;
  if (!device_available(&why)) throw std::runtime_error("gpu: " + why);
  if (model.cfg.d_state > 64) throw std::invalid_argument("gpu: d_state > 64 is not supported by the scan kernel");
  if (static_cast<size_t>(model.cfg.d_model) * kNormWarps * sizeof(float) > 48 * 1024)
    throw std::invalid_argument("gpu: d_model > 3072 is not supported by the norm kernels (48 KB of shared memory)");
  impl_ = std::make_unique<Impl>(model);
}

GpuModel::~GpuModel() = default;

void GpuModel::set_profiling(bool on) { impl_->profiling = on; }

std::vector<KernelStat> GpuModel::kernel_stats() const {
  impl_->collect();
  std::vector<KernelStat> out;
  for (const auto& kv : impl_->stats) out.push_back(kv.second);
  std::sort(out.begin(), out.end(), [](const KernelStat& a, const KernelStat& b) { return a.ms > b.ms; });
  return out;
}

std::string GpuModel::kernel_report() const {
  const std::vector<KernelStat> st = kernel_stats();
  double total = 0;
  for (const auto& s : st) total += s.ms;
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-22s %9s %10s %7s %10s %10s\n", "kernel", "launches", "ms", "share", "TOPS", "GB/s");
  o << line;
  for (const auto& s : st) {
    const double sec = s.ms / 1e3;
    std::snprintf(line, sizeof line, "%-22s %9lld %10.2f %6.1f%% %10.2f %10.1f\n", s.name.c_str(),
                  static_cast<long long>(s.launches), s.ms, total > 0 ? 100.0 * s.ms / total : 0.0,
                  s.ops > 0 && sec > 0 ? s.ops / sec / 1e12 : 0.0, sec > 0 ? s.bytes / sec / 1e9 : 0.0);
    o << line;
  }
  std::snprintf(line, sizeof line, "%-22s %9s %10.2f\n", "total kernel time", "", total);
  o << line;
  return o.str();
}

namespace {
template <class T>
void put(golden::Capture* cap, const std::string& name, const char* dtype, std::vector<int64_t> shape, const T* dev,
         size_t n) {
  if (!cap || !cap->wants(name)) return;
  std::vector<T> host(n);
  ck(cudaMemcpy(host.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost), "capture");
  cap->put(name, dtype, std::move(shape), host.data(), n);
}
}  // namespace

std::vector<float> GpuModel::forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                                     const num::NumericsProfile& profile, golden::Capture* cap) {
  RunOptions o;
  o.profile = profile;
  return forward(tokens, positions, o, cap);
}

std::vector<std::vector<float>> GpuModel::forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                        const std::vector<std::vector<int>>& positions,
                                                        const num::NumericsProfile& profile, golden::Capture* cap) {
  RunOptions o;
  o.profile = profile;
  return forward_batch(docs, positions, o, cap);
}

std::vector<float> GpuModel::forward(const std::vector<int32_t>& tokens, const std::vector<int>& positions,
                                     const RunOptions& opt, golden::Capture* cap) {
  return forward_batch({tokens}, {positions}, opt, cap).front();
}

std::vector<std::vector<float>> GpuModel::forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                        const std::vector<std::vector<int>>& positions,
                                                        const RunOptions& opt, golden::Capture* cap) {
  Impl& I = *impl_;
  const int P = run_forward(docs, positions, opt, cap);
  const size_t V = static_cast<size_t>(I.m.cfg.vocab_size);
  // All logit rows in one copy, then one vector per document.
  std::vector<float> rows(static_cast<size_t>(P) * V);
  I.logits.download(rows.data(), rows.size());
  if (I.profiling) I.collect();
  std::vector<std::vector<float>> out(positions.size());
  const float* r = rows.data();
  for (size_t d = 0; d < positions.size(); ++d) {
    const size_t n = positions[d].size() * V;
    out[d].assign(r, r + n);
    r += n;
  }
  return out;
}

size_t GpuModel::score_batch(const std::vector<std::vector<int32_t>>& docs, const std::vector<std::vector<int>>& positions,
                             const std::vector<std::vector<int32_t>>& targets, const RunOptions& opt,
                             bool f16_logprobs, double* logprob_out, uint8_t* greedy_out, size_t capacity) {
  Impl& I = *impl_;
  const int V = I.m.cfg.vocab_size;
  if (targets.size() != docs.size()) throw std::invalid_argument("gpu: documents and targets differ in number");
  std::vector<int32_t> tgt;
  for (size_t d = 0; d < targets.size(); ++d) {
    if (d < positions.size() && targets[d].size() != positions[d].size())
      throw std::invalid_argument("gpu: document " + std::to_string(d) + " has " + std::to_string(targets[d].size()) +
                                  " targets for " + std::to_string(positions[d].size()) + " logit positions");
    for (int32_t t : targets[d])
      if (t < 0 || t >= V) throw std::out_of_range("gpu: target token id " + std::to_string(t) + " outside the vocabulary");
    tgt.insert(tgt.end(), targets[d].begin(), targets[d].end());
  }
  if (tgt.size() > capacity) throw std::invalid_argument("gpu: the score buffers hold fewer rows than the batch's");
  const int P = run_forward(docs, positions, opt, nullptr);
  I.tgt.upload(tgt), I.row_lp.resize(P), I.row_greedy.resize(P);
  I.run("score (log-softmax)", 0, static_cast<double>(P) * V * 4, [&] {
    if (P > 0)
      k_score_rows<<<P, kScoreThreads>>>(P, V, I.logits.p, I.tgt.p, f16_logprobs, I.row_lp.p, I.row_greedy.p);
  });
  ck(cudaGetLastError(), "kernel launch");
  I.row_lp.download(logprob_out, P);
  I.row_greedy.download(greedy_out, P);
  if (I.profiling) I.collect();
  return static_cast<size_t>(P);
}

int GpuModel::run_forward(const std::vector<std::vector<int32_t>>& docs, const std::vector<std::vector<int>>& positions,
                          const RunOptions& opt, golden::Capture* cap) {
  Impl& I = *impl_;
  const MambaConfig& c = I.m.cfg;
  const ModeSpec& mode = opt.mode;
  const num::NumericsProfile& profile = opt.profile;
  mode.validate();
  const int B = static_cast<int>(docs.size());
  if (B == 0 || positions.size() != docs.size()) throw std::invalid_argument("gpu: documents and positions differ in number");
  if (cap && B != 1) throw std::invalid_argument("gpu: captures are for one document at a time");
  const int D = c.d_model, E = c.d_inner(), N = c.d_state, R = c.dt_rank, X = c.xproj_rows(), V = c.vocab_size;
  // Documents back to back: tokens, offsets, each token's document and its start, logit rows.
  std::vector<int32_t> tok, off = {0}, start, docid, pos;
  std::vector<uint8_t> row_alpha;
  for (int d = 0; d < B; ++d) {
    const int L = static_cast<int>(docs[d].size());
    if (L == 0) throw std::invalid_argument("gpu: empty token sequence");
    for (int32_t t : docs[d])
      if (t < 0 || t >= V) throw std::out_of_range("gpu: token id " + std::to_string(t) + " outside the vocabulary");
    for (int p : positions[d]) {
      if (p < 0 || p >= L) throw std::out_of_range("gpu: logit position outside the document");
      pos.push_back(off.back() + p);
    }
    tok.insert(tok.end(), docs[d].begin(), docs[d].end());
    start.insert(start.end(), L, off.back());
    docid.insert(docid.end(), L, d);
    row_alpha.insert(row_alpha.end(), L, profile.gemv_alpha_m1 && L == 1 ? 1 : 0);  // spec §2.4: GEMV when L == 1
    off.push_back(off.back() + L);
  }
  const int L = off.back(), P = static_cast<int>(pos.size());
  if (L > 65535) throw std::invalid_argument("gpu: at most 65535 tokens per batch");
  const size_t LD = static_cast<size_t>(L) * D, LE = static_cast<size_t>(L) * E, LX = static_cast<size_t>(L) * X;
  std::vector<int32_t> order(static_cast<size_t>(B));
  for (int d = 0; d < B; ++d) order[d] = d;
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return off[a + 1] - off[a] > off[b + 1] - off[b]; });
  I.tok.upload(tok), I.pos.upload(pos), I.off.upload(off), I.start.upload(start), I.doc.upload(docid);
  I.order.upload(order);
  I.row_alpha.upload(row_alpha);
  I.h.resize(LD), I.res.resize(LD), I.qn.resize(LD), I.xz.resize(2 * LE), I.xc.resize(LE);
  I.xdbl.resize(LX), I.dt.resize(LE), I.y.resize(LE), I.yq.resize(LE), I.yf.resize(LD);
  I.st.resize(static_cast<size_t>(B) * E * N), I.stq.resize(static_cast<size_t>(B) * E * N);
  I.logits.resize(static_cast<size_t>(P) * V);
  I.bc_f.resize(static_cast<size_t>(L) * 2 * N);

  // Which mode sites run (as golden::forward_w8a8 decides them).
  using US = ModeSpec::USource;
  using LI = ModeSpec::LinearInput;
  using LO = ModeSpec::LinearOutput;
  const bool need_v = mode.u_source == US::kV || mode.lin_input == LI::kRequantV || cap != nullptr;
  const bool u_moded = mode.u_source != US::kQ, u_f32 = u_moded && !mode.u_int8;
  const bool f32_dtbc = mode.lin_f32 && mode.lin_output != LO::kInt8Rne;  // the scan reads f32 dt, B, C
  const bool pseq = mode.ssm_arithmetic == ModeSpec::SsmArithmetic::kPseq;
  if (need_v) I.v.resize(LE);
  if (u_f32) I.u_val.resize(LE);
  if (u_moded && mode.u_int8) I.u_code.resize(LE);
  if (mode.lin_f32 && !u_f32) I.u_deq.resize(LE);
  if (mode.lin_input == LI::kRequantU || mode.lin_input == LI::kRequantV) I.xp_q.resize(LE);
  if (mode.conv_dynamic_input_scale) I.xq_dyn.resize(LE), I.doc_scale.resize(B);
  if (mode.u_quantizer == num::UQuantizer::kGridRequantOutliers) I.doc_scale.resize(B);
  if (mode.lin_f32) I.xdbl_f.resize(LX), I.dt_f.resize(LE);
  if (f32_dtbc) I.dt_pre.resize(LE);

  const bool any_alpha = profile.gemv_alpha_m1 && std::find(row_alpha.begin(), row_alpha.end(), 1) != row_alpha.end();
  const uint8_t* alpha_rows = any_alpha ? I.row_alpha.p : nullptr;
  const unsigned TB = 256;
  auto lname = [](int i, const char* op) { return "layers." + std::to_string(i) + "." + op; };
  auto gemm = [&](const char* name, int Nn, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer,
                  float alpha, const uint8_t* rows_alpha, bool f16, void* out, int ldy) {
    const GemmEpilogue ep{inner, outer, alpha, rows_alpha, f16, out, ldy};
    const double ops = 2.0 * L * Nn * K, bytes = static_cast<double>(L) * K + static_cast<double>(Nn) * K +
                                                 static_cast<double>(L) * Nn * (f16 ? 2 : 1);
    // K < 64 (dt_proj, K = dt_rank): k_gemm_mma's 64-byte K stage would multiply mostly zero
    // padding and the __dp4a kernel is faster (docs/BENCHMARKS.md); k_gemm_mma_async beats both
    // there (36.6 ms against dp4a's 45.5 ms, run17).
    GemmKernel k = I.gemm_kernel;
    if (K < 64 && k == GemmKernel::kMma) k = GemmKernel::kDp4a;
    const std::string label = std::string(name) + " (" + gemm_kernel_name(k) + ")";
    I.run(label.c_str(), ops, bytes, [&] { launch_gemm(k, L, Nn, K, x, ldx, W, ep); });
  };
  auto elementwise = [&](const char* name, size_t n, double bytes_per, auto launch) {
    I.run(name, 0, bytes_per * static_cast<double>(n), [&] { launch(blocks_for(n, TB)); });
  };

  I.run("embedding", 0, LD * 4.0, [&] { k_embed<<<dim3(L, blocks_for(D, 128)), 128>>>(L, D, I.embedding.p, I.tok.p, I.h.p); });
  put(cap, "embedding.out", "float16", {L, D}, I.h.p, LD);
  for (int i = 0; i < c.n_layer; ++i) {
    const QLayer& l = I.m.layers[static_cast<size_t>(i)];
    const LayerDev& d = I.layers[static_cast<size_t>(i)];
    // spec §2.3: residual add + RMSNorm + quantize (layer 0: residual = embedding).
    I.run("rmsnorm_quant", 0, LD * 11.0, [&] {
      launch_rmsnorm_quant(I.norm_kernel, L, D, I.h.p, i > 0 ? I.res.p : nullptr, I.res.p, c.norm_eps,
                           l.norm_output_scale, I.qn.p);
    });
    put(cap, lname(i, "norm.res"), "float32", {L, D}, I.res.p, LD);
    put(cap, lname(i, "norm.out"), "int8", {L, D}, I.qn.p, LD);
    // spec §2.4: in_proj (x = cols 0..E-1, z = cols E..2E-1).
    gemm("gemm in_proj", 2 * E, D, I.qn.p, D, d.in_proj.p, l.in_proj_a, l.in_proj_b, l.in_proj_alpha, nullptr, false,
         I.xz.p, 2 * E);
    put(cap, lname(i, "in_proj.out"), "int8", {L, 2 * E}, I.xz.p, 2 * LE);
    // spec §2.5 conv1d (+ doc mode 3's per-call input scale, §4.3).
    const int8_t* conv_in = I.xz.p;
    int conv_ld = 2 * E;
    const float* s_in_doc = nullptr;
    if (mode.conv_dynamic_input_scale) {
      I.run("mode dyn_scale", 0, LE, [&] { k_dyn_scale<<<B, 256>>>(I.off.p, E, I.xz.p, 2 * E, l.conv_input_scale, I.doc_scale.p); });
      elementwise("mode requant", LE, 2, [&](unsigned nb) {
        k_dyn_requant<<<nb, TB>>>(L, E, I.xz.p, 2 * E, l.conv_input_scale, I.doc_scale.p, I.doc.p, I.xq_dyn.p);
      });
      conv_in = I.xq_dyn.p, conv_ld = E, s_in_doc = I.doc_scale.p;
      put(cap, lname(i, "conv1d.in_dynamic"), "int8", {L, E}, I.xq_dyn.p, LE);
    }
    I.run("conv1d", 0, LE * (need_v ? 6.0 : 2.0), [&] {
      launch_conv(I.conv_kernel, L, E, c.d_conv, conv_in, conv_ld, d.conv_w.p, l.conv_b.empty() ? nullptr : d.conv_b.p,
                  l.conv_weight_scale, l.conv_bias_scale, l.conv_input_scale, s_in_doc, I.doc.p, l.conv_output_scale,
                  I.start.p, I.xc.p, need_v ? I.v.p : nullptr);
    });
    put(cap, lname(i, "conv1d.out"), "int8", {L, E}, I.xc.p, LE);
    if (need_v) put(cap, lname(i, "conv1d.v"), "float32", {L, E}, I.v.p, LE);
    // Mode site u (spec §4.2, §5.8).
    const int8_t* u_q = I.xc.p;
    const float* u_f = nullptr;
    if (u_moded) {
      num::UQuantParams p = golden::u_quant_params(mode, l.u_scale);
      const float* src_v = mode.u_source == US::kV ? I.v.p : nullptr;
      const float* s_o_doc = nullptr;
      if (mode.u_quantizer == num::UQuantizer::kGridRequantOutliers) {
        if (mode.u_outlier_scale == golden::OutlierScale::kPerCallMax) {
          I.run("mode outlier_scale", 0, LE * 4.0, [&] { k_outlier_scale<<<B, 256>>>(I.off.p, E, src_v, I.xc.p, p, I.doc_scale.p); });
          s_o_doc = I.doc_scale.p;
        } else {
          const float s_a1 = i < static_cast<int>(opt.alpha1_u_scales.size()) ? opt.alpha1_u_scales[i] : 0.0f;
          p.s_o = s_a1 > 0.0f ? s_a1 : l.u_scale;
        }
      }
      float* value = mode.u_int8 ? nullptr : I.u_val.p;
      int8_t* code = mode.u_int8 ? I.u_code.p : nullptr;
      elementwise("mode u_site", LE, 8, [&](unsigned nb) {
        k_u_site<<<nb, TB>>>(L, E, src_v, I.xc.p, p, s_o_doc, I.doc.p, value, code);
      });
      if (mode.u_int8) {
        u_q = I.u_code.p;
        put(cap, lname(i, "ssm.u"), "int8", {L, E}, I.u_code.p, LE);
      } else {
        u_q = nullptr, u_f = I.u_val.p;
        put(cap, lname(i, "ssm.u"), "float32", {L, E}, I.u_val.p, LE);
      }
    }
    // Mode site linears, input (spec §4.6).
    const int8_t* xp_in = I.xc.p;
    if (mode.lin_input == LI::kRequantU) {
      if (u_q != nullptr) {
        xp_in = u_q;  // an int8 u is on the s_u grid: requantizing it is the identity
      } else {
        elementwise("mode requant", LE, 5, [&](unsigned nb) {
          k_requant<<<nb, TB>>>(LE, mode.lin_input_rounding, u_f, l.u_scale, I.xp_q.p);
        });
        xp_in = I.xp_q.p;
      }
    } else if (mode.lin_input == LI::kRequantV) {
      elementwise("mode requant", LE, 5, [&](unsigned nb) {
        k_requant<<<nb, TB>>>(LE, mode.lin_input_rounding, I.v.p, l.u_scale, I.xp_q.p);
      });
      xp_in = I.xp_q.p;
    } else if (mode.lin_input == LI::kU) {
      xp_in = nullptr;
    }
    if (xp_in != nullptr && xp_in != I.xc.p) put(cap, lname(i, "x_proj.in"), "int8", {L, E}, xp_in, LE);
    ScanIn in{};
    in.u_q = u_q, in.u_f = u_f;
    in.z = I.xz.p + E, in.ld_z = 2 * E;
    in.A_log = d.A_log.p, in.D = d.D.p, in.dt_bias = d.dt_bias.p;
    in.ld_bc = X, in.b_off = R, in.c_off = R + N;
    if (!mode.lin_f32) {
      // spec §2.4: x_proj (GEMV alpha when L == 1 under the profile), dt_proj on its int8 dt_raw.
      gemm("gemm x_proj", X, E, xp_in, E, d.x_proj.p, l.x_proj_b, l.x_proj_a, l.x_proj_alpha, alpha_rows, false, I.xdbl.p, X);
      put(cap, lname(i, "x_proj.out"), "int8", {L, X}, I.xdbl.p, LX);
      gemm("gemm dt_proj", E, R, I.xdbl.p, X, d.dt_proj.p, l.dt_proj_a, l.dt_proj_b, l.dt_proj_alpha, nullptr, false,
           I.dt.p, E);
      put(cap, lname(i, "dt_proj.out"), "int8", {L, E}, I.dt.p, LE);
      in.dt_q = I.dt.p, in.bc_q = I.xdbl.p;
    } else {
      // Mode site linears, f32 (6-x): F.linear with dequantized weights on f32 u.
      const float* uin = u_f;
      if (uin == nullptr) {
        elementwise("mode dequant", LE, 5, [&](unsigned nb) { k_dequant<<<nb, TB>>>(LE, u_q, l.u_scale, I.u_deq.p); });
        uin = I.u_deq.p;
      }
      I.run("linear_f32 x_proj", 2.0 * L * X * E, LE * 4.0 + LX * 4.0, [&] {
        k_linear_f32<<<dim3(blocks_for(X, 128), L), 128, E * sizeof(float)>>>(L, E, X, uin, E, d.x_proj.p, l.x_proj_b,
                                                                               I.xdbl_f.p, X);
      });
      if (mode.lin_output == LO::kGridRne)
        elementwise("mode regrid", LX, 8, [&](unsigned nb) { k_regrid<<<nb, TB>>>(LX, I.xdbl_f.p, l.B_scale); });
      put(cap, lname(i, "x_proj.out_f32"), "float32", {L, X}, I.xdbl_f.p, LX);
      I.run("linear_f32 dt_proj", 2.0 * L * E * R, LX * 4.0 + LE * 4.0, [&] {
        k_linear_f32<<<dim3(blocks_for(E, 128), L), 128, R * sizeof(float)>>>(L, R, E, I.xdbl_f.p, X, d.dt_proj.p,
                                                                               l.dt_proj_b, I.dt_f.p, E);
      });
      if (mode.lin_output == LO::kGridRne)
        elementwise("mode regrid", LE, 8, [&](unsigned nb) { k_regrid<<<nb, TB>>>(LE, I.dt_f.p, l.dt_scale); });
      put(cap, lname(i, "dt_proj.out_f32"), "float32", {L, E}, I.dt_f.p, LE);
      if (mode.lin_output == LO::kInt8Rne) {
        // 6-4: dt, B, C re-quantized to int8 with RNE for the int8-input scan.
        elementwise("mode requant", LE, 5, [&](unsigned nb) {
          k_requant<<<nb, TB>>>(LE, num::Rounding::kRne, I.dt_f.p, l.dt_scale, I.dt.p);
        });
        elementwise("mode requant", static_cast<size_t>(L) * 2 * N, 5, [&](unsigned nb) {
          k_requant_bc<<<nb, TB>>>(L, X, R, N, I.xdbl_f.p, l.B_scale, l.C_scale, I.xdbl.p);
        });
        put(cap, lname(i, "dt_proj.out"), "int8", {L, E}, I.dt.p, LE);
        in.dt_q = I.dt.p, in.bc_q = I.xdbl.p;
      } else {
        elementwise("mode dt_pre", LE, 8, [&](unsigned nb) {
          k_dt_pre<<<nb, TB>>>(L, E, I.dt_f.p, d.dt_bias.p, l.dt_bias_scale, I.dt_pre.p);
        });
        in.dt_pre = I.dt_pre.p, in.bc_f = I.xdbl_f.p;
      }
    }
    // B and C dequantized once per token (k_dequant_bc: the products the scan threads would form)
    // instead of by every channel's thread.
    if (in.bc_q != nullptr && !scan_wants_bc_q(I.scan_kernel, I.scan_table, B, L, E, N, in)) {
      elementwise("dequant B,C", static_cast<size_t>(L) * 2 * N, 5, [&](unsigned nb) {
        k_dequant_bc<<<nb, TB>>>(L, X, R, N, in.bc_q, l.B_scale, l.C_scale, I.bc_f.p);
      });
      in.bc_q = nullptr, in.bc_f = I.bc_f.p, in.ld_bc = 2 * N, in.b_off = 0, in.c_off = N;
    }
    // Mode site ssm: the golden kernel arithmetic or P-seq, per (document, channel).
    const ScanScales s{l.u_scale, l.dt_scale, l.B_scale, l.C_scale, l.z_scale, l.A_scale, l.D_scale, l.dt_bias_scale,
                       l.ssm_state_scale};
    const double scan_bytes = LE * 5.0 + static_cast<double>(L) * 2 * N;
    I.scan_tab.resize(scan_table_floats(E, N));
    I.run(pseq ? "scan pseq" : "scan", 0, scan_bytes, [&] {
      launch_scan(I.scan_kernel, I.scan_table, pseq, B, L, I.off.p, I.order.p, E, N, in, s, I.y.p, I.st.p, I.stq.p,
                  I.scan_tab.p);
    });
    put(cap, lname(i, "ssm.out"), "float16", {L, E}, I.y.p, LE);
    put(cap, lname(i, "ssm.state"), "float32", {E, N}, I.st.p, static_cast<size_t>(E) * N);
    put(cap, lname(i, "ssm.state_q"), "int8", {E, N}, I.stq.p, static_cast<size_t>(E) * N);
    // spec §2.7: Hadamard + RNA quantizer.
    const bool pow2 = (E & (E - 1)) == 0;
    const int blocks = pow2 ? 1 : 12, block = E / blocks;
    const float scale_h =
        static_cast<float>((1.0 / std::sqrt(static_cast<double>(E))) / static_cast<double>(l.had_output_scale));
    I.run("hadamard", 0, LE * 3.0, [&] {
      launch_hadamard(I.hadamard_kernel, L, E, block, blocks, I.y.p, scale_h, profile.hadamard_wrap, I.yq.p, nullptr);
    });
    put(cap, lname(i, "hadamard.out"), "int8", {L, E}, I.yq.p, LE);
    // spec §2.8: out_proj to f16 (alpha when M == 1 under the profile).
    gemm("gemm out_proj", D, E, I.yq.p, E, d.out_proj.p, l.out_proj_b, l.out_proj_a, l.out_proj_alpha, alpha_rows, true,
         I.h.p, D);
    put(cap, lname(i, "out_proj.out"), "float16", {L, D}, I.h.p, LD);
  }
  I.run("final_norm", 0, LD * 8.0, [&] {
    k_final_norm<<<blocks_for(L, kNormWarps), 32 * kNormWarps, kNormWarps * D * sizeof(float)>>>(
        L, D, I.h.p, c.n_layer > 0 ? I.res.p : nullptr, I.m.norm_f_f16.empty() ? nullptr : I.norm_f.p, c.norm_eps,
        profile.f16_residual_final_norm, I.yf.p);
  });
  put(cap, "norm_f.out", "float16", {L, D}, I.yf.p, LD);
  I.run("lm_head", 2.0 * P * V * D, static_cast<double>(V) * D * 2 + static_cast<double>(P) * V * 4, [&] {
    launch_lm_head(I.lm_head_kernel, P, V, D, I.yf.p, I.pos.p, I.head.p, profile.f16_logits, I.logits.p);
  });
  ck(cudaGetLastError(), "kernel launch");
  return P;
}

// ------------------------------------------------------------------ per-kernel entry points (ops.h)

namespace ops {
namespace {
void sync(const char* what) {
  ck(cudaGetLastError(), what);
  ck(cudaDeviceSynchronize(), what);
}
template <class T>
void dev_in(DevBuf<T>& b, const T* host, size_t n) {
  if (host) b.upload(host, n);
}
// One document of L tokens: off = {0, L}, start = 0, doc = 0.
struct OneDoc {
  DevBuf<int32_t> off, start, doc;
  explicit OneDoc(int L) {
    const std::vector<int32_t> o = {0, L}, z(static_cast<size_t>(L), 0);
    off.upload(o), start.upload(z), doc.upload(z);
  }
};
}  // namespace

void gemm_s8(GemmKernel k, int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer,
             float alpha, const uint8_t* row_alpha, bool out_f16, void* y) {
  DevBuf<int8_t> dx, dw, dy8;
  DevBuf<uint16_t> dy16;
  DevBuf<uint8_t> dra;
  dx.upload(x, static_cast<size_t>(M - 1) * ldx + K);
  dw.upload(W, static_cast<size_t>(N) * K);
  if (row_alpha) dra.upload(row_alpha, M);
  const size_t n = static_cast<size_t>(M) * N;
  if (out_f16) dy16.resize(n); else dy8.resize(n);
  void* dy = out_f16 ? static_cast<void*>(dy16.p) : static_cast<void*>(dy8.p);
  launch_gemm(k, M, N, K, dx.p, ldx, dw.p, GemmEpilogue{inner, outer, alpha, row_alpha ? dra.p : nullptr, out_f16, dy, N});
  sync("gemm");
  if (out_f16) dy16.download(static_cast<uint16_t*>(y), n); else dy8.download(static_cast<int8_t*>(y), n);
}

void rmsnorm_quant(int L, int D, const uint16_t* h_f16, const float* residual_in, float eps, float s_in,
                   float* residual_out, int8_t* q_out, NormKernel k) {
  const size_t n = static_cast<size_t>(L) * D;
  DevBuf<uint16_t> h;
  DevBuf<float> rin, rout;
  DevBuf<int8_t> q;
  h.upload(h_f16, n), dev_in(rin, residual_in, n), rout.resize(n), q.resize(n);
  launch_rmsnorm_quant(k, L, D, h.p, residual_in ? rin.p : nullptr, rout.p, eps, s_in, q.p);
  sync("rmsnorm_quant");
  rout.download(residual_out, n), q.download(q_out, n);
}

void rmsnorm_final_f16(int L, int D, const uint16_t* h_f16, const float* residual_in, const uint16_t* weight_f16,
                       float eps, bool f16_residual, uint16_t* out_f16) {
  const size_t n = static_cast<size_t>(L) * D;
  DevBuf<uint16_t> h, w, out;
  DevBuf<float> rin;
  h.upload(h_f16, n), dev_in(rin, residual_in, n), dev_in(w, weight_f16, D), out.resize(n);
  k_final_norm<<<blocks_for(L, kNormWarps), 32 * kNormWarps, kNormWarps * D * sizeof(float)>>>(
      L, D, h.p, residual_in ? rin.p : nullptr, weight_f16 ? w.p : nullptr, eps, f16_residual, out.p);
  sync("final_norm");
  out.download(out_f16, n);
}

void conv1d_silu_quant(int L, int E, int K, const int8_t* x, const int8_t* w, const int8_t* bias,
                       const golden::Conv1dScales& s, int8_t* out, float* v_out, ConvKernel k) {
  const size_t n = static_cast<size_t>(L) * E;
  OneDoc od(L);
  DevBuf<int8_t> dx, dw, db, dout;
  DevBuf<float> dv;
  dx.upload(x, n), dw.upload(w, static_cast<size_t>(E) * K), dev_in(db, bias, E), dout.resize(n);
  if (v_out) dv.resize(n);
  launch_conv(k, L, E, K, dx.p, E, dw.p, bias ? db.p : nullptr, s.weight_scale, s.bias_scale, s.input_scale, nullptr,
              od.doc.p, s.output_scale, od.start.p, dout.p, v_out ? dv.p : nullptr);
  sync("conv1d");
  dout.download(out, n);
  if (v_out) dv.download(v_out, n);
}

namespace {
// Runs k_scan on one document. bc: [L, 2N] rows (B then C) in int8 or f32.
void scan_one(bool pseq, int L, int E, int N, const int8_t* u_q, const float* u_f, const int8_t* dt_q,
              const float* dt_pre, const int8_t* Bq, const int8_t* Cq, const float* Bf, const float* Cf,
              const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias, const golden::SsmScales& s,
              uint16_t* y_f16, float* state, int8_t* state_q) {
  const size_t n = static_cast<size_t>(L) * E, ln = static_cast<size_t>(L) * N;
  OneDoc od(L);
  DevBuf<int8_t> du, ddt, dbc, dz, dA, dD, ddb, dstq;
  DevBuf<float> duf, ddtp, dbcf, dst;
  DevBuf<uint16_t> dy;
  dev_in(du, u_q, n), dev_in(duf, u_f, n), dev_in(ddt, dt_q, n), dev_in(ddtp, dt_pre, n);
  if (Bq) {
    std::vector<int8_t> bc(2 * ln);
    for (int t = 0; t < L; ++t)
      for (int k = 0; k < N; ++k) bc[2 * t * N + k] = Bq[t * N + k], bc[2 * t * N + N + k] = Cq[t * N + k];
    dbc.upload(bc);
  } else {
    std::vector<float> bc(2 * ln);
    for (int t = 0; t < L; ++t)
      for (int k = 0; k < N; ++k) bc[2 * t * N + k] = Bf[t * N + k], bc[2 * t * N + N + k] = Cf[t * N + k];
    dbcf.upload(bc);
  }
  std::vector<int8_t> zero_bias(static_cast<size_t>(E), 0);
  dz.upload(z, n), dA.upload(A_log, static_cast<size_t>(E) * N), dD.upload(D, E);
  ddb.upload(dt_bias ? dt_bias : zero_bias.data(), E);
  dy.resize(n), dst.resize(static_cast<size_t>(E) * N), dstq.resize(static_cast<size_t>(E) * N);
  ScanIn in{};
  in.u_q = u_q ? du.p : nullptr, in.u_f = u_f ? duf.p : nullptr;
  in.dt_q = dt_q ? ddt.p : nullptr, in.dt_pre = dt_pre ? ddtp.p : nullptr;
  in.bc_q = Bq ? dbc.p : nullptr, in.bc_f = Bq ? nullptr : dbcf.p;
  in.ld_bc = 2 * N, in.b_off = 0, in.c_off = N;
  in.z = dz.p, in.ld_z = E;
  in.A_log = dA.p, in.D = dD.p, in.dt_bias = ddb.p;
  const ScanScales& sc = s;
  DevBuf<float> tab;
  tab.resize(scan_table_floats(E, N));
  const ScanKernel kind = scan_kernel_from_env();
  if (kind == ScanKernel::kStreamPair && Bq) {
    // stream-pair takes the forward's f32 rows (k_dequant_bc's products), as the forward hands them
    dbcf.resize(2 * ln);
    k_dequant_bc<<<blocks_for(2 * ln, 256), 256>>>(L, 2 * N, 0, N, dbc.p, sc.B, sc.C, dbcf.p);
    in.bc_q = nullptr, in.bc_f = dbcf.p;
  }
  launch_scan(kind, scan_table_from_env(), pseq, 1, L, od.off.p, nullptr, E, N, in, sc, dy.p, dst.p, dstq.p, tab.p);
  sync("scan");
  dy.download(y_f16, n);
  if (state) dst.download(state, static_cast<size_t>(E) * N);
  if (state_q) dstq.download(state_q, static_cast<size_t>(E) * N);
}
}  // namespace

void selective_scan(int L, int E, int N, const int8_t* u, const int8_t* dt, const int8_t* B, const int8_t* C,
                    const int8_t* z, const int8_t* A_log, const int8_t* D, const int8_t* dt_bias,
                    const golden::SsmScales& s, uint16_t* y_f16, float* state, int8_t* state_q) {
  scan_one(false, L, E, N, u, nullptr, dt, nullptr, B, C, nullptr, nullptr, z, A_log, D, dt_bias, s, y_f16, state,
           state_q);
}

void selective_scan_f32in(int L, int E, int N, const float* u, const float* dt_pre, const float* Bf, const float* Cf,
                          const int8_t* z, const int8_t* A_log, const int8_t* D, const golden::SsmScales& s,
                          uint16_t* y_f16, float* state, int8_t* state_q) {
  scan_one(false, L, E, N, nullptr, u, nullptr, dt_pre, nullptr, nullptr, Bf, Cf, z, A_log, D, nullptr, s, y_f16,
           state, state_q);
}

void selective_scan_pseq(int L, int E, int N, const int8_t* u_q, const float* u_f32, const int8_t* dt,
                         const int8_t* B, const int8_t* C, const int8_t* z, const int8_t* A_log, const int8_t* D,
                         const int8_t* dt_bias, const golden::SsmScales& s, uint16_t* y_f16, float* state) {
  scan_one(true, L, E, N, u_q, u_q ? nullptr : u_f32, dt, nullptr, B, C, nullptr, nullptr, z, A_log, D, dt_bias, s,
           y_f16, state, nullptr);
}

void hadamard_quant(int L, int n, const uint16_t* y_f16, float s_y, bool wrap, int8_t* out, int64_t* out_of_range,
                    HadamardKernel k) {
  const bool pow2 = (n & (n - 1)) == 0;
  if (!pow2 && (n % 12 != 0 || ((n / 12) & (n / 12 - 1)) != 0))
    throw std::invalid_argument("gpu hadamard: size must be 2^m or 12*2^m");
  load_h12();
  const int blocks = pow2 ? 1 : 12, block = n / blocks;
  const float scale = static_cast<float>((1.0 / std::sqrt(static_cast<double>(n))) / static_cast<double>(s_y));
  const size_t len = static_cast<size_t>(L) * n;
  DevBuf<uint16_t> dy;
  DevBuf<int8_t> dout;
  DevBuf<unsigned long long> cnt;
  dy.upload(y_f16, len), dout.resize(len), cnt.resize(1);
  ck(cudaMemset(cnt.p, 0, sizeof(unsigned long long)), "memset");
  launch_hadamard(k, L, n, block, blocks, dy.p, scale, wrap, dout.p, cnt.p);
  sync("hadamard");
  dout.download(out, len);
  unsigned long long c = 0;
  cnt.download(&c, 1);
  if (out_of_range) *out_of_range = static_cast<int64_t>(c);
}

void lm_head_f16(int P, int V, int D, const uint16_t* y_f16, const uint16_t* W_f16, bool f16_logits, float* logits,
                 LmHeadKernel k) {
  DevBuf<uint16_t> dy, dw;
  DevBuf<float> dl;
  dy.upload(y_f16, static_cast<size_t>(P) * D), dw.upload(W_f16, static_cast<size_t>(V) * D);
  dl.resize(static_cast<size_t>(P) * V);
  launch_lm_head(k, P, V, D, dy.p, nullptr, dw.p, f16_logits, dl.p);
  sync("lm_head");
  dl.download(logits, static_cast<size_t>(P) * V);
}

float quantize_u(const golden::ModeSpec& m, float s_u, float s_alpha1, int n, const float* x, float* value,
                 int8_t* code) {
  // One "document" of n tokens x 1 channel.
  OneDoc od(n);
  DevBuf<float> dx, dv, so;
  DevBuf<int8_t> dc;
  dx.upload(x, n);
  if (value) dv.resize(n);
  if (code) dc.resize(n);
  num::UQuantParams p = golden::u_quant_params(m, s_u);
  const float* s_o_doc = nullptr;
  float s_o = 0.0f;
  if (m.u_quantizer == num::UQuantizer::kGridRequantOutliers) {
    if (m.u_outlier_scale == golden::OutlierScale::kPerCallMax) {
      so.resize(1);
      k_outlier_scale<<<1, 256>>>(od.off.p, 1, dx.p, nullptr, p, so.p);
      sync("outlier scale");
      so.download(&s_o, 1);
      s_o_doc = so.p;
    } else {
      p.s_o = s_o = s_alpha1 > 0.0f ? s_alpha1 : s_u;
    }
  }
  k_u_site<<<blocks_for(n, 256), 256>>>(n, 1, dx.p, nullptr, p, s_o_doc, od.doc.p, value ? dv.p : nullptr,
                                        code ? dc.p : nullptr);
  sync("u site");
  if (value) dv.download(value, n);
  if (code) dc.download(code, n);
  return s_o;
}

void requant_s8(num::Rounding r, int n, const float* x, float s, int8_t* out) {
  DevBuf<float> dx;
  DevBuf<int8_t> dout;
  dx.upload(x, n), dout.resize(n);
  k_requant<<<blocks_for(n, 256), 256>>>(n, r, dx.p, s, dout.p);
  sync("requant");
  dout.download(out, n);
}

void regrid_rne(int n, float* x, float s) {
  DevBuf<float> dx;
  dx.upload(x, n);
  k_regrid<<<blocks_for(n, 256), 256>>>(n, dx.p, s);
  sync("regrid");
  dx.download(x, n);
}

float dynamic_input_requant(int n, const int8_t* q, float s_xz, int8_t* out) {
  OneDoc od(n);
  DevBuf<int8_t> dq, dout;
  DevBuf<float> sd;
  dq.upload(q, n), dout.resize(n), sd.resize(1);
  k_dyn_scale<<<1, 256>>>(od.off.p, 1, dq.p, 1, s_xz, sd.p);
  k_dyn_requant<<<blocks_for(n, 256), 256>>>(n, 1, dq.p, 1, s_xz, sd.p, od.doc.p, dout.p);
  sync("dynamic input requant");
  dout.download(out, n);
  float s = 0;
  sd.download(&s, 1);
  return s;
}

void linear_f32_deq(int M, int K, int Nout, const float* x, const int8_t* W, float w_scale, float* y) {
  DevBuf<float> dx, dy;
  DevBuf<int8_t> dw;
  dx.upload(x, static_cast<size_t>(M) * K), dw.upload(W, static_cast<size_t>(Nout) * K);
  dy.resize(static_cast<size_t>(M) * Nout);
  k_linear_f32<<<dim3(blocks_for(Nout, 128), M), 128, K * sizeof(float)>>>(M, K, Nout, dx.p, K, dw.p, w_scale, dy.p,
                                                                          Nout);
  sync("linear_f32");
  dy.download(y, static_cast<size_t>(M) * Nout);
}

namespace {
std::vector<int8_t> random_s8(size_t n, uint32_t seed) {
  std::vector<int8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) x ^= x << 13, x ^= x >> 17, x ^= x << 5, b = static_cast<int8_t>(x >> 24);
  return v;
}
template <class F>
double time_ms(int reps, F launch) {
  launch();
  cudaEvent_t a, b;
  ck(cudaEventCreate(&a), "event"), ck(cudaEventCreate(&b), "event");
  ck(cudaEventRecord(a), "event");
  for (int r = 0; r < reps; ++r) launch();
  ck(cudaEventRecord(b), "event");
  ck(cudaEventSynchronize(b), "event");
  sync("benchmark");
  float ms = 0;
  ck(cudaEventElapsedTime(&ms, a, b), "event");
  cudaEventDestroy(a), cudaEventDestroy(b);
  return ms / reps;
}
}  // namespace

void score_rows(int P, int V, const float* logits, const int32_t* target, bool f16_logprobs, double* logprob,
                uint8_t* greedy) {
  if (V <= 0 || P < 0) throw std::invalid_argument("gpu score_rows: a row needs at least one logit (V > 0, P >= 0)");
  DevBuf<float> dl;
  DevBuf<int32_t> dt;
  DevBuf<double> dlp;
  DevBuf<uint8_t> dg;
  dl.upload(logits, static_cast<size_t>(P) * V), dt.upload(target, P), dlp.resize(P), dg.resize(P);
  if (P > 0) k_score_rows<<<P, kScoreThreads>>>(P, V, dl.p, dt.p, f16_logprobs, dlp.p, dg.p);
  sync("score_rows");
  dlp.download(logprob, P), dg.download(greedy, P);
}

namespace {
__global__ void k_exp_log_f64(int n, const double* x, double* e, double* l) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  e[i] = num::exp_f64(x[i]);
  l[i] = num::log_f64(x[i]);
}
}  // namespace

void exp_log_f64(int n, const double* x, double* exp_out, double* log_out) {
  DevBuf<double> dx, de, dl;
  dx.upload(x, n), de.resize(n), dl.resize(n);
  k_exp_log_f64<<<blocks_for(n, 256), 256>>>(n, dx.p, de.p, dl.p);
  sync("exp_log_f64");
  de.download(exp_out, n), dl.download(log_out, n);
}

double time_gemm_ms(GemmKernel k, int M, int N, int K, bool out_f16, int reps) {
  DevBuf<int8_t> x, w, y;
  x.upload(random_s8(static_cast<size_t>(M) * K, 1)), w.upload(random_s8(static_cast<size_t>(N) * K, 2));
  y.resize(static_cast<size_t>(M) * N * 2);
  const GemmEpilogue ep{0.001f, 0.5f, 0.0005f, nullptr, out_f16, y.p, N};
  return time_ms(reps, [&] { launch_gemm(k, M, N, K, x.p, K, w.p, ep); });
}

namespace {
// A probe's launch: the table kernel's output in `in`, k_scan_shared<12 channels> with kProbe.
using ProbeLaunch = void (*)(int B, const int32_t* off, int E, const ScanIn& in, const ScanScales& s, uint16_t* y,
                             float* st, int8_t* stq);
template <int kProbe>
void launch_probe(int B, const int32_t* off, int E, const ScanIn& in, const ScanScales& s, uint16_t* y, float* st,
                  int8_t* stq) {
  launch_scan_shared<false, 12, 24, 1, kProbe>(B, off, nullptr, E, in, s, y, st, stq, 0);
}
// The probes time_scan_probe_ms takes (0, each ScanProbe bit alone, all of them); throws otherwise,
// before anything touches the device.
ProbeLaunch probe_launch(int probe) {
  switch (probe) {
    case 0: return launch_probe<0>;
    case kProbeNoBC: return launch_probe<kProbeNoBC>;
    case kProbeNoTab: return launch_probe<kProbeNoTab>;
    case kProbeNoTok: return launch_probe<kProbeNoTok>;
    case kProbeNoDiv: return launch_probe<kProbeNoDiv>;
    case kProbeNoStore: return launch_probe<kProbeNoStore>;
    case 31: return launch_probe<31>;
    default:
      throw std::invalid_argument("time_scan_probe_ms: probe " + std::to_string(probe) + " (0, 1, 2, 4, 8, 16 or 31)");
  }
}

// The scan's timing over docs documents of L tokens (random int8 operands): launch_scan with
// kernel k and tables tb, or (probe non-null) the table kernel and then that probe.
double time_scan_impl(ScanKernel k, ScanTable tb, ProbeLaunch probe, int docs, int L, int E, int N, int reps) {
  const size_t T = static_cast<size_t>(docs) * L, TE = T * E;
  std::vector<int32_t> off;
  for (int d = 0; d <= docs; ++d) off.push_back(d * L);
  DevBuf<int32_t> doff;
  DevBuf<int8_t> u, dt, bc, z, A, D, db;
  DevBuf<uint16_t> y;
  DevBuf<float> st;
  DevBuf<int8_t> stq;
  doff.upload(off), u.upload(random_s8(TE, 3)), dt.upload(random_s8(TE, 4)), bc.upload(random_s8(T * 2 * N, 5));
  z.upload(random_s8(TE, 6));
  std::vector<int8_t> a(static_cast<size_t>(E) * N);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int8_t>(i % 100);
  A.upload(a), D.upload(random_s8(E, 7)), db.upload(random_s8(E, 8));
  y.resize(TE), st.resize(static_cast<size_t>(docs) * E * N), stq.resize(static_cast<size_t>(docs) * E * N);
  ScanIn in{};
  // B and C as the forward passes them: the int8 rows where the pipelined kernel runs, else f32
  // rows (k_dequant_bc's products).
  in.u_q = u.p, in.dt_q = dt.p, in.bc_q = bc.p, in.ld_bc = 2 * N, in.b_off = 0, in.c_off = N;
  in.z = z.p, in.ld_z = E, in.A_log = A.p, in.D = D.p, in.dt_bias = db.p;
  DevBuf<float> bcf;
  if (probe != nullptr || !scan_wants_bc_q(k, tb, docs, static_cast<int>(T), E, N, in)) {
    bcf.resize(T * 2 * N);
    k_dequant_bc<<<blocks_for(T * 2 * N, 256), 256>>>(static_cast<int>(T), 2 * N, 0, N, bc.p, 0.03f, 0.03f, bcf.p);
    in.bc_q = nullptr, in.bc_f = bcf.p;
  }
  const ScanScales s{0.02f, 0.05f, 0.03f, 0.03f, 0.05f, 0.03f, 0.01f, 0.02f, 0.05f};
  DevBuf<float> tab;
  tab.resize(scan_table_floats(E, N));
  if (probe == nullptr)
    return time_ms(reps, [&] {
      launch_scan(k, tb, false, docs, static_cast<int>(T), doff.p, nullptr, E, N, in, s, y.p, st.p, stq.p, tab.p);
    });
  return time_ms(reps, [&] {
    probe(docs, doff.p, E, launch_scan_table<false>(E, N, in, s, tab.p), s, y.p, st.p, stq.p);
  });
}
}  // namespace

double time_scan_ms(ScanKernel k, ScanTable tb, int docs, int L, int E, int N, int reps) {
  return time_scan_impl(k, tb, nullptr, docs, L, E, N, reps);
}
double time_scan_probe_ms(int probe, int docs, int L, int E, int N, int reps) {
  if (N != 16) throw std::invalid_argument("time_scan_probe_ms: N must be 16 (the shared-memory scan)");
  return time_scan_impl(ScanKernel::kShared12, ScanTable::kOn, probe_launch(probe), docs, L, E, N, reps);
}

namespace {
// 16 exps per thread of inputs x = -20·j/2^20 (cheap to form, so the exps dominate); their sum
// is stored so that nothing is optimized away.
constexpr int kExpPerThread = 16;
__global__ void k_exp_bench(uint32_t threads, bool ff, float* out) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= threads) return;
  float sum = 0.0f;
#pragma unroll 4
  for (int r = 0; r < kExpPerThread; ++r) {
    const float x = -0x1.4p-16f * static_cast<float>((i * kExpPerThread + r) & 0xFFFFFu);
    sum = sum + (ff ? num::exp_cr_ff(x) : num::exp_cr(x));
  }
  out[i] = sum;
}
__global__ void k_exp_ff_check(uint64_t base, unsigned long long* count, unsigned* first) {
  const uint64_t i = base + static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const uint32_t b = static_cast<uint32_t>(i);
  const float x = num::f32_from_bits(b);
  const float a = num::exp_cr_ff(x), c = num::exp_cr(x);
  if (num::f32_bits(a) != num::f32_bits(c) && !(a != a && c != c)) {
    atomicAdd(count, 1ull);
    atomicMin(first, b);
  }
}
}  // namespace

double time_exp_ms(bool ff, size_t n, int reps) {
  const uint32_t threads = static_cast<uint32_t>(n / kExpPerThread);
  DevBuf<float> out;
  out.resize(threads);
  return time_ms(reps, [&] { k_exp_bench<<<blocks_for(threads, 256), 256>>>(threads, ff, out.p); });
}

namespace {
// f32 -> f16, f16 -> f32 and f32 -> int32 on the device (cvt instructions; the portable path for
// NaN in the f16 ones) against the portable definitions: every binary32 input and every binary16
// input (those below 2^16).
__global__ void k_f16_check(uint64_t base, unsigned long long* count, unsigned* first) {
  const uint64_t i = base + static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const uint32_t b = static_cast<uint32_t>(i);
  const float x = num::f32_from_bits(b);
  bool bad = num::f32_to_f16_rne(x) != num::f32_to_f16_rne_soft(x) ||
             num::f32_to_i32_sat(x) != num::f32_to_i32_sat_soft(x) ||
             num::f32_to_i32_rne_sat(x) != num::f32_to_i32_sat_soft(num::round_rne(x));
  if (b < 65536u) bad |= num::f32_bits(num::f16_to_f32(static_cast<uint16_t>(b))) !=
                         num::f32_bits(num::f16_to_f32_soft(static_cast<uint16_t>(b)));
  if (bad) {
    atomicAdd(count, 1ull);
    atomicMin(first, b);
  }
}
}  // namespace

uint64_t f16_conversion_mismatches_all_inputs(uint32_t* first) {
  DevBuf<unsigned long long> count;
  DevBuf<unsigned> f;
  count.upload(std::vector<unsigned long long>{0});
  f.upload(std::vector<unsigned>{0xFFFFFFFFu});
  const uint64_t chunk = uint64_t{1} << 30;
  for (uint64_t base = 0; base < (uint64_t{1} << 32); base += chunk)
    k_f16_check<<<static_cast<unsigned>(chunk / 256), 256>>>(base, count.p, f.p);
  sync("f16 check");
  std::vector<unsigned long long> c(1);
  std::vector<unsigned> fv(1);
  count.download(c.data(), 1);
  f.download(fv.data(), 1);
  if (first) *first = fv[0];
  return c[0];
}

namespace {
__global__ void k_conv_quant_check(uint64_t base, float s_u, float inv_su, unsigned long long* count, unsigned* first,
                                   unsigned long long* fallbacks) {
  const uint64_t i = base + static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const uint32_t b = static_cast<uint32_t>(i);
  const float y = num::f32_from_bits(b);
  int8_t q;
  const bool fast = conv_quant_fast(y, inv_su, &q);
  const int8_t want = num::quant_rna_sat8(num::silu_f32(y) / s_u);
  const unsigned fb = __ballot_sync(0xFFFFFFFFu, !fast && fabsf(y) <= 64.0f);  // margin fallbacks
  if (threadIdx.x % 32 == 0 && fb != 0) atomicAdd(fallbacks, static_cast<unsigned long long>(__popc(fb)));
  if (conv_quant(y, s_u, inv_su) != want || (fast && q != want)) {
    atomicAdd(count, 1ull);
    atomicMin(first, b);
  }
}
}  // namespace

uint64_t conv_quant_mismatches_all_inputs(float s_u, uint32_t* first, uint64_t* fallbacks) {
  if (!conv_fast_scale_ok(s_u))
    throw std::invalid_argument("conv_quant_mismatches_all_inputs: s_u outside the fast path");
  DevBuf<unsigned long long> count, fb;
  DevBuf<unsigned> f;
  count.upload(std::vector<unsigned long long>{0});
  fb.upload(std::vector<unsigned long long>{0});
  f.upload(std::vector<unsigned>{0xFFFFFFFFu});
  const uint64_t chunk = uint64_t{1} << 30;
  for (uint64_t base = 0; base < (uint64_t{1} << 32); base += chunk)
    k_conv_quant_check<<<static_cast<unsigned>(chunk / 256), 256>>>(base, s_u, 1.0f / s_u, count.p, f.p, fb.p);
  sync("conv quant check");
  std::vector<unsigned long long> c(1), fbv(1);
  std::vector<unsigned> fv(1);
  count.download(c.data(), 1);
  fb.download(fbv.data(), 1);
  f.download(fv.data(), 1);
  if (first) *first = fv[0];
  if (fallbacks) *fallbacks = fbv[0];
  return c[0];
}

uint64_t exp_ff_mismatches_all_inputs(uint32_t* first) {
  DevBuf<unsigned long long> count;
  DevBuf<unsigned> f;
  count.upload(std::vector<unsigned long long>{0});
  f.upload(std::vector<unsigned>{0xFFFFFFFFu});
  const uint64_t chunk = uint64_t{1} << 30;
  for (uint64_t base = 0; base < (uint64_t{1} << 32); base += chunk)
    k_exp_ff_check<<<static_cast<unsigned>(chunk / 256), 256>>>(base, count.p, f.p);
  sync("exp_ff check");
  std::vector<unsigned long long> c(1);
  std::vector<unsigned> fv(1);
  count.download(c.data(), 1);
  f.download(fv.data(), 1);
  if (first) *first = fv[0];
  return c[0];
}

}  // namespace ops
}  // namespace gpu
}  // namespace qmsim
