#!/usr/bin/env bash
# device call G1 (2026-12-06, sixth session): the opt-in stream-pair scan (k_scan_pair) run for the
# first time: every GPU test, timing against the defaults, ncu, crosschecks with it on every document
set -u
O=/tmp/g1; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/g1.tar.xz g1 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; r2=$?; echo "gpu_test rc=$r2 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
P="QMSIM_GPU_SCAN=stream-pair"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run pair $P; run def2; run pair2 $P
echo "def vs pair: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-pair.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"
run prof-def QMSIM_GPU_PROFILE=1; run prof-pair QMSIM_GPU_PROFILE=1 $P
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-62) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-pair.log | cut -c1-62); pack
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda*/bin/ncu 2>/dev/null | head -1); echo "ncu: $NCU"
S="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats --section InstructionStats"
env $P timeout 100 $NCU --clock-control none -k 'regex:k_scan_pair' --launch-skip 1 --launch-count 1 $S --section MemoryWorkloadAnalysis_Tables $Q eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model /tmp/s130/w8a8 > $O/ncu-scan-pair.txt 2>&1
grep -E "^  [a-z_]|^  void|Duration|Memory Throughput|L1/TEX Hit|L2 Cache Throughput|L1/TEX Cache Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|Executed Ipc|Issue Slots" $O/ncu-scan-pair.txt | head -30; echo "at ${SECONDS}s"; pack
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || { echo "tests failed: no crosschecks"; exit 0; }
env $P QMSIM_GPU_SCAN_TABLE=on timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (stream-pair, tables on) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
for m in ${CROSS_MODES:-0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3}; do
  [ $SECONDS -gt 545 ] && { echo "no time left for 130m mode $m"; continue; }
  env $P QMSIM_GPU_SCAN_TABLE=on timeout $((585 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
