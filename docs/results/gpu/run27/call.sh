#!/usr/bin/env bash
# device call E2 (2026-12-06, fourth session): bundle e51ac08 (mma-tall, conversion-free GEMM
# epilogues, scan auto -> stream-f32) against bundle 7471554; then the 130m crosscheck
set -u
O=/tmp/e2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/e2.tar.xz e2 2>/dev/null); }
rm -rf .devrun/bundle .devrun/old; mkdir -p .devrun/old; tar -C .devrun -xJf .devrun/bundle-e2.tar.xz; tar -C .devrun/old -xJf .devrun/bundle-7471554.tar.xz
export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim; QO=.devrun/old/bundle/bin/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1 q=$2; shift 2
  env "$@" timeout 60 $q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
F=QMSIM_GPU_SCAN=stream-f32; T=QMSIM_GPU_GEMM=mma-tall
run old $QO $F; run new $Q; run tall $Q $T; run old2 $QO $F; run new2 $Q; run tall2 $Q $T; run old3 $QO $F; run new3 $Q; run tall3 $Q $T
for n in new tall; do echo "old(stream-f32) vs $n: $(python3 tools/compare_eval.py $O/s130-old.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-old $QO QMSIM_GPU_PROFILE=1 $F; run prof-new $Q QMSIM_GPU_PROFILE=1; run prof-tall $Q QMSIM_GPU_PROFILE=1 $T
for n in prof-old prof-new prof-tall; do echo "== $n"; sed -n '/kernel times/,/total kernel/p' $O/eval-$n.log | cut -c1-100 | grep -E "scan|gemm|total"; done; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
echo "gpu_test: not in this bundle (the 64 MiB limit); full LAMBADA old vs tall compares the batched forward"
tps() { grep -oE '\(([0-9]+) tokens/s' $O/eval-$1.log | grep -oE '[0-9]+' | head -1; }
tn=$(( $(tps new) + $(tps new2) + $(tps new3) )); tt=$(( $(tps tall) + $(tps tall2) + $(tps tall3) ))
X="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"; [ "$tt" -gt "$tn" ] && X="$X QMSIM_GPU_GEMM=mma-tall"
echo "crosscheck environment: $X (tokens/s sums: new $tn, tall $tt)" | tee $O/cross-env.txt
for m in ${CROSS_MODES:-0 3 2-1 4 5-3 6-4 2-3 5-6 2-0 5-0 2-2 2-3:committed 2-4:documented 2-4:committed 3:committed 5-1 5-2 5-4 5-7 6-0 6-1 6-2 6-3}; do
  [ $SECONDS -gt 560 ] && { echo "no time left for 130m mode $m"; continue; }
  env $X timeout $((590 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
