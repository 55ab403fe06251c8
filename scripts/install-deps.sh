#!/usr/bin/env bash
# Installs the Debian packages the build and tests need. Used by .ci/run and the Dockerfile.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ca-certificates \
  libabsl-dev nlohmann-json3-dev libutf8proc-dev libopenblas-dev libopenblas-openmp-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler prometheus-cpp-dev \
  python3 python3-grpcio python3-protobuf curl chromium >/dev/null
