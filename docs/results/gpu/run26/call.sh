#!/usr/bin/env bash
# device call E1 (2026-12-06, fourth session): HEAD 7471554 on a GPU: __ldcg stream-f32, mma-persist
set -u
O=/tmp/e; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/e.tar.xz e 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
lscpu | grep -E "Model name|Flags" | cut -c1-60 >> $O/device.txt; grep -o avx512f /proc/cpuinfo | head -1 >> $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 120 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
P=QMSIM_GPU_GEMM=mma-persist; F=QMSIM_GPU_SCAN=stream-f32
run def; run f32 $F; run per $P; run both $F $P; run def2; run f32b $F; run per2 $P; run both2 $F $P
for n in f32 per both; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-def QMSIM_GPU_PROFILE=1; run prof-f32 QMSIM_GPU_PROFILE=1 $F; run prof-per QMSIM_GPU_PROFILE=1 $P; run prof-both QMSIM_GPU_PROFILE=1 $F $P
for n in prof-def prof-f32 prof-per prof-both; do echo "== $n"; sed -n '/kernel times/,/total kernel/p' $O/eval-$n.log | cut -c1-100 | grep -E "scan|gemm|total|dequant"; done; pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
timeout 150 $B/gpu_test --gtest_filter='Gpu.Mamba130mShape:Gpu.BatchedEqualsPerDocumentEveryGemmKernel' > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[       OK|^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head; pack
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda*/bin/ncu 2>/dev/null | head -1); echo "ncu: $NCU"
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy"
timeout 100 $NCU --clock-control none -k 'regex:k_gemm' --launch-skip 4 --launch-count 4 $S $Q eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model /tmp/s130/w8a8 > $O/ncu-gemm-def.txt 2>&1
QMSIM_GPU_GEMM=mma-persist timeout 100 $NCU --clock-control none -k 'regex:k_gemm' --launch-skip 4 --launch-count 4 $S $Q eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model /tmp/s130/w8a8 > $O/ncu-gemm-per.txt 2>&1
QMSIM_GPU_SCAN=stream-f32 timeout 100 $NCU --clock-control none -k 'regex:k_scan_stream' --launch-skip 1 --launch-count 1 $S --section MemoryWorkloadAnalysis_Tables $Q eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model /tmp/s130/w8a8 > $O/ncu-scan-f32.txt 2>&1
for f in $O/ncu-*.txt; do echo "== $f"; grep -E "^  [a-z_]|^  void|Duration|Memory Throughput|L1/TEX Hit|L2 Cache Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per" $f | head -40; done; pack
echo "done at ${SECONDS}s"
