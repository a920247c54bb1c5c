// CUDA kernels of the W8A8 datapath (mode 0) and the per-document forward. Each kernel computes
// the golden definition of its op (spec §2, §5.8) with the shared numerics header: correctly
// rounded exp/log1p (num::exp_cr, num::log1p_cr), IEEE division and sqrt, FMAs only where the
// definition has one (num::fma_f32), every reduction in its fixed order. Built with -fmad=false
// and without fast math so nvcc contracts nothing. Parallelism is over independent outputs
// (tokens, channels, output columns); the order of operations inside each output is golden's.
#include "qmsim/gpu/gpu.h"

#include <cuda_runtime.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace qmsim {
namespace gpu {
namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("gpu: ") + what + ": " + cudaGetErrorString(e));
}

template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  void resize(size_t count) {
    if (count <= n) return;
    if (p) cudaFree(p);
    ck(cudaMalloc(&p, count * sizeof(T) + 16), "cudaMalloc");
    n = count;
  }
  void upload(const std::vector<T>& v) {
    resize(v.size());
    if (!v.empty()) ck(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  }
  ~DevBuf() {
    if (p) cudaFree(p);
  }
};

// ------------------------------------------------------------------ kernels

__global__ void k_embed(int L, int D, const uint16_t* table, const int32_t* tok, uint16_t* out) {
  const int t = blockIdx.x, j = threadIdx.x + blockIdx.y * blockDim.x;
  if (t < L && j < D) out[static_cast<size_t>(t) * D + j] = table[static_cast<size_t>(tok[t]) * D + j];
}

// r = 1 / sqrt((Σ_j fl32(x_j·x_j) ascending j) / D + eps): one thread per token (sequential sum).
__device__ float rms_reciprocal(const float* x, int D, float eps) {
  float ss = 0.0f;
  for (int j = 0; j < D; ++j) ss = ss + x[j] * x[j];
  return 1.0f / num::sqrt_f32(ss / static_cast<float>(D) + eps);
}

// QRMSNorm (spec §2.3, §5.8): x = f32(h) (+ res); q = sat8(RNE(fl32(x·r) / s_in)). One thread per token.
__global__ void k_rmsnorm_quant(int L, int D, const uint16_t* h, float* res, bool add_res, float eps, float s_in,
                                int8_t* q) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= L) return;
  float* x = res + static_cast<size_t>(t) * D;  // residual in/out (in place)
  const uint16_t* ht = h + static_cast<size_t>(t) * D;
  for (int j = 0; j < D; ++j) x[j] = add_res ? num::f16_to_f32(ht[j]) + x[j] : num::f16_to_f32(ht[j]);
  const float r = rms_reciprocal(x, D, eps);
  for (int j = 0; j < D; ++j) q[static_cast<size_t>(t) * D + j] = num::quant_rne_sat8((x[j] * r) / s_in);
}

// Final norm (spec §2.11, §5.8; f16_residual = the SE-fe5 variant). One thread per token.
__global__ void k_final_norm(int L, int D, const uint16_t* h, const float* res, const uint16_t* w, float eps,
                             bool f16_residual, float* scratch, uint16_t* out) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= L) return;
  float* x = scratch + static_cast<size_t>(t) * D;
  for (int j = 0; j < D; ++j) {
    const float hf = num::f16_to_f32(h[static_cast<size_t>(t) * D + j]);
    const float rf = res ? res[static_cast<size_t>(t) * D + j] : 0.0f;
    if (!res)
      x[j] = hf;
    else if (f16_residual)
      x[j] = num::round_to_f16(hf + num::round_to_f16(rf));
    else
      x[j] = hf + rf;
  }
  const float r = rms_reciprocal(x, D, eps);
  for (int j = 0; j < D; ++j) {
    const float wf = w ? num::f16_to_f32(w[j]) : 1.0f;
    const float y = f16_residual ? num::round_to_f16(x[j] * r) : x[j] * r;
    out[static_cast<size_t>(t) * D + j] = num::f32_to_f16_rne(y * wf);
  }
}

