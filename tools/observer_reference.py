#!/usr/bin/env python3
"""Independent numpy reference for qmsim's calibration observers and weight quantizers.

Writes the known-answer vectors used by tests/observers_test.cc and tests/calibrate_test.cc:
  tests/data/calib/observers_reference.json    (spec §3.2, §3.3: min/max and percentile observers)
  tests/data/calib/weight_quant_reference.json (spec §2.1, UP:quamba/quant_utils.py and
                                                UP:quamba/qSelectiveScan.py weight quantizers)

Written from the spec and the PyTorch/Quamba sources, not from the C++ code. f16 arithmetic uses
numpy's float16 (every half operation is computed in float32 and rounded to half, as PyTorch's
CUDA half kernels do); the FMAs of torch.lerp's CUDA kernel are evaluated exactly with fractions
and rounded once to f32. All floats are stored as their IEEE bit patterns (uint32 for f32, uint16
for f16) so the C++ test compares bit for bit.

Run once from the repository root:  python3 tools/observer_reference.py
"""
import json
import os
import sys
from fractions import Fraction

import numpy as np

SEED = 20240611
F32 = np.float32


def bits32(x):
    return int(np.array([x], dtype=np.float32).view(np.uint32)[0])


def bits32_array(a):
    return [int(v) for v in np.asarray(a, dtype=np.float32).view(np.uint32)]


def bits16_array(a):
    return [int(v) for v in np.asarray(a, dtype=np.float16).view(np.uint16)]


def round_exact_to_f32(q):
    """Correctly rounded (RNE) binary32 value of the exact rational q (finite, normal range)."""
    c = np.float32(float(q))  # within one f32 ulp of q
    best = None
    for cand in (np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))):
        err = abs(Fraction(float(cand)) - q)
        if best is None or err < best[0] or (err == best[0] and (bits32(cand) & 1) == 0):
            best = (err, cand)
    return np.float32(best[1])


def fma32(a, b, c):
    return round_exact_to_f32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


# ----------------------------------------------------------------- observers (spec §3.2)
def minmax_doc_max(x):
    # torch: x (f16).abs().amax().clamp(min=1e-5) -> an f16 value
    m = np.abs(x.astype(np.float32)).max()
    m16 = np.float16(m)
    floor16 = np.float16(1e-5)
    return np.float16(max(m16, floor16))


def minmax_scale(running_max16):
    # f16 tensor / 127 -> f16 (numpy computes half ops in f32 and rounds), then f32 clamp 1e-6
    s16 = np.float16(running_max16) / np.float16(127)
    return max(np.float32(s16), F32(1e-6))


def torch_quantile_abs(x, alpha):
    v = np.sort(np.abs(x.astype(np.float32)))
    n = v.size
    q = F32(alpha)
    rank = F32(q * F32(n - 1))
    lo = int(np.trunc(rank))
    hi = int(np.ceil(rank))
    w = F32(rank - F32(lo))
    a = v[lo]
    b = v[hi]
    d = F32(b - a)
    # ATen Lerp.h: |w| < 0.5 ? self + w*(end-self) : end - (end-self)*(1-w), contracted by nvcc
    if abs(w) < F32(0.5):
        return fma32(w, d, a), w
    return fma32(-d, F32(F32(1) - w), b), w


def percentile_ema(quantiles):
    w = None
    out = []
    sigma = F32(0.01)
    for c in quantiles:
        if w is None:
            w = F32(c)
        else:
            w = F32(w + F32(sigma * F32(F32(c) - w)))
        out.append(w)
    return out


def percentile_scale(w):
    return max(F32(F32(w) / F32(127)), F32(1e-6))


def observer_case(name, docs, alpha):
    doc_max = [minmax_doc_max(d) for d in docs]
    running = doc_max[0]
    for m in doc_max[1:]:
        running = max(running, m)
    qs = [torch_quantile_abs(d, alpha) for d in docs]
    quantiles = [c for c, _ in qs]
    emas = percentile_ema(quantiles)
    return {
        "name": name,
        "alpha": alpha,
        "docs_f32_bits": [bits32_array(d) for d in docs],
        "minmax_doc_max_f16_bits": bits16_array(doc_max),
        "minmax_running_max_f16_bits": bits16_array([running])[0],
        "minmax_scale_f32_bits": bits32(minmax_scale(running)),
        "percentile_lerp_weight_f32_bits": [bits32(w) for _, w in qs],
        "percentile_doc_quantile_f32_bits": [bits32(c) for c in quantiles],
        "percentile_ema_f32_bits": [bits32(w) for w in emas],
        "percentile_scale_f32_bits": bits32(percentile_scale(emas[-1])),
    }


