#!/usr/bin/env bash
# device call E4 (2026-12-06, fourth session): the 130m crosscheck modes E3 left, final bundle 9532c84
set -u
O=/tmp/e4; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/e4.tar.xz e4 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
wait; echo "s130 at ${SECONDS}s"
for m in ${CROSS_MODES:-2-2 2-3 2-3:committed 2-4:documented 2-4:committed 3:committed 5-0 5-1 5-2 5-4 5-6 5-7 6-1 6-2 6-3}; do
  [ $SECONDS -gt 330 ] && { echo "no time left for 130m mode $m"; continue; }
  QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on timeout $((360 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
