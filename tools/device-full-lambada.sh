#!/usr/bin/env bash
# Full LAMBADA (5153 documents) through the golden model on a mamba-130m-shaped synthetic model,
# mode 0 and fp32, on a many-core machine (used on the device machine's 16 CPU cores, where the
# Debian packages are absent: a static qmsim is carried in .devrun/bin, built here with
#   cmake -S . -B build-static -DQMSIM_STATIC=ON -DQMSIM_BUILD_TESTS=OFF -DQMSIM_BUILD_BENCH=OFF
#   cmake --build build-static --target qmsim && cp build-static/bin/qmsim .devrun/bin/).
#
# usage: tools/device-full-lambada.sh OUTDIR [THREADS] [CALIB_DOCS]
set -euo pipefail
OUT=${1:?OUTDIR}
T=${2:-$(nproc)}
DOCS=${3:-512}
Q=${QMSIM:-.devrun/bin/qmsim}
M=${MODEL_DIR:-/tmp/s130}
mkdir -p "$OUT"
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$OUT/cpu.txt"
common=(--lambada data/lambada_test.jsonl --tokenizer data/gpt-neox-20b-tokenizer.json --no-progress --threads "$T")
"$Q" synth --shape mamba-130m --seed 1 --out "$M" | tee "$OUT/synth.log"
SECONDS=0; "$Q" calibrate --model "$M" --out "$M/w8a8" --docs "$DOCS" --threads "$T" \
  --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json 2>&1 | tail -3 | tee "$OUT/calibrate.log"; echo "calibrate: ${SECONDS} s" | tee -a "$OUT/calibrate.log"
"$Q" info --model "$M/w8a8" > "$OUT/info-w8a8.txt"
"$Q" eval --model "$M" --mode 0 "${common[@]}" --output "$OUT/s130-mode0.json" 2>&1 | grep -v "^progress" | tee "$OUT/eval-mode0.log"
"$Q" eval --model "$M" --mode fp32 "${common[@]}" --output "$OUT/s130-fp32.json" 2>&1 | grep -v "^progress" | tee "$OUT/eval-fp32.log"
