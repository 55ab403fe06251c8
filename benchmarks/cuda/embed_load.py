#!/usr/bin/env python3
"""Embed throughput of a running infer-server, over gRPC, at several batch sizes.

For each batch size B it sends the sentences st_embed_bench.sentences_for_batch(B) as requests
of B inputs each, with C requests in flight (C client threads sharing one channel) for each C in
--concurrency, and reports sentences/s (all sentences / wall time from the first send to the last
reply, median of --reps after --warmup requests) and the p50 / p99 request latency. Every reply
is checked: one embedding per input, the same dimension throughout, finite values.

Needs only grpcio: the two messages are encoded and decoded by hand (protobuf wire format;
fields from proto/infer/v1/embed.proto), so no generated stubs or protoc versions are involved.
EmbedRequest: model = 1 (string), inputs = 2 (repeated string), truncate = 5 (bool).
EmbedResponse: embeddings = 2 (Embedding: values = 1 packed float, tokens = 2), dimensions = 3.

  python3 benchmarks/cuda/embed_load.py --target 127.0.0.1:50051 --model minilm \
      --batch-sizes 1,8,32,128 --concurrency 1,4 --json embed_server.json
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_embed_bench import parse_list, sentences_for_batch  # noqa: E402  (no torch at import)

METHOD = "/infer.v1.InferenceService/Embed"


# ---- protobuf wire format, the little we need ------------------------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def length_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def encode_request(model: str, inputs: list, truncate: bool = True) -> bytes:
    out = bytearray(length_field(1, model.encode()))
    for s in inputs:
        out += length_field(2, s.encode())
    if truncate:
        out += varint(5 << 3 | 0) + varint(1)
    return bytes(out)


def read_varint(buf: bytes, i: int):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes):
    """(number, wire type, value) for each field; value is int for varints / fixed, bytes for
    length-delimited."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unexpected wire type {wire}")
        yield number, wire, value


def decode_response(buf: bytes, want_values: bool):
    """(embeddings: list of (values or None, tokens), dimensions)."""
    embeddings, dims = [], 0
    for number, wire, value in fields(buf):
        if number == 2 and wire == 2:
            values, tokens, count = [], 0, 0
            for n2, w2, v2 in fields(value):
                if n2 == 1 and w2 == 2:  # packed floats
                    count += len(v2) // 4
                    if want_values:
                        values.extend(struct.unpack(f"<{len(v2) // 4}f", v2))
                elif n2 == 1 and w2 == 5:  # unpacked float
                    count += 1
                    if want_values:
                        values.append(struct.unpack("<f", v2)[0])
                elif n2 == 2 and w2 == 0:
                    tokens = v2
            embeddings.append((values if want_values else count, tokens))
        elif number == 3 and wire == 0:
            dims = value
    return embeddings, dims


# ---- load ------------------------------------------------------------------------------------------

def percentile(v: list, q: float) -> float:
    if not v:
        return -1.0
    v = sorted(v)
    return v[max(0, min(len(v) - 1, math.ceil(q * len(v)) - 1))]


def run_level(call, model: str, requests: list, concurrency: int, timeout: float):
    """Sends every request once with `concurrency` in flight; returns (wall s, latencies s,
    tokens, error or None)."""
    lock = threading.Lock()
    next_index = [0]
    latencies, tokens, errors, dims_seen = [], [0], [], set()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(requests) or errors:
                return
            inputs, payload = requests[i]
            t0 = time.perf_counter()
            try:
                reply = call(payload, timeout=timeout)
            except Exception as e:  # grpc.RpcError and friends: recorded, the level fails
                with lock:
                    errors.append(f"{type(e).__name__}: {getattr(e, 'details', lambda: e)()}")
                return
            dt = time.perf_counter() - t0
            emb, dims = decode_response(reply, want_values=False)
            bad = None
            if len(emb) != len(inputs):
                bad = f"{len(emb)} embeddings for {len(inputs)} inputs"
            elif any(count != dims for count, _ in emb):
                bad = f"an embedding's length differs from dimensions={dims}"
            with lock:
                if bad:
                    errors.append(bad)
                latencies.append(dt)
                tokens[0] += sum(t for _, t in emb)
                dims_seen.add(dims)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if len(dims_seen) > 1:
        errors.append(f"dimensions differ between replies: {sorted(dims_seen)}")
    return wall, latencies, tokens[0], (errors[0] if errors else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--model", default="", help="model name (empty: the server's first Embed model)")
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--concurrency", default="1,4", help="requests in flight, per level")
    ap.add_argument("--sentences", type=int, default=0, help="sentences per batch size (0: auto)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests per batch size")
    ap.add_argument("--timeout", type=float, default=60.0, help="deadline per request, seconds")
    ap.add_argument("--dump", type=int, default=8,
                    help="embeddings of the first N sentences to save for the fidelity check")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    import grpc
    opts = [("grpc.max_receive_message_length", 256 << 20),
            ("grpc.max_send_message_length", 256 << 20)]
    channel = grpc.insecure_channel(args.target, options=opts)
    grpc.channel_ready_future(channel).result(timeout=30)
    call = channel.unary_unary(METHOD)  # bytes in, bytes out: no (de)serialisers

    results = []
    dump = None
    if args.dump > 0:
        sents = sentences_for_batch(1)[: args.dump]
        emb, dims = decode_response(call(encode_request(args.model, sents), timeout=args.timeout),
                                    want_values=True)
        vectors = [v for v, _ in emb]
        if not all(math.isfinite(x) for v in vectors for x in v):
            print("embed_load: the server returned non-finite values", file=sys.stderr)
            return 1
        dump = {"sentences": sents, "embeddings": vectors, "dimensions": dims}
        print(f"dimensions {dims}; first vector norm "
              f"{math.sqrt(sum(x * x for x in vectors[0])):.4f}", file=sys.stderr)

    for b in parse_list(args.batch_sizes):
        sents = sentences_for_batch(b, args.sentences)
        requests = [(sents[i:i + b], encode_request(args.model, sents[i:i + b]))
                    for i in range(0, len(sents), b)]
        for i in range(min(args.warmup, len(requests))):
            call(requests[i][1], timeout=args.timeout)
        for c in parse_list(args.concurrency):
            walls, lat, tokens, error = [], [], 0, None
            for _ in range(args.reps):
                wall, l, tokens, error = run_level(call, args.model, requests, c, args.timeout)
                if error:
                    break
                walls.append(wall)
                lat += l
            row = {"batch": b, "concurrency": c, "sentences": len(sents),
                   "requests": len(requests)}
            if error:
                row["error"] = error[:300]
            else:
                med = statistics.median(walls)
                row.update({"median_s": med, "walls_s": walls,
                            "sentences_per_s": len(sents) / med, "tokens": tokens,
                            "tokens_per_s": tokens / med,
                            "latency_ms_p50": percentile(lat, 0.5) * 1e3,
                            "latency_ms_p99": percentile(lat, 0.99) * 1e3})
            results.append(row)
            print(json.dumps(row), file=sys.stderr)

    print("| batch | in flight | sentences | sent/s | tokens/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['batch']} | {r['concurrency']} | {r['sentences']} | {r['error']} | | | |")
        else:
            print(f"| {r['batch']} | {r['concurrency']} | {r['sentences']} | "
                  f"{r['sentences_per_s']:.0f} | {r['tokens_per_s']:.0f} | "
                  f"{r['latency_ms_p50']:.1f} | {r['latency_ms_p99']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": {"target": args.target, "model": args.model, "reps": args.reps,
                                  "grpcio": grpc.__version__},
                       "results": results, "dump": dump}, f, indent=2)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
