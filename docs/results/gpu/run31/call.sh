#!/usr/bin/env bash
# device call F2 (2026-12-06, fifth session): mma-lean default; opt-in mma-lean-sk, conv dp4a,
# norm tokens8, hadamard vec-lean: every GPU test, timing, crosschecks with all of them
set -u
O=/tmp/f2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/f2.tar.xz f2 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
wait; echo "s130 at ${SECONDS}s"
ALL="QMSIM_GPU_GEMM=mma-lean-sk QMSIM_GPU_CONV=dp4a QMSIM_GPU_NORM=tokens8 QMSIM_GPU_HADAMARD=vec-lean"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
run def; run sk QMSIM_GPU_GEMM=mma-lean-sk; run conv QMSIM_GPU_CONV=dp4a; run norm QMSIM_GPU_NORM=tokens8; run had QMSIM_GPU_HADAMARD=vec-lean; run all $ALL
run staged QMSIM_GPU_GEMM=mma-staged; run def2; run all2 $ALL
for n in sk conv norm had all staged; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"; done
run prof-def QMSIM_GPU_PROFILE=1; run prof-all QMSIM_GPU_PROFILE=1 $ALL
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-62) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-all.log | cut -c1-62); pack
env $ALL QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (all opt-in, stream-f32, tables on) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
for m in ${CROSS_MODES:-2-2 2-3 2-3:committed 2-4:documented 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3}; do
  [ $SECONDS -gt 555 ] && { echo "no time left for 130m mode $m"; continue; }
  env $ALL QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on timeout $((590 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