// INT8 GEMM + epilogue (spec §2.4, §2.8): acc = Σ_k x[m,k]·W[n,k] exact in int32 (any order), then
// int8 sat8(RNE(fl32(outer·fl32(inner·acc)))) / alpha, or f16 out. One thread per output, __dp4a.
// row_alpha (nullable): rows of 1-token documents take the GEMV alpha epilogue (quamba-compat).
__global__ void k_gemm(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer,
                       float alpha, const uint8_t* row_alpha, bool out_f16, void* y, int ldy) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y;
  if (n >= N || m >= M) return;
  const int8_t* xr = x + static_cast<size_t>(m) * ldx;
  const int8_t* wr = W + static_cast<size_t>(n) * K;
  int32_t acc = 0;
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    int a, b;
    memcpy(&a, xr + k, 4);
    memcpy(&b, wr + k, 4);
    acc = __dp4a(a, b, acc);
  }
  for (; k < K; ++k) acc += static_cast<int32_t>(xr[k]) * static_cast<int32_t>(wr[k]);
  const bool use_alpha = row_alpha != nullptr && row_alpha[m] != 0;
  const float v = use_alpha ? alpha * num::i32_to_f32_rne(acc) : outer * (inner * num::i32_to_f32_rne(acc));
  const size_t o = static_cast<size_t>(m) * ldy + n;
  if (out_f16)
    static_cast<uint16_t*>(y)[o] = num::f32_to_f16_rne(v);
  else
    static_cast<int8_t*>(y)[o] = num::quant_rne_sat8(v);
}

// The same GEMM tiled for the memory system: a block computes 64 x 64 outputs (256 threads, 4 x 4
// each), x and W tiles of 32 bytes of K staged in shared memory as packed int32 words (bytes past
// K are zero, adding nothing to the exact int32 sums), __dp4a on the words. Same epilogue.
constexpr int kTM = 64, kTN = 64, kTK = 32;
__global__ void k_gemm_tiled(int M, int N, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer,
                             float alpha, const uint8_t* row_alpha, bool out_f16, void* y, int ldy) {
  __shared__ int32_t xs[kTM][kTK / 4 + 1];
  __shared__ int32_t ws[kTN][kTK / 4 + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * kTM, n0 = blockIdx.x * kTN;
  int32_t acc[4][4] = {{0}};
  for (int k0 = 0; k0 < K; k0 += kTK) {
    for (int i = threadIdx.x; i < kTM * (kTK / 4); i += blockDim.x) {
      const int r = i / (kTK / 4), w = i % (kTK / 4);
      const int m = m0 + r, n = n0 + r, k = k0 + 4 * w;
      uint32_t vx = 0, vw = 0;
      for (int b = 0; b < 4; ++b) {
        const int kk = k + b;
        if (kk < K) {
          if (m < M) vx |= static_cast<uint32_t>(static_cast<uint8_t>(x[static_cast<size_t>(m) * ldx + kk])) << (8 * b);
          if (n < N) vw |= static_cast<uint32_t>(static_cast<uint8_t>(W[static_cast<size_t>(n) * K + kk])) << (8 * b);
        }
      }
      xs[r][w] = static_cast<int32_t>(vx);
      ws[r][w] = static_cast<int32_t>(vw);
    }
    __syncthreads();
    for (int w = 0; w < kTK / 4; ++w) {
      int32_t a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = xs[ty * 4 + i][w], b[i] = ws[tx * 4 + i][w];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) continue;
    const bool use_alpha = row_alpha != nullptr && row_alpha[m] != 0;
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx * 4 + j;
      if (n >= N) continue;
      const float v = use_alpha ? alpha * num::i32_to_f32_rne(acc[i][j]) : outer * (inner * num::i32_to_f32_rne(acc[i][j]));
      const size_t o = static_cast<size_t>(m) * ldy + n;
      if (out_f16)
        static_cast<uint16_t*>(y)[o] = num::f32_to_f16_rne(v);
      else
        static_cast<int8_t*>(y)[o] = num::quant_rne_sat8(v);
    }
  }
}

