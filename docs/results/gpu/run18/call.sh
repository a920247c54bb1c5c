#!/usr/bin/env bash
# device call 2 (warm after call 1): crosscheck golden,gpu on the 130m shape, 200 documents, the modes
# of MODES (the kernels of E: "next" = the new selections, else the defaults; tables + shared-memory
# scan on every document), then ncu on one layer of a 512-document batch while time is left
set -u
O=/tmp/r2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/r2.tar.xz r2 2>/dev/null); }
nvidia-smi --query-gpu=name --format=csv,noheader | tee $O/device.txt
[ -x .devrun/bundle/bin/qmsim ] || tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
if [ ! -f /tmp/s130/w8a8/config.json ]; then $Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json 2>&1 | tail -1; fi
if [ "${E:-default}" = next ]; then export QMSIM_GPU_SCAN=shared12 QMSIM_GPU_GEMM=mma-async QMSIM_GPU_CONV=fast QMSIM_GPU_NORM=tokens QMSIM_GPU_LM_HEAD=tile128; else export QMSIM_GPU_SCAN=shared; fi
for i in 1 2; do $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-best$i.json 2>&1 | grep -oE "[0-9]+ tokens in [0-9.]+ s[^,]*"; done; QMSIM_GPU_PROFILE=1 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 2>&1 | sed -n "/kernel times/,/total kernel/p" | cut -c1-90
export QMSIM_GPU_SCAN_TABLE=on; env | grep QMSIM | tee -a $O/device.txt
for m in ${MODES}; do
  [ $SECONDS -gt ${STOP:-540} ] && { echo "no time left for mode $m"; continue; }
  timeout $((585 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x-$m.log 2>&1; r=$?
  echo "mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
if [ $SECONDS -lt 470 ]; then
  NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1); unset QMSIM_GPU_SCAN_TABLE
  timeout $((585 - SECONDS)) $NCU --clock-control none -k 'regex:k_scan|k_gemm|k_conv|k_rmsnorm|k_hadamard|k_lm_head' --launch-skip 16 --launch-count 8 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats \
    $Q eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model /tmp/s130/w8a8 > $O/ncu.txt 2>&1; echo "ncu rc=$? at ${SECONDS}s"; pack
fi
echo "done at ${SECONDS}s"
