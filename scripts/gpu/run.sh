#!/usr/bin/env bash
# Runs THERE, on a lent GPU machine, from the repository root, over the bundle that
# scripts/gpu/bundle.sh made here (.gpu, named in the run tool's carry). One command, under the
# tool's 10 minutes; everything it learns goes to $OUT (summary.md, results.md, logs.tar.gz) and
# the key numbers to stdout. See scripts/gpu/README.md.
#
#   bash scripts/gpu/run.sh check tests      # ~4-6 min: machine, libraries, CUDA tests, sanitizers
#   bash scripts/gpu/run.sh bench            # ~6-8 min: attention lab, Generate vs HF, Embed vs ST
#   bash scripts/gpu/run.sh all              # check tests bench, in that order, as time allows
#
# Stages (any number, in order): check, tests (= unit sanitize), unit, sanitize, bench
# (= bench-attn bench-gen bench-embed), bench-attn, bench-gen, bench-embed, all; env prints the
# exports a hand-run command needs (eval "$(bash scripts/gpu/run.sh env)").
#
# Time: the run stops starting work when less than a stage needs is left of RUN_BUDGET_S (570 s),
# and caps every program with `timeout`, so $OUT is written before the tool's 600 s kill.
# Environment (all optional): RUN_BUDGET_S; TEST_TIMEOUT (240 s per CUDA test binary);
# SANITIZE_TOOLS ("memcheck racecheck"); SANITIZE_MATCH (regex of binaries, default
# attention|elementwise|sampling); SANITIZE_TIMEOUT (75 s per run); SANITIZE_FILTER_<binary>
# (gtest filter for one binary, e.g. SANITIZE_FILTER_cuda_attention_test='*Decode*');
# MODELS (/tmp/infer-bench); ATTN_TIMEOUT (150); GEN_TIMEOUT (330); EMBED_TIMEOUT (200);
# e2e_generate.sh's and embed's own knobs pass through (CONCURRENCY, DURATION, ...).
# shellcheck disable=SC2317  # the stages are called indirectly ("stage_$name")
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd -P)
export PYTHONUNBUFFERED=1

GPU_DIR=${GPU_DIR:-$REPO/.gpu}
BIN=$GPU_DIR/bin
RUN_BUDGET_S=${RUN_BUDGET_S:-570}
T0=$SECONDS
WORK=${WORK:-/tmp/gpu-run}
LOGS=$WORK/logs
MODELS=${MODELS:-/tmp/infer-bench}
export MODELS

# ---- helpers -------------------------------------------------------------------------------------
remaining() { echo $((RUN_BUDGET_S - (SECONDS - T0))); }
# cap WANT: seconds a program may run, at most what is left less a margin for packing; prints
# nothing (and fails) when under 15 s would be left.
cap() {
  local left=$(($(remaining) - 20))
  ((left >= 15)) || return 1
  echo $((left < $1 ? left : $1))
}
say() { echo "$*" | tee -a "$LOGS/run.log"; }
section() { printf '\n## %s\n\n' "$*" >>"$WORK/summary.md"; say "== $* ($(($(remaining)))s left)"; }
row() { echo "$*" >>"$WORK/summary.md"; }
in_bin() { env LD_LIBRARY_PATH="$GPU_LD_LIBRARY_PATH" "$@"; }

# gtest JSON -> "pass fail skip total", or "- - - -" when the file is missing (crash, timeout).
gtest_counts() {
  python3 - "$1" <<'PY' 2>/dev/null || echo "- - - -"
import json, sys
j = json.load(open(sys.argv[1]))
p = f = s = 0
for suite in j.get("testsuites", []):
    for t in suite.get("testsuite", []):
        if t.get("failures"):
            f += 1
        elif t.get("result") == "SKIPPED":
            s += 1
        elif t.get("status", "RUN") == "RUN" and t.get("result", "COMPLETED") == "COMPLETED":
            p += 1
print(p, f, s, p + f + s)
PY
}

# The first skip message of a gtest log (why a CUDA test skipped).
skip_reason() { grep -m1 -o 'CUDA test skipped[^"]*' "$1" 2>/dev/null | head -c 200; }

