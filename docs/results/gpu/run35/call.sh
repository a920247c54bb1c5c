#!/usr/bin/env bash
# device call G3 (2026-12-06, sixth session): the final bundle (same as G2): the 130m crosscheck
# modes G2 had no time for, timing against run32's selections (conv dp4a, no warm-up) and
# transformers in the same call, the GPU tests
set -u
O=/tmp/g3; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/g3.tar.xz g3 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
$Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1; echo "s130 at ${SECONDS}s"
timeout 60 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
for m in 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3; do
  [ $SECONDS -gt 330 ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((370 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json $EXTRA > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s.*' $O/eval-$n.log | head -1 | cut -c1-110) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
EXTRA=""; run def; EXTRA="--warmup 0"; run r32 QMSIM_GPU_CONV=dp4a; EXTRA=""; run def2; EXTRA="--warmup 0"; run r32b QMSIM_GPU_CONV=dp4a; EXTRA=""; run def3
echo "def vs r32: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-r32.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
[ $SECONDS -lt 440 ] && { timeout $((530 - SECONDS)) $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack; }
echo "done at ${SECONDS}s"
