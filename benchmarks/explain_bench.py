#!/usr/bin/env python3
"""Time of a full ExplainAttention on a 128-token input, per default model, end to end over gRPC.

Starts infer-server (from --build) with the embedded default models, finds a text of exactly
--tokens tokens for each model (words of a fixed paragraph, counted with the Tokenize RPC), asks
for every method the model supports, three times, and prints (and with --append, adds to
benchmarks/RESULTS.md) the median client wall time with the server's footer: forward passes,
engine calls, bytes and server wall time.

    python3 benchmarks/explain_bench.py --build build [--append]
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

from infer_client import InferenceClient, explain_pb2  # noqa: E402
from server_process import ServerProcess  # noqa: E402

PARAGRAPH = (
    "The animal didn't cross the street because it was too tired. A small dog watched from the "
    "corner while the rain kept falling on the old town, and the people who lived there closed "
    "their windows one after another. Nobody knew when the storm would end, but everyone agreed "
    "that the river had never been so high, and that the bridge, built by their grandparents, "
    "would hold as it always had. In the morning the sky was clear again, the streets were "
    "quiet, and the animal finally crossed to the other side, where a warm kitchen and a bowl of "
    "milk were waiting for it as if nothing at all had happened during the long night before.")
OTHER_TEXTS = ["A cat sleeps in the sun.", "The market fell sharply today.",
               "Rain is expected tomorrow.", "She plays the violin every evening."]
M = explain_pb2


def text_of(client, model, tokens):
    words = PARAGRAPH.split() * 3
    lo, hi = 1, len(words)
    while lo < hi:  # the longest prefix of words with at most `tokens` tokens
        mid = (lo + hi + 1) // 2
        n = len(client.tokenize([" ".join(words[:mid])], model=model).results[0].tokens)
        lo, hi = (mid, hi) if n <= tokens else (lo, mid - 1)
    text = " ".join(words[:lo])
    return text, len(client.tokenize([text], model=model).results[0].tokens)


def methods_for(info):
    methods = [M.EXPLAIN_METHOD_ATTENTION, M.EXPLAIN_METHOD_NEURON_VIEW, M.EXPLAIN_METHOD_ROLLOUT,
               M.EXPLAIN_METHOD_NORM_WEIGHTED, M.EXPLAIN_METHOD_PROJECTION]
    if info.causal:
        methods += [M.EXPLAIN_METHOD_LOGIT_LENS, M.EXPLAIN_METHOD_OCCLUSION, M.EXPLAIN_METHOD_LIME]
    elif info.labels:
        methods += [M.EXPLAIN_METHOD_OCCLUSION, M.EXPLAIN_METHOD_LIME]
    return methods


def run_once(client, request):
    start = time.perf_counter()
    footer, messages = None, 0
    for message in client.explain_attention(request=request):
        messages += 1
        if message.HasField("footer"):
            footer = message.footer
    return time.perf_counter() - start, footer, messages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    binary = os.path.join(ROOT, args.build, "server", "infer-server")
    models = [f"gpt2-en-mini={ROOT}/models/gpt2-en-mini",
              f"all-MiniLM-L6-v2={ROOT}/models/all-MiniLM-L6-v2"]
    server = ServerProcess(binary, models)
    server.start()
    rows = []
    try:
        with InferenceClient(server.target, timeout=600) as client:
            for info in client.list_models().models:
                text, n = text_of(client, info.name, args.tokens)
                request = M.ExplainAttentionRequest(model=info.name, text=text,
                                                    methods=methods_for(info))
                request.projection.texts.extend(OTHER_TEXTS)
                run_once(client, request)  # warm-up
                runs = [run_once(client, request) for _ in range(args.repeats)]
                wall = statistics.median(r[0] for r in runs)
                footer = runs[-1][1]
                names = [M.ExplainMethod.Name(m).replace("EXPLAIN_METHOD_", "").lower()
                         for m in request.methods]
                rows.append((info.name, n, ", ".join(names), wall, footer, runs[-1][2]))
    finally:
        server.stop()
    lines = ["| model | tokens | methods | client wall s (median of %d) | server wall s | forward "
             "passes | engine calls | messages | MiB sent |" % args.repeats,
             "|---|---|---|---|---|---|---|---|---|"]
    for name, n, methods, wall, f, messages in rows:
        lines.append(f"| {name} | {n} | {methods} | {wall:.2f} | {f.wall_ms / 1000:.2f} | "
                     f"{f.forward_passes} | {f.engine_calls} | {messages} | "
                     f"{f.bytes_sent / 2**20:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.append:
        with open(os.path.join(ROOT, "benchmarks", "RESULTS.md"), "a") as out:
            out.write(f"\n## Full ExplainAttention of a {args.tokens}-token input, default models "
                      f"({datetime.date.today()}, {platform.node()}, "
                      f"{os.cpu_count()} CPUs, `python3 benchmarks/explain_bench.py --append`)\n\n")
            out.write(table + "\n")


if __name__ == "__main__":
    main()
