#!/usr/bin/env bash
# Engine vs PyTorch on the CPU, same machine, same model folders, same threads; prints a markdown
# table (benchmarks/summarize.py) on stdout, progress on stderr.
#
#   benchmarks/run_cpu.sh
#
# Environment (all optional):
#   MODELS   model folders, made by make_bench_models.py when missing   (/tmp/infer-bench)
#   BUILD    CMake build folder                                          (build)
#   ROUNDS   rounds; each runs every measurement on both sides back to back, alternating which
#            side goes first, so that load from other users falls on both (3)
#   REPS     timed repetitions per measurement and round, after WARMUP untimed ones (3, 1)
#   THREADS  threads for both sides: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, torch threads (nproc)
#   ONLY     space-separated measurement names to run (default: all, see MEASUREMENTS below)
#   RESULTS  folder for the raw JSON lines (a new temporary folder)
#   ENGINE_VARIANTS  extra engine runs under other environment settings, "name:VAR=value,VAR=value"
#            separated by spaces, e.g. "passive:OMP_WAIT_POLICY=passive"; shown in a second table
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=${MODELS:-/tmp/infer-bench}
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-$(nproc)}
RESULTS=${RESULTS:-$(mktemp -d /tmp/infer-bench-results.XXXXXX)}
MEASUREMENTS=${ONLY:-"machine gpt2_prefill_128 gpt2_prefill_512 gpt2_decode minilm_embed_32 minilm_embed_128"}

echo "== build ($BUILD, Release, target engine_bench)" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$BUILD" -j2 --target engine_bench >&2

if [[ ! -f "$MODELS/gpt2-small/model.safetensors" || ! -f "$MODELS/minilm/model.safetensors" ]]; then
  echo "== making model folders in $MODELS" >&2
  python3 benchmarks/make_bench_models.py --out "$MODELS" >&2
fi

export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export TRANSFORMERS_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
common=(--models "$MODELS" --reps "$REPS" --warmup "$WARMUP")
ENGINE_VARIANTS=${ENGINE_VARIANTS:-}
run_engine() { "$BUILD/benchmarks/engine_bench" "${common[@]}" --filter "$1" >>"$2/engine.jsonl"; }
run_variants() {
  local spec name vars
  for spec in $ENGINE_VARIANTS; do
    name=${spec%%:*}
    vars=${spec#*:}
    env ${vars//,/ } "$BUILD/benchmarks/engine_bench" "${common[@]}" --filter "$1" \
      >>"$2/engine+$name.jsonl"
  done
}
run_torch() { python3 benchmarks/torch_bench.py "${common[@]}" --threads "$THREADS" --filter "$1" \
                >>"$2/torch.jsonl"; }

echo "== results in $RESULTS" >&2
for ((r = 1; r <= ROUNDS; ++r)); do
  dir="$RESULTS/r$r"
  mkdir -p "$dir"
  for m in $MEASUREMENTS; do
    echo "   round $r/$ROUNDS: $m" >&2
    if ((r % 2)); then
      run_engine "$m" "$dir"
      run_torch "$m" "$dir"
      run_variants "$m" "$dir"
    else
      run_variants "$m" "$dir"
      run_torch "$m" "$dir"
      run_engine "$m" "$dir"
    fi
  done
done

echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
python3 benchmarks/summarize.py "$RESULTS"
