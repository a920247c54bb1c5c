#!/usr/bin/env bash
# device call B (2026-12-06, third session): k_scan_stream (stream, stream-f32 = auto) against
# run22's pipe: kernel tests, timings, transformers baseline, default-model LAMBADA vs golden,
# gpu_test, crosschecks (default model all modes; 130m modes that run the stream kernel)
set -u
O=/tmp/b; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/b.tar.xz b 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
if [ ! -f /tmp/s130/w8a8/config.json ]; then
($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
fi
timeout 120 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
$Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-gpu-mode0.json > $O/eval-tiny.log 2>&1
echo "tiny mode 0 vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-gpu-mode0.json 2>&1 | tail -1)"; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run stream QMSIM_GPU_SCAN=stream; run pipe QMSIM_GPU_SCAN=pipe; run def2; run stream2 QMSIM_GPU_SCAN=stream; run pipe2 QMSIM_GPU_SCAN=pipe
for n in stream pipe; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-def QMSIM_GPU_PROFILE=1; run prof-stream QMSIM_GPU_PROFILE=1 QMSIM_GPU_SCAN=stream; run prof-pipe QMSIM_GPU_PROFILE=1 QMSIM_GPU_SCAN=pipe
for n in prof-def prof-stream prof-pipe; do echo "== $n"; sed -n '/kernel times/,/total kernel/p' $O/eval-$n.log | cut -c1-90 | grep -E "scan|total|dequant"; done; pack
timeout 60 $B/gpu_bench --benchmark_filter='Scan130m/(pipe|stream|stream-f32)/table_on/docs256' > $O/gpu_bench-scan.log 2>&1; grep -E "Scan130m" $O/gpu_bench-scan.log
PYTHONUNBUFFERED=1 timeout 120 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
timeout 200 $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[       OK|^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
tps() { grep -oE '\(([0-9]+) tokens/s' $O/eval-$1.log | grep -oE '[0-9]+' | head -1; }
BEST=stream-f32; [ "$(( $(tps stream) + $(tps stream2) ))" -gt "$(( $(tps def) + $(tps def2) ))" ] && BEST=stream
echo "crosschecks with QMSIM_GPU_SCAN=$BEST" | tee $O/best.txt
export QMSIM_GPU_SCAN_TABLE=on QMSIM_GPU_SCAN=$BEST
timeout 150 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny rc=$? at ${SECONDS}s"
grep -E "mismatch|bit-exact" $O/crosscheck-tiny.log | grep -v "^MISMATCH" | tail -3 | cut -c1-140; pack
for m in ${CROSS_MODES:-0 3:documented 5-3 2-1 6-4 4 5-0 2-0 2-2 2-3:documented 2-3:committed 2-4:documented 2-4:committed 3:committed 5-1 5-2 5-4 5-6 5-7}; do
  [ -f $O/x130-$m.log ] && grep -q "0 mismatches" $O/x130-$m.log && continue
  [ $SECONDS -gt ${STOP:-550} ] && { echo "no time left for 130m mode $m"; continue; }
  timeout $((590 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
