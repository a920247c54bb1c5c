#!/usr/bin/env bash
# Builds and runs the GPU self-test (golden vs gpu_ref, every intermediate ==, and a first speed
# figure) on a GPU machine that has nvcc but none of the Debian -dev packages: the golden model,
# model I/O and gpu_ref are compiled directly; nlohmann/json.hpp comes from $JSON_INCLUDE
# (default .devrun/include, copied there from /usr/include/nlohmann on the dev machine).
#   usage: tools/device-test.sh [DOCS]
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${1:-200}
INC=${JSON_INCLUDE:-.devrun/include}
B=${BUILD:-/tmp/qmsim-gpu}
mkdir -p "$B"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
FLAGS=(-O2 -std=c++17 -Inumerics/include -Imodel/include -Igolden/include -Igpu_ref/include -I"$INC")
objs=()
for f in model/src/*.cc golden/src/*.cc; do
  case "$f" in *_avx2.cc|*_avx512.cc) continue;; esac  # portable golden: the scalar definitions
  o="$B/$(echo "$f" | tr / _).o"
  g++ "${FLAGS[@]}" -ffp-contract=off -fno-fast-math -frounding-math -c "$f" -o "$o" &
  objs+=("$o")
done
nvcc "${FLAGS[@]}" -arch=sm_90 -fmad=false -prec-div=true -prec-sqrt=true -ftz=false -c gpu_ref/src/gpu.cu -o "$B/gpu.o" &
g++ "${FLAGS[@]}" -c gpu_ref/tools/gpu_selftest.cc -o "$B/selftest.o" &
wait
nvcc -arch=sm_90 "${objs[@]}" "$B/gpu.o" "$B/selftest.o" -o "$B/gpu_selftest" -lpthread
"$B/gpu_selftest" models/mamba-tiny/w8a8 "$DOCS"
if [ -n "${BASELINE:-}" ]; then  # the same run with the naive one-thread-per-output GEMM, for the ratio
  QMSIM_GPU_NAIVE_GEMM=1 "$B/gpu_selftest" models/mamba-tiny/w8a8 "$DOCS" | grep speed
fi
