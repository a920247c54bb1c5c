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

namespace qmsim {
namespace {

std::vector<float> sampled_floats(uint64_t stride) {
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += stride) x.push_back(num::f32_from_bits(static_cast<uint32_t>(u)));
  for (float v : {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 127.5f, -128.5f, 128.0f, -129.0f, 200.0f, 300.0f, -300.0f,
                  0.49999997f, 8388607.5f, 2147483648.0f, -2147483648.0f, 1e10f, -1e10f, 65504.0f, 65520.0f,
                  65519.996f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f})
    x.push_back(v);
  return x;
}

TEST(VectorMath, F16ToF32BatchEqualsScalarOnAllCodes) {
  std::vector<uint16_t> h(65536);
  for (uint32_t i = 0; i < 65536; ++i) h[i] = static_cast<uint16_t>(i);
  std::vector<float> y(h.size());
  golden::f16_to_f32_batch(h.data(), y.data(), h.size());
  for (uint32_t i = 0; i < 65536; ++i) {
    const float want = num::f16_to_f32(h[i]);
    ASSERT_EQ(0, std::memcmp(&want, &y[i], 4)) << std::hex << i;
  }
}

TEST(VectorMath, F32ToF16BatchEqualsScalarOnSampledInputs) {
  const std::vector<float> x = sampled_floats(61);
  std::vector<uint16_t> y(x.size());
  golden::f32_to_f16_batch(x.data(), y.data(), x.size());
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (y[i] != num::f32_to_f16_rne(x[i]) && bad++ < 10)
      ADD_FAILURE() << std::hexfloat << x[i] << " vector " << y[i] << " scalar " << num::f32_to_f16_rne(x[i]);
  EXPECT_EQ(bad, 0u);
}

TEST(VectorMath, QuantizerBatchesEqualScalarOnSampledInputs) {
  const std::vector<float> x = sampled_floats(61);
  std::vector<int8_t> y(x.size());
  for (bool wrap : {false, true}) {
    golden::quant_rna_batch(x.data(), x.size(), wrap, y.data());
    size_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const int8_t want = wrap ? num::quant_rna_wrap8(x[i]) : num::quant_rna_sat8(x[i]);
      if (y[i] != want && bad++ < 10) ADD_FAILURE() << "wrap=" << wrap << " " << std::hexfloat << x[i] << " vector " << int(y[i]) << " scalar " << int(want);
    }
    EXPECT_EQ(bad, 0u) << "wrap=" << wrap;
  }
  golden::quant_rne_sat8_batch(x.data(), x.size(), y.data());
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (y[i] != num::quant_rne_sat8(x[i]) && bad++ < 10) ADD_FAILURE() << "rne " << std::hexfloat << x[i];
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace qmsim
