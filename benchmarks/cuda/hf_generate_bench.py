#!/usr/bin/env python3
"""transformers generate() throughput on a GPU, and the side-by-side table with infer-server.

Bench mode (default): loads a GPT-2 folder (make_bench_models.py's gpt2-small) in bf16 on the
GPU and, for each batch size, times one batched greedy generate() call that produces exactly
--new-tokens per row (min_new_tokens = max_new_tokens, so EOS never stops it) from --prompt-tokens
random ids per row (SplitMix64, no shared prefix, as load_generator sends). Reports generated
tokens/s (batch * new tokens / wall time of the call, synchronised), the time of a 1-token call
(prefill + first token: the TTFT a user of generate() sees) and the mean time of each later step
((t_full - t_first) / (new - 1): the inter-token latency). Median of --reps after --warmup.

Compare mode (--compare): reads load_generator's --json and this script's --json and prints the
markdown table benchmarks/cuda/e2e_generate.sh reports: per level, server tokens/s vs
transformers tokens/s at batch = streams and their ratio, with TTFT and ITL side by side.

  python3 benchmarks/cuda/hf_generate_bench.py --model /tmp/infer-bench/gpt2-small \
      --batches 1,4,16,64,256 --json hf.json
  python3 benchmarks/cuda/hf_generate_bench.py --compare --server-json load.json --hf-json hf.json
"""
import argparse
import json
import re
import statistics
import sys
import time

MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def random_ids(seed: int, n: int, vocab: int) -> list:
    return [splitmix64(seed * 1000003 + i) % vocab for i in range(n)]


def parse_list(text: str) -> list:
    return [int(v) for v in text.split(",") if v.strip()]


# ---- bench ---------------------------------------------------------------------------------------

def load_model(folder: str, dtype, device: str):
    import torch
    import transformers
    version = tuple(int(v) for v in re.findall(r"\d+", transformers.__version__)[:2])
    kw = "dtype" if version >= (4, 56) else "torch_dtype"  # torch_dtype is deprecated from 4.56
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, **{kw: dtype})
    model = model.to(device).eval()
    assert model.dtype == dtype, f"loaded as {model.dtype}, wanted {dtype}"
    torch.set_grad_enabled(False)
    return model


def bench(args) -> int:
    import torch
    import transformers
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    device = args.device
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("hf_generate_bench: CUDA is not available to torch", file=sys.stderr)
        return 1
    model = load_model(args.model, dtype, device)
    cfg = model.config
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else 0
    info = {
        "torch": torch.__version__, "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu", "dtype": args.dtype,
        "attn_implementation": getattr(cfg, "_attn_implementation", "?"),
        "model": args.model, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
        "reps": args.reps, "warmup": args.warmup,
    }
    print(json.dumps({"config": info}), file=sys.stderr)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def run(ids, mask, new):
        sync()
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new,
                             min_new_tokens=new, do_sample=False, num_beams=1,
                             repetition_penalty=1.0, no_repeat_ngram_size=0,
                             pad_token_id=eos, use_cache=True)
        sync()
        dt = time.perf_counter() - t0
        assert tuple(out.shape) == (ids.shape[0], ids.shape[1] + new), tuple(out.shape)
        return dt, out

    rows = []
    for b in parse_list(args.batches):
        ids = torch.tensor([random_ids(1000 * b + r, args.prompt_tokens, cfg.vocab_size)
                            for r in range(b)], device=device)
        mask = torch.ones_like(ids)
        row = {"batch": b}
        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            for _ in range(args.warmup):
                run(ids, mask, args.new_tokens)
            full, first = [], []
            out = None
            for _ in range(args.reps):
                dt, out = run(ids, mask, args.new_tokens)
                full.append(dt)
                first.append(run(ids, mask, 1)[0])
            med, med1 = statistics.median(full), statistics.median(first)
            row.update({
                "median_s": med, "times_s": full, "first_token_times_s": first,
                "tokens_per_s": b * args.new_tokens / med,
                "ttft_ms": med1 * 1e3,
                "step_ms": (med - med1) / max(args.new_tokens - 1, 1) * 1e3,
                "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
                "first_row_tokens": out[0, args.prompt_tokens:args.prompt_tokens + 8].tolist(),
            })
        except torch.cuda.OutOfMemoryError as e:  # recorded, not fatal: the other sizes stand
            row["error"] = f"out of memory: {e}"[:300]
            torch.cuda.empty_cache()
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    print(f"| batch | tokens/s | call s | prefill+1 token ms | step ms | peak GiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['batch']} | {r['error']} | | | | |")
            continue
        mem = f"{r['peak_mem_gib']:.2f}" if r.get("peak_mem_gib") is not None else "-"
        print(f"| {r['batch']} | {r['tokens_per_s']:.0f} | {r['median_s']:.3f} | "
              f"{r['ttft_ms']:.1f} | {r['step_ms']:.2f} | {mem} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": info, "batches": rows}, f, indent=2)
    return 0


