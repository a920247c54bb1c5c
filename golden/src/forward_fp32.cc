// FP32 reference forward of Mamba-1 (spec §1.3), the model the experiment modes are compared to.
//
// Evaluation order is fixed so every platform reproduces it (spec §5.8 general rules): every f32
// operation rounds once, no FMA, reductions in ascending index order. Choices where §1.3 leaves
// the order open are written next to each step ("order:").
//
// The scalar code here is the definition (forward_fp32_ref runs only it). forward_fp32 runs the
// linears, the conv and the scan through AVX-512 transcriptions (forward_fp32_avx512.cc) when the
// CPU has AVX-512 and QMSIM_ISA is not ref|avx2: the same operations in the same order per output
// element, so the same bits (tests/forward_fp32_test.cc compares every captured tensor).
#include "qmsim/golden/forward_fp32.h"

#include "kernels_avx512.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {

#if defined(QMSIM_X86_DISPATCH)
// AVX-512 variants of the kernels below (forward_fp32_avx512.cc): the same f32 operations in the
// same order per output element / channel, so the same bits.
namespace fp32_avx512_detail {
// Column n of the weight is at W[(n / kFp32Panel)·panel_stride + k·ldw + n % kFp32Panel].
void linear_panels_avx512(int M, int N, int K, const float* x, const float* W, size_t panel_stride, size_t ldw,
                          float* y, int64_t p0, int64_t p1);
void conv_silu_blocks_avx512(int L, int E, int K, const float* xz, const float* w, const float* bias, float* xc,
                             int64_t b0, int64_t b1);
void scan_blocks_avx512(int L, int E, int N, int X, int R, const float* dt, const float* u, const float* xdbl,
                        const float* xz, const float* A, const float* Dv, const float* bdt, float* y, float* state,
                        int64_t b0, int64_t b1);
}  // namespace fp32_avx512_detail
#endif

bool fp32_avx512_active() { return avx512::usable(); }

