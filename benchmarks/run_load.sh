#!/usr/bin/env bash
# Generate under concurrent load, end to end: builds infer-server and load_generator, serves the
# GPT-2-small-shaped random-weight model on loopback, runs load_generator at each concurrency
# level, stops the server, prints the table and appends a dated section to benchmarks/RESULTS.md.
#
#   benchmarks/run_load.sh
#   LABEL="before continuous batching (model lock)" BUILD=build-dec benchmarks/run_load.sh
#
# Environment (all optional):
#   MODELS       model folders, made by make_bench_models.py when missing      (/tmp/infer-bench)
#   BUILD        CMake build folder                                             (build)
#   CONCURRENCY  streams per level, in order; levels may repeat: 1,16,1,16,1,16 alternates
#                rounds and reports the 16 / 1 ratio of each round and their median  (1,4,16,64)
#   DURATION     seconds each level keeps sending; requests in flight then finish (60)
#   REQUESTS     requests per stream instead of DURATION (when set)
#   PROMPT_TOKENS, NEW_TOKENS  per request                                      (64, 64)
#   WARMUP       untimed requests before the first level                        (2)
#   KV_MIB       server --kv-cache-mib: 64 streams x 128 tokens of GPT-2 small need ~600 MiB,
#                more than the server's default 512                              (1024)
#   SERVER       an infer-server binary to use instead of building $BUILD's (e.g. one built from
#                another commit, to compare before / after)
#   LOAD_GENERATOR  a load_generator binary to use instead of building $BUILD's; with SERVER
#                too, nothing is built (A/B runs on a busy machine, or builds of another type)
#   LABEL        words added to the RESULTS.md section title
#   APPEND       1: append to RESULTS (benchmarks/RESULTS.md); 0: only print      (1)
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=${MODELS:-/tmp/infer-bench}
BUILD=${BUILD:-build}
CONCURRENCY=${CONCURRENCY:-1,4,16,64}
DURATION=${DURATION:-60}
REQUESTS=${REQUESTS:-}
PROMPT_TOKENS=${PROMPT_TOKENS:-64}
NEW_TOKENS=${NEW_TOKENS:-64}
WARMUP=${WARMUP:-2}
KV_MIB=${KV_MIB:-1024}
LABEL=${LABEL:-}
APPEND=${APPEND:-1}
RESULTS=${RESULTS:-benchmarks/RESULTS.md}

SERVER=${SERVER:-}
LOAD_GENERATOR=${LOAD_GENERATOR:-}
targets=()
[[ -n $LOAD_GENERATOR ]] || targets+=(load_generator)
commit="\`$(git rev-parse --short HEAD)\`"
if [[ -n $SERVER ]]; then
  commit+=" (load generator); server binary \`$SERVER\`, built elsewhere"
else
  targets+=(infer-server)
  git diff --quiet HEAD -- server kernels proto CMakeLists.txt || commit+=" with uncommitted changes"
