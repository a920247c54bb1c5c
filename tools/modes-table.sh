#!/usr/bin/env bash
# The experiment-mode tables of docs/MODES.md for the default model (issue 6), in one command:
#   alpha1   a second W8A8 model calibrated with alpha = 1.0 (mode 6-4's outlier scales, spec §4.6)
#   100      compare-modes over every built-in mode (and the committed variants of 2-3, 2-4, 3) on
#            the first 100 LAMBADA documents (the original's --testing)
#   full-a, full-b1, full-b2
#            the same on all 5153 documents in three parts, each fitting a 10-minute device call;
#            the b parts reuse the baselines fp32 and 0 of part a (compare-modes --reuse)
#   merge    modes-full.json/.png/.txt: all modes of the three parts in one table (compare-modes
#            --reuse of every part: nothing is recomputed; paired tests over all 5153 documents)
#   diverge  diverge 0 vs 2-1, 0 vs 5-1, 0 vs 6-1 on 8 documents (NMSE over layers), and 0 vs 2-1
#            under quamba-compat (how often the Hadamard quantizer wraps)
#   md       OUTDIR/MODES.md from the JSON files (tools/make_modes_md.py)
# usage: tools/modes-table.sh OUTDIR [THREADS]    env: QMSIM (binary), MODEL (model dir),
#        STEPS (default "alpha1 100 full-a full-b1 full-b2 merge diverge md"), ALPHA1 (reuse an alpha = 1 model)
# The recorded run used the device machine's 16 CPU cores with a static qmsim (docs/MODES.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?OUTDIR}
T=${2:-$(nproc)}
Q=${QMSIM:-build/bin/qmsim}
M=${MODEL:-models/mamba-tiny}
A1=${ALPHA1:-$OUT/alpha1}
STEPS=${STEPS:-alpha1 100 full-a full-b1 full-b2 merge diverge md}
REUSE_A=${REUSE_A:-$OUT/modes-full-a.json}
mkdir -p "$OUT"
lscpu | grep -E "Model name|^CPU\(s\)" > "$OUT/cpu.txt" || true
BASE="fp32,0"
HALF_A="2-0,2-1,2-2,2-3,2-3:committed,2-4,2-4:committed,3,3:committed,4"
PART_B1="5-0,5-1,5-2,5-3,5-4"
PART_B2="5-6,5-7,6-0,6-1,6-2,6-3,6-4"
common=(--model "$M" --alpha1-model "$A1" --threads "$T" --no-progress)
for step in $STEPS; do
  SECONDS=0
  case $step in
    alpha1) "$Q" calibrate --model "$M" --out "$A1" --alpha 1.0 --threads "$T" 2>&1 | tail -1 ;;
    100) "$Q" compare-modes "${common[@]}" --modes "$BASE,$HALF_A,$PART_B1,$PART_B2" --limit 100 \
           --output "$OUT/modes-100.json" > "$OUT/modes-100.txt" ;;
    full-a) "$Q" compare-modes "${common[@]}" --modes "$BASE,$HALF_A" --output "$OUT/modes-full-a.json" > "$OUT/modes-full-a.txt" ;;
    full-b1) "$Q" compare-modes "${common[@]}" --modes "$BASE,$PART_B1" --reuse "$REUSE_A" \
               --output "$OUT/modes-full-b1.json" > "$OUT/modes-full-b1.txt" ;;
    full-b2) "$Q" compare-modes "${common[@]}" --modes "$BASE,$PART_B2" --reuse "$REUSE_A" \
               --output "$OUT/modes-full-b2.json" > "$OUT/modes-full-b2.txt" ;;
    merge) "$Q" compare-modes "${common[@]}" --modes "$BASE,$HALF_A,$PART_B1,$PART_B2" --reuse "$OUT/modes-full-a.json" \
             --reuse "$OUT/modes-full-b1.json" --reuse "$OUT/modes-full-b2.json" \
             --output "$OUT/modes-full.json" > "$OUT/modes-full.txt" ;;
    diverge)
      for B in 2-1 5-1 6-1; do
        "$Q" diverge --model "$M" --modes "0,$B" --docs 8 --threads "$T" --output "$OUT/diverge-0-$B.json" > "$OUT/diverge-0-$B.txt"
      done
      "$Q" diverge --model "$M" --modes 0,2-1 --docs 8 --threads "$T" --profile quamba-compat \
        --output "$OUT/diverge-compat-0-2-1.json" > "$OUT/diverge-compat-0-2-1.txt" ;;
    md) python3 tools/make_modes_md.py "$OUT" > "$OUT/MODES.md" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
  echo "$step: ${SECONDS} s" | tee -a "$OUT/timing.txt"
done
