#!/usr/bin/env bash
# device call I2 (2026-12-06, seventh session): the 15 130m crosscheck modes I1 had no time for, same bundle (20ebc84)
set -u
O=/tmp/i2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/i2.tar.xz i2 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1)
echo "s130 at ${SECONDS}s"
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
for m in ${CROSS_MODES:-6-3 0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented}; do
  [ $SECONDS -gt ${XLIMIT:-420} ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((${STOP:-455} - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