# ---- set-up: bundle, paths, libraries ---------------------------------------------------------
setup() {
  if [[ ! -d $BIN && -f $GPU_DIR/payload.tar.xz ]]; then
    tar -xJf "$GPU_DIR/payload.tar.xz" -C "$GPU_DIR" ||
      { echo "run.sh: cannot unpack $GPU_DIR/payload.tar.xz" >&2; return 1; }
  fi
  if [[ ! -d $BIN ]]; then
    echo "run.sh: no $BIN: make the bundle here with 'bash scripts/gpu/bundle.sh' and name .gpu in the run tool's carry" >&2
    return 1
  fi
  BUNDLE_SOURCE_DIR=/work/main BUNDLE_BUILD_DIR=/work/main/build-gpu BUNDLE_CUDA_NEEDED=
  BUNDLE_ARTIFACTS=
  # shellcheck disable=SC1091
  [[ -f $GPU_DIR/build-info.env ]] && source "$GPU_DIR/build-info.env"

  # The test binaries have the build machine's paths compiled in (INFER_GOLDEN_DIR,
  # INFER_REPO_DIR = /work/main..., INFER_SERVER_BIN = .../build-gpu/server/infer-server):
  # make those paths lead here.
  PATH_NOTE=""
  local src=$BUNDLE_SOURCE_DIR
  if [[ $src != "$REPO" ]]; then
    if [[ ! -e $src && ! -L $src ]]; then
      if mkdir -p "$(dirname "$src")" && ln -s "$REPO" "$src"; then
        PATH_NOTE="$src -> $REPO (symlink made)"
      else
        PATH_NOTE="WARNING: could not make $src -> $REPO: tests that read golden data will fail"
      fi
    elif [[ $(realpath "$src") == "$REPO" ]]; then
      PATH_NOTE="$src is this checkout"
    else
      PATH_NOTE="WARNING: $src exists and is not this checkout: tests read golden data from there"
    fi
  else
    PATH_NOTE="checkout is at $src, as on the build machine"
  fi
  local a name rel
  for a in $BUNDLE_ARTIFACTS; do
    name=${a%%=*} rel=${a#*=}
    [[ -x $BIN/$name && ! -e $BUNDLE_BUILD_DIR/$rel ]] || continue
    mkdir -p "$(dirname "$BUNDLE_BUILD_DIR/$rel")" 2>/dev/null &&
      ln -s "$BIN/$name" "$BUNDLE_BUILD_DIR/$rel" 2>/dev/null
  done

  # CUDA runtime / cuBLAS(Lt): from the machine's toolkit, else pip's nvidia-* packages.
  local dirs=() d
  for d in "${CUDA_HOME:-/nonexistent}/lib64" /usr/local/cuda/lib64 \
           /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
           /usr/local/cuda-*/targets/x86_64-linux/lib; do
    [[ -d $d ]] && dirs+=("$d")
  done
  local site
  for site in $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
    for d in "$site"/nvidia/cu13/lib "$site"/nvidia/*/lib; do [[ -d $d ]] && dirs+=("$d"); done
  done
  local ld="$GPU_DIR/lib" lib found
  CUDA_LIB_NOTE=""
  for lib in $BUNDLE_CUDA_NEEDED; do
    found=""
    for d in "${dirs[@]}"; do
      if [[ -e $d/$lib ]]; then found=$d; break; fi
    done
    if [[ -n $found ]]; then
      [[ ":$ld:" == *":$found:"* ]] || ld+=":$found"
      CUDA_LIB_NOTE+="$lib: $found; "
    else
      CUDA_LIB_NOTE+="$lib: NOT FOUND; "
    fi
  done
  # libcuda.so.1 (the driver's): normally in the loader cache; else where containers mount it.
  # (grep -c, not -q: with pipefail an early grep exit would fail the pipeline)
  if [[ $(ldconfig -p 2>/dev/null | grep -c 'libcuda\.so\.1 ') == 0 ]]; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
      if [[ -e $d/libcuda.so.1 ]]; then ld+=":$d"; CUDA_LIB_NOTE+="libcuda.so.1: $d; "; break; fi
    done
  fi
  # Our libstdc++ only if the machine's is older than the build machine's (not expected).
  local ldd_all
  ldd_all=$(for f in "$BIN"/*; do LD_LIBRARY_PATH="$ld" ldd "$f" 2>&1; done)
  if grep -qE "(GLIBCXX|CXXABI)_[0-9.]+' not found" <<<"$ldd_all"; then
    ld="$GPU_DIR/lib:$GPU_DIR/lib-fallback:${ld#"$GPU_DIR/lib:"}"
    CUDA_LIB_NOTE+="libstdc++/libgcc_s: the bundle's (the machine's are older); "
  fi
  GPU_LD_LIBRARY_PATH=$ld
  export GPU_LD_LIBRARY_PATH INFER_BIN_DIR=$BIN
}

# ---- stages ----------------------------------------------------------------------------------------
stage_check() {
  section "check: machine, libraries, one CUDA test"
  {
    echo "### uname"; uname -a
    echo "### os"; grep PRETTY_NAME /etc/os-release
    echo "### glibc"; ldd --version | head -1
    echo "### cpu"; nproc; grep -m1 'model name' /proc/cpuinfo; free -g | head -2
    echo "### nvidia-smi"; nvidia-smi
    echo "### nvidia-smi query"
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,power.limit --format=csv
    echo "### nvcc"; (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>&1 | tail -2
    echo "### compute-sanitizer"; "$SANITIZER" --version 2>&1 | tail -1
    echo "### python"
    python3 - <<'PY' 2>&1
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for m in ("torch", "transformers", "sentence_transformers", "grpc", "google.protobuf", "numpy"):
    try:
        print(m, importlib.import_module(m).__version__)
    except Exception as e:
        print(m, "MISSING:", e)
import torch
print("torch.cuda", torch.cuda.is_available(), torch.version.cuda,
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
    echo "### bundle"; cat "$GPU_DIR/build-info.env"
    echo "### paths"; echo "$PATH_NOTE"; echo "$CUDA_LIB_NOTE"; echo "GPU_LD_LIBRARY_PATH=$GPU_LD_LIBRARY_PATH"
  } >"$LOGS/machine.txt" 2>&1
  local gpu
  if command -v nvidia-smi >/dev/null; then
    gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -1)
    row "- GPU: $gpu"
  else
    row "- GPU: **nvidia-smi not found**"; CHECK_FAILED=1
  fi
  row "- machine: $(uname -m), $(grep -oP 'PRETTY_NAME="\K[^"]*' /etc/os-release), $(ldd --version | head -1 | grep -o '[0-9.]*$') glibc (bundle needs GLIBC_${BUNDLE_NEEDS_GLIBC:-?}, GLIBCXX_${BUNDLE_NEEDS_GLIBCXX:-?}), $(nproc) cores"
  row "- bundle: commit ${BUNDLE_COMMIT:-?} (${BUNDLE_DIRTY_FILES:-?} modified tracked, ${BUNDLE_UNTRACKED_SOURCES:-?} untracked source files), built ${BUNDLE_DATE:-?}, sm_${BUNDLE_ARCH:-?}, nvcc ${BUNDLE_NVCC:-?}; not built there: ${BUNDLE_FAILED:-none}"
  row "- paths: $PATH_NOTE"
  row "- CUDA libraries: $CUDA_LIB_NOTE"
  row "- $(grep -E '^(torch|transformers|sentence_transformers|grpc) ' "$LOGS/machine.txt" | tr '\n' ';' | sed 's/;$//')"

  local f missing=""
  for f in "$BIN"/*; do
    in_bin ldd "$f" >"$LOGS/ldd_$(basename "$f").txt" 2>&1
    missing+=$(grep -E 'not found' "$LOGS/ldd_$(basename "$f").txt" | sed "s|^|$(basename "$f"): |")
  done
  if [[ -z $missing ]]; then
    row "- libraries: PASS (ldd finds every library of $(find "$BIN" -maxdepth 1 -type f | wc -l) binaries)"
  else
    row "- libraries: **FAIL**:"; row '```'; row "$missing"; row '```'
    CHECK_FAILED=1
  fi

  local smoke=cuda_elementwise_test filter='*/BF16'
  if [[ ! -x $BIN/$smoke ]]; then
    smoke=$(cd "$BIN" && find . -maxdepth 1 -name 'cuda_*_test' -printf '%f\n' | sort | head -1)
    filter='*'
  fi
  if [[ -z $smoke ]]; then
    row "- smoke test: **FAIL**: no cuda_*_test in the bundle"; CHECK_FAILED=1; return
  fi
  local t rc counts p fl s n
  t=$(cap 120) || { row "- smoke test: skipped, out of time"; return; }
  timeout "$t" env LD_LIBRARY_PATH="$GPU_LD_LIBRARY_PATH" "$BIN/$smoke" --gtest_brief=1 \
    --gtest_filter="$filter" --gtest_output="json:$LOGS/smoke.json" >"$LOGS/smoke.log" 2>&1
  rc=$?
  read -r p fl s n <<<"$(gtest_counts "$LOGS/smoke.json")"
  counts="$smoke --gtest_filter='$filter': rc $rc, $p passed, $fl failed, $s skipped of $n"
  if [[ $rc == 0 && $p != - && $p -gt 0 && $s == 0 ]]; then
    row "- smoke test: PASS ($counts)"
  else
    row "- smoke test: **FAIL** ($counts) $(skip_reason "$LOGS/smoke.log")"
    tail -8 "$LOGS/smoke.log" | tee -a "$LOGS/run.log"
    CHECK_FAILED=1
  fi
}

stage_unit() {
  section "tests: every test binary in the bundle (--gtest_brief)"
  row "| binary | result | passed | failed | skipped | total | seconds | note |"
  row "|---|---|---|---|---|---|---|---|"
  local f name t rc p fl s n start note result
  # cuda_*_test first; then any other *_test the bundle holds (bundle.sh EXTRA=...).
  for f in "$BIN"/cuda_*_test $(find "$BIN" -maxdepth 1 -name '*_test' ! -name 'cuda_*' | sort); do
    [[ -x $f ]] || continue
    name=$(basename "$f")
    if ! t=$(cap "${TEST_TIMEOUT:-240}"); then
      row "| $name | not run (out of time) | | | | | | |"; continue
    fi
    start=$SECONDS
    timeout "$t" env LD_LIBRARY_PATH="$GPU_LD_LIBRARY_PATH" "$f" --gtest_brief=1 \
      --gtest_output="json:$LOGS/$name.json" >"$LOGS/$name.log" 2>&1
    rc=$?
    read -r p fl s n <<<"$(gtest_counts "$LOGS/$name.json")"
    note=""
    [[ $rc == 124 ]] && note="timed out after ${t}s"
    [[ $p == - && $rc != 124 ]] && note="no gtest JSON: crashed? (rc $rc) $(tail -1 "$LOGS/$name.log" | head -c 120)"
    [[ $s != - && $s != 0 ]] && note+=" $(skip_reason "$LOGS/$name.log")"
    # Anything printed in square brackets by the tests themselves (e.g. "[greedy] ...") is a
    # number worth reading: keep those lines in the summary log.
    grep -E '^\[[a-z][a-z_ -]*\] ' "$LOGS/$name.log" | head -20 >>"$LOGS/test_notes.txt"
    if [[ $rc == 0 && $fl == 0 && $s == 0 ]]; then result=PASS
    elif [[ $rc == 0 && $fl == 0 ]]; then result="**PASS, $s SKIPPED** (on a GPU machine: see note)"
    else result="**FAIL** (rc $rc)"; TESTS_FAILED=1
    fi
    row "| $name | $result | $p | $fl | $s | $n | $((SECONDS - start)) | ${note} |"
    say "$name: $result, $p passed, $fl failed, $s skipped, $((SECONDS - start)) s"
    # Failing tests' names and first lines, for the summary.
    if [[ $fl != 0 && $fl != - ]]; then
      grep -E '^\[  FAILED  \]' "$LOGS/$name.log" | sort -u | head -10 | sed 's/^/    /' | tee -a "$LOGS/run.log" >>"$WORK/failures.txt"
    fi
  done
  if [[ -s $LOGS/test_notes.txt ]]; then
    row ""; row "Lines the tests print for the record:"; row '```'
    head -40 "$LOGS/test_notes.txt" >>"$WORK/summary.md"; row '```'
  fi
  if [[ -s $WORK/failures.txt ]]; then
    row ""; row "Failed tests:"; row '```'; head -40 "$WORK/failures.txt" >>"$WORK/summary.md"; row '```'
  fi
}

default_sanitize_filter() {
  case $1 in
    cuda_elementwise_test) echo '*/BF16' ;;
    cuda_sampling_test) echo 'CudaSampling.IsDeterministic:CudaSampling.EdgeCasesEqualCpu:CudaSampling.MoreRowsThanMultiprocessorsAndAllLogprobs' ;;
    # Every kernel path (contiguous and paged prefill, chunked, mixed, split and single decode,
    # tiny and odd head sizes, probabilities, KV writes) in BF16 at small sizes: the 2k-32k cases
    # stay out, they would not finish under racecheck in time.
    cuda_attention_test) echo '*prefill_d64_bidir_contig_varlen_BF16:*prefill_d128_causal_paged_bs16_BF16:*prefill_chunked_gqa_d64_bs16_BF16:*prefill_two_rows_BF16:*mixed_37_seqs_gqa_d64_bs16_BF16:*mixed_encoder_contig_with_1_token_BF16:*decode_one_split_200_seqs_d64_BF16:*decode_group3_d80_BF16:*decode_d8_tiny_rows_BF16:*decode_one_token_context_BF16:*probs_prefill_chunk_gqa_paged_BF16:*CudaWriteKvTest*BF16*' ;;
    *) echo '*' ;;
  esac
}

