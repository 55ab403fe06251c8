#!/usr/bin/env bash
# Configures and builds the whole tree into ./build (Release, x86-64-v3 baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
