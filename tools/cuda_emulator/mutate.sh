#!/bin/bash
# mutate.sh <file> <python replace expr old> <new> : builds emulator with a mutated copy, runs seq+early & late
E="$(cd "$(dirname "$0")" && pwd)"; R="$(cd "$E/../.." && pwd)"; W="${EMU_WORK:-/tmp/attn_emu}"; mkdir -p "$W"
f=$1; old=$2; new=$3
python3 - "$R/kernels/cuda/$f.cu" "$old" "$new" > $W/mut_$f.cu <<'PY'
import sys
s=open(sys.argv[1]).read()
assert sys.argv[2] in s, "pattern not found"
print(s.replace(sys.argv[2], sys.argv[3], 1))
PY
FLAGS="-std=c++20 -O1 -g -I$R -I$E -Wno-unknown-pragmas -march=x86-64-v3 -fsanitize=address,undefined"
mkdir -p $W/mobj
g++ $FLAGS -x c++ -include $E/emu_cuda.h -c $W/mut_$f.cu -o $W/mobj/$f.o || exit 1
objs=$(ls $W/obj/*.o | grep -v "/$f.o")
g++ $FLAGS -fopenmp $objs $W/mobj/$f.o -o $W/emu_mut -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas
for m in early seqlate seq; do echo "mode $m: $(EMU_MODE=$m ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0 timeout 600 $W/emu_mut $4 2>&1 | grep -cE '^FAIL|EMU FAIL|ERROR') failures"; done
