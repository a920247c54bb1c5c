// Statistics for comparing LAMBADA runs (issue 6 builds on these): confidence intervals of
// accuracy and perplexity, and paired tests between two modes on the same documents.
#pragma once

#include <cstdint>
#include <vector>

namespace qmsim {
namespace eval {

struct Interval {
  double lo = 0, hi = 0;
};

/// Wilson score interval of a binomial proportion k/n (z = 1.959964 for 95%).
Interval wilson_interval(int64_t k, int64_t n, double z = 1.959963984540054);

/// Exact two-sided McNemar test on the discordant pairs: b = documents only A got right,
/// c = documents only B got right. p = min(1, 2·P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2).
double mcnemar_exact_p(int64_t b, int64_t c);

/// Percentile bootstrap (deterministic: splitmix64 seeded with `seed`) of perplexity =
/// exp(-mean loglikelihood), `iters` resamples of the documents.
Interval bootstrap_perplexity_interval(const std::vector<double>& loglikelihoods, int iters = 2000,
                                       double level = 0.95, uint64_t seed = 1234);

/// Paired bootstrap of the mean log-likelihood difference mean(b - a) over the same documents:
/// its percentile interval and the two-sided p-value 2·min(P[d* <= 0], P[d* >= 0]).
struct PairedBootstrap {
  double mean_diff = 0;
  Interval interval;
  double p_value = 1;
};
PairedBootstrap paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b, int iters = 2000,
                                 double level = 0.95, uint64_t seed = 1234);

}  // namespace eval
}  // namespace qmsim