stage_sanitize() {
  section "sanitize: compute-sanitizer on the kernel tests"
  if [[ -z $SANITIZER ]]; then row "compute-sanitizer not found: skipped"; return; fi
  row "memcheck sees accesses outside cudaMalloc'd blocks only: the backend's caching allocator"
  row "rounds small blocks up to 512 bytes, so an overrun inside that slack is not reported."
  row ""
  row "| binary | tool | gtest filter | result | tests passed / run | errors / hazards | seconds |"
  row "|---|---|---|---|---|---|---|"
  local f name tool var filter t rc start errs result p fl s n
  for f in "$BIN"/cuda_*_test; do
    name=$(basename "$f")
    [[ $name =~ ${SANITIZE_MATCH:-attention|elementwise|sampling} ]] || continue
    var="SANITIZE_FILTER_${name//[^A-Za-z0-9_]/_}"
    filter=${!var:-$(default_sanitize_filter "$name")}
    for tool in ${SANITIZE_TOOLS:-memcheck racecheck}; do
      if ! t=$(cap "${SANITIZE_TIMEOUT:-75}"); then
        row "| $name | $tool | \`$filter\` | not run (out of time) | | | |"; continue
      fi
      start=$SECONDS
      timeout "$t" env LD_LIBRARY_PATH="$GPU_LD_LIBRARY_PATH" "$SANITIZER" --tool "$tool" \
        --error-exitcode 99 --print-limit 30 "$f" --gtest_brief=1 --gtest_filter="$filter" \
        --gtest_output="json:$LOGS/sanitize_${name}_$tool.json" >"$LOGS/sanitize_${name}_$tool.log" 2>&1
      rc=$?
      read -r p fl s n <<<"$(gtest_counts "$LOGS/sanitize_${name}_$tool.json")"
      errs=$(grep -Eo '(ERROR|RACECHECK) SUMMARY: [0-9]+ (errors?|hazards?[^)]*)' \
        "$LOGS/sanitize_${name}_$tool.log" | tail -1)
      case $rc in
        0) result=PASS ;;
        99) result="**FAIL** (sanitizer errors)"; TESTS_FAILED=1 ;;
        124) result="TIMEOUT after ${t}s (partial; narrow with $var)" ;;
        *) result="**FAIL** (rc $rc)"; TESTS_FAILED=1 ;;
      esac
      [[ $n == 0 ]] && result+=" (the filter matched no test: set $var)"
      row "| $name | $tool | \`$filter\` | $result | $p / $n | ${errs:--} | $((SECONDS - start)) |"
      say "sanitize $name $tool: $result ${errs} $((SECONDS - start)) s"
      if [[ $rc == 99 ]]; then
        grep -m5 -E '^=+ (Invalid|Error|Race|.*hazard)' "$LOGS/sanitize_${name}_$tool.log" | tee -a "$LOGS/run.log"
      fi
    done
  done
}

