// Quamba's weight preprocessing (spec §1.2, §1.4): f16 rounding, residual-basis Hadamard
// rotation, RMSNorm folding, Hadamard fusion into in_proj/out_proj.
//
// The transforms run in f64 (own butterfly below, not hadamard_transform_f32): out_proj gets two
// transforms and an f32 pipeline would add ~1e-7 relative error per stage before the single final
// rounding; with f64 the only material rounding is the final one to f32 (and f16).
#include "qmsim/golden/preprocess.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "qmsim/golden/hadamard.h"
#include "qmsim/golden/parallel.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

bool is_pow2(int n) { return n > 0 && (n & (n - 1)) == 0; }

// One f64 result rounded once to the stored precision: RNE to f32, then RNE to f16 when asked
// (the f32 step is the conversion every platform has; documented as the rounding rule).
float store(double v, bool f16) {
  const float f = static_cast<float>(v);
  return f16 ? num::round_to_f16(f) : f;
}

void round_all_to_f16(std::vector<float>& v) {
  for (float& x : v) x = num::round_to_f16(x);
}

// rows x cols matrix: each row r <- H_cols·(r ⊙ fold) (fold may be null), rounded once.
void rotate_rows(std::vector<float>& w, int rows, int cols, const std::vector<float>* fold, bool f16, int threads) {
  parallel_for(rows, threads, [&](int64_t r0, int64_t r1) {
    std::vector<double> v(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      float* row = w.data() + static_cast<size_t>(r) * cols;
      // spec §1.4 (2): W[:, j] *= w_norm[j] in f64 (product of two f32 values: exact)
      for (int j = 0; j < cols; ++j)
        v[j] = fold ? static_cast<double>(row[j]) * static_cast<double>((*fold)[j]) : static_cast<double>(row[j]);
      hadamard_rotate_f64(v.data(), cols);
      for (int j = 0; j < cols; ++j) row[j] = store(v[j], f16);
    }
  });
}

}  // namespace

void hadamard_rotate_f64(double* v, int n) {
  int block = 0, blocks = 0;
  if (is_pow2(n)) {
    block = n;
    blocks = 1;
  } else if (n > 0 && n % 12 == 0 && is_pow2(n / 12)) {
    block = n / 12;
    blocks = 12;
  } else {
    throw std::invalid_argument("hadamard_rotate_f64: unsupported size " + std::to_string(n) + " (need 2^m or 12*2^m)");
  }
  for (int c = 0; c < blocks; ++c) {  // Sylvester H_{2^m} on each block, element j = 2^m·c + p
    double* x = v + static_cast<size_t>(c) * block;
    for (int half = 1; half < block; half <<= 1)
      for (int lo = 0; lo < block; ++lo) {
        if (lo & half) continue;
        const double a = x[lo], b = x[lo | half];
        x[lo] = a + b;
        x[lo | half] = a - b;
      }
  }
  if (blocks == 12) {  // H_12 over c for each p (spec §5.8, H_12 index major)
    for (int p = 0; p < block; ++p) {
      double in[12];
      for (int c = 0; c < 12; ++c) in[c] = v[static_cast<size_t>(c) * block + p];
      for (int r = 0; r < 12; ++r) {
        double acc = 0.0;
        for (int c = 0; c < 12; ++c) acc = kHadamard12[r][c] > 0 ? acc + in[c] : acc - in[c];
        v[static_cast<size_t>(r) * block + p] = acc;
      }
    }
  }
  const double norm = 1.0 / std::sqrt(static_cast<double>(n));
  for (int j = 0; j < n; ++j) v[j] *= norm;
}

FpModel quamba_preprocess(const FpModel& fp, const PreprocessOptions& opt) {
  if (fp.hadamard_rotated) throw std::invalid_argument("quamba_preprocess: model is already Hadamard-rotated");
  const MambaConfig& c = fp.cfg;
  const int D = c.d_model, E = c.d_inner(), V = c.vocab_size;
  const bool f16 = opt.round_to_f16;
  for (int n : {D, E})
    if (!is_pow2(n) && !(n % 12 == 0 && is_pow2(n / 12)))
      throw std::invalid_argument("quamba_preprocess: dimension " + std::to_string(n) + " is not 2^m or 12*2^m");
  if (static_cast<int>(fp.layers.size()) != c.n_layer)
    throw std::invalid_argument("quamba_preprocess: layer count does not match cfg.n_layer");

  FpModel out = fp;
  // spec §1.4 (1): lm_head is untied from the *unrotated* embedding before the rotation.
  out.lm_head = fp.lm_head_weight();
  if (f16) {
    // spec §1.2: every parameter created with the fp16 factory dtype is rounded (RNE); A_log
    // and D stay f32.
    round_all_to_f16(out.embedding);
    round_all_to_f16(out.lm_head);
    round_all_to_f16(out.norm_f);
    for (FpLayer& l : out.layers) {
      for (auto* t : {&l.norm_w, &l.in_proj, &l.conv_w, &l.conv_b, &l.x_proj, &l.dt_proj_w, &l.dt_proj_b, &l.out_proj})
        round_all_to_f16(*t);
    }
  }

  // spec §1.4 (1): E' = rows H_D·e; W_lm' = rows H_D·(r ⊙ w_norm_f); norm_f := 1
  rotate_rows(out.embedding, V, D, nullptr, f16, opt.threads);
  rotate_rows(out.lm_head, V, D, &out.norm_f, f16, opt.threads);
  std::fill(out.norm_f.begin(), out.norm_f.end(), 1.0f);
  out.cfg.tie_embeddings = false;

  for (FpLayer& l : out.layers) {
    // spec §1.4 (2)(3): W_in' = (W_in · diag(w_norm)) · H_D^T, norm := 1
    rotate_rows(l.in_proj, 2 * E, D, &l.norm_w, f16, opt.threads);
    std::fill(l.norm_w.begin(), l.norm_w.end(), 1.0f);
    // spec §1.4 (3): W_out' = H_D · W_out · H_E^T; W_out is [D, E]: rows by H_E (input
    // transform) then columns by H_D (output transform), all in f64, one final rounding.
    std::vector<double> w(l.out_proj.begin(), l.out_proj.end());
    parallel_for(D, opt.threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) hadamard_rotate_f64(w.data() + static_cast<size_t>(r) * E, E);
    });
    parallel_for(E, opt.threads, [&](int64_t c0, int64_t c1) {
      std::vector<double> col(static_cast<size_t>(D));
      for (int64_t j = c0; j < c1; ++j) {
        for (int r = 0; r < D; ++r) col[r] = w[static_cast<size_t>(r) * E + j];
        hadamard_rotate_f64(col.data(), D);
        for (int r = 0; r < D; ++r) l.out_proj[static_cast<size_t>(r) * E + j] = store(col[r], f16);
      }
    });
  }
  out.hadamard_rotated = true;
  return out;
}

}  // namespace golden
}  // namespace qmsim