# ---- compare -------------------------------------------------------------------------------------

def metric_means(path: str) -> str:
    """Mean sequences and tokens per model step over the whole run, from the server's /metrics."""
    try:
        text = open(path).read()
    except OSError:
        return ""
    vals = {}
    for name in ("infer_batch_sequences", "infer_batch_tokens"):
        s = re.search(rf"^{name}_sum(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
        c = re.search(rf"^{name}_count(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
        if s and c and float(c.group(1)) > 0:
            vals[name] = (float(s.group(1)) / float(c.group(1)), int(float(c.group(1))))
    if not vals:
        return ""
    parts = []
    if "infer_batch_sequences" in vals:
        m, n = vals["infer_batch_sequences"]
        parts.append(f"{m:.1f} sequences per model step (mean over all {n} steps of the run)")
    if "infer_batch_tokens" in vals:
        parts.append(f"{vals['infer_batch_tokens'][0]:.1f} tokens per step")
    return "Server /metrics: " + ", ".join(parts) + "."


def fmt(v, digits=1):
    return "-" if v is None or v < 0 else f"{v:.{digits}f}"


def compare(args) -> int:
    server = json.load(open(args.server_json))
    levels = {l["concurrency"]: l for l in server["levels"]}
    hf = {}
    hf_cfg = {}
    if args.hf_json:
        h = json.load(open(args.hf_json))
        hf = {r["batch"]: r for r in h["batches"]}
        hf_cfg = h.get("config", {})
    out = [f"### {args.title}", ""]
    if hf_cfg:
        out += [f"GPU: {hf_cfg.get('device')}; torch {hf_cfg.get('torch')}, transformers "
                f"{hf_cfg.get('transformers')} (attention: {hf_cfg.get('attn_implementation')}).", ""]
    if args.note:
        out += [args.note, ""]
    out += ["| streams = HF batch | server tok/s | HF tok/s | server / HF | server TTFT p50 / p99 ms"
            " | HF prefill+1 ms | server ITL p50 / p99 ms | HF step ms | server e2e p50 ms | server OK / failed |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    ratios = {}
    for c in sorted(set(levels) | set(hf)):
        l, r = levels.get(c), hf.get(c)
        s_tps = l["tokens_per_s"] if l else None
        h_tps = r.get("tokens_per_s") if r else None
        ratio = s_tps / h_tps if s_tps and h_tps else None
        if ratio:
            ratios[c] = ratio
        failed = ", ".join(f"{k} {v}" for k, v in (l["failed"] or {}).items()) if l else ""
        out.append(
            f"| {c} | {fmt(s_tps, 0)} | {fmt(h_tps, 0) if r and 'error' not in r else (r or {}).get('error', '-')} | "
            f"{'**%.2fx**' % ratio if ratio else '-'} | "
            f"{fmt(l['ttft_ms']['p50']) if l else '-'} / {fmt(l['ttft_ms']['p99']) if l else '-'} | "
            f"{fmt(r.get('ttft_ms')) if r else '-'} | "
            f"{fmt(l['itl_ms']['p50'], 2) if l else '-'} / {fmt(l['itl_ms']['p99'], 2) if l else '-'} | "
            f"{fmt(r.get('step_ms'), 2) if r else '-'} | "
            f"{fmt(l['e2e_ms']['p50']) if l else '-'} | "
            f"{(str(l['requests_ok']) + ' / ' + (failed or '0')) if l else '-'} |")
    out.append("")
    m = metric_means(args.metrics) if args.metrics else ""
    if m:
        out += [m, ""]
    if 64 in ratios:
        verdict = "met" if ratios[64] >= 2.0 else "not met"
        out += [f"At 64 streams the server generates **{ratios[64]:.2f}x** transformers' tokens/s "
                f"(target 2x: {verdict}).", ""]
    print("\n".join(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GPT-2 model folder (bench mode)")
    ap.add_argument("--batches", default="1,4,16,64,256")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", help="write the results here (bench mode)")
    ap.add_argument("--compare", action="store_true", help="print the side-by-side table")
    ap.add_argument("--server-json", help="load_generator --json output (compare mode)")
    ap.add_argument("--hf-json", help="this script's --json output (compare mode)")
    ap.add_argument("--metrics", help="the server's /metrics text, saved (compare mode)")
    ap.add_argument("--title", default="Generate: infer-server vs transformers generate()")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    if args.compare:
        if not args.server_json:
            ap.error("--compare needs --server-json")
        return compare(args)
    if not args.model:
        ap.error("--model is required")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
