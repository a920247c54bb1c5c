#!/usr/bin/env bash
# device call A (2026-12-06 session 2): where the scan's and GEMMs' time goes: ncu (stalls per SASS
# line, bank conflicts, instruction mix), SASS, scan timing probes, variants (default/prev/x2), tests
set -u
O=/tmp/a; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/a.tar.xz a 2>/dev/null); }
tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; uname -r >> $O/device.txt
$Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json 2>&1 | tail -1
echo "s130 at ${SECONDS}s"
timeout 60 $B/gpu_bench --benchmark_filter='ScanProbe' > $O/probe.log 2>&1; echo "probe rc=$? at ${SECONDS}s"; grep -E "ScanProbe" $O/probe.log | cut -c1-110; pack
timeout 200 tools/device-test.sh $O/dt ncu sass > $O/dt-ncu.log 2>&1; echo "ncu rc=$? at ${SECONDS}s"; tail -40 $O/dt-ncu.log | cut -c1-150; pack
timeout 120 tools/device-test.sh $O/dt variants > $O/dt-var.log 2>&1; echo "variants rc=$? at ${SECONDS}s"; grep -E "===|tokens in|identical|differ|total kernel|scan |hadamard " $O/dt-var.log | cut -c1-150; pack
QMSIM_GPU_HADAMARD=lanes QMSIM_GPU_PROFILE=1 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-lanes.json > $O/eval-lanes.log 2>&1; grep -E "tokens in|hadamard" $O/eval-lanes.log | cut -c1-100; python3 tools/compare_eval.py $O/dt/s130-default.json $O/s130-lanes.json | tail -1
for b in 128 256 1024; do $Q eval --path gpu --mode 0 --no-progress --batch $b --model /tmp/s130/w8a8 > $O/eval-b$b.log 2>&1; echo "batch $b: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-b$b.log | head -1)"; done; pack
timeout $((580 - SECONDS)) $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head; pack
echo "done at ${SECONDS}s"