make_models() {
  [[ -f $MODELS/gpt2-small/model.safetensors && -f $MODELS/minilm/model.safetensors ]] && return 0
  local t
  t=$(cap 120) || return 1
  say "making the benchmark models in $MODELS"
  # make_bench_models.py calls save_pretrained(safe_serialization=True); if this transformers
  # no longer takes that argument (v5 writes safetensors only), drop it rather than fail.
  timeout "$t" python3 - "$MODELS" >>"$LOGS/make_models.log" 2>&1 <<'PY'
import inspect, runpy, sys
import transformers
save = transformers.PreTrainedModel.save_pretrained
if "safe_serialization" not in inspect.signature(save).parameters:
    def save_pretrained(self, *args, safe_serialization=True, **kwargs):
        return save(self, *args, **kwargs)
    transformers.PreTrainedModel.save_pretrained = save_pretrained
    print("make_models: save_pretrained takes no safe_serialization; dropped", file=sys.stderr)
sys.argv = ["make_bench_models.py", "--out", sys.argv[1]]
runpy.run_path("benchmarks/make_bench_models.py", run_name="__main__")
PY
}

stage_bench_attn() {
  section "bench: attention kernels (benchmarks/cuda/run_attention_bench.sh)"
  if [[ ! -f benchmarks/cuda/run_attention_bench.sh ]]; then
    row "benchmarks/cuda/run_attention_bench.sh is not in this checkout: skipped"; return
  fi
  if [[ ! -x $BIN/attention_bench ]]; then
    row "attention_bench is not in the bundle (not built?): skipped"; return
  fi
  # It runs BUILD_DIR/benchmarks/attention_bench and then PyTorch: give it a build-like folder
  # whose attention_bench is a wrapper setting our library path, so Python keeps its own.
  local fake=$WORK/build-like t rc
  mkdir -p "$fake/benchmarks"
  # shellcheck disable=SC2016  # $LD_LIBRARY_PATH and $@ are for the wrapper to expand
  printf '#!/usr/bin/env bash\nexport LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexec %q "$@"\n' \
    "$GPU_LD_LIBRARY_PATH" "$BIN/attention_bench" >"$fake/benchmarks/attention_bench"
  chmod +x "$fake/benchmarks/attention_bench"
  t=$(cap "${ATTN_TIMEOUT:-150}") || { row "not run: out of time"; return; }
  local extra=()
  read -ra extra <<<"${ATTN_ARGS:-}"
  timeout "$t" bash benchmarks/cuda/run_attention_bench.sh "$WORK/attention_bench.md" "$fake" \
    ${extra[@]+-- "${extra[@]}"} >"$LOGS/attention_bench.log" 2>&1
  rc=$?
  cp "$WORK"/attention_bench.md.*.jsonl "$LOGS/" 2>/dev/null
  row "exit status $rc$([[ $rc == 124 ]] && echo " (timed out after ${t}s; ATTN_ARGS=--quick runs fewer sizes)")"
  [[ $rc == 0 ]] || BENCH_FAILED=1
  if [[ -s $WORK/attention_bench.md ]]; then
    cat "$WORK/attention_bench.md" >>"$WORK/summary.md"
    { echo; cat "$WORK/attention_bench.md"; } >>"$WORK/results.md"
    cat "$WORK/attention_bench.md"
  else
    tail -15 "$LOGS/attention_bench.log" | tee -a "$LOGS/run.log"
  fi
}

