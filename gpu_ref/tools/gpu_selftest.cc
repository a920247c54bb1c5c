// gpu_selftest: golden vs gpu_ref on a GPU machine, every captured intermediate compared with ==,
// plus a first speed figure. Built without CMake's Debian dependencies by tools/device-test.sh
// (the GPU machine has nvcc but not yaml-cpp, utf8proc, CLI11 or GoogleTest).
//   gpu_selftest MODEL_W8A8_DIR [DOCS]
// Exit code 0 only when every tensor of every case is bit-identical.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <utility>

#include "qmsim/golden/calibrate.h"
#include "qmsim/golden/forward_w8a8.h"
#include "qmsim/gpu/gpu.h"
#include "qmsim/model/quant_format.h"
#include "qmsim/model/synth.h"

using namespace qmsim;

namespace {

int64_t compare(const QModel& q, gpu::GpuModel& g, const std::vector<int32_t>& toks, const std::vector<int>& pos,
                const num::NumericsProfile& prof, const std::string& label, int64_t* elements) {
  golden::Capture cg, cs;
  golden::ForwardOptions o;
  o.threads = 16;
  o.profile = prof;
  o.capture = &cg;
  const std::vector<float> lg = golden::forward_w8a8(q, toks, pos, o);
  const std::vector<float> ls = g.forward(toks, pos, prof, &cs);
  int64_t bad = 0;
  if (lg.size() != ls.size() || std::memcmp(lg.data(), ls.data(), lg.size() * 4) != 0) {
    ++bad;
    size_t i = 0;
    while (i < lg.size() && std::memcmp(&lg[i], &ls[i], 4) == 0) ++i;
    std::printf("MISMATCH %s logits[%zu]: golden %.9g gpu %.9g\n", label.c_str(), i, lg[i], ls[i]);
  }
  *elements += static_cast<int64_t>(lg.size());
  for (const std::string& name : cs.order()) {
    const golden::CapturedTensor* a = cg.find(name);
    const golden::CapturedTensor& b = cs.tensors().at(name);
    if (!a) {
      std::printf("MISMATCH %s %s: golden has no such tensor\n", label.c_str(), name.c_str());
      ++bad;
      continue;
    }
    *elements += static_cast<int64_t>(b.bytes.size());
    if (a->dtype != b.dtype || a->shape != b.shape || a->bytes != b.bytes) {
      size_t i = 0;
      while (i < a->bytes.size() && i < b.bytes.size() && a->bytes[i] == b.bytes[i]) ++i;
      if (bad < 20) std::printf("MISMATCH %s %s (%s): first differing byte %zu\n", label.c_str(), name.c_str(), b.dtype.c_str(), i);
      ++bad;
    }
  }
  return bad;
}

std::vector<int32_t> doc(int n, int seed, int vocab) {
  std::vector<int32_t> t;
  uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(seed + 1);
  for (int i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    t.push_back(static_cast<int32_t>(s % static_cast<uint64_t>(vocab)));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gpu_selftest MODEL_W8A8_DIR [DOCS]\n");
    return 2;
  }
  std::string why;
  if (!gpu::device_available(&why)) {
    std::printf("SKIPPED: no CUDA device (%s)\n", why.c_str());
    return 77;
  }
  const int docs = argc > 2 ? std::atoi(argv[2]) : 200;
  int64_t bad = 0, elements = 0, cases = 0;
  const QModel q = load_quant_model(argv[1]);
  gpu::GpuModel g(q);
  for (const int L : {1, 2, 17, 90, 211, 600})
    for (const auto& [pname, prof] : std::vector<std::pair<std::string, num::NumericsProfile>>{
             {"golden", num::profile_golden()}, {"quamba-compat", num::profile_quamba_compat()}}) {
      const std::vector<int32_t> t = doc(L, L, q.cfg.vocab_size);
      std::vector<int> pos = {L - 1};
      if (L > 3) pos = {0, L / 2, L - 1};
      bad += compare(q, g, t, pos, prof, "tiny L=" + std::to_string(L) + " " + pname, &elements);
      ++cases;
    }
  // A synthetic mamba-130m-shaped model: d_model 768, E = 1536 = 12·128 (the H_12 Hadamard stage).
  {
    const FpModel fp = synth_model(shape_preset("mamba-130m"), 3);
    std::vector<std::vector<int32_t>> cal = {doc(24, 1, fp.cfg.vocab_size), doc(24, 2, fp.cfg.vocab_size)};
    golden::CalibrationOptions co;
    co.threads = 16;
    const QModel big = golden::calibrate(fp, cal, co);
    gpu::GpuModel gb(big);
    for (const int L : {1, 33, 120}) {
      bad += compare(big, gb, doc(L, 100 + L, big.cfg.vocab_size), {L - 1}, num::profile_golden(),
                     "130m L=" + std::to_string(L), &elements);
      ++cases;
    }
  }
  // Batched forward == per-document forward == golden, bit for bit (ragged lengths, 1-token docs).
  for (const auto& [pname, prof] : std::vector<std::pair<std::string, num::NumericsProfile>>{
           {"golden", num::profile_golden()}, {"quamba-compat", num::profile_quamba_compat()}}) {
    std::vector<std::vector<int32_t>> batch;
    std::vector<std::vector<int>> pos;
    for (int d = 0; d < 40; ++d) {
      const int L = d % 7 == 0 ? 1 : 5 + (d * 37) % 150;
      batch.push_back(doc(L, 500 + d, q.cfg.vocab_size));
      pos.push_back({L - 1});
    }
    const auto out = g.forward_batch(batch, pos, prof);
    for (size_t d = 0; d < batch.size(); ++d) {
      const std::vector<float> single = g.forward(batch[d], pos[d], prof);
      golden::ForwardOptions o;
      o.threads = 16;
      o.profile = prof;
      const std::vector<float> gold = golden::forward_w8a8(q, batch[d], pos[d], o);
      elements += static_cast<int64_t>(2 * gold.size());
      if (out[d] != single || std::memcmp(out[d].data(), gold.data(), gold.size() * 4) != 0) {
        std::printf("MISMATCH batch %s document %zu (L %zu)\n", pname.c_str(), d, batch[d].size());
        ++bad;
      }
    }
    ++cases;
  }
  // Speed, batched: B documents of 80 tokens per call, last-token logits (mamba-tiny and the 130m shape).
  auto speed = [&](gpu::GpuModel& gm, const QModel& qm, const char* name, int B, int reps) {
    std::vector<std::vector<int32_t>> batch;
    std::vector<std::vector<int>> pos;
    for (int d = 0; d < B; ++d) {
      batch.push_back(doc(80, 7000 + d, qm.cfg.vocab_size));
      pos.push_back({79});
    }
    gm.forward_batch(batch, pos, num::profile_golden());  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) gm.forward_batch(batch, pos, num::profile_golden());
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = 80.0 * B * reps / sec;
    std::printf("speed: %s, batches of %d documents x 80 tokens: %.0f tokens/s (%.1f ms per batch); full LAMBADA "
                "(413,491 tokens) at this rate: %.1f s\n", name, B, tps, 1e3 * sec / reps, 413491.0 / tps);
  };
  speed(g, q, "mamba-tiny", 512, 5);
  {
    const FpModel fp = synth_model(shape_preset("mamba-130m"), 3);
    std::vector<std::vector<int32_t>> cal = {doc(24, 1, fp.cfg.vocab_size)};
    golden::CalibrationOptions co;
    co.threads = 16;
    const QModel big = golden::calibrate(fp, cal, co);
    gpu::GpuModel gb(big);
    speed(gb, big, "mamba-130m shape", 256, 3);
  }
  // First speed figure: one document at a time, L = 80, last-token logits.
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (int d = 0; d < docs; ++d) {
    const std::vector<int32_t> t = doc(80, 1000 + d, q.cfg.vocab_size);
    g.forward(t, {79}, num::profile_golden());
    tokens += 80;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("speed: mamba-tiny, %d documents of 80 tokens, one at a time: %.0f tokens/s (%.2f ms/document)\n", docs,
              tokens / s, 1e3 * s / docs);
  std::printf("gpu_selftest: %lld cases, %lld elements compared, %lld mismatching tensors%s\n",
              static_cast<long long>(cases), static_cast<long long>(elements), static_cast<long long>(bad),
              bad ? "" : " - bit-exact");
  return bad == 0 ? 0 : 1;
}
