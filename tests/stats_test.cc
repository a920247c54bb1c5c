// Statistics against hand-computed / textbook answers (exact fractions evaluated by hand or with
// Python's fractions module; Wilson intervals from the closed form, Newcombe 1998 method 3).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "qmsim/eval/stats.h"

namespace qmsim {
namespace {

TEST(Stats, McNemarExactKnownAnswers) {
  EXPECT_NEAR(eval::mcnemar_exact_p(1, 9), 22.0 / 1024.0, 1e-15);  // 2·(C(10,0)+C(10,1))/2^10
  EXPECT_NEAR(eval::mcnemar_exact_p(10, 2), 0.03857421875, 1e-14);  // 2·(1+12+66)/4096
  EXPECT_NEAR(eval::mcnemar_exact_p(3, 17), 0.0025768280029296875, 1e-14);
  EXPECT_DOUBLE_EQ(eval::mcnemar_exact_p(5, 5), 1.0);
  EXPECT_DOUBLE_EQ(eval::mcnemar_exact_p(0, 0), 1.0);
  EXPECT_NEAR(eval::mcnemar_exact_p(121, 59), 4.434449263755176e-06, 1e-15);
  EXPECT_EQ(eval::mcnemar_exact_p(2, 7), eval::mcnemar_exact_p(7, 2));  // symmetric
}

TEST(Stats, WilsonIntervalKnownAnswers) {
  const eval::Interval a = eval::wilson_interval(1, 10);  // Newcombe (1998): 0.0179, 0.4042
  EXPECT_NEAR(a.lo, 0.017876213095072896, 1e-12);
  EXPECT_NEAR(a.hi, 0.4041500267952385, 1e-12);
  const eval::Interval b = eval::wilson_interval(38, 100);  // "38% on 100 documents" (spec §6.1)
  EXPECT_NEAR(b.lo, 0.29097599252478734, 1e-12);
  EXPECT_NEAR(b.hi, 0.47790244704488916, 1e-12);
  const eval::Interval c = eval::wilson_interval(0, 100);
  EXPECT_EQ(c.lo, 0.0);  // exact at k = 0
  EXPECT_NEAR(c.hi, 0.03699349820698568, 1e-12);
  const eval::Interval d = eval::wilson_interval(100, 100);
  EXPECT_NEAR(d.lo, 0.9630065017930143, 1e-12);
  EXPECT_DOUBLE_EQ(d.hi, 1.0);
  EXPECT_THROW(eval::wilson_interval(5, 3), std::invalid_argument);
}

TEST(Stats, BootstrapIntervalsContainTheEstimateAndAreDeterministic) {
  std::vector<double> ll;
  for (int i = 0; i < 400; ++i) ll.push_back(-1.0 - 3.0 * ((i * 37) % 101) / 100.0);
  double mean = 0;
  for (double v : ll) mean += v;
  mean /= ll.size();
  const eval::Interval p = eval::bootstrap_perplexity_interval(ll, 3000);
  EXPECT_LT(p.lo, std::exp(-mean));
  EXPECT_GT(p.hi, std::exp(-mean));
  const eval::Interval p2 = eval::bootstrap_perplexity_interval(ll, 3000);
  EXPECT_EQ(p.lo, p2.lo);
  EXPECT_EQ(p.hi, p2.hi);
  // A constant sample has a degenerate interval.
  const eval::Interval k = eval::bootstrap_perplexity_interval(std::vector<double>(50, -2.0), 200);
  EXPECT_DOUBLE_EQ(k.lo, std::exp(2.0));
  EXPECT_DOUBLE_EQ(k.hi, std::exp(2.0));
}

TEST(Stats, PairedBootstrapDetectsAShiftAndNotNoise) {
  std::vector<double> a, b, c;
  for (int i = 0; i < 500; ++i) {
    const double x = -2.0 - ((i * 7919) % 97) / 50.0;
    a.push_back(x);
    b.push_back(x + 0.05);                                  // every document 0.05 better
    c.push_back(x + (((i * 31) % 2) ? 0.3 : -0.3));        // symmetric noise, mean 0
  }
  const eval::PairedBootstrap shift = eval::paired_bootstrap(a, b, 2000);
  EXPECT_NEAR(shift.mean_diff, 0.05, 1e-12);
  EXPECT_NEAR(shift.interval.lo, 0.05, 1e-9);  // no variance in the difference
  EXPECT_LT(shift.p_value, 0.01);
  const eval::PairedBootstrap noise = eval::paired_bootstrap(a, c, 2000);
  EXPECT_LT(noise.interval.lo, 0.0);
  EXPECT_GT(noise.interval.hi, 0.0);
  EXPECT_GT(noise.p_value, 0.05);
  EXPECT_THROW(eval::paired_bootstrap(a, std::vector<double>(3, 0.0)), std::invalid_argument);
}

}  // namespace
}  // namespace qmsim
