#!/bin/bash
# Builds tests/cuda_attention_test.cc against the emulated CUDA kernels (no ASan, -O2 for speed).
set -e
E="$(cd "$(dirname "$0")" && pwd)"; R="$(cd "$E/../.." && pwd)"; W="${EMU_WORK:-/tmp/attn_emu}"; mkdir -p "$W"
OUT=$W/tobj
mkdir -p $OUT
FLAGS="-std=c++20 -O2 -g -I$R -I$E -Wno-unknown-pragmas -march=x86-64-v3 -DINFER_WITH_CUDA=1 ${EXTRA}"
BLAS="-I/usr/include/x86_64-linux-gnu/openblas-openmp"
build() { # src obj extra
  if [ ! -f "$2" ] || [ "$1" -nt "$2" ] || [ $E/emu_cuda.h -nt "$2" ]; then g++ $FLAGS $3 -c "$1" -o "$2"; fi
}
jobs=()
for f in attention_dispatch attention_decode attention_prefill attention_reference kv_write; do
  build $R/kernels/cuda/$f.cu $OUT/$f.o "-x c++ -include $E/emu_cuda.h" &
  [ $(jobs -r | wc -l) -ge 2 ] && wait -n
done
for f in $R/kernels/cpu/*.cc $R/kernels/backend.cc $R/kernels/tensor.cc $R/kernels/half_convert.cc; do
  build $f $OUT/$(basename $f .cc)_cc.o "-fopenmp $BLAS" &
  [ $(jobs -r | wc -l) -ge 2 ] && wait -n
done
build $E/emu_backend.cc $OUT/emu_backend.o "" &
build $R/tests/cuda_attention_test.cc $OUT/cuda_attention_test.o "" &
wait
g++ $FLAGS -fopenmp $OUT/*.o -o $W/emu_test -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lgtest -lgtest_main -lpthread
echo built
