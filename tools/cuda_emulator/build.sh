#!/bin/bash
# Builds the emulator: kernel sources as C++ with emu_cuda.h force-included.
set -e
E="$(cd "$(dirname "$0")" && pwd)"; R="$(cd "$E/../.." && pwd)"; W="${EMU_WORK:-/tmp/attn_emu}"; mkdir -p "$W"
OUT=$W/obj
mkdir -p $OUT
FLAGS="-std=c++20 -O1 -g -I$R -I$E -Wno-unknown-pragmas -march=x86-64-v3 -fsanitize=address,undefined ${EXTRA}"
for f in attention_dispatch attention_decode attention_prefill attention_reference kv_write; do
  g++ $FLAGS -x c++ -include $E/emu_cuda.h -c $R/kernels/cuda/$f.cu -o $OUT/$f.o &
done
for f in cpu/attention cpu/kv_write half_convert tensor; do
  g++ $FLAGS -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-openmp -c $R/kernels/$f.cc -o $OUT/$(basename $f)_cc.o &
  wait -n || true
done
wait
g++ $FLAGS -c $E/emu_main.cc -o $OUT/emu_main.o
g++ $FLAGS -fopenmp $OUT/*.o -o $W/emu_attn -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
echo built
