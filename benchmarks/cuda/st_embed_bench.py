#!/usr/bin/env python3
"""sentence-transformers encode() throughput on a GPU, and the table against infer-server's Embed.

For each batch size B, encodes the same sentences embed_load.py sends to the server (this file's
sentences_for_batch(B): deterministic English-like sentences of 6 to 40 words) with
SentenceTransformer(folder).encode(sentences, batch_size=B) in fp16 (or --dtype) on the GPU and
reports sentences/s (median of --reps after --warmup; encode() returns numpy, so every call ends
synchronised). Tokenisation, padding, pooling and normalisation are inside the timing on both
sides, as a user sees them; encode() also sorts its input by length before batching (less padding),
which is its normal behaviour.

With --server-json (embed_load.py's --json) it also prints the side-by-side markdown table and
checks fidelity: the server's embeddings of the first sentences against sentence-transformers in
float32 (cosine), next to fp16 sentence-transformers' own cosine to float32.

  python3 benchmarks/cuda/st_embed_bench.py --model FOLDER --batch-sizes 1,8,32,128 \
      --server-json embed_server.json --markdown embed.md
"""
import argparse
import json
import random
import statistics
import sys
import time

WORDS = (
    "the a man woman child dog cat house car city river mountain tree book letter story music "
    "song film game team player market price company bank money work job office school teacher "
    "student lesson question answer idea plan problem reason result system computer phone "
    "network model data server request language word sentence meaning example picture color "
    "light water food bread coffee tea dinner kitchen garden street road bridge train station "
    "airport plane ship sea beach island weather rain snow wind sun moon star night morning "
    "evening day week year history science art law health doctor hospital medicine energy "
    "power engine machine tool metal wood stone glass paper cloth friend family brother sister "
    "mother father people group party meeting event news report paper article is was are were "
    "has had will would can could should may might must runs ran walks walked eats ate reads "
    "read writes wrote sees saw finds found gives gave takes took makes made builds built opens "
    "opened closes closed wants needs likes loves hates knows thinks believes says said tells "
    "told asks asked quickly slowly carefully often never always sometimes today yesterday "
    "tomorrow here there very quite rather almost nearly new old big small long short high low "
    "good bad happy sad early late young bright dark warm cold quiet loud and or but because "
    "while after before during without with about under over near into from to of in on at for"
).split()


