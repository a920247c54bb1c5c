#!/usr/bin/env bash
# device call 1 (2026-12-06): kernel tests, timed full LAMBADA of the 130m shape with the default
# kernels, all new kernels, and each new kernel alone (results compared per document), profiles,
# transformers baseline, tiny-model LAMBADA vs golden, whole-forward tests, crosscheck (new kernels)
set -u
O=/tmp/r; mkdir -p $O
pack() { (cd /tmp && tar cJf $OUT/r.tar.xz r 2>/dev/null); }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee $O/device.txt
tar -C .devrun -xJf .devrun/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.devrun/bundle/lib
B=.devrun/bundle/bin; Q=$B/qmsim; echo "bundle $(cat .devrun/bundle/REVISION)" | tee -a $O/device.txt
NEXT="QMSIM_GPU_SCAN=shared12 QMSIM_GPU_GEMM=mma-wide QMSIM_GPU_CONV=fast QMSIM_GPU_NORM=tokens QMSIM_GPU_LM_HEAD=tile128"
timeout 170 $B/gpu_ops_test > $O/gpu_ops_test.log 2>&1; echo "gpu_ops_test rc=$? at ${SECONDS}s"; pack
grep -E "^\[  (PASSED|FAILED)|FAILED|conv quantizer" $O/gpu_ops_test.log | cut -c1-150 | head -30
$Q synth --shape mamba-130m --seed 1 --out /tmp/s130 >/dev/null && $Q calibrate --model /tmp/s130 --out /tmp/s130/w8a8 --docs 64 --threads 16 --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json 2>&1 | tail -1
echo "s130 ready at ${SECONDS}s"
run() { local n=$1; shift
  env "$@" $Q eval --path gpu --mode 0 --no-progress --batch 512 --model /tmp/s130/w8a8 --output $O/s130-$n.json > $O/eval-$n.log 2>&1
  echo "$n: $(grep -oE '[0-9]+ tokens in [0-9.]+ s[^,]*' $O/eval-$n.log | head -1)"; }
run base
run next $NEXT
run base2
run next2 $NEXT
run scan12 QMSIM_GPU_SCAN=shared12
run wide QMSIM_GPU_GEMM=mma-wide
run async QMSIM_GPU_GEMM=mma-async
run conv QMSIM_GPU_CONV=fast
run norm QMSIM_GPU_NORM=tokens
run lm128 QMSIM_GPU_LM_HEAD=tile128
for n in next scan12 wide async conv norm lm128; do echo "$n vs base: $(python3 tools/compare_eval.py $O/s130-base.json $O/s130-$n.json 2>&1 | tail -1)"; done
run prof-base QMSIM_GPU_PROFILE=1
run prof-next QMSIM_GPU_PROFILE=1 $NEXT
for n in prof-base prof-next; do echo "== $n"; sed -n '/kernel times/,/total kernel/p' $O/eval-$n.log | cut -c1-90; done
echo "at ${SECONDS}s"; pack
PYTHONUNBUFFERED=1 python3 tools/bench_transformers.py --model /tmp/s130 --docs 5153 --batch 64 --json $O/hf-s130-b64.json > $O/hf.log 2>&1; grep -E "^transformers" $O/hf.log; echo "at ${SECONDS}s"; pack
for v in base next; do e=""; [ $v = next ] && e="$NEXT"
  env $e $Q eval --path gpu --mode 0 --no-progress --batch 512 --output $O/tiny-$v.json > $O/eval-tiny-$v.log 2>&1
  echo "tiny $v vs golden: $(python3 tools/compare_eval.py .devrun/golden-tiny-mode0.json.xz $O/tiny-$v.json 2>&1 | tail -1)"; done; pack
timeout 150 $B/gpu_test > $O/gpu_test.log 2>&1; echo "gpu_test rc=$? at ${SECONDS}s"; grep -E "^\[  (PASSED|FAILED)|FAILED" $O/gpu_test.log | head; pack
env $NEXT QMSIM_GPU_SCAN_TABLE=on timeout $((575 - SECONDS)) $Q crosscheck --paths golden,gpu --mode all --limit 200 --threads 16 > $O/crosscheck-tiny-next.log 2>&1; echo "crosscheck-tiny (next) rc=$? at ${SECONDS}s"
grep -E "^mode|mismatch|bit-exact" $O/crosscheck-tiny-next.log | grep -v "^MISMATCH" | tail -30 | cut -c1-140; pack
echo "done at ${SECONDS}s"