// Causal conv1d + SiLU + RNA quantizer (spec §2.5, §5.8). One thread per (t, e).
// start[t]: index of the first token of t's document (the causal window never crosses documents).
__global__ void k_conv(int L, int E, int K, const int8_t* xz, const int8_t* w, const int8_t* b, float w_c, float b_c,
                       float s_xz, float s_u, const int32_t* start, int8_t* out) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
  if (e >= E || t >= L) return;
  int32_t acc = 0;
  for (int k = 0; k < K; ++k) {
    const int ti = t - (K - 1) + k;
    if (ti >= start[t]) acc += static_cast<int32_t>(w[static_cast<size_t>(e) * K + k]) * static_cast<int32_t>(xz[static_cast<size_t>(ti) * 2 * E + e]);
  }
  const float scale = w_c * s_xz, bias = b ? static_cast<float>(b[e]) * b_c : 0.0f * b_c;
  const float v = num::silu_f32(num::fma_f32(scale, num::i32_to_f32_rne(acc), bias));
  out[static_cast<size_t>(t) * E + e] = num::quant_rna_sat8(v / s_u);
}

struct ScanScales {
  float u, dt, B, C, z, A, D, dt_bias, state;
};

// Selective scan (spec §2.6 with §5.8): one thread per (document, channel e), sequential in t over
// the document's tokens [off[d], off[d+1]), n ascending; state [B, E, N].
__global__ void k_scan(int B, const int32_t* off, int E, int N, int R, int X, const int8_t* u, const int8_t* dt,
                       const int8_t* xdbl, const int8_t* xz, const int8_t* A_log, const int8_t* Dq, const int8_t* dbq,
                       ScanScales s, uint16_t* y, float* state, int8_t* state_q) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= B * E) return;
  const int d = idx / E, e = idx % E;
  float h[64], A[64];  // N <= 64
  for (int n = 0; n < N; ++n) {
    A[n] = -num::exp_cr(s.A * static_cast<float>(A_log[static_cast<size_t>(e) * N + n]));
    h[n] = 0.0f;
  }
  const float Dv = s.D * static_cast<float>(Dq[e]);
  const float bias_dt = s.dt_bias * static_cast<float>(dbq[e]);
  for (int t = off[d]; t < off[d + 1]; ++t) {
    const size_t te = static_cast<size_t>(t) * E + e;
    const float uf = s.u * static_cast<float>(u[te]);
    const float dtf = num::softplus_thr20_f32(num::fma_f32(s.dt, static_cast<float>(dt[te]), bias_dt));
    const float du = dtf * uf;
    float yacc = Dv * uf;
    const int8_t* row = xdbl + static_cast<size_t>(t) * X;
    for (int n = 0; n < N; ++n) {
      const float b = (s.B * static_cast<float>(row[R + n])) * du;
      h[n] = num::fma_f32(num::exp_cr(dtf * A[n]), h[n], b);
      yacc = num::fma_f32(h[n], s.C * static_cast<float>(row[R + N + n]), yacc);
    }
    const float zf = s.z * static_cast<float>(xz[static_cast<size_t>(t) * 2 * E + E + e]);
    y[te] = num::f32_to_f16_rne((yacc * zf) / (1.0f + num::exp_cr(-zf)));
  }
  for (int n = 0; n < N; ++n) {
    state[(static_cast<size_t>(d) * E + e) * N + n] = h[n];
    state_q[(static_cast<size_t>(d) * E + e) * N + n] = num::quant_rna_sat8(h[n] / s.state);
  }
}

__constant__ int8_t c_h12[12][12] = {
    {1, -1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},     {-1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1},
    {1, 1, 1, -1, 1, 1, -1, -1, -1, -1, 1, 1}, {1, -1, -1, -1, 1, -1, -1, 1, -1, 1, 1, -1},
    {1, 1, 1, 1, 1, -1, 1, 1, -1, -1, -1, -1}, {1, -1, 1, -1, -1, -1, 1, -1, -1, 1, -1, 1},
    {1, 1, -1, -1, 1, 1, 1, -1, 1, 1, -1, -1}, {1, -1, -1, 1, 1, -1, -1, -1, 1, -1, -1, 1},
    {1, 1, -1, -1, -1, -1, 1, 1, 1, -1, 1, 1}, {1, -1, -1, 1, -1, 1, 1, -1, -1, -1, 1, -1},
    {1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, -1}, {1, -1, 1, -1, -1, 1, -1, 1, 1, -1, -1, -1},
};  // spec §5.8 H_12

