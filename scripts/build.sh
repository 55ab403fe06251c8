#!/usr/bin/env bash
# Configures and builds into ./build (Release, x86-64-v3 baseline). With arguments, builds only
# those targets (scripts/serve.sh builds just the server and the client).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ "$#" -gt 0 ]; then
  cmake --build build -j"$(nproc)" --target "$@"
else
  cmake --build build -j"$(nproc)"
fi
