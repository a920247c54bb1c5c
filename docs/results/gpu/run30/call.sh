#!/usr/bin/env bash
# device call F1 (2026-12-06, fifth session): the opt-in kernels mma-lean, mma-lean4, conv prefetch,
# stream-lean: every GPU test, timing against the defaults on the 130m shape, crosschecks
set -u
O=/tmp/f1; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/f1.tar.xz f1 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
NEW="QMSIM_GPU_GEMM=mma-lean QMSIM_GPU_CONV=prefetch QMSIM_GPU_SCAN=stream-lean"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run lean QMSIM_GPU_GEMM=mma-lean; run lean4 QMSIM_GPU_GEMM=mma-lean4; run conv QMSIM_GPU_CONV=prefetch; run scan QMSIM_GPU_SCAN=stream-lean; run all $NEW
run def2; run all2 $NEW; run lean4b QMSIM_GPU_GEMM=mma-lean4 QMSIM_GPU_CONV=prefetch QMSIM_GPU_SCAN=stream-lean
for n in lean lean4 conv scan all; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-def QMSIM_GPU_PROFILE=1; run prof-all QMSIM_GPU_PROFILE=1 $NEW
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-70) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-all.log | cut -c1-70); pack
timeout 60 $B/gpu_bench --benchmark_filter='Gemm130m/(mma-staged|mma-lean|mma-lean4)/' > $O/bench-gemm.log 2>&1; grep -E "Gemm130m" $O/bench-gemm.log | cut -c1-100; pack
env $NEW QMSIM_GPU_SCAN_TABLE=on timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (new kernels, tables on) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -3 | cut -c1-160; pack
for m in ${CROSS_MODES:-0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed}; do
  [ $SECONDS -gt 550 ] && { echo "no time left for 130m mode $m"; continue; }
  env $NEW QMSIM_GPU_SCAN_TABLE=on timeout $((585 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