// Hadamard transform (spec §2.7 order: butterflies on bit b ascending, then the H_12 stage with
// left-to-right sums) + RNA quantizer (sat8, or wrap8 under quamba-compat). One block per token,
// the butterflies of a stage in parallel (each element still sees exactly golden's adds).
__global__ void k_hadamard(int L, int n, int block, int blocks, const uint16_t* y, float scale, bool wrap, int8_t* out,
                           unsigned long long* outside) {
  extern __shared__ float v[];  // 2n floats: v and a copy for the H_12 stage
  const int t = blockIdx.x;
  if (t >= L) return;
  for (int j = threadIdx.x; j < n; j += blockDim.x) v[j] = num::f16_to_f32(y[static_cast<size_t>(t) * n + j]);
  __syncthreads();
  for (int half = 1; half < block; half <<= 1) {
    for (int i = threadIdx.x; i < n / 2; i += blockDim.x) {
      const int c = i / (block / 2), r = i % (block / 2);
      const int p = (r / half) * 2 * half + (r % half);  // p with bit `half` clear
      float* lo = v + c * block + p;
      float* hi = lo + half;
      const float a = *lo, b = *hi;
      *lo = a + b;
      *hi = a - b;
    }
    __syncthreads();
  }
  if (blocks == 12) {
    float* in = v + n;
    for (int j = threadIdx.x; j < n; j += blockDim.x) in[j] = v[j];
    __syncthreads();
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
      const int r = j / block, p = j % block;
      float acc = c_h12[r][0] > 0 ? in[p] : -in[p];
      for (int c = 1; c < 12; ++c) acc = c_h12[r][c] > 0 ? acc + in[c * block + p] : acc - in[c * block + p];
      v[j] = acc;
    }
    __syncthreads();
  }
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const int32_t k = num::f32_to_i32_sat(num::round_rna(v[j] * scale));
    if (k < -128 || k > 127) atomicAdd(outside, 1ull);
    out[static_cast<size_t>(t) * n + j] = wrap ? num::wrap8(k) : num::sat8(k);
  }
}

// lm_head (spec §5.8): logits[p, v] = Σ_k fl32(y·w) ascending k from 0; one thread per (p, v).
__global__ void k_lm_head(int P, int V, int D, const uint16_t* yf, const int32_t* pos, const uint16_t* W, bool f16,
                          float* logits) {
  const int v = blockIdx.x * blockDim.x + threadIdx.x, p = blockIdx.y;
  if (v >= V || p >= P) return;
  const uint16_t* y = yf + static_cast<size_t>(pos[p]) * D;
  const uint16_t* w = W + static_cast<size_t>(v) * D;
  float acc = 0.0f;
  for (int k = 0; k < D; ++k) acc = acc + num::f16_to_f32(y[k]) * num::f16_to_f32(w[k]);
  logits[static_cast<size_t>(p) * V + v] = f16 ? num::round_to_f16(acc) : acc;
}

}  // namespace

// QMSIM_GPU_NAIVE_GEMM=1 selects the one-thread-per-output GEMM (the baseline of the tiled one).
const bool g_naive_gemm = [] {
  const char* e = std::getenv("QMSIM_GPU_NAIVE_GEMM");
  return e != nullptr && e[0] == '1';
}();

bool device_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  return true;
}

struct LayerDev {
  DevBuf<int8_t> in_proj, conv_w, conv_b, x_proj, dt_proj, A_log, D, dt_bias, out_proj;
};

struct GpuModel::Impl {
  const QModel& m;
  std::vector<LayerDev> layers;
  DevBuf<uint16_t> embedding, head, norm_f;
  // Activations of one document (grown on demand).
  DevBuf<int32_t> tok, pos, off, start;
  DevBuf<uint8_t> row_alpha;
  DevBuf<uint16_t> h, y, yf;
  DevBuf<float> res, scratch, st, logits;
  DevBuf<int8_t> qn, xz, xc, xdbl, dt, yq, stq;
  DevBuf<unsigned long long> outside;
  explicit Impl(const QModel& model) : m(model) {
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
};

GpuModel::GpuModel(const QModel& model) {
  std::string why;
  if (!device_available(&why)) throw std::runtime_error("gpu: " + why);
  if (model.cfg.d_state > 64) throw std::invalid_argument("gpu: d_state > 64 is not supported by the scan kernel");
  impl_ = std::make_unique<Impl>(model);
}

GpuModel::~GpuModel() = default;

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
  return forward_batch({tokens}, {positions}, profile, cap).front();
}

