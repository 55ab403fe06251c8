#!/bin/bash
set -e
R=/work/main
FLAGS="-std=c++20 -O1 -g -I$R -I/tmp/attn_emu -Wno-unknown-pragmas -march=x86-64-v3 -fsanitize=address,undefined"
for f in "$@"; do
  if [ "$f" = main ]; then g++ $FLAGS -c /tmp/attn_emu/emu_main.cc -o /tmp/attn_emu/obj/emu_main.o
  else g++ $FLAGS -x c++ -include /tmp/attn_emu/emu_cuda.h -c $R/kernels/cuda/$f.cu -o /tmp/attn_emu/obj/$f.o; fi
done
g++ $FLAGS -fopenmp /tmp/attn_emu/obj/*.o -o /tmp/attn_emu/emu_attn -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
