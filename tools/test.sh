#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds, runs the whole ctest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
bash tools/pyenv.sh
bash tools/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 1800
