#!/usr/bin/env bash
# The main job: installs missing Debian packages, builds, and runs LAMBADA (all 5153 documents)
# on the default model in mode 0 (Quamba W8A8) through the golden model.
#
# The default model is models/mamba-tiny (with its W8A8 version in models/mamba-tiny/w8a8); a
# checkout without it falls back to a synthetic model (`qmsim synth` + `qmsim calibrate`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/build.sh
Q=build/bin/qmsim
if [ -f models/mamba-tiny/config.json ]; then
  MODEL=models/mamba-tiny
else
  MODEL=build/models/synth-small
  if [ ! -f "$MODEL/w8a8/config.json" ]; then
    echo "quickstart: no models/mamba-tiny yet: using a synthetic mamba-small-test model in $MODEL"
    $Q synth --shape mamba-small-test --seed 1 --out "$MODEL"
    $Q calibrate --model "$MODEL" --out "$MODEL/w8a8" --docs 64
  fi
fi
mkdir -p out
$Q eval --model "$MODEL" --path golden --mode 0 --output out/lambada-mode0.json "$@"