def make_observer_cases(rng):
    cases = []
    sizes = [1, 2, 3, 17, 1000, 2049, 3001]
    docs = [rng.standard_normal(n).astype(np.float32) * F32(rng.uniform(0.5, 3.0)) for n in sizes]
    cases.append(observer_case("normal_mixed_lengths", docs, 0.9995))
    docs = [rng.standard_t(2.5, size=n).astype(np.float32) for n in (3000, 777, 2500, 1234)]
    cases.append(observer_case("heavy_tail_t2.5_alpha0.9999", docs, 0.9999))
    docs = [rng.laplace(0.0, 0.3, size=n).astype(np.float32) for n in (999, 1000, 1001, 2047)]
    cases.append(observer_case("laplace_alpha0.99", docs, 0.99))
    # Values below the 1e-5 floor and in the f16 subnormal range.
    docs = [(rng.standard_normal(n) * 1e-6).astype(np.float32) for n in (50, 400)]
    docs.append((rng.standard_normal(300) * 3e-5).astype(np.float32))
    cases.append(observer_case("tiny_values_below_floor", docs, 0.9995))
    # Many duplicates (rank between equal order statistics) and exact integer ranks.
    docs = [rng.integers(-5, 6, size=n).astype(np.float32) for n in (11, 101, 2001)]
    cases.append(observer_case("integer_duplicates_alpha0.5", docs, 0.5))
    docs = [rng.integers(-40, 41, size=n).astype(np.float32) * F32(0.25) for n in (1001, 3000, 64)]
    cases.append(observer_case("quarter_grid_alpha0.9995", docs, 0.9995))
    # Both torch.lerp branches (weight < 0.5 and >= 0.5) must appear across the file.
    docs = [rng.standard_normal(n).astype(np.float32) for n in (1500, 1701, 1903, 2111)]
    cases.append(observer_case("lerp_branches_alpha0.7", docs, 0.7))
    ws = [np.array([b], dtype=np.uint32).view(np.float32)[0]
          for c in cases for b in c["percentile_lerp_weight_f32_bits"]]
    assert any(w < 0.5 and w > 0 for w in ws) and any(w >= 0.5 for w in ws), "need both lerp branches"
    return cases


# ----------------------------------------------------------------- weight quantizers (spec §2.1)
def quant_f16(w16):
    # UP:quamba/quant_utils.py quantize_tensor_per_tensor_absmax on an f16 tensor
    w_max = np.float16(max(np.abs(w16).max(), np.float16(1e-5)))
    scale = np.float16(w_max / np.float16(127))
    q = np.round(w16 / scale)  # half division (f32 then round to half), rint = RNE
    q = np.clip(q, -128, 127).astype(np.int8)
    return q, scale


def quant_f32(w32):
    # UP:quamba/qSelectiveScan.py quantize_weight_per_tensor_absmax on an f32 tensor (no int8 clamp)
    scale = F32(max(np.abs(w32).max(), F32(1e-5)) / F32(127))
    q = np.round(w32 / scale)
    assert np.abs(q).max() <= 127
    return q.astype(np.int8), scale


def make_weight_cases(rng):
    cases = []
    for name, w in [
        ("f16_normal_64x48", rng.standard_normal((64, 48)) * 0.05),
        ("f16_with_outlier_33x7", np.concatenate([rng.standard_normal(230) * 0.02, [0.9]])),
        ("f16_uniform_conv_16x4", rng.uniform(-0.5, 0.5, (16, 4))),
        ("f16_tiny_below_floor", rng.standard_normal(40) * 1e-6),
    ]:
        w16 = np.asarray(w, dtype=np.float16).reshape(-1)
        q, s = quant_f16(w16)
        cases.append({"name": name, "dtype": "float16", "w_f16_bits": bits16_array(w16),
                      "scale_f32_bits": bits32(np.float32(s)), "q": [int(v) for v in q]})
    for name, w in [
        ("f32_A_log_16x16", np.log(np.arange(1, 17)[None, :] + rng.uniform(0, 0.05, (16, 16)))),
        ("f32_D_128", 1.0 + rng.uniform(-0.05, 0.05, 128)),
        ("f32_dt_bias_128", np.float16(rng.uniform(-7.0, -2.0, 128)).astype(np.float64)),
        ("f32_zeros_8", np.zeros(8)),
    ]:
        w32 = np.asarray(w, dtype=np.float32).reshape(-1)
        q, s = quant_f32(w32)
        cases.append({"name": name, "dtype": "float32", "w_f32_bits": bits32_array(w32),
                      "scale_f32_bits": bits32(s), "q": [int(v) for v in q]})
    return cases


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "tests", "data", "calib")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    header = {"generator": "tools/observer_reference.py", "numpy": np.__version__, "seed": SEED,
              "python": sys.version.split()[0]}
    obs = dict(header, cases=make_observer_cases(rng))
    with open(os.path.join(out_dir, "observers_reference.json"), "w") as f:
        json.dump(obs, f, separators=(",", ":"))
        f.write("\n")
    wq = dict(header, cases=make_weight_cases(rng))
    with open(os.path.join(out_dir, "weight_quant_reference.json"), "w") as f:
        json.dump(wq, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", out_dir)


if __name__ == "__main__":
    main()