fi
if ((${#targets[@]})); then
  echo "== build ($BUILD, Release: ${targets[*]})" >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2
  cmake --build "$BUILD" -j2 --target "${targets[@]}" >&2
fi
SERVER=${SERVER:-$BUILD/server/infer-server}
LOAD_GENERATOR=${LOAD_GENERATOR:-$BUILD/benchmarks/load_generator}
[[ -x $SERVER ]] || { echo "no infer-server binary at $SERVER" >&2; exit 1; }

if [[ ! -f "$MODELS/gpt2-small/model.safetensors" ]]; then
  echo "== making model folders in $MODELS" >&2
  python3 benchmarks/make_bench_models.py --out "$MODELS" >&2
fi
# The server refuses a folder without a tokenizer, and make_bench_models.py writes none (the
# engine benchmarks feed ids). The load feeds ids too, so any GPT-2 byte-level BPE tokenizer
# within the model's vocabulary will do: borrow gpt2-en-mini's (8192 <= 50257; ids it lacks
# stream as empty text). Links keep the 500 MB of weights in one place.
SERVE="$MODELS/gpt2-small-serve"
mkdir -p "$SERVE"
ln -sf "$(realpath "$MODELS/gpt2-small/config.json")" "$SERVE/config.json"
ln -sf "$(realpath "$MODELS/gpt2-small/model.safetensors")" "$SERVE/model.safetensors"
ln -sf "$(realpath "$MODELS/gpt2-small/generation_config.json")" "$SERVE/generation_config.json"
for f in tokenizer.json vocab.json merges.txt tokenizer_config.json special_tokens_map.json; do
  cp models/gpt2-en-mini/$f "$SERVE/"
done

work=$(mktemp -d /tmp/infer-load.XXXXXX)
server_pid=
stop_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || echo "infer-server exited with status $? (log: $work/server.log)" >&2
  fi
  server_pid=
}
trap stop_server EXIT

echo "== serving $SERVE (log: $work/server.log)" >&2
# Port 0: the server picks free ports and tells us through the ready file, so two runs (or a
# server already on 50051) never collide.
"$SERVER" --model "gpt2-small=$SERVE,rpcs=Generate" \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --kv-cache-mib "$KV_MIB" \
  --ready-file "$work/ready.json" 2>"$work/server.log" &
server_pid=$!
for ((i = 0; i < 600; ++i)); do   # up to 60 s: loading maps 500 MB of weights
  [[ -s $work/ready.json ]] && break
  kill -0 "$server_pid" 2>/dev/null || { tail -5 "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -s $work/ready.json ]] || { echo "infer-server not ready after 60 s" >&2; exit 1; }
port=$(sed -n 's/.*"grpc_port": *\([0-9]*\).*/\1/p' "$work/ready.json")

if [[ -n $REQUESTS ]]; then
  amount=(--requests-per-stream "$REQUESTS") amount_env="REQUESTS=$REQUESTS"
else
  amount=(--duration-seconds "$DURATION") amount_env="DURATION=$DURATION"
fi
cmd=("$LOAD_GENERATOR" --target "127.0.0.1:$port" --model gpt2-small
     --concurrency "$CONCURRENCY" "${amount[@]}" --prompt-tokens "$PROMPT_TOKENS"
     --max-new-tokens "$NEW_TOKENS" --ignore-eos --warmup "$WARMUP" --json "$work/load.json")
echo "== ${cmd[*]}" >&2
# The machine may be shared: the load average around the run says how much to trust it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"${cmd[@]}" >"$work/table.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_server

# Scaling figures and any failures, from the JSON (stdlib only: either python3 will do).
summary=$(python3 - "$work/load.json" <<'EOF'
import json, statistics, sys
levels = json.load(open(sys.argv[1]))["levels"]
for l in levels:
    if l["failed"]:
        print(f"WARNING: {l['concurrency']} streams: failed requests {l['failed']}")
# A level may repeat (CONCURRENCY=1,16,1,16,...: rounds alternate, so that a slow spell of a
# shared machine falls on both): each 16-stream level is paired with the 1-stream level run
# just before it.
ratios, last_one = [], None
for l in levels:
    if l["concurrency"] == 1:
        last_one = l["tokens_per_s"]
    elif l["concurrency"] == 16 and last_one:
        ratios.append(l["tokens_per_s"] / last_one)
if len(ratios) == 1:
    print(f"Aggregate tokens/s at 16 streams / at 1 stream: **{ratios[0]:.2f}x**.")
elif ratios:
    per = {c: statistics.median(l["tokens_per_s"] for l in levels if l["concurrency"] == c)
           for c in (1, 16)}
    print(f"Aggregate tokens/s at 16 streams / at 1 stream, {len(ratios)} alternating rounds: "
          f"median **{statistics.median(ratios):.2f}x** (rounds "
          + ", ".join(f"{r:.2f}" for r in ratios)
          + f"); median tokens/s {per[1]:.1f} at 1 stream, {per[16]:.1f} at 16.")
EOF
)

section=$(cat <<EOF

## Load: Generate over gRPC${LABEL:+, $LABEL} ($(date -u '+%Y-%m-%d %H:%M UTC'))

Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average (1, 5, 15 min)
$load_before before, $load_after after. Commit: $commit.
Command: \`CONCURRENCY=$CONCURRENCY $amount_env PROMPT_TOKENS=$PROMPT_TOKENS NEW_TOKENS=$NEW_TOKENS WARMUP=$WARMUP KV_MIB=$KV_MIB benchmarks/run_load.sh\`
(load_generator: \`$(echo "${cmd[*]}" | sed "s#$work/#<tmp>/#")\`).
Server: \`infer-server --model gpt2-small=$SERVE,rpcs=Generate --kv-cache-mib $KV_MIB\`; model: GPT-2
small shape (124M parameters, random weights, float32, CPU), greedy, ignore EOS, random prompt
ids per request, one gRPC connection. Times in ms; tokens/s = all tokens received / level wall
time (first send to last reply).

$(cat "$work/table.md")

$summary
EOF
)
echo "$section"
if [[ $APPEND == 1 ]]; then
  echo "$section" >>"$RESULTS"
  echo "== appended to $RESULTS" >&2
fi
rm -rf "$work"
