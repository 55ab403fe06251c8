#!/usr/bin/env bash
# Installs, builds, and runs each engine task once on the small models under tests/golden/data.
# (Until the gRPC server lands, this shows the engine through the local CLI.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
cli=build/server/tools/infer-cli
models=tests/golden/data/models
set -x
$cli info "$models/gpt2"
$cli generate "$models/gpt2" "The license" --max-new-tokens 24
$cli generate "$models/gpt2" "The license" --max-new-tokens 24 --num-beams 4 --num-return-sequences 2
$cli generate "$models/gpt2" "The license" --max-new-tokens 24 --do-sample --top-p 0.9 --seed 7 --logprobs 2
$cli zero-shot "$models/gpt2" "You may copy and distribute the software." --labels "permission,restriction"
$cli classify "$models/bert" "the software is free" --pair "the software costs nothing"
$cli zero-shot "$models/bert" "the software is free" --labels "money,law,art"
$cli embed "$models/bert-embed" "free software" "open source"
$cli tokenize "$models/roberta" "Héllo wörld 👋"
