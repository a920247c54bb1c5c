// lm_head on pre-built f32 tiles (the W8A8 plan) == the scalar reference, bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "qmsim/golden/lm_head.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace {

TEST(LmHeadTiles, EqualsScalarReference) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int V : {1, 15, 16, 17, 100}) {
    for (int D : {1, 8, 33}) {
      const int P = 3;
      std::vector<uint16_t> W(static_cast<size_t>(V) * D), y(static_cast<size_t>(P) * D);
      for (auto& w : W) w = num::f32_to_f16_rne(nd(rng) * 0.05f);
      for (auto& v : y) v = num::f32_to_f16_rne(nd(rng) * 3.0f);
      for (bool f16 : {false, true}) {
        std::vector<float> ref(static_cast<size_t>(P) * V), got(ref.size());
        golden::lm_head_f16_ref(P, V, D, y.data(), W.data(), f16, ref.data());
        for (int threads : {1, 3}) {
          const golden::LmHeadTiles t = golden::make_lm_head_tiles(V, D, W.data(), threads);
          std::fill(got.begin(), got.end(), -1.0f);
          golden::lm_head_tiles(P, y.data(), t, f16, got.data(), threads);
          EXPECT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * 4)) << "V=" << V << " D=" << D;
        }
      }
    }
  }
}

}  // namespace
}  // namespace qmsim
