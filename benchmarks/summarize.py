#!/usr/bin/env python3
"""Turns the JSON lines of engine_bench and torch_bench.py into one markdown table.

Input: a results folder written by run_cpu.sh, holding r<round>/engine.jsonl and
r<round>/torch.jsonl. Every repetition time of every round is pooled per measurement and side;
the figure shown is throughput at the pooled median time. "Engine / PyTorch" is the ratio of
throughputs (> 1: the engine is faster); the bracket shows the lowest and highest ratio of the
individual rounds (engine and PyTorch ran back to back in each round), a measure of the noise.

Usage: python3 benchmarks/summarize.py RESULTS_DIR
"""
import collections
import json
import pathlib
import statistics
import sys


def load(folder: pathlib.Path):
    rounds = []  # [(round, impl, record)]
    for sub in sorted(folder.glob("r*")):
        for f in sorted(sub.glob("*.jsonl")):
            impl = f.stem  # engine, torch, or engine+<variant> (run_cpu.sh ENGINE_VARIANTS)
            for line in f.read_text().splitlines():
                line = line.strip()
                if line.startswith("{"):
                    rounds.append((sub.name, impl, json.loads(line)))
    return rounds


def key(rec):
    b = rec["bench"]
    if b == "gpt2_prefill":
        return (b, rec["prompt_len"])
    if b == "minilm_embed":
        return (b, rec["seq_len"])
    if b == "mem_read_bw":
        return (b, -rec["threads"])
    return (b, 0)


def items(rec):
    """Work items per timed repetition and their unit."""
    b = rec["bench"]
    if b == "gpt2_prefill":
        return rec["prompt_len"], "tok/s"
    if b == "gpt2_decode":
        return rec["steps"], "tok/s"
    if b == "minilm_embed":
        return rec["batch"], "sent/s"
    if b == "sgemm_peak":
        return 2.0 * rec["m"] * rec["n"] * rec["k"] / 1e9, "GFLOP/s"
    if b == "mem_read_bw":
        return rec["bytes"] / 1e9, "GB/s"
    return 1, "1/s"


def flops_per_rep(rec, executed=False):
    b = rec["bench"]
    if b == "gpt2_prefill":
        per = rec.get("executed_flops_per_token" if executed else "flops_per_token",
                      rec["flops_per_token"])
        return per * rec["prompt_len"]
    if b == "gpt2_decode":
        return rec["flops_per_token"] * rec["steps"]
    if b == "minilm_embed":
        return rec["flops_per_sentence"] * rec["batch"]
    return None


def work_text(rec):
    b = rec["bench"]
    if b in ("gpt2_prefill", "gpt2_decode"):
        s = f"{rec['flops_per_token'] / 1e6:.0f} MFLOP/tok"
        if b == "gpt2_decode":
            s += f", {rec['bytes_per_token'] / 1e6:.0f} MB/tok"
        return s
    if b == "minilm_embed":
        return f"{rec['flops_per_sentence'] / 1e6:.0f} MFLOP/sent"
    return ""


def label(rec, variant=None):
    b = rec["bench"]
    if b == "gpt2_prefill":
        s = f"GPT-2 prefill, prompt {rec['prompt_len']}, batch 1"
    elif b == "gpt2_decode":
        s = f"GPT-2 decode, batch 1 ({rec['prompt_len']}-token prompt, {rec['steps']} steps)"
    elif b == "minilm_embed":
        s = f"MiniLM embed, batch {rec['batch']} x {rec['seq_len']} tokens"
    elif b == "sgemm_peak":
        s = f"sgemm {rec['m']}^3 float32"
    elif b == "mem_read_bw":
        s = f"memory read bandwidth, {rec['threads']} thread(s)"
    else:
        s = b
    if variant:
        s += f" [torch: {variant}]"
    return s