namespace {

// The FP32 reference linear (spec §5.8 reduction rule): y[m, n] = Σ_k fl32(x[m,k]·w[k,n]) in f32,
// acc = 0 then acc = fl32(acc + fl32(x·w)) for k = 0..K-1. Column n of the weight is at
// W[(n / kFp32Panel)·panel_stride + k·ldw + n % kFp32Panel]. Parallel over panels of kFp32Panel
// output columns; each output is computed the same way whatever the split, and the vectorized
// loop over n computes exactly the scalar sequence of each output.
void linear_ref(int M, int N, int K, const float* x, const float* W, size_t panel_stride, size_t ldw, float* y,
                int threads) {
  constexpr int kBlockN = kFp32Panel;
  const int nblocks = (N + kBlockN - 1) / kBlockN;
  parallel_for(nblocks, threads, [&](int64_t b0, int64_t b1) {
    float acc[4][kBlockN];
    for (int64_t b = b0; b < b1; ++b) {
      const int n0 = static_cast<int>(b) * kBlockN;
      const int nb = std::min(kBlockN, N - n0);
      const float* Wp = W + static_cast<size_t>(b) * panel_stride;
      for (int m0 = 0; m0 < M; m0 += 4) {
        const int mb = std::min(4, M - m0);
        for (int r = 0; r < mb; ++r)
          for (int j = 0; j < nb; ++j) acc[r][j] = 0.0f;
        for (int k = 0; k < K; ++k) {
          const float* wk = Wp + static_cast<size_t>(k) * ldw;
          for (int r = 0; r < mb; ++r) {
            const float xv = x[static_cast<size_t>(m0 + r) * K + k];
            float* a = acc[r];
            for (int j = 0; j < nb; ++j) a[j] = a[j] + xv * wk[j];
          }
        }
        for (int r = 0; r < mb; ++r)
          for (int j = 0; j < nb; ++j) y[static_cast<size_t>(m0 + r) * N + n0 + j] = acc[r][j];
      }
    }
  });
}

// linear_ref's layout, AVX-512 kernel when usable (same bits).
void linear_dispatch(int M, int N, int K, const float* x, const float* W, size_t panel_stride, size_t ldw, float* y,
                     int threads) {
#if defined(QMSIM_X86_DISPATCH)
  if (fp32_avx512_active()) {
    const int64_t panels = (N + kFp32Panel - 1) / kFp32Panel;
    parallel_for(panels, threads, [&](int64_t p0, int64_t p1) {
      fp32_avx512_detail::linear_panels_avx512(M, N, K, x, W, panel_stride, ldw, y, p0, p1);
    });
    return;
  }
#endif
  linear_ref(M, N, K, x, W, panel_stride, ldw, y, threads);
}

std::string lname(int layer, const char* op) { return "layers." + std::to_string(layer) + "." + op; }

// RMSNorm (spec §1.3): ss = Σ x² ascending; r = 1/sqrt(ss/D + eps); y = fl32(fl32(x·r)·w).
void rmsnorm_f32(int L, int D, const float* x, const float* w, float eps, float* y) {
  for (int t = 0; t < L; ++t) {
    const float* xr = x + static_cast<size_t>(t) * D;
    float ss = 0.0f;
    for (int j = 0; j < D; ++j) ss = ss + xr[j] * xr[j];
    const float r = 1.0f / num::sqrt_f32(ss / static_cast<float>(D) + eps);
    float* yr = y + static_cast<size_t>(t) * D;
    for (int j = 0; j < D; ++j) yr[j] = (xr[j] * r) * w[j];
  }
}

// Causal depthwise conv + SiLU, channels [e0, e1). order: acc = Σ_{k=0..K-1} fl32(w[k]·x[t-K+1+k])
// ascending from 0 (x[t<0] = 0 contributes nothing), then fl32(acc + bias), then SiLU = v/(1+exp(-v)).
// xz is in_proj.out [L, 2E] (x = its first E columns); bias may be null (no conv bias).
void conv_silu_channels_ref(int L, int E, int K, const float* xz, const float* conv_w, const float* bias, float* xc,
                            int64_t e0, int64_t e1) {
  for (int64_t e = e0; e < e1; ++e) {
    const float* w = conv_w + e * K;
    const float b = bias != nullptr ? bias[e] : 0.0f;
    for (int t = 0; t < L; ++t) {
      float acc = 0.0f;
      for (int k = 0; k < K; ++k) {
        const int src = t - (K - 1) + k;
        if (src >= 0) acc = acc + w[k] * xz[static_cast<size_t>(src) * 2 * E + e];
      }
      xc[static_cast<size_t>(t) * E + e] = num::silu_f32(acc + b);
    }
  }
}

// Selective scan of channels [e0, e1), sequential in t (spec §1.3, arithmetic as P-seq §4.5 in the
// golden functions): dt = softplus(fl32(dt_raw + b_dt)); dA = exp(fl32(dt·A)); dBu = fl32(fl32(dt·B)·u);
// h = fl32(fl32(dA·h) + dBu); y = Σ_n fl32(h·C) ascending from 0; y = fl32(y + fl32(D·u));
// y = fl32(y · silu(z)). dt is dt_proj.out [L,E] (no bias), u = x_proj.in [L,E], xdbl = x_proj.out
// [L,X] (B at column R, C at R+N), xz = in_proj.out [L,2E] (z = its last E columns), A [E,N].
void scan_channels_ref(int L, int E, int N, int X, int R, const float* dt, const float* xu, const float* xdbl,
                       const float* xz, const float* Am, const float* Dvec, const float* bdt_vec, float* y,
                       float* state, int64_t e0, int64_t e1) {
  std::vector<float> hs(N);
  for (int64_t e = e0; e < e1; ++e) {
    std::fill(hs.begin(), hs.end(), 0.0f);
    const float* A = Am + e * N;
    const float Dv = Dvec[e];
    const float bdt = bdt_vec[e];
    for (int t = 0; t < L; ++t) {
      const size_t te = static_cast<size_t>(t) * E + e;
      const float dtv = num::softplus_thr20_f32(dt[te] + bdt);
      const float u = xu[te];
      const float* B = xdbl + static_cast<size_t>(t) * X + R;
      const float* C = B + N;
      float yacc = 0.0f;
      for (int s = 0; s < N; ++s) {
        const float dA = num::exp_cr(dtv * A[s]);
        const float dBu = (dtv * B[s]) * u;
        hs[s] = dA * hs[s] + dBu;
        yacc = yacc + hs[s] * C[s];
      }
      yacc = yacc + Dv * u;
      const float z = xz[static_cast<size_t>(t) * 2 * E + E + e];
      y[te] = yacc * num::silu_f32(z);
    }
    for (int s = 0; s < N; ++s) state[static_cast<size_t>(e) * N + s] = hs[s];
  }
}

// Which kernels a forward uses: the scalar definitions, or their AVX-512 transcriptions.
enum class Kernels { kRef, kDispatch };

[[maybe_unused]] bool use_avx512(Kernels k) { return k == Kernels::kDispatch && fp32_avx512_active(); }

void linear(Kernels kern, int M, const float* x, const Fp32PackedWeight& W, float* y, int threads) {
  if (kern == Kernels::kRef) return linear_f32_packed_ref(M, x, W, y, threads);
  linear_f32_packed(M, x, W, y, threads);
}

void conv_silu(Kernels kern, int L, int E, int K, const float* xz, const float* w, const float* bias, float* xc,
               int threads) {
#if defined(QMSIM_X86_DISPATCH)
  if (use_avx512(kern) && E >= 16) {
    // 16-channel vectors; the remainder channels (one extra work item) take the scalar loop.
    const int64_t blocks = E / 16, items = blocks + (E % 16 != 0 ? 1 : 0);
    parallel_for(items, threads, [&](int64_t i0, int64_t i1) {
      const int64_t b1 = std::min(i1, blocks);
      if (i0 < b1) fp32_avx512_detail::conv_silu_blocks_avx512(L, E, K, xz, w, bias, xc, i0, b1);
      if (i1 > blocks) conv_silu_channels_ref(L, E, K, xz, w, bias, xc, blocks * 16, E);
    });
    return;
  }
#endif
  (void)kern;
  parallel_for(E, threads, [&](int64_t e0, int64_t e1) { conv_silu_channels_ref(L, E, K, xz, w, bias, xc, e0, e1); });
}

void scan(Kernels kern, int L, int E, int N, int X, int R, const float* dt, const float* xu, const float* xdbl,
          const float* xz, const float* A, const float* Dv, const float* bdt, float* y, float* state, int threads) {
#if defined(QMSIM_X86_DISPATCH)
  if (use_avx512(kern) && E >= 16) {
    const int64_t blocks = E / 16, items = blocks + (E % 16 != 0 ? 1 : 0);
    parallel_for(items, threads, [&](int64_t i0, int64_t i1) {
      const int64_t b1 = std::min(i1, blocks);
      if (i0 < b1) fp32_avx512_detail::scan_blocks_avx512(L, E, N, X, R, dt, xu, xdbl, xz, A, Dv, bdt, y, state, i0, b1);
      if (i1 > blocks) scan_channels_ref(L, E, N, X, R, dt, xu, xdbl, xz, A, Dv, bdt, y, state, blocks * 16, E);
    });
    return;
  }
#endif
  (void)kern;
  parallel_for(E, threads, [&](int64_t e0, int64_t e1) {
    scan_channels_ref(L, E, N, X, R, dt, xu, xdbl, xz, A, Dv, bdt, y, state, e0, e1);
  });
}

std::vector<float> forward_impl(Kernels kern, const FpModel& model, const Fp32Plan& plan,
                                const std::vector<int32_t>& tokens, const std::vector<int>& logit_positions,
                                const ForwardOptions& opt) {
  const MambaConfig& c = model.cfg;
  const int L = static_cast<int>(tokens.size());
  const int D = c.d_model, E = c.d_inner(), R = c.dt_rank, N = c.d_state, K = c.d_conv, X = c.xproj_rows();
  const int V = c.vocab_size;
  const int T = opt.threads;
  Capture* cap = opt.capture;
  if (L == 0) throw std::invalid_argument("forward_fp32: empty token sequence");
  for (int p : logit_positions)
    if (p < 0 || p >= L) throw std::out_of_range("forward_fp32: logit position " + std::to_string(p) + " outside [0, " + std::to_string(L) + ")");

  // spec §1.3: h_0 = Embedding[token]
  std::vector<float> h(static_cast<size_t>(L) * D), res(static_cast<size_t>(L) * D);
  for (int t = 0; t < L; ++t) {
    const int32_t id = tokens[t];
    if (id < 0 || id >= V) throw std::out_of_range("forward_fp32: token id " + std::to_string(id) + " outside vocabulary [0, " + std::to_string(V) + ")");
    std::copy_n(model.embedding.data() + static_cast<size_t>(id) * D, D, h.data() + static_cast<size_t>(t) * D);
  }
  if (cap) cap->put("embedding.out", "float32", {L, D}, h.data(), h.size());

  std::vector<float> n(static_cast<size_t>(L) * D), xz(static_cast<size_t>(L) * 2 * E), xc(static_cast<size_t>(L) * E),
      xdbl(static_cast<size_t>(L) * X), dtr(static_cast<size_t>(L) * R), dt(static_cast<size_t>(L) * E),
      y(static_cast<size_t>(L) * E), yrot, state(static_cast<size_t>(E) * N);
  for (int i = 0; i < c.n_layer; ++i) {
    const FpLayer& lw = model.layers[i];
    const Fp32Plan::Layer& pw = plan.layers[i];
    // spec §1.3: res = h (layer 0) or h + res, kept in f32
    for (size_t j = 0; j < res.size(); ++j) res[j] = (i == 0) ? h[j] : h[j] + res[j];
    if (cap) cap->put(lname(i, "residual"), "float32", {L, D}, res.data(), res.size());
    rmsnorm_f32(L, D, res.data(), lw.norm_w.data(), c.norm_eps, n.data());
    if (cap) cap->put(lname(i, "in_proj.in"), "float32", {L, D}, n.data(), n.size());
    linear(kern, L, n.data(), pw.in_proj, xz.data(), T);
    if (cap) cap->put(lname(i, "in_proj.out"), "float32", {L, 2 * E}, xz.data(), xz.size());

    // Causal depthwise conv + SiLU (conv_silu_channels_ref).
    conv_silu(kern, L, E, K, xz.data(), lw.conv_w.data(), c.conv_bias ? lw.conv_b.data() : nullptr, xc.data(), T);
    if (cap) cap->put(lname(i, "x_proj.in"), "float32", {L, E}, xc.data(), xc.size());
    linear(kern, L, xc.data(), pw.x_proj, xdbl.data(), T);
    if (cap) cap->put(lname(i, "x_proj.out"), "float32", {L, X}, xdbl.data(), xdbl.size());
    for (int t = 0; t < L; ++t)
      std::copy_n(xdbl.data() + static_cast<size_t>(t) * X, R, dtr.data() + static_cast<size_t>(t) * R);
    linear(kern, L, dtr.data(), pw.dt_proj, dt.data(), T);
    if (cap) cap->put(lname(i, "dt_proj.out"), "float32", {L, E}, dt.data(), dt.size());

    // Selective scan, sequential in t (scan_channels_ref).
    scan(kern, L, E, N, X, R, dt.data(), xc.data(), xdbl.data(), xz.data(), pw.A.data(), lw.D.data(),
         lw.dt_proj_b.data(), y.data(), state.data(), T);
    if (cap) cap->put(lname(i, "ssm.out"), "float32", {L, E}, y.data(), y.size());
    if (cap) cap->put(lname(i, "ssm.state"), "float32", {E, N}, state.data(), state.size());

    const float* out_in = y.data();
    if (model.hadamard_rotated) {
      // spec §1.4 (3): out_proj consumes y' = H_E·y (orthonormal), the observer site of s_y.
      yrot.resize(y.size());
      for (int t = 0; t < L; ++t)
        hadamard_transform_f32(y.data() + static_cast<size_t>(t) * E, yrot.data() + static_cast<size_t>(t) * E, E, true);
      out_in = yrot.data();
    }
    if (cap) cap->put(lname(i, "out_proj.in"), "float32", {L, E}, out_in, y.size());
    linear(kern, L, out_in, pw.out_proj, h.data(), T);
    if (cap) cap->put(lname(i, "out_proj.out"), "float32", {L, D}, h.data(), h.size());
  }
  // spec §1.3: res = h + res; y = RMSNorm_f(res); logits = y·W_lm^T
  for (size_t j = 0; j < res.size(); ++j) res[j] = (c.n_layer == 0) ? h[j] : h[j] + res[j];
  rmsnorm_f32(L, D, res.data(), model.norm_f.data(), c.norm_eps, n.data());
  if (cap) cap->put("norm_f.out", "float32", {L, D}, n.data(), n.size());

  const int P = static_cast<int>(logit_positions.size());
  std::vector<float> rows(static_cast<size_t>(P) * D), logits(static_cast<size_t>(P) * V);
  for (int p = 0; p < P; ++p)
    std::copy_n(n.data() + static_cast<size_t>(logit_positions[p]) * D, D, rows.data() + static_cast<size_t>(p) * D);
  linear(kern, P, rows.data(), plan.lm_head, logits.data(), T);
  if (cap) cap->put("logits", "float32", {P, V}, logits.data(), logits.size());
  return logits;
}

}  // namespace

