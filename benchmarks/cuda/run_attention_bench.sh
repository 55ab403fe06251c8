#!/usr/bin/env bash
# Runs the attention lab (attention_bench) and PyTorch's FlashAttention (sdpa_reference.py) on
# the same GPU in one go and prints markdown tables side by side (prefill TFLOP/s with the ratio
# to SDPA; decode GB/s with the ratio to device-to-device cudaMemcpy) to stdout and to OUT.md.
#
# Usage: benchmarks/cuda/run_attention_bench.sh OUT.md [BUILD_DIR] [-- extra attention_bench args]
#   BUILD_DIR defaults to ./build (the attention_bench binary is BUILD_DIR/benchmarks/).
#   The raw JSON lines are kept next to OUT.md as OUT.md.infer.jsonl / OUT.md.sdpa.jsonl.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 OUT.md [BUILD_DIR] [-- attention_bench args]" >&2
  exit 2
fi
out=$1
shift
build=build
if [[ $# -gt 0 && $1 != "--" ]]; then
  build=$1
  shift
fi
[[ $# -gt 0 && $1 == "--" ]] && shift
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/benchmarks/attention_bench
if [[ ! -x $bin ]]; then
  echo "$bin not found: build it first (cmake --build $build --target attention_bench)" >&2
  exit 2
fi

infer_json=$out.infer.jsonl
sdpa_json=$out.sdpa.jsonl
"$bin" "$@" | tee "$infer_json" >&2
quick=()
for a in "$@"; do [[ $a == --quick ]] && quick=(--quick); done
if ! python3 "$here/sdpa_reference.py" "${quick[@]}" | tee "$sdpa_json" >&2; then
  echo "sdpa_reference.py failed; the table has no SDPA column values" >&2
fi

gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 ||
  true)
python3 - "$infer_json" "$sdpa_json" "$gpu" "$0 $out $build $*" <<'PY' | tee "$out"
import datetime
import json
import sys

infer_path, sdpa_path, gpu, command = sys.argv[1:5]


def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    return rows


infer, sdpa = load(infer_path), load(sdpa_path)
print("## Attention kernels vs PyTorch SDPA (FlashAttention backend)\n")
print(f"- GPU: {gpu or 'unknown'}; date: {datetime.date.today()}; command: `{command}`")
for r in sdpa:
    if r.get("bench") == "device":
        print(f"- torch {r.get('torch')}, CUDA {r.get('cuda')}")
for r in infer:
    if r.get("bench") == "validate":
        print(f"- validation {r['case']}: rel err {r['rel_err']} ({'ok' if r['ok'] else 'FAILED'})")
print()

key = lambda r: (r["hd"], r["seq"], r["causal"])
ref = {key(r): r for r in sdpa if r.get("bench") == "prefill"}
print("### Prefill (BF16, TFLOP/s; FLOPs = 4·batch·seq²·hd·heads, halved when causal)\n")
print("| hd | seq | batch | heads | causal | ours contiguous | ours paged (bs 16) | SDPA flash | "
      "ratio contiguous/SDPA | ratio paged/SDPA |")
print("|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|")
rows = {}
for r in infer:
    if r.get("bench") == "prefill":
        rows.setdefault(key(r), {})[r["kv"]] = r
for k in sorted(rows):
    c, p = rows[k].get("contiguous"), rows[k].get("paged16")
    s = ref.get(k)
    any_r = c or p
    fmt = lambda x: f"{x['tflops']:.1f}" if x else "-"
    ratio = lambda x: f"{x['tflops'] / s['tflops']:.2f}" if x and s and s["tflops"] > 0 else "-"
    print(f"| {k[0]} | {k[1]} | {any_r['batch']} | {any_r['heads']} | {'yes' if k[2] else 'no'} | "
          f"{fmt(c)} | {fmt(p)} | {fmt(s)} | {ratio(c)} | {ratio(p)} |")

memcpy = [r for r in infer if r.get("bench") == "memcpy_d2d"]
print("\n### Decode (BF16, paged block 16, 32 query / 8 kv heads, hd 128)\n")
if memcpy:
    print(f"Device-to-device cudaMemcpy: {memcpy[0]['gbps_read_plus_write']:.0f} GB/s "
          "(bytes read + bytes written).\n")
print("| batch | ctx | ms | GB/s (K+V+q+out) | ratio to memcpy | plan |")
print("|---:|---:|---:|---:|---:|:---|")
for r in infer:
    if r.get("bench") != "decode":
        continue
    if "skipped" in r:
        print(f"| {r['batch']} | {r['ctx']} | - | - | - | skipped: {r['skipped']} |")
        continue
    print(f"| {r['batch']} | {r['ctx']} | {r['ms']:.4f} | {r['gbps']:.0f} | "
          f"{r['ratio_to_memcpy']:.2f} | {r['plan']} |")
PY
