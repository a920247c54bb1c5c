#!/usr/bin/env bash
# device call J1 (2026-12-06, eighth session): every acceptance check of issue 8 on ONE binary, the
# bundle built at 4697894 (kernels unchanged since 20ebc84): gpu_ops_test, gpu_test, the default
# model's LAMBADA against golden (golden file made at 4697894 on the CPU), the default model's
# crosscheck (23 modes), then the 130m crosscheck modes in order, as many as fit (J2 runs the rest).
set -u
O=/tmp/j1; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/j1.tar.xz j1 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; r2=$?; echo "gpu_test rc=$r2 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED|SKIPPED)|FAILED" $O/gpu_test.log | head -20; pack
$Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-gpu-mode0.json > $O/eval-tiny.log 2>&1
echo "tiny mode 0 vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-gpu-mode0.json 2>&1 | tail -1)"; grep "tokens in" $O/eval-tiny.log; pack
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || { echo "tests failed: no crosschecks"; exit 0; }
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
env $XS timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
wait; echo "s130 at ${SECONDS}s"
for m in ${CROSS_MODES:-6-3 0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2}; do
  [ $SECONDS -gt ${XLIMIT:-540} ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((${STOP:-580} - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
