// Statistics for LAMBADA comparisons (see stats.h).
#include "qmsim/eval/stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace qmsim {
namespace eval {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Percentile of sorted values with linear interpolation at rank q·(n-1).
double percentile(const std::vector<double>& sorted, double q) {
  const double r = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(r));
  const size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (r - static_cast<double>(i)) * (sorted[j] - sorted[i]);
}

}  // namespace

Interval wilson_interval(int64_t k, int64_t n, double z) {
  if (n <= 0 || k < 0 || k > n) throw std::invalid_argument("wilson_interval: need 0 <= k <= n, n > 0");
  const double p = static_cast<double>(k) / static_cast<double>(n);
  const double z2n = z * z / static_cast<double>(n);
  const double centre = (p + z2n / 2) / (1 + z2n);
  const double half = z * std::sqrt(p * (1 - p) / static_cast<double>(n) + z2n / (4 * static_cast<double>(n))) / (1 + z2n);
  // The closed form gives exactly 0 (k = 0) and 1 (k = n) in exact arithmetic; pin them so
  // rounding cannot put the interval beside the estimate.
  return {k == 0 ? 0.0 : std::max(0.0, centre - half), k == n ? 1.0 : std::min(1.0, centre + half)};
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  if (b < 0 || c < 0) throw std::invalid_argument("mcnemar_exact_p: negative count");
  const int64_t n = b + c;
  if (n == 0) return 1.0;
  const int64_t m = std::min(b, c);
  // P[X <= m] with log-space binomial terms (exact enough for n up to millions).
  double tail = 0;
  for (int64_t i = 0; i <= m; ++i) {
    const double logp = std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                        std::lgamma(static_cast<double>(n - i) + 1) - static_cast<double>(n) * std::log(2.0);
    tail += std::exp(logp);
  }
  return std::min(1.0, 2 * tail);
}

Interval bootstrap_perplexity_interval(const std::vector<double>& ll, int iters, double level, uint64_t seed) {
  if (ll.empty() || iters < 2) throw std::invalid_argument("bootstrap_perplexity_interval: empty input");
  uint64_t state = seed;
  std::vector<double> ppl(static_cast<size_t>(iters));
  for (int it = 0; it < iters; ++it) {
    double s = 0;
    for (size_t i = 0; i < ll.size(); ++i) s += ll[splitmix64(state) % ll.size()];
    ppl[static_cast<size_t>(it)] = std::exp(-s / static_cast<double>(ll.size()));
  }
  std::sort(ppl.begin(), ppl.end());
  const double alpha = (1 - level) / 2;
  return {percentile(ppl, alpha), percentile(ppl, 1 - alpha)};
}

PairedBootstrap paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b, int iters, double level,
                                 uint64_t seed) {
  if (a.size() != b.size() || a.empty() || iters < 2)
    throw std::invalid_argument("paired_bootstrap: need two equal-length, non-empty samples");
  const size_t n = a.size();
  PairedBootstrap r;
  for (size_t i = 0; i < n; ++i) r.mean_diff += b[i] - a[i];
  r.mean_diff /= static_cast<double>(n);
  uint64_t state = seed;
  std::vector<double> means(static_cast<size_t>(iters));
  int64_t le0 = 0, ge0 = 0;
  for (int it = 0; it < iters; ++it) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t j = splitmix64(state) % n;
      s += b[j] - a[j];
    }
    const double m = s / static_cast<double>(n);
    means[static_cast<size_t>(it)] = m;
    le0 += m <= 0;
    ge0 += m >= 0;
  }
  std::sort(means.begin(), means.end());
  const double alpha = (1 - level) / 2;
  r.interval = {percentile(means, alpha), percentile(means, 1 - alpha)};
  r.p_value = std::min(1.0, 2.0 * static_cast<double>(std::min(le0, ge0)) / iters);
  return r;
}

}  // namespace eval
}  // namespace qmsim