stage_bench_gen() {
  section "bench: Generate end to end (infer-server on ${BACKEND:-cuda:0} ${DTYPE:-bf16} vs transformers generate())"
  make_models || { row "not run: could not make the models (see make_models.log)"; BENCH_FAILED=1; return; }
  local t rc
  t=$(cap "${GEN_TIMEOUT:-330}") || { row "not run: out of time"; return; }
  LOG_DIR=$LOGS/generate BIN_DIR=$BIN timeout "$t" bash benchmarks/cuda/e2e_generate.sh \
    "$WORK/generate.md" >"$LOGS/e2e_generate.log" 2>&1
  rc=$?
  row "exit status $rc$([[ $rc == 124 ]] && echo " (timed out after ${t}s)")"
  [[ $rc == 0 ]] || BENCH_FAILED=1
  if [[ -s $WORK/generate.md ]]; then
    cat "$WORK/generate.md" >>"$WORK/summary.md"
    cat "$WORK/generate.md" >>"$WORK/results.md"
    cat "$WORK/generate.md"
  else
    tail -25 "$LOGS/e2e_generate.log" | tee -a "$LOGS/run.log"
  fi
}

# Embed: the server (cuda:0 bf16) through embed_load.py vs sentence-transformers fp16, on the
# same MiniLM-shaped folder and sentences.
stage_bench_embed() {
  section "bench: Embed end to end (infer-server on ${EMBED_BACKEND:-cuda:0} ${EMBED_DTYPE:-bf16} vs sentence-transformers ${ST_DTYPE:-fp16})"
  make_models || { row "not run: could not make the models (see make_models.log)"; BENCH_FAILED=1; return; }
  local t folder="$MODELS/minilm-serve" tok="" real="" weights
  # A real all-MiniLM-L6-v2 in the machine's Hugging Face cache beats random weights (the
  # embeddings then mean something); speed is the same either way.
  real=$(find "${HF_HOME:-$HOME/.cache/huggingface}/hub" -maxdepth 4 -path '*models--sentence-transformers--all-MiniLM-L6-v2/snapshots/*' -type d 2>/dev/null | head -1)
  if [[ -n $real && -e $real/model.safetensors && -e $real/tokenizer.json ]]; then
    folder=$real weights="real all-MiniLM-L6-v2 weights from the HF cache ($real)"
  else
    for tok in "$GPU_DIR/models/all-MiniLM-L6-v2-tokenizer" tests/golden/data/models/bert-embed; do
      [[ -f $tok/tokenizer.json ]] && break
    done
    rm -rf "$folder"; mkdir -p "$folder"
    cp -r "$MODELS/minilm/." "$folder/"
    local f
    for f in tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json; do
      [[ -f $tok/$f ]] && cp "$tok/$f" "$folder/"
    done
    weights="random MiniLM-shaped weights (make_bench_models.py), tokenizer from $tok"
  fi
  row "Model: $weights."
  local port_file=$WORK/embed_ready.json server_pid rc
  rm -f "$port_file"
  t=$(cap "${EMBED_TIMEOUT:-200}") || { row "not run: out of time"; return; }
  local deadline=$((SECONDS + t))
  # env directly (not in_bin): $! must be the server, so that the TERM below reaches it.
  env LD_LIBRARY_PATH="$GPU_LD_LIBRARY_PATH" "$BIN/infer-server" --model "minilm=$folder,rpcs=Embed,backend=${EMBED_BACKEND:-cuda:0},dtype=${EMBED_DTYPE:-bf16}" \
    --listen 127.0.0.1:0 --metrics-listen off --gpu-memory-utilization "${EMBED_GPU_MEM:-0.3}" \
    --max-batch 512 --max-encoder-batch "${MAX_ENCODER_BATCH:-256}" \
    --max-encoder-batch-tokens "${MAX_ENCODER_BATCH_TOKENS:-32768}" \
    --ready-file "$port_file" 2>"$LOGS/embed_server.log" &
  server_pid=$!
  while [[ ! -s $port_file ]] && kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline - 60)); do
    sleep 0.2
  done
  if [[ ! -s $port_file ]]; then
    row "infer-server did not become ready: $(tail -3 "$LOGS/embed_server.log" | tr '\n' ' ' | head -c 400)"
    BENCH_FAILED=1
    kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; return
  fi
  local port
  port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc_port"])' "$port_file")
  timeout $((deadline - SECONDS - 45)) "${EMBED_PYTHON:-python3}" benchmarks/cuda/embed_load.py \
    --target "127.0.0.1:$port" --model minilm --batch-sizes "${EMBED_BATCHES:-1,8,32,128}" \
    --concurrency "${EMBED_CONCURRENCY:-1,4}" --sentences "${EMBED_SENTENCES:-0}" \
    --reps "${EMBED_REPS:-3}" --json "$LOGS/embed_server.json" >"$LOGS/embed_load.log" 2>&1
  rc=$?
  kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null
  [[ $rc == 0 ]] || BENCH_FAILED=1
  [[ $rc == 0 ]] || row "embed_load.py exit status $rc: $(tail -3 "$LOGS/embed_load.log" | tr '\n' ' ' | head -c 400)"
  timeout $((deadline - SECONDS > 10 ? deadline - SECONDS : 10)) python3 benchmarks/cuda/st_embed_bench.py \
    --model "$folder" --batch-sizes "${EMBED_BATCHES:-1,8,32,128}" --dtype "${ST_DTYPE:-fp16}" \
    --device "${ST_DEVICE:-cuda}" --sentences "${EMBED_SENTENCES:-0}" --reps "${EMBED_REPS:-3}" \
    --server-json "$LOGS/embed_server.json" --json "$LOGS/embed_st.json" \
    --markdown "$WORK/embed.md" >"$LOGS/st_embed.log" 2>&1
  rc=$?
  [[ $rc == 0 ]] || BENCH_FAILED=1
  [[ $rc == 0 ]] || row "st_embed_bench.py exit status $rc: $(tail -3 "$LOGS/st_embed.log" | tr '\n' ' ' | head -c 400)"
  if [[ -s $WORK/embed.md ]]; then
    cat "$WORK/embed.md" >>"$WORK/summary.md"
    cat "$WORK/embed.md" >>"$WORK/results.md"
    cat "$WORK/embed.md"
  fi
}

