#!/bin/bash
# mutate.sh <file> <python replace expr old> <new> : builds emulator with a mutated copy, runs seq+early & late
R=/work/main
f=$1; old=$2; new=$3
python3 - "$R/kernels/cuda/$f.cu" "$old" "$new" > /tmp/attn_emu/mut_$f.cu <<'PY'
import sys
s=open(sys.argv[1]).read()
assert sys.argv[2] in s, "pattern not found"
print(s.replace(sys.argv[2], sys.argv[3], 1))
PY
FLAGS="-std=c++20 -O1 -g -I$R -I/tmp/attn_emu -Wno-unknown-pragmas -march=x86-64-v3 -fsanitize=address,undefined"
mkdir -p /tmp/attn_emu/mobj
g++ $FLAGS -x c++ -include /tmp/attn_emu/emu_cuda.h -c /tmp/attn_emu/mut_$f.cu -o /tmp/attn_emu/mobj/$f.o || exit 1
objs=$(ls /tmp/attn_emu/obj/*.o | grep -v "/$f.o")
g++ $FLAGS -fopenmp $objs /tmp/attn_emu/mobj/$f.o -o /tmp/attn_emu/emu_mut -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
for m in early seqlate seq; do echo "mode $m: $(EMU_MODE=$m ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0 timeout 600 /tmp/attn_emu/emu_mut $4 2>&1 | grep -cE '^FAIL|EMU FAIL|ERROR') failures"; done
