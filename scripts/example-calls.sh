#!/usr/bin/env bash
# Calls every RPC of a running server (scripts/serve.sh) once with the command-line client, on the
# default models. INFER_TARGET overrides the address (default localhost:50051).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=build/client/infer-client
[ -x "$cli" ] || bash scripts/build.sh infer-client >/dev/null
t=(--target "${INFER_TARGET:-localhost:50051}" --wait 300)
run() { echo; echo "\$ infer-client $*"; "$cli" "${t[@]}" "$@"; }
# The server listens at once and says NOT_SERVING until its models are loaded.
for _ in $(seq 300); do
  "$cli" "${t[@]}" health >/dev/null 2>&1 && break
  sleep 1
done
run health
run models
run generate "Once upon a time" --max-new-tokens 40 --do-sample --temperature 0.8 --top-p 0.9 --seed 1
run generate "The old man looked at the sea and" --max-new-tokens 30 --repetition-penalty 1.3
run embed "A man is eating food." "A man is eating a piece of bread." "The stock market fell sharply today."
run classify "The team won the championship game last night." --labels "sports,politics,cooking"
run classify --model gpt2-en-mini "The soup needs more salt and pepper." --labels "food,war"
run tokenize "Héllo wörld, tokenizers!"
run explain --model gpt2-en-mini "The animal didn't cross the street because it was too" --layers 0 --heads 0,1