# ---- output --------------------------------------------------------------------------------------
pack_out() {
  [[ -n ${OUT:-} ]] || return 0
  mkdir -p "$OUT"
  cp "$WORK/summary.md" "$OUT/summary.md" 2>/dev/null
  [[ -s $WORK/results.md ]] && cp "$WORK/results.md" "$OUT/results.md"
  # One archive of every log, JSON and table; under the tool's 16 MiB per file (the largest logs
  # are cut to their last 2 MiB first if need be).
  tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs 2>/dev/null
  if (($(stat -c %s "$OUT/logs.tar.gz" 2>/dev/null || echo 0) > 15 * 1048576)); then
    find "$LOGS" -type f -size +2M -exec sh -c 'tail -c 2097152 "$1" > "$1.tail" && mv "$1.tail" "$1"' _ {} \;
    tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs 2>/dev/null
  fi
}

finish() {
  local status=$?
  row ""
  row "Finished in $((SECONDS - T0)) s of a ${RUN_BUDGET_S} s budget; failures: check ${CHECK_FAILED:-0}, tests ${TESTS_FAILED:-0}, benchmarks ${BENCH_FAILED:-0}."
  pack_out
  echo
  echo "================ summary ($WORK/summary.md; \$OUT: summary.md results.md logs.tar.gz) ================"
  cat "$WORK/summary.md"
  exit "$status"
}

