// Writes FP32 golden logits for a set of token sequences, for comparison with an independent
// implementation (tools/compare_transformers.py runs transformers' MambaForCausalLM).
//
// usage: golden_logits MODEL_DIR TOKENS.json OUT.npy [threads]
//   TOKENS.json: a list whose entries are either [id, ...] (logits of every position) or
//   {"ids": [id, ...], "positions": [p, ...]} (logits of the listed positions only); the rows are
//   written as float32 [rows, V] in sequence order.
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "qmsim/golden/forward_fp32.h"
#include "qmsim/model/checkpoint.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR TOKENS.json OUT.npy [threads]\n", argv[0]);
    return 2;
  }
  try {
    const qmsim::FpModel m = qmsim::load_fp_checkpoint(argv[1]);
    std::ifstream in(argv[2]);
    if (!in) throw std::runtime_error(std::string(argv[2]) + ": cannot open");
    const nlohmann::json seqs = nlohmann::json::parse(in);
    qmsim::golden::ForwardOptions opt;
    opt.threads = argc > 4 ? std::atoi(argv[4]) : 2;
    const auto plan = qmsim::golden::make_fp32_plan(m, opt.threads);
    std::vector<float> all;
    size_t rows = 0;
    for (const auto& s : seqs) {
      const bool obj = s.is_object();
      const std::vector<int32_t> toks = (obj ? s.at("ids") : s).get<std::vector<int32_t>>();
      std::vector<int> pos;
      if (obj) {
        pos = s.at("positions").get<std::vector<int>>();
      } else {
        for (size_t i = 0; i < toks.size(); ++i) pos.push_back(static_cast<int>(i));
      }
      const std::vector<float> lg = qmsim::golden::forward_fp32(m, *plan, toks, pos, opt);
      all.insert(all.end(), lg.begin(), lg.end());
      rows += pos.size();
    }
    const int V = m.cfg.vocab_size;
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " + std::to_string(V) + "), }";
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::ofstream out(argv[3], std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const uint16_t hl = static_cast<uint16_t>(header.size());
    out.put(static_cast<char>(hl & 0xFF));
    out.put(static_cast<char>(hl >> 8));
    out << header;
    out.write(reinterpret_cast<const char*>(all.data()), static_cast<std::streamsize>(all.size() * 4));
    if (!out) throw std::runtime_error(std::string(argv[3]) + ": write failed");
    std::printf("golden_logits: %zu positions x %d -> %s\n", rows, V, argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "golden_logits: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
