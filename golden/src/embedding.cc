// Token embedding lookup (spec §2.2: f16 table, not quantized).
#include "qmsim/golden/embedding.h"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "qmsim/numerics.h"

namespace qmsim {
namespace golden {
namespace {

const uint16_t* row_of(int V, int D, const uint16_t* table_f16, int32_t id) {
  if (id < 0 || id >= V)
    throw std::out_of_range("embedding: token id " + std::to_string(id) + " out of range [0, " + std::to_string(V) +
                            ")");
  return table_f16 + static_cast<size_t>(id) * D;
}

}  // namespace

void embedding_lookup_f16(int V, int D, const uint16_t* table_f16, const int32_t* tokens, int L, uint16_t* out_f16) {
  for (int t = 0; t < L; ++t) std::copy_n(row_of(V, D, table_f16, tokens[t]), D, out_f16 + static_cast<size_t>(t) * D);
}

void embedding_lookup_f32(int V, int D, const uint16_t* table_f16, const int32_t* tokens, int L, float* out) {
  for (int t = 0; t < L; ++t) {
    const uint16_t* row = row_of(V, D, table_f16, tokens[t]);
    for (int j = 0; j < D; ++j) out[static_cast<size_t>(t) * D + j] = num::f16_to_f32(row[j]);  // exact
  }
}

}  // namespace golden
}  // namespace qmsim