# ---- main ----------------------------------------------------------------------------------------
stages=("$@")
((${#stages[@]})) || stages=(all)
if [[ ${stages[0]} == env ]]; then
  mkdir -p "$LOGS"
  setup >&2 || exit 1
  printf 'export GPU_LD_LIBRARY_PATH=%q INFER_BIN_DIR=%q\n' "$GPU_LD_LIBRARY_PATH" "$BIN"
  exit 0
fi
if [[ ${stages[0]} == -h || ${stages[0]} == --help ]]; then
  sed -n '2,24p' "$0"; exit 0
fi

rm -rf "$WORK"
mkdir -p "$LOGS"
: >"$WORK/summary.md"
[[ -n ${OUT:-} ]] || echo "run.sh: OUT is not set (not under the run tool?): results stay in $WORK" >&2
CHECK_FAILED=0 TESTS_FAILED=0 BENCH_FAILED=0
SANITIZER=$(command -v compute-sanitizer || true)
for s in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
         /opt/nvidia/*/compute-sanitizer/compute-sanitizer; do
  [[ -z $SANITIZER && -x $s ]] && SANITIZER=$s
done
trap finish EXIT
echo "# GPU run $(date -u '+%Y-%m-%d %H:%M UTC'): ${stages[*]}" >"$WORK/summary.md"
setup || exit 1

expanded=()
for s in "${stages[@]}"; do
  case $s in
    all) expanded+=(check unit sanitize bench-attn bench-gen bench-embed) ;;
    tests) expanded+=(unit sanitize) ;;
    bench) expanded+=(bench-attn bench-gen bench-embed) ;;
    check|unit|sanitize|bench-attn|bench-gen|bench-embed) expanded+=("$s") ;;
    *) echo "run.sh: unknown stage '$s' (check, tests, unit, sanitize, bench, bench-attn, bench-gen, bench-embed, all, env)" >&2; exit 2 ;;
  esac
done
for s in "${expanded[@]}"; do
  if (($(remaining) < 30)); then
    section "$s: not run, out of time"; continue
  fi
  "stage_${s//-/_}"
  pack_out   # after every stage, so a kill still leaves what was learnt
done
((CHECK_FAILED || TESTS_FAILED || BENCH_FAILED)) && exit 1
exit 0