std::vector<std::vector<float>> GpuModel::forward_batch(const std::vector<std::vector<int32_t>>& docs,
                                                        const std::vector<std::vector<int>>& positions,
                                                        const num::NumericsProfile& profile, golden::Capture* cap) {
  Impl& I = *impl_;
  const MambaConfig& c = I.m.cfg;
  const int B = static_cast<int>(docs.size());
  if (B == 0 || positions.size() != docs.size()) throw std::invalid_argument("gpu: documents and positions differ in number");
  if (cap && B != 1) throw std::invalid_argument("gpu: captures are for one document at a time");
  const int D = c.d_model, E = c.d_inner(), N = c.d_state, R = c.dt_rank, X = c.xproj_rows(), V = c.vocab_size;
  // Documents back to back: T tokens, offsets, each token's document start, global logit rows.
  std::vector<int32_t> tok, off = {0}, start, pos;
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
    row_alpha.insert(row_alpha.end(), L, profile.gemv_alpha_m1 && L == 1 ? 1 : 0);  // spec §2.4: GEMV when L == 1
    off.push_back(off.back() + L);
  }
  const int L = off.back(), P = static_cast<int>(pos.size());
  if (L > 65535) throw std::invalid_argument("gpu: at most 65535 tokens per batch");
  const size_t LD = static_cast<size_t>(L) * D, LE = static_cast<size_t>(L) * E;
  I.tok.upload(tok), I.pos.upload(pos), I.off.upload(off), I.start.upload(start), I.row_alpha.upload(row_alpha);
  I.h.resize(LD), I.res.resize(LD), I.scratch.resize(LD), I.qn.resize(LD), I.xz.resize(2 * LE), I.xc.resize(LE);
  I.xdbl.resize(static_cast<size_t>(L) * X), I.dt.resize(LE), I.y.resize(LE), I.yq.resize(LE), I.yf.resize(LD);
  I.st.resize(static_cast<size_t>(B) * E * N), I.stq.resize(static_cast<size_t>(B) * E * N);
  I.logits.resize(static_cast<size_t>(P) * V);
  I.outside.resize(1);
  const bool any_alpha = profile.gemv_alpha_m1 && std::find(row_alpha.begin(), row_alpha.end(), 1) != row_alpha.end();
  const uint8_t* alpha_rows = any_alpha ? I.row_alpha.p : nullptr;
  const int TB = 128;
  auto lname = [](int i, const char* op) { return "layers." + std::to_string(i) + "." + op; };
  k_embed<<<dim3(L, (D + TB - 1) / TB), TB>>>(L, D, I.embedding.p, I.tok.p, I.h.p);
  put(cap, "embedding.out", "float16", {L, D}, I.h.p, LD);
  auto gemm = [&](int Nn, int K, const int8_t* x, int ldx, const int8_t* W, float inner, float outer, float alpha,
                  const uint8_t* rows_alpha, bool f16, void* out, int ldy) {
    if (g_naive_gemm)
      k_gemm<<<dim3((Nn + TB - 1) / TB, L), TB>>>(L, Nn, K, x, ldx, W, inner, outer, alpha, rows_alpha, f16, out, ldy);
    else
      k_gemm_tiled<<<dim3((Nn + kTN - 1) / kTN, (L + kTM - 1) / kTM), 256>>>(L, Nn, K, x, ldx, W, inner, outer, alpha,
                                                                               rows_alpha, f16, out, ldy);
  };
  for (int i = 0; i < c.n_layer; ++i) {
    const QLayer& l = I.m.layers[static_cast<size_t>(i)];
    const LayerDev& d = I.layers[static_cast<size_t>(i)];
    k_rmsnorm_quant<<<(L + 63) / 64, 64>>>(L, D, I.h.p, I.res.p, i > 0, c.norm_eps, l.norm_output_scale, I.qn.p);
    put(cap, lname(i, "norm.res"), "float32", {L, D}, I.res.p, LD);
    put(cap, lname(i, "norm.out"), "int8", {L, D}, I.qn.p, LD);
    gemm(2 * E, D, I.qn.p, D, d.in_proj.p, l.in_proj_a, l.in_proj_b, l.in_proj_alpha, nullptr, false, I.xz.p, 2 * E);
    put(cap, lname(i, "in_proj.out"), "int8", {L, 2 * E}, I.xz.p, 2 * LE);
    k_conv<<<dim3((E + TB - 1) / TB, L), TB>>>(L, E, c.d_conv, I.xz.p, d.conv_w.p, l.conv_b.empty() ? nullptr : d.conv_b.p,
                                              l.conv_weight_scale, l.conv_bias_scale, l.conv_input_scale,
                                              l.conv_output_scale, I.start.p, I.xc.p);
    put(cap, lname(i, "conv1d.out"), "int8", {L, E}, I.xc.p, LE);
    gemm(X, E, I.xc.p, E, d.x_proj.p, l.x_proj_b, l.x_proj_a, l.x_proj_alpha, alpha_rows, false, I.xdbl.p, X);
    put(cap, lname(i, "x_proj.out"), "int8", {L, X}, I.xdbl.p, static_cast<size_t>(L) * X);
    gemm(E, R, I.xdbl.p, X, d.dt_proj.p, l.dt_proj_a, l.dt_proj_b, l.dt_proj_alpha, nullptr, false, I.dt.p, E);
    put(cap, lname(i, "dt_proj.out"), "int8", {L, E}, I.dt.p, LE);
    const ScanScales s{l.u_scale, l.dt_scale, l.B_scale, l.C_scale, l.z_scale, l.A_scale, l.D_scale, l.dt_bias_scale,
                       l.ssm_state_scale};
    k_scan<<<(B * E + 63) / 64, 64>>>(B, I.off.p, E, N, R, X, I.xc.p, I.dt.p, I.xdbl.p, I.xz.p, d.A_log.p, d.D.p,
                                      d.dt_bias.p, s, I.y.p, I.st.p, I.stq.p);
    put(cap, lname(i, "ssm.out"), "float16", {L, E}, I.y.p, LE);
    put(cap, lname(i, "ssm.state"), "float32", {E, N}, I.st.p, static_cast<size_t>(E) * N);
    put(cap, lname(i, "ssm.state_q"), "int8", {E, N}, I.stq.p, static_cast<size_t>(E) * N);
    const bool pow2 = (E & (E - 1)) == 0;
    const int blocks = pow2 ? 1 : 12, block = E / blocks;
    const float scale_h =
        static_cast<float>((1.0 / std::sqrt(static_cast<double>(E))) / static_cast<double>(l.had_output_scale));
    k_hadamard<<<L, 256, 2 * E * sizeof(float)>>>(L, E, block, blocks, I.y.p, scale_h, profile.hadamard_wrap, I.yq.p,
                                                  I.outside.p);
    put(cap, lname(i, "hadamard.out"), "int8", {L, E}, I.yq.p, LE);
    gemm(D, E, I.yq.p, E, d.out_proj.p, l.out_proj_b, l.out_proj_a, l.out_proj_alpha, alpha_rows, true, I.h.p, D);
    put(cap, lname(i, "out_proj.out"), "float16", {L, D}, I.h.p, LD);
  }
  k_final_norm<<<(L + 63) / 64, 64>>>(L, D, I.h.p, c.n_layer > 0 ? I.res.p : nullptr,
                                      I.m.norm_f_f16.empty() ? nullptr : I.norm_f.p, c.norm_eps,
                                      profile.f16_residual_final_norm, I.scratch.p, I.yf.p);
  put(cap, "norm_f.out", "float16", {L, D}, I.yf.p, LD);
  k_lm_head<<<dim3((V + TB - 1) / TB, P), TB>>>(P, V, D, I.yf.p, I.pos.p, I.head.p, profile.f16_logits, I.logits.p);
  ck(cudaGetLastError(), "kernel launch");
  std::vector<float> all(static_cast<size_t>(P) * V);
  ck(cudaMemcpy(all.data(), I.logits.p, all.size() * 4, cudaMemcpyDeviceToHost), "logits");
  std::vector<std::vector<float>> out(static_cast<size_t>(B));
  size_t row = 0;
  for (int d = 0; d < B; ++d) {
    const size_t n = positions[d].size() * static_cast<size_t>(V);
    out[d].assign(all.begin() + static_cast<std::ptrdiff_t>(row), all.begin() + static_cast<std::ptrdiff_t>(row + n));
    row += n;
  }
  return out;
}

}  // namespace gpu
}  // namespace qmsim
