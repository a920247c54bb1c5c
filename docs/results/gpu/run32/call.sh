#!/usr/bin/env bash
# device call F3 (2026-12-06, fifth session): the final bundle (defaults: mma-lean with the small-K
# dt_proj kernel, conv dp4a, norm tokens8, Hadamard vec-lean): every GPU test, the default model's
# LAMBADA against golden, timing against run28's defaults and transformers, 130m crosscheck modes
set -u
O=/tmp/f3; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/f3.tar.xz f3 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
$Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-gpu-mode0.json > $O/eval-tiny.log 2>&1
echo "tiny mode 0 vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-gpu-mode0.json 2>&1 | tail -1)"; pack
wait; echo "s130 at ${SECONDS}s"
R28="QMSIM_GPU_GEMM=mma-staged QMSIM_GPU_CONV=fast QMSIM_GPU_NORM=tokens QMSIM_GPU_HADAMARD=vec"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run r28 $R28; run def2; run r28b $R28; run def3
echo "def vs run28 kernels: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-r28.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"
run prof-def QMSIM_GPU_PROFILE=1; sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-100; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
for m in ${CROSS_MODES:-0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed}; do
  [ $SECONDS -gt 480 ] && { echo "no time left for 130m mode $m"; continue; }
  QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on timeout $((515 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
