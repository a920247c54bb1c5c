#!/usr/bin/env bash
# GPU tests, cross-checks and benchmarks of gpu_ref on a GPU machine, from the bundle that
# tools/device-pack.sh builds on the development machine (.devrun/bundle: qmsim, gpu_test,
# gpu_ops_test, gpu_bench and their shared libraries; the GPU machine lacks the Debian packages).
#
#   usage: tools/device-test.sh OUTDIR [STAGE...]
#   stages (default: tests crosscheck lambada):
#     tests       GoogleTest: gpu_ops_test (every kernel vs the golden op, random inputs with
#                 saturation and rounding ties) and gpu_test (whole forwards, every mode); gpu_bench
#     crosscheck  qmsim crosscheck --paths golden,gpu --mode all on 200 LAMBADA documents of the
#                 default model and of a synthetic mamba-130m-shaped model (every tensor ==);
#                 crosscheck-tiny / crosscheck-s130 run one of the two. The 130m one takes about
#                 20 s per mode on 16 cores (8 min for all 23): split it across device calls with
#                 CROSS_MODES="0 2-0 2-1 ..." (mode names as qmsim crosscheck --mode takes them).
#                 One document at a time takes the state scan kernel; the batch kernel (auto's
#                 for batches: stream-f32) runs with QMSIM_GPU_SCAN=stream-f32 QMSIM_GPU_SCAN_TABLE=on
#                 in the environment (runs 27 to 29)
#     variants    full LAMBADA on the 130m shape with the default kernels, with the kernels they
#                 replaced (PREV_ENV below), with run18's defaults (RUN18_ENV: shared12 scan,
#                 mma-async GEMM, lanes Hadamard) and with run28's (RUN28_ENV: mma-staged GEMM, fast
#                 conv, 16-token norm, vec Hadamard; the fourth session's final defaults), timed
#                 twice and profiled, results compared (per-document log-likelihoods identical)
#     ncu         Nsight Compute on one layer's kernels of a 512-document batch of the 130m shape
#                 (throughputs, shared-memory bank conflicts, warp stalls and the SASS lines they
#                 sample, instruction mix, occupancy; --clock-control none) into OUTDIR/ncu.txt
#     sass        the SASS of every kernel (cuobjdump -sass, xz) into OUTDIR/qmsim.sass.xz
#     lambada     full LAMBADA (5153 documents) through eval --path gpu: the default model in mode 0
#                 compared with the golden result file $GOLDEN_TINY (per-document log-likelihoods
#                 identical), the 130m shape timed with each GEMM kernel and per-kernel times, and
#                 transformers' MambaForCausalLM (FP32, same weights) as the baseline
# Environment: PREV=1 runs every stage with PREV_ENV (the kernel selections the defaults replaced
#   in run17: QMSIM_GPU_SCAN=shared QMSIM_GPU_GEMM=mma QMSIM_GPU_CONV=exact QMSIM_GPU_NORM=warp
#   QMSIM_GPU_LM_HEAD=tile64; QMSIM_GPU_HADAMARD=lanes since 2026-12-06), DOCS (crosscheck documents, 200), S130 (130m model folder, /tmp/s130), CALIB_DOCS (64),
#   GOLDEN_TINY (golden mode-0 result of the default model, .devrun/golden-tiny-mode0.json),
#   HF_BATCHES (transformers baseline batch sizes, "1 64 256"), HF_DOCS (its documents, 5153; batch 1:
#   HF_DOCS_B1, 64), PROFILE_SCANS (scan kernels of the per-kernel-time runs, QMSIM_GPU_SCAN values,
#   "auto"), GEMMS (GEMM kernels of the timed full runs, "wgmma mma-lean mma-staged mma-async mma dp4a").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?OUTDIR}
shift
STAGES=${*:-tests crosscheck lambada}
mkdir -p "$OUT"
PREV_ENV=(QMSIM_GPU_SCAN=shared QMSIM_GPU_GEMM=mma QMSIM_GPU_CONV=exact QMSIM_GPU_NORM=warp QMSIM_GPU_LM_HEAD=tile64 QMSIM_GPU_HADAMARD=lanes)
RUN18_ENV=(QMSIM_GPU_SCAN=shared12 QMSIM_GPU_GEMM=mma-async QMSIM_GPU_CONV=fast QMSIM_GPU_NORM=tokens QMSIM_GPU_HADAMARD=lanes)
RUN28_ENV=(QMSIM_GPU_GEMM=mma-staged QMSIM_GPU_CONV=fast QMSIM_GPU_NORM=tokens QMSIM_GPU_HADAMARD=vec)
[ "${PREV:-0}" = 1 ] && export "${PREV_ENV[@]}"
BUNDLE=${BUNDLE:-.devrun/bundle}
[ -x "$BUNDLE/bin/qmsim" ] || tar -C "$(dirname "$BUNDLE")" -xJf "$BUNDLE.tar.xz" || { echo "no bundle: run tools/device-pack.sh first"; exit 2; }
export LD_LIBRARY_PATH="$PWD/$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=$BUNDLE/bin
Q=$BIN/qmsim
DOCS=${DOCS:-200}
S130=${S130:-/tmp/s130}
T=$(nproc)
rc=0
step() { echo; echo "=== $* ($(date +%T))"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
echo "bundle revision: $(cat "$BUNDLE/REVISION" 2>/dev/null)" | tee -a "$OUT/device.txt"

make_s130() {
  [ -f "$S130/w8a8/config.json" ] && return 0
  step "synthetic mamba-130m shape + calibration (${CALIB_DOCS:-64} documents)"
  "$Q" synth --shape mamba-130m --seed 1 --out "$S130" || return 1
  "$Q" calibrate --model "$S130" --out "$S130/w8a8" --docs "${CALIB_DOCS:-64}" --threads "$T" \
    --corpus data/corpus-valid.txt.xz --tokenizer data/gpt-neox-20b-tokenizer.json 2>&1 | tail -2
}

for stage in $STAGES; do
  case $stage in
    tests)
      step "gpu_ops_test"
      "$BIN/gpu_ops_test" 2>&1 | tee "$OUT/gpu_ops_test.log" | grep -E "^\[  (PASSED|FAILED)|FAILED|SKIPPED" ; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      step "gpu_test"
      "$BIN/gpu_test" 2>&1 | tee "$OUT/gpu_test.log" | grep -E "^\[       OK|^\[  (PASSED|FAILED)|FAILED|SKIPPED"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      step "gpu_bench"
      "$BIN/gpu_bench" --benchmark_out="$OUT/gpu_bench.json" --benchmark_out_format=json 2>&1 | tee "$OUT/gpu_bench.log"
      ;;
    crosscheck | crosscheck-tiny)
      step "crosscheck golden,gpu, every mode, $DOCS documents, default model"
      "$Q" crosscheck --paths golden,gpu --mode all --limit "$DOCS" --threads "$T" 2>&1 | tee "$OUT/crosscheck-tiny.log" | grep -v "^MISMATCH" ; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      ;;&
    crosscheck | crosscheck-s130)
      make_s130 || rc=1
      for m in ${CROSS_MODES:-all}; do
        step "crosscheck golden,gpu, mode $m, $DOCS documents, mamba-130m shape"
        "$Q" crosscheck --paths golden,gpu --mode "$m" --limit "$DOCS" --threads "$T" --model "$S130/w8a8" 2>&1 | tee -a "$OUT/crosscheck-s130.log" | grep -v "^MISMATCH" ; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      done
      ;;
    variants)
      make_s130 || rc=1
      for v in default prev run18 run28; do
        envs=()
        case $v in
          prev) envs=("${PREV_ENV[@]}") ;;
          run18) envs=("${RUN18_ENV[@]}") ;;
          run28) envs=("${RUN28_ENV[@]}") ;;
        esac
        step "full LAMBADA, mamba-130m shape, $v kernels (${envs[*]:-defaults})"
        for rep in 1 2; do
          env "${envs[@]}" "$Q" eval --path gpu --mode 0 --no-progress --batch 512 --model "$S130/w8a8" \
            --output "$OUT/s130-$v.json" 2>&1 | tee "$OUT/eval-s130-$v-$rep.log" | grep "tokens in"
        done
        env "${envs[@]}" QMSIM_GPU_PROFILE=1 "$Q" eval --path gpu --mode 0 --no-progress --batch 512 \
          --model "$S130/w8a8" 2>&1 | tee "$OUT/eval-s130-profile-$v.log" | sed -n '/kernel times/,/total kernel/p'
      done
      for v in prev run18 pipe; do
        python3 tools/compare_eval.py "$OUT/s130-default.json" "$OUT/s130-$v.json" | tee -a "$OUT/compare-variants.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      done
      ;;
    ncu)
      make_s130 || rc=1
      NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
      step "ncu, one layer of a 512-document batch, mamba-130m shape"
      "$NCU" --clock-control none -k 'regex:k_scan|k_gemm|k_conv|k_rmsnorm|k_hadamard|k_lm_head|k_score' --launch-skip 16 \
        --launch-count 10 --section SpeedOfLight --section MemoryWorkloadAnalysis \
        --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section SchedulerStats \
        --section Occupancy --section LaunchStats --section InstructionStats --section SourceCounters \
        "$Q" eval --path gpu --mode 0 --no-progress --batch 512 --limit 512 --model "$S130/w8a8" > "$OUT/ncu.txt" 2>&1 || rc=1
      grep -E "^  [a-z_]|^  void|Duration|Memory Throughput|Compute \(SM\) Throughput|L2 Cache Throughput|Achieved Occupancy|No Eligible" "$OUT/ncu.txt" | head -80
      ;;
    sass)
      # cuobjdump and nvdisasm are on the GPU machine, not here: every kernel's SASS comes back to
      # be read here (instruction counts of the hot loops, against the stalls ncu samples)
      step "SASS of every kernel in qmsim (cuobjdump -sass)"
      CUOBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)
      "$CUOBJDUMP" -sass "$Q" | xz > "$OUT/qmsim.sass.xz" || rc=1
      ls -la "$OUT/qmsim.sass.xz"
      ;;
    lambada)
      common=(--path gpu --mode 0 --no-progress --batch 512)
      step "full LAMBADA, default model, gpu, mode 0"
      "$Q" eval "${common[@]}" --output "$OUT/tiny-gpu-mode0.json" 2>&1 | tee "$OUT/eval-tiny-gpu.log"
      python3 tools/compare_eval.py "${GOLDEN_TINY:-.devrun/golden-tiny-mode0.json.xz}" "$OUT/tiny-gpu-mode0.json" | tee "$OUT/compare-tiny.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
      make_s130 || rc=1
      for g in ${GEMMS:-wgmma mma-lean mma-staged mma-async mma dp4a}; do
        step "full LAMBADA, mamba-130m shape, gpu, mode 0, GEMM $g (wall time after model load)"
        QMSIM_GPU_GEMM=$g "$Q" eval "${common[@]}" --model "$S130/w8a8" --output "$OUT/s130-gpu-$g.json" 2>&1 | tee "$OUT/eval-s130-$g.log"
      done
      for k in ${PROFILE_SCANS:-auto}; do
        step "full LAMBADA, mamba-130m shape, per-kernel times (QMSIM_GPU_PROFILE=1), scan kernel $k"
        QMSIM_GPU_SCAN=$k QMSIM_GPU_PROFILE=1 "$Q" eval "${common[@]}" --model "$S130/w8a8" 2>&1 | tee "$OUT/eval-s130-profile-$k.log"
      done
      for b in ${HF_BATCHES:-1 64 256}; do
        n=${HF_DOCS:-5153}; [ "$b" = 1 ] && n=${HF_DOCS_B1:-64}
        step "baseline: transformers MambaForCausalLM FP32, same weights, batch $b, $n documents"
        PYTHONUNBUFFERED=1 python3 tools/bench_transformers.py --model "$S130" --docs "$n" --batch "$b" \
          --json "$OUT/hf-s130-b$b.json" 2>&1 | tee "$OUT/hf-s130-b$b.log" | grep -E "^transformers|memory|Error"
      done
      ;;
    crosscheck-tiny) ;;
    *) echo "unknown stage $stage"; rc=2 ;;
  esac
done
echo
echo "device-test: stages [$STAGES] finished, exit $rc"
exit $rc
