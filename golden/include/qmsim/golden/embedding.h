// Token embedding lookup (spec §2.2: f16 table, not quantized).
#pragma once

#include <cstdint>

namespace qmsim {
namespace golden {

/// out_f16[t, :] = table_f16[tokens[t], :] (f16 bits, [L, D]). Throws std::out_of_range naming
/// the id when tokens[t] is outside [0, V).
void embedding_lookup_f16(int V, int D, const uint16_t* table_f16, const int32_t* tokens, int L, uint16_t* out_f16);

/// Same lookup widened to f32 (exact).
void embedding_lookup_f32(int V, int D, const uint16_t* table_f16, const int32_t* tokens, int L, float* out);

}  // namespace golden
}  // namespace qmsim