void linear_f32_fixed_order_ref(int M, int N, int K, const float* x, const float* Wt, float* y, int threads) {
  linear_ref(M, N, K, x, Wt, kFp32Panel, static_cast<size_t>(N), y, threads);
}

void linear_f32_fixed_order(int M, int N, int K, const float* x, const float* Wt, float* y, int threads) {
  linear_dispatch(M, N, K, x, Wt, kFp32Panel, static_cast<size_t>(N), y, threads);
}

void linear_f32_packed_ref(int M, const float* x, const Fp32PackedWeight& W, float* y, int threads) {
  linear_ref(M, W.N, W.K, x, W.data.data(), static_cast<size_t>(W.K) * kFp32Panel, kFp32Panel, y, threads);
}

void linear_f32_packed(int M, const float* x, const Fp32PackedWeight& W, float* y, int threads) {
  linear_dispatch(M, W.N, W.K, x, W.data.data(), static_cast<size_t>(W.K) * kFp32Panel, kFp32Panel, y, threads);
}

Fp32PackedWeight pack_fp32_weight(const float* W, int N, int K) {
  Fp32PackedWeight p;
  p.N = N;
  p.K = K;
  p.data.assign(static_cast<size_t>(p.panels()) * K * kFp32Panel, 0.0f);
  constexpr int kBk = 16;  // blocked copy: a panel's kBk x 64 destination block stays in L1
  for (int n0 = 0; n0 < N; n0 += kFp32Panel) {
    const int nb = std::min(kFp32Panel, N - n0);
    float* panel = p.data.data() + static_cast<size_t>(n0 / kFp32Panel) * K * kFp32Panel;
    for (int k0 = 0; k0 < K; k0 += kBk) {
      const int k1 = std::min(K, k0 + kBk);
      for (int j = 0; j < nb; ++j) {
        const float* src = W + static_cast<size_t>(n0 + j) * K;
        for (int k = k0; k < k1; ++k) panel[static_cast<size_t>(k) * kFp32Panel + j] = src[k];
      }
    }
  }
  return p;
}