def main():
    folder = pathlib.Path(sys.argv[1])
    recs = load(folder)
    # (key, variant) -> impl -> list of (round, record)
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    configs = {}
    for rnd, impl, rec in recs:
        if rec["bench"] in ("config", "op"):
            configs.setdefault(impl, rec)
            continue
        groups[key(rec)][(impl, rec.get("variant"))].append((rnd, rec))

    def pooled(entries):
        times = [t for _, r in entries for t in r["times_s"]]
        return statistics.median(times), len(times)

    peak, peak_by = None, ""
    for k, sides in groups.items():
        if k[0] == "sgemm_peak":
            for (impl, _), entries in sides.items():
                n, _ = items(entries[0][1])
                g = n / pooled(entries)[0]
                if peak is None or g > peak:
                    peak, peak_by = g, impl

    bw = None  # best measured memory read bandwidth, GB/s
    for k, sides in groups.items():
        if k[0] == "mem_read_bw":
            for entries in sides.values():
                g = items(entries[0][1])[0] / pooled(entries)[0]
                bw = g if bw is None else max(bw, g)

    e_cfg, t_cfg = configs.get("engine", {}), configs.get("torch", {})
    print(f"Threads: engine OpenMP {e_cfg.get('omp_threads')} + OpenBLAS "
          f"{e_cfg.get('openblas_threads')} (kernel set {e_cfg.get('openblas_core')}); torch "
          f"{t_cfg.get('threads')} (torch {t_cfg.get('torch')}, transformers "
          f"{t_cfg.get('transformers')}, CPU capability {t_cfg.get('cpu_capability')}). "
          f"Rounds: {len({r for r, _, _ in recs})}.")
    print()
    print("| Measurement | Work per item | Engine | PyTorch | Engine / PyTorch (round range) |"
          " Engine GFLOP/s (% of peak) | PyTorch GFLOP/s (% of peak) |")
    print("|---|---|---|---|---|---|---|")
    order = ["sgemm_peak", "mem_read_bw", "gpt2_prefill", "gpt2_decode", "minilm_embed"]
    for k in sorted(groups, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1])):
        sides = groups[k]
        engine = sides.get(("engine", None), [])
        torch_variants = sorted(v for (impl, v) in sides if impl == "torch")
        if not torch_variants:
            torch_variants = [None]
        for variant in torch_variants:
            torch_entries = sides.get(("torch", variant), [])
            ref = (engine or torch_entries)[0][1]
            n, unit = items(ref)

            def fig(entries):
                if not entries:
                    return None, None
                med, count = pooled(entries)
                return n / med, med

            e_thr, e_med = fig(engine)
            t_thr, t_med = fig(torch_entries)
            ratio = "-"
            if e_thr and t_thr:
                by_round_e = {r: rec for r, rec in engine}
                per_round = []
                for r, rec in torch_entries:
                    if r in by_round_e:
                        per_round.append(statistics.median(rec["times_s"]) /
                                         statistics.median(by_round_e[r]["times_s"]))
                ratio = f"**{e_thr / t_thr:.2f}x**"
                if len(per_round) > 1:
                    ratio += f" ({min(per_round):.2f}-{max(per_round):.2f})"

            def gf(entries, med, executed):
                if not entries or med is None:
                    return "-"
                fl = flops_per_rep(entries[0][1], executed)
                if fl is None:
                    return "-"
                g = fl / med / 1e9
                text = f"{g:.1f} ({100 * g / peak:.0f}%)" if peak else f"{g:.1f}"
                rec = entries[0][1]
                if rec["bench"] == "gpt2_decode":  # bound by memory, not by FLOPs
                    gbps = rec["bytes_per_token"] * rec["steps"] / med / 1e9
                    text += f"; {gbps:.1f} GB/s" + (f" ({100 * gbps / bw:.0f}% of read bw)"
                                                     if bw else "")
                return text

            def show(v):
                return "-" if v is None else (f"{v:.1f} {unit}" if v < 1000 else f"{v:.0f} {unit}")

            name = label(ref, variant)
            if k[0] == "sgemm_peak":
                libs = {impl: es[0][1].get("lib", "") + ("/" + es[0][1]["core"]
                                                         if "core" in es[0][1] else "")
                        for (impl, _), es in sides.items()}
                name += f" (engine: {libs.get('engine', '-')}; torch: {libs.get('torch', '-')})"
            print(f"| {name} | {work_text(ref)} | {show(e_thr)} | {show(t_thr)} | {ratio} | "
                  f"{gf(engine, e_med, False)} | {gf(torch_entries, t_med, True)} |")
    print()
    print("GFLOP/s count useful work only for the engine; for PyTorch they count the work it")
    print("executes (full_logits computes the LM head for every prompt position). % of peak is of")
    print(f"the best measured sgemm figure ({peak:.1f} GFLOP/s, by {peak_by})." if peak else "")
    # Engine variants: the same binary under other settings (what-if runs, not the default).
    variants = sorted({impl for (impl, _) in (x for g in groups.values() for x in g)
                       if impl.startswith("engine+")})
    if variants:
        print()
        print("Engine variants (same build, other run-time settings; not the default):")
        print()
        print("| Measurement | Variant | Engine variant | vs engine default | vs PyTorch |")
        print("|---|---|---|---|---|")
        for k in sorted(groups, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1])):
            sides = groups[k]
            base = sides.get(("engine", None), [])
            torch_entries = [es for (impl, _), es in sides.items() if impl == "torch"]
            for v in variants:
                entries = sides.get((v, None), [])
                if not entries:
                    continue
                n, unit = items(entries[0][1])
                thr = n / pooled(entries)[0]
                vs_base = f"{thr / (n / pooled(base)[0]):.2f}x" if base else "-"
                vs_torch = " / ".join(
                    f"{thr / (n / pooled(es)[0]):.2f}x" +
                    (f" ({es[0][1]['variant']})" if es[0][1].get("variant") else "")
                    for es in torch_entries) or "-"
                print(f"| {label(entries[0][1])} | {v[len('engine+'):]} | {thr:.1f} {unit} | "
                      f"{vs_base} | {vs_torch} |")
    # Greedy-decode agreement: both sides must produce the same tokens from the same weights.
    dec = groups.get(("gpt2_decode", 0), {})
    e = dec.get(("engine", None)), dec.get(("torch", None))
    if e[0] and e[1]:
        same = e[0][0][1]["tokens_hash"] == e[1][0][1]["tokens_hash"]
        print(f"Greedy decode tokens identical between engine and PyTorch: "
              f"{'yes' if same else 'NO'} (first: {e[0][0][1]['tokens'][:8]}).")


if __name__ == "__main__":
    main()
