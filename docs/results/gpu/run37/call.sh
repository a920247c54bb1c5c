#!/usr/bin/env bash
# device call I1 (2026-12-06, seventh session): wgmma the default GEMM (run36: bit-exact, 0.613 ->
# 0.549 s) and the lm_head's products by one FFMA each (exact f16 x f16 products): every GPU test,
# the default model's LAMBADA against golden, 130m timing (defaults against QMSIM_GPU_GEMM=mma-lean),
# per-kernel times, gpu_bench GEMMs, transformers, crosschecks with the final kernels (batch scan
# forced): the default model's 23 modes, then the 130m modes run36 did not run first.
set -u
O=/tmp/i1; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/i1.tar.xz i1 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; r2=$?; echo "gpu_test rc=$r2 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
$Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-gpu-mode0.json > $O/eval-tiny.log 2>&1
echo "tiny mode 0 vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-gpu-mode0.json 2>&1 | tail -1)"; grep "tokens in" $O/eval-tiny.log; pack
wait; echo "s130 at ${SECONDS}s"
timeout 60 $B/gpu_bench --benchmark_filter='Gemm130m/(mma-lean|wgmma)/' > $O/gpu_bench.log 2>&1; grep -E "Gemm130m" $O/gpu_bench.log | cut -c1-100
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s.*' $O/eval-$n.log | head -1 | cut -c1-110) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
L="QMSIM_GPU_GEMM=mma-lean"
run def; run lean $L; run def2; run lean2 $L; run def3
echo "def vs mma-lean: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-lean.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"
echo "def vs run36 (901f2b4 defaults): $(python3 tools/compare_eval.py docs/results/gpu/run36/s130-def.json.xz $O/s130-def.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"
run prof-def QMSIM_GPU_PROFILE=1; run prof-lean QMSIM_GPU_PROFILE=1 $L
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-62) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-lean.log | cut -c1-62); pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || { echo "tests failed: no crosschecks"; exit 0; }
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
env $XS timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (default kernels, stream-f32 forced, tables on) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
for m in ${CROSS_MODES:-3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3 0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented}; do
  [ $SECONDS -gt ${XLIMIT:-505} ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((545 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
