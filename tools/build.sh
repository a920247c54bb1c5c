#!/usr/bin/env bash
# Configures and builds qmsim into build/ (Release). Extra CMake arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j"$(nproc)"
