// FP32 reference forward of Mamba-1 (spec §1.3), the model the experiment modes are compared to.
//
// Evaluation order is fixed so every platform reproduces it (spec §5.8 general rules): every f32
// operation rounds once, no FMA, reductions in ascending index order. Choices where §1.3 leaves
// the order open are written next to each step ("order:").
#include "qmsim/golden/forward_fp32.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

std::vector<float> transpose(const std::vector<float>& w, int rows, int cols) {
  std::vector<float> t(static_cast<size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t[static_cast<size_t>(c) * rows + r] = w[static_cast<size_t>(r) * cols + c];
  return t;
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

}  // namespace

void linear_f32_fixed_order(int M, int N, int K, const float* x, const float* Wt, float* y, int threads) {
  // Parallel over output columns in blocks; each output accumulates k = 0..K-1 in order, so the
  // vectorized loop over n computes exactly the scalar sequence of each output.
  constexpr int kBlockN = 256;
  const int nblocks = (N + kBlockN - 1) / kBlockN;
  parallel_for(nblocks, threads, [&](int64_t b0, int64_t b1) {
    float acc[4][kBlockN];
    for (int64_t b = b0; b < b1; ++b) {
      const int n0 = static_cast<int>(b) * kBlockN;
      const int nb = std::min(kBlockN, N - n0);
      for (int m0 = 0; m0 < M; m0 += 4) {
        const int mb = std::min(4, M - m0);
        for (int r = 0; r < mb; ++r)
          for (int j = 0; j < nb; ++j) acc[r][j] = 0.0f;
        for (int k = 0; k < K; ++k) {
          const float* wk = Wt + static_cast<size_t>(k) * N + n0;
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

std::shared_ptr<const Fp32Plan> make_fp32_plan(const FpModel& model, int threads) {
  const MambaConfig& c = model.cfg;
  const int D = c.d_model, E = c.d_inner(), R = c.dt_rank, N = c.d_state, X = c.xproj_rows();
  auto plan = std::make_shared<Fp32Plan>();
  plan->layers.resize(model.layers.size());
  parallel_for(static_cast<int64_t>(model.layers.size()), threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const FpLayer& l = model.layers[i];
      Fp32Plan::Layer& p = plan->layers[i];
      p.in_proj_t = transpose(l.in_proj, 2 * E, D);
      p.x_proj_t = transpose(l.x_proj, X, E);
      p.dt_proj_t = transpose(l.dt_proj_w, E, R);
      p.out_proj_t = transpose(l.out_proj, D, E);
      p.A.resize(static_cast<size_t>(E) * N);
      for (size_t j = 0; j < p.A.size(); ++j) p.A[j] = -num::exp_cr(l.A_log[j]);  // spec §1.3: A = -exp(A_log)
    }
  });
  plan->lm_head_t = transpose(model.lm_head_weight(), c.vocab_size, D);
  return plan;
}

std::vector<float> forward_fp32(const FpModel& model, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt) {
  auto plan = make_fp32_plan(model, opt.threads);
  return forward_fp32(model, *plan, tokens, logit_positions, opt);
}

std::vector<float> forward_fp32(const FpModel& model, const Fp32Plan& plan, const std::vector<int32_t>& tokens,
                                const std::vector<int>& logit_positions, const ForwardOptions& opt) {
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
    linear_f32_fixed_order(L, 2 * E, D, n.data(), pw.in_proj_t.data(), xz.data(), T);
    if (cap) cap->put(lname(i, "in_proj.out"), "float32", {L, 2 * E}, xz.data(), xz.size());

    // Causal depthwise conv + SiLU. order: acc = Σ_{k=0..K-1} fl32(w[k]·x[t-K+1+k]) ascending
    // from 0 (x[t<0] = 0 contributes nothing), then fl32(acc + bias), then SiLU = v/(1+exp(-v)).
    parallel_for(E, T, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        const float* w = lw.conv_w.data() + e * K;
        const float b = c.conv_bias ? lw.conv_b[e] : 0.0f;
        for (int t = 0; t < L; ++t) {
          float acc = 0.0f;
          for (int k = 0; k < K; ++k) {
            const int src = t - (K - 1) + k;
            if (src >= 0) acc = acc + w[k] * xz[static_cast<size_t>(src) * 2 * E + e];
          }
          xc[static_cast<size_t>(t) * E + e] = num::silu_f32(acc + b);
        }
      }
    });
    if (cap) cap->put(lname(i, "x_proj.in"), "float32", {L, E}, xc.data(), xc.size());
    linear_f32_fixed_order(L, X, E, xc.data(), pw.x_proj_t.data(), xdbl.data(), T);
    if (cap) cap->put(lname(i, "x_proj.out"), "float32", {L, X}, xdbl.data(), xdbl.size());
    for (int t = 0; t < L; ++t)
      std::copy_n(xdbl.data() + static_cast<size_t>(t) * X, R, dtr.data() + static_cast<size_t>(t) * R);
    linear_f32_fixed_order(L, E, R, dtr.data(), pw.dt_proj_t.data(), dt.data(), T);
    if (cap) cap->put(lname(i, "dt_proj.out"), "float32", {L, E}, dt.data(), dt.size());

    // Selective scan, sequential in t (spec §1.3, arithmetic as P-seq §4.5 in the golden
    // functions): dt = softplus(fl32(dt_raw + b_dt)); dA = exp(fl32(dt·A)); dBu = fl32(fl32(dt·B)·u);
    // h = fl32(fl32(dA·h) + dBu); y = Σ_n fl32(h·C) ascending from 0; y = fl32(y + fl32(D·u));
    // y = fl32(y · silu(z)).
    parallel_for(E, T, [&](int64_t e0, int64_t e1) {
      std::vector<float> hs(N);
      for (int64_t e = e0; e < e1; ++e) {
        std::fill(hs.begin(), hs.end(), 0.0f);
        const float* A = pw.A.data() + e * N;
        const float Dv = lw.D[e];
        const float bdt = lw.dt_proj_b[e];
        for (int t = 0; t < L; ++t) {
          const size_t te = static_cast<size_t>(t) * E + e;
          const float dtv = num::softplus_thr20_f32(dt[te] + bdt);
          const float u = xc[te];
          const float* B = xdbl.data() + static_cast<size_t>(t) * X + R;
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
    });
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
    linear_f32_fixed_order(L, D, E, out_in, pw.out_proj_t.data(), h.data(), T);
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
  linear_f32_fixed_order(P, V, D, rows.data(), plan.lm_head_t.data(), logits.data(), T);
  if (cap) cap->put("logits", "float32", {P, V}, logits.data(), logits.size());
  return logits;
}

}  // namespace golden
}  // namespace qmsim
