// Calibration observers (spec §3.2, §3.3) against the independent numpy reference
// tools/observer_reference.py (vectors in tests/data/calib/observers_reference.json), plus
// hand-computed cases.
#include "qmsim/golden/observers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qmsim/numerics.h"

namespace {

using qmsim::golden::MinMaxObserver;
using qmsim::golden::PercentileObserver;
using qmsim::num::f16_to_f32;
using qmsim::num::f32_bits;
using qmsim::num::f32_from_bits;

nlohmann::json load_reference(const std::string& name) {
  const std::string path = std::string(QMSIM_TEST_DATA) + "/calib/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (run tools/observer_reference.py)");
  return nlohmann::json::parse(in);
}

std::vector<float> floats_from_bits(const nlohmann::json& bits) {
  std::vector<float> v;
  for (const auto& b : bits) v.push_back(f32_from_bits(b.get<uint32_t>()));
  return v;
}

TEST(Observers, MinMaxMatchesNumpyReference) {
  const auto ref = load_reference("observers_reference.json");
  int checked = 0;
  for (const auto& c : ref["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    MinMaxObserver obs;
    const auto& docs = c["docs_f32_bits"];
    for (size_t d = 0; d < docs.size(); ++d) {
      const std::vector<float> x = floats_from_bits(docs[d]);
      const float m = qmsim::golden::minmax_document_max(x.data(), x.size());
      EXPECT_EQ(f32_bits(m), f32_bits(f16_to_f32(c["minmax_doc_max_f16_bits"][d].get<uint16_t>()))) << "doc " << d;
      obs.observe(x.data(), x.size());
      ++checked;
    }
    EXPECT_EQ(f32_bits(obs.running_max()), f32_bits(f16_to_f32(c["minmax_running_max_f16_bits"].get<uint16_t>())));
    EXPECT_EQ(f32_bits(obs.scale()), c["minmax_scale_f32_bits"].get<uint32_t>());
    EXPECT_EQ(obs.documents(), static_cast<int64_t>(docs.size()));
  }
  EXPECT_GE(checked, 20);
}

TEST(Observers, PercentileMatchesNumpyReference) {
  const auto ref = load_reference("observers_reference.json");
  int checked = 0;
  for (const auto& c : ref["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    PercentileObserver obs(c["alpha"].get<double>());
    const auto& docs = c["docs_f32_bits"];
    for (size_t d = 0; d < docs.size(); ++d) {
      const std::vector<float> x = floats_from_bits(docs[d]);
      const float q = qmsim::golden::percentile_abs(x.data(), x.size(), obs.alpha());
      EXPECT_EQ(f32_bits(q), c["percentile_doc_quantile_f32_bits"][d].get<uint32_t>()) << "doc " << d;
      obs.observe(x.data(), x.size());
      EXPECT_EQ(f32_bits(obs.ema()), c["percentile_ema_f32_bits"][d].get<uint32_t>()) << "doc " << d;
      ++checked;
    }
    EXPECT_EQ(f32_bits(obs.scale()), c["percentile_scale_f32_bits"].get<uint32_t>());
  }
  EXPECT_GE(checked, 20);
}

TEST(Observers, MinMaxKnownAnswerFloorAndF16Rounding) {
  // max|x| = 1e-7 < 1e-5: m = f16(1e-5) = 168·2^-24; m/127 -> f16 subnormal 2^-24 -> clamp 1e-6
  const std::vector<float> tiny = {1e-7f, -5e-8f};
  EXPECT_EQ(qmsim::golden::minmax_document_max(tiny.data(), tiny.size()), 168.0f * 0x1p-24f);
  EXPECT_EQ(qmsim::golden::minmax_scale(168.0f * 0x1p-24f), 1e-6f);
  // max|x| = 100.03 -> f16 100.0 (spacing 1/16); 100/127 = 0.78740... -> f16 1613·2^-11
  const std::vector<float> x = {3.0f, -100.03f, 50.0f};
  EXPECT_EQ(qmsim::golden::minmax_document_max(x.data(), x.size()), 100.0f);
  EXPECT_EQ(qmsim::golden::minmax_scale(100.0f), 1613.0f * 0x1p-11f);
  MinMaxObserver obs;
  obs.observe(x.data(), x.size());
  obs.observe(tiny.data(), tiny.size());
  EXPECT_EQ(obs.running_max(), 100.0f);
  EXPECT_THROW(MinMaxObserver().running_max(), std::logic_error);
}

TEST(Observers, PercentileKnownAnswerLinearInterpolation) {
  // |x| sorted = 0..9; alpha = 0.5: rank = 4.5 -> lerp(4, 5, 0.5) = 5 - 1·0.5 = 4.5
  std::vector<float> x = {-9, 8, -7, 6, -5, 4, -3, 2, -1, 0};
  EXPECT_EQ(qmsim::golden::percentile_abs(x.data(), x.size(), 0.5f), 4.5f);
  // alpha = 0.25: rank = fl32(0.25·9) = 2.25 -> 2 + 0.25 = 2.25 (small-weight branch)
  EXPECT_EQ(qmsim::golden::percentile_abs(x.data(), x.size(), 0.25f), 2.25f);
  // alpha = 1: the maximum; one element: that element
  EXPECT_EQ(qmsim::golden::percentile_abs(x.data(), x.size(), 1.0f), 9.0f);
  const float one = -3.0f;
  EXPECT_EQ(qmsim::golden::percentile_abs(&one, 1, 0.9995f), 3.0f);
  // EMA: w1 = 4, w2 = fl32(4 + fl32(0.01f·(104 − 4))) = 5; scale = fl32(5/127)
  PercentileObserver obs(0.5);
  obs.observe_document_quantile(4.0f);
  obs.observe_document_quantile(104.0f);
  EXPECT_EQ(obs.ema(), 4.0f + 0.01f * 100.0f);
  EXPECT_EQ(obs.scale(), obs.ema() / 127.0f);
}

TEST(Observers, RejectsNanAndEmptyInput) {
  const std::vector<float> bad = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(qmsim::golden::minmax_document_max(bad.data(), bad.size()), std::invalid_argument);
  EXPECT_THROW(qmsim::golden::percentile_abs(bad.data(), bad.size(), 0.5f), std::invalid_argument);
  EXPECT_THROW(qmsim::golden::minmax_document_max(bad.data(), 0), std::invalid_argument);
  EXPECT_THROW(PercentileObserver(1.5), std::invalid_argument);
}

}  // namespace
