#!/usr/bin/env bash
# device call H1 (next session, prepared 2026-12-06): the second wgmma GEMM on a GPU for the first
# time: every GPU test (wgmma is in every GEMM test and gpu_test's batch test), gpu_bench's GEMMs,
# 130m LAMBADA timed with QMSIM_GPU_GEMM=wgmma against the defaults, per-kernel times,
# crosschecks with it (the GEMMs run in every forward). Rebuild the bundle first (tools/device-pack.sh).
set -u
O=/tmp/h1; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/h1.tar.xz h1 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 60 $B/gpu_bench --benchmark_filter='Gemm130m/(mma-lean|wgmma)/' > $O/gpu_bench.log 2>&1; grep -E "Gemm130m" $O/gpu_bench.log | cut -c1-100; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; r2=$?; echo "gpu_test rc=$r2 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s.*' $O/eval-$n.log | head -1 | cut -c1-110) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
W="QMSIM_GPU_GEMM=wgmma"
run def; run wg $W; run def2; run wg2 $W
echo "def vs wgmma: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-wg.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"
run prof-def QMSIM_GPU_PROFILE=1; run prof-wg QMSIM_GPU_PROFILE=1 $W
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-62) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-wg.log | cut -c1-62); pack
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || { echo "tests failed: no crosschecks"; exit 0; }
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
env $W $XS timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (wgmma) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
for m in ${CROSS_MODES:-0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3}; do
  [ $SECONDS -gt 505 ] && { echo "no time left for 130m mode $m"; continue; }
  env $W $XS timeout $((545 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
