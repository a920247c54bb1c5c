// Deterministic static work splitting: [0, n) is cut into `threads` contiguous chunks whose
// bounds depend only on (n, threads). Work items must be independent, so results never depend
// on the thread count.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace qmsim {
namespace golden {

/// Calls fn(begin, end) on disjoint chunks of [0, n) on up to `threads` threads.
template <class Fn>
void parallel_for(int64_t n, int threads, Fn&& fn) {
  if (n <= 0) return;
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (t == 1) { fn(int64_t{0}, n); return; }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(t - 1));
  const int64_t chunk = (n + t - 1) / t;
  for (int64_t i = 1; i < t; ++i) {
    const int64_t b = i * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(int64_t{0}, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace golden
}  // namespace qmsim
