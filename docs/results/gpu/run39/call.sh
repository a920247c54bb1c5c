#!/usr/bin/env bash
# device call J2 (2026-12-06, eighth session): the same bundle as J1 (4697894): the 130m crosscheck
# modes J1 had no time for (CROSS_MODES), then the 130m LAMBADA timing against transformers.
set -u
O=/tmp/j2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/j2.tar.xz j2 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1)
echo "s130 at ${SECONDS}s"
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
for m in ${CROSS_MODES:-}; do
  [ $SECONDS -gt ${XLIMIT:-470} ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((${STOP:-510} - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s.*' $O/eval-$n.log | head -1 | cut -c1-110) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run def2; run def3; run prof-def QMSIM_GPU_PROFILE=1; sed -n "/kernel times/,/total kernel/p" $O/eval-prof-def.log | cut -c1-80
echo "def vs run37 (20ebc84 defaults): $(python3 tools/compare_eval.py docs/results/gpu/run37/s130-def.json.xz $O/s130-def.json 2>&1 | tail -1)"; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
echo "done at ${SECONDS}s"
