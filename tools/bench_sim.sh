#!/usr/bin/env bash
# Simulation speed of the SystemC model against the golden model, same model, documents and
# machine, one thread each (the sim is single-threaded SystemC), in one run (issue 7 target: the
# sim at >= 1/20 of golden's tokens/s).   usage: tools/bench_sim.sh [DOCS] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
M=${2:-models/mamba-tiny}
Q=${QMSIM:-build/bin/qmsim}
g=$("$Q" eval --model "$M" --path golden --threads 1 --limit "$N" --no-progress 2>/dev/null | grep "tokens/s")
s=$("$Q" eval --model "$M" --path sim --limit "$N" --no-progress 2>/dev/null | grep "tokens/s")
gt=$(echo "$g" | sed -E 's/.*\(([0-9.]+) tokens\/s\).*/\1/')
st=$(echo "$s" | sed -E 's/.*\(([0-9.]+) tokens\/s\).*/\1/')
echo "golden (1 thread): $g"
echo "sim    (SystemC):  $s"
python3 -c "print(f'sim / golden = {float($st)/float($gt):.3f} (target >= 0.05)')"
