#!/usr/bin/env bash
# device call G2 (2026-12-06, sixth session): conv `staged` the default, eval --warmup (1 for the gpu
# path): every GPU test, timing against conv dp4a and without the warm-up, transformers, the
# default model's LAMBADA against golden, crosschecks with the default kernels (batch scan forced)
set -u
O=/tmp/g2; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/g2.tar.xz g2 2>/dev/null); }
rm -rf .devrun/bundle; tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt; cat .devrun/bundle/REVISION | tee -a $O/device.txt
[ -f /tmp/s130/w8a8/config.json ] || ($Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 8 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json > $O/calib.log 2>&1) &
timeout 150 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; r1=$?; echo "gpu_ops_test rc=$r1 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_ops_test.log | head -20; pack
timeout 240 $B/gpu_test > $O/gpu_test.log 2>&1; r2=$?; echo "gpu_test rc=$r2 at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head -20; pack
$Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-gpu-mode0.json > $O/eval-tiny.log 2>&1
echo "tiny mode 0 vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-gpu-mode0.json 2>&1 | tail -1)"; grep "tokens in" $O/eval-tiny.log; pack
wait; echo "s130 at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" timeout 60 $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json $EXTRA > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s.*' $O/eval-$n.log | head -1 | cut -c1-110) $(grep -iE 'error|fail' $O/eval-$n.log | head -2)"; }
EXTRA=""; run def; EXTRA="--warmup 0"; run w0; EXTRA=""; run dp4a QMSIM_GPU_CONV=dp4a; EXTRA="--warmup 0"; run w0dp4a QMSIM_GPU_CONV=dp4a
EXTRA=""; run def2; EXTRA="--warmup 0"; run w0b; EXTRA=""; run dp4a2 QMSIM_GPU_CONV=dp4a; run def3
for n in w0 dp4a w0dp4a; do echo "def vs $n: $(python3 tools/compare_eval.py $O/s130-def.json $O/s130-$n.json 2>&1 | tail -1 | grep -oE '[0-9]+ documents differ.*')"; done
EXTRA=""; run prof-def QMSIM_GPU_PROFILE=1; run prof-dp4a QMSIM_GPU_PROFILE=1 QMSIM_GPU_CONV=dp4a
paste <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-def.log | cut -c1-62) <(sed -n '/kernel times/,/total kernel/p' $O/eval-prof-dp4a.log | cut -c1-62); pack
PYTHONUNBUFFERED=1 timeout 90 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || { echo "tests failed: no crosschecks"; exit 0; }
XS="QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on"
env $XS timeout 200 $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny.log 2>&1; echo "crosscheck-tiny (default kernels, stream-f32 forced, tables on) rc=$? at ${SECONDS}s"; grep -vE "^MISMATCH" $O/crosscheck-tiny.log | grep -E "mismatch|bit-exact|modes" | tail -2 | cut -c1-160; pack
for m in ${CROSS_MODES:-0 3 6-4 2-1 5-3 4 2-0 6-0 5-7 2-4:committed 2-2 2-3 2-3:committed 2-4:documented 3:committed 5-0 5-1 5-2 5-4 5-6 6-1 6-2 6-3}; do
  [ $SECONDS -gt ${XLIMIT:-505} ] && { echo "no time left for 130m mode $m"; continue; }
  env $XS timeout $((545 - SECONDS)) $Q crosscheck --paths golden,gpu --mode $m --limit 200 --threads 16 --model /tmp/s130/w8a8 > $O/x130-$m.log 2>&1; r=$?
  echo "130m mode $m rc=$r at ${SECONDS}s: $(grep -E "mismatch|bit-exact" $O/x130-$m.log | grep -v '^MISMATCH' | tail -1 | cut -c1-120)"; pack
done
echo "done at ${SECONDS}s"
