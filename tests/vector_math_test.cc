// The vectorized exp_cr / log1p_cr equal the scalar numerics-header functions bit for bit, on a
// dense sample of all binary32 inputs (every 61st bit pattern: ~70 million inputs) plus the
// boundaries of the fast paths.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "qmsim/golden/vector_math.h"
#include "qmsim/numerics.h"

namespace qmsim {
namespace {

template <class Batch, class Scalar>
void check_sampled(Batch batch, Scalar scalar, const char* name) {
  constexpr uint64_t kStride = 61;
  std::vector<float> x, y;
  x.reserve(1 << 16);
  uint64_t mismatches = 0;
  auto flush = [&]() {
    y.resize(x.size());
    batch(x.data(), y.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = scalar(x[i]);
      if (std::memcmp(&want, &y[i], 4) != 0 && mismatches++ < 10)
        ADD_FAILURE() << name << "(" << std::hexfloat << x[i] << ") vector " << y[i] << " scalar " << want;
    }
    x.clear();
  };
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += kStride) {
    x.push_back(num::f32_from_bits(static_cast<uint32_t>(u)));
    if (x.size() == (1 << 16)) flush();
  }
  for (uint32_t b : {0x32800000u, 0x327FFFFFu, 0x42B17217u, 0x42B17218u, 0xC2CFFFFFu, 0xC2D00000u, 0x33000000u,
                     0x32FFFFFFu, 0xBF7FFFFFu, 0xBF800000u, 0x7F7FFFFFu, 0x00000001u, 0x80000001u})
    x.push_back(num::f32_from_bits(b));
  flush();
  EXPECT_EQ(mismatches, 0u) << name << " (" << golden::vector_math_isa() << ")";
}

TEST(VectorMath, ExpBatchEqualsScalarOnSampledInputs) {
  check_sampled(golden::exp_cr_batch, [](float v) { return num::exp_cr(v); }, "exp_cr");
}

TEST(VectorMath, Log1pBatchEqualsScalarOnSampledInputs) {
  check_sampled(golden::log1p_cr_batch, [](float v) { return num::log1p_cr(v); }, "log1p_cr");
}

}  // namespace
}  // namespace qmsim
