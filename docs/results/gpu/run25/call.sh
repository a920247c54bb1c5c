#!/usr/bin/env bash
# device call D (2026-12-06, third session): k_scan_stream with chunk-major tables against pipe
set -u
O=/tmp/d; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/d.tar.xz d 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 100 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run f32 QMSIM_GPU_SCAN=stream-f32; run stream QMSIM_GPU_SCAN=stream; run def2; run f32b QMSIM_GPU_SCAN=stream-f32; run stream2 QMSIM_GPU_SCAN=stream
for n in f32 stream; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-def QMSIM_GPU_PROFILE=1; run prof-f32 QMSIM_GPU_PROFILE=1 QMSIM_GPU_SCAN=stream-f32; run prof-stream QMSIM_GPU_PROFILE=1 QMSIM_GPU_SCAN=stream
for n in prof-def prof-f32 prof-stream; do echo "== $n"; sed -n '/kernel times/,/total kernel/p' $O/eval-$n.log | cut -c1-90 | grep -E "scan|total|dequant"; done; pack
timeout 100 $B/gpu_test --gtest_filter='Gpu.Mamba130mShape:Gpu.BatchedEqualsPerDocumentEveryGemmKernel' > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[       OK|^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
echo "done at ${SECONDS}s"