def make_sentences(n: int, seed: int = 1) -> list:
    """n deterministic sentences of 6 to 40 words (about 8 to 50 WordPiece tokens)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 40))]
        s = " ".join(words)
        out.append(s[0].upper() + s[1:] + ".")
    return out


def sentences_for_batch(batch: int, total: int = 0) -> list:
    """The sentences both sides encode at batch size `batch`: enough for 32 batches, at least
    256 and at most 4096 (so batch 1 stays short), or `total` when given."""
    n = total or max(256, min(4096, 32 * batch))
    return make_sentences(n, seed=1)


def parse_list(text: str) -> list:
    return [int(v) for v in text.split(",") if v.strip()]


def cosine(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na > 0 and nb > 0 else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="sentence-transformers folder")
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--sentences", type=int, default=0, help="sentences per batch size (0: auto)")
    ap.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--server-json", help="embed_load.py --json output: print the comparison")
    ap.add_argument("--markdown", help="also write the markdown table here")
    args = ap.parse_args()

    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("st_embed_bench: CUDA is not available to torch", file=sys.stderr)
        return 1
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    model = SentenceTransformer(args.model, device=args.device)
    model.eval()

    # Fidelity reference first, in float32: the server's dumped sentences (if any).
    server = json.load(open(args.server_json)) if args.server_json else None
    dump = (server or {}).get("dump") or {}
    ref32 = None
    if dump.get("sentences"):
        ref32 = model.encode(dump["sentences"], batch_size=len(dump["sentences"]),
                             convert_to_numpy=True, show_progress_bar=False).tolist()
    model = model.to(dtype)
    info = {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
            "device": torch.cuda.get_device_name(0) if cuda else "cpu", "dtype": args.dtype,
            "max_seq_length": model.max_seq_length, "model": args.model,
            "reps": args.reps, "warmup": args.warmup}
    print(json.dumps({"config": info}), file=sys.stderr)

    rows = []
    for b in parse_list(args.batch_sizes):
        sents = sentences_for_batch(b, args.sentences)
        # Tokens read (special tokens included, cut at max_seq_length as encode() does).
        tokens = sum(len(ids) for ids in model.tokenizer(
            sents, truncation=True, max_length=model.max_seq_length)["input_ids"])
        for _ in range(args.warmup):
            model.encode(sents[: max(b, 64)], batch_size=b, convert_to_numpy=True,
                         show_progress_bar=False)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            emb = model.encode(sents, batch_size=b, convert_to_numpy=True, show_progress_bar=False)
            times.append(time.perf_counter() - t0)
        assert emb.shape[0] == len(sents)
        med = statistics.median(times)
        row = {"batch": b, "sentences": len(sents), "tokens": tokens, "median_s": med,
               "times_s": times, "sentences_per_s": len(sents) / med,
               "tokens_per_s": tokens / med}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    fidelity = None
    if ref32 is not None and dump.get("embeddings"):
        st16 = model.encode(dump["sentences"], batch_size=len(dump["sentences"]),
                            convert_to_numpy=True, show_progress_bar=False).tolist()
        srv = [cosine(a, b) for a, b in zip(dump["embeddings"], ref32)]
        own = [cosine(a, b) for a, b in zip(st16, ref32)]
        fidelity = {"server_vs_st_fp32_min_cos": min(srv), "st_lowp_vs_st_fp32_min_cos": min(own),
                    "n": len(srv)}

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": info, "results": rows, "fidelity": fidelity}, f, indent=2)

    lines = [f"### Embed: infer-server over gRPC vs sentence-transformers encode() ({args.dtype})", "",
             f"GPU: {info['device']}; torch {info['torch']}, sentence-transformers "
             f"{info['sentence_transformers']}; model folder `{args.model}`. Same sentences both "
             f"sides (6-40 words each); sentences/s, median of {args.reps}.", ""]
    levels = []
    by = {}
    if server:
        for r in server["results"]:
            by[(r["batch"], r["concurrency"])] = r
            if r["concurrency"] not in levels:
                levels.append(r["concurrency"])
        cfg = server.get("config", {})
        lines += [f"Server: {cfg.get('target', '?')}, model `{cfg.get('model', '?')}`; "
                  f"c = requests in flight (client threads).", ""]
    head = "| batch | sentences | ST sent/s | ST tokens/s |"
    sep = "|---|---|---|---|"
    for c in levels:
        head += f" server c={c} sent/s | server/ST c={c} | p50 / p99 ms c={c} |"
        sep += "---|---|---|"
    lines += [head, sep]
    for r in rows:
        line = (f"| {r['batch']} | {r['sentences']} | {r['sentences_per_s']:.0f} | "
                f"{r['tokens_per_s']:.0f} |")
        for c in levels:
            s = by.get((r["batch"], c))
            if not s or not s.get("sentences_per_s"):
                line += f" {(s or {}).get('error', '-')} | - | - |"
                continue
            ratio = s["sentences_per_s"] / r["sentences_per_s"]
            line += (f" {s['sentences_per_s']:.0f} | **{ratio:.2f}x** | "
                     f"{s['latency_ms_p50']:.1f} / {s['latency_ms_p99']:.1f} |")
        lines.append(line)
    lines.append("")
    if fidelity:
        lines += [f"Fidelity on {fidelity['n']} sentences: cosine(server, ST float32) >= "
                  f"{fidelity['server_vs_st_fp32_min_cos']:.5f}; ST {args.dtype} vs ST float32: "
                  f">= {fidelity['st_lowp_vs_st_fp32_min_cos']:.5f}.", ""]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
