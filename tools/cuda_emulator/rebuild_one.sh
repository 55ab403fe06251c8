#!/bin/bash
set -e
E="$(cd "$(dirname "$0")" && pwd)"; R="$(cd "$E/../.." && pwd)"; W="${EMU_WORK:-/tmp/attn_emu}"; mkdir -p "$W"
FLAGS="-std=c++20 -O1 -g -I$R -I$E -Wno-unknown-pragmas -march=x86-64-v3 -fsanitize=address,undefined"
for f in "$@"; do
  if [ "$f" = main ]; then g++ $FLAGS -c $E/emu_main.cc -o $W/obj/emu_main.o
  else g++ $FLAGS -x c++ -include $E/emu_cuda.h -c $R/kernels/cuda/$f.cu -o $W/obj/$f.o; fi
done
g++ $FLAGS -fopenmp $W/obj/*.o -o $W/emu_attn -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