std::shared_ptr<const Fp32Plan> make_fp32_plan(const FpModel& model, int threads) {
  const MambaConfig& c = model.cfg;
  const int D = c.d_model, E = c.d_inner(), R = c.dt_rank, N = c.d_state, X = c.xproj_rows();
  auto plan = std::make_shared<Fp32Plan>();
  plan->layers.resize(model.layers.size());
  parallel_for(static_cast<int64_t>(model.layers.size()), threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const FpLayer& l = model.layers[i];
      Fp32Plan::Layer& p = plan->layers[i];
      p.in_proj = pack_fp32_weight(l.in_proj.data(), 2 * E, D);
      p.x_proj = pack_fp32_weight(l.x_proj.data(), X, E);
      p.dt_proj = pack_fp32_weight(l.dt_proj_w.data(), E, R);
      p.out_proj = pack_fp32_weight(l.out_proj.data(), D, E);
      p.A.resize(static_cast<size_t>(E) * N);
      for (size_t j = 0; j < p.A.size(); ++j) p.A[j] = -num::exp_cr(l.A_log[j]);  // spec §1.3: A = -exp(A_log)
    }
  });
  plan->lm_head = pack_fp32_weight(model.lm_head_weight().data(), c.vocab_size, D);
  return plan;
}

std::vector<float> forward_fp32(const FpModel& model, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt) {
  auto plan = make_fp32_plan(model, opt.threads);
  return forward_fp32(model, *plan, tokens, logit_positions, opt);
}

std::vector<float> forward_fp32(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt) {
  return forward_impl(Kernels::kDispatch, model, plan, tokens, logit_positions, opt);
}

std::vector<float> forward_fp32_ref(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                    const std::vector<int>& logit_positions, const ForwardOptions& opt) {
  return forward_impl(Kernels::kRef, model, plan, tokens, logit_positions, opt);
}

}  // namespace golden
}  // namespace qmsim
