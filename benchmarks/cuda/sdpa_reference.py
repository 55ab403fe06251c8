#!/usr/bin/env python3
"""Times PyTorch's FlashAttention on attention_bench's prefill shapes.

scaled_dot_product_attention with the flash backend forced, on the prefill shapes of
attention_bench: BF16, head_dim 64/128, seq 512..8192, batch = 16384 // seq,
heads = 2048 // head_dim, causal and not. Prints one JSON object per shape in attention_bench's
format (impl "sdpa_flash"), timed with CUDA events: warm-up, then the median of --iters runs.
FLOPs = 4 * batch * seq^2 * head_dim * heads, halved when causal (FlashAttention's benchmark).

Usage: sdpa_reference.py [--quick] [--iters N]
Needs a CUDA build of torch (checked on torch 2.11 + CUDA 13); exits with status 3 and a message
otherwise.
"""
import argparse
import json
import statistics
import sys


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="two sequence lengths only")
    ap.add_argument("--iters", type=int, default=20, help="timed runs per shape (median)")
    return ap.parse_args(argv)


def shapes(quick):
    seqs = [512, 2048] if quick else [512, 1024, 2048, 4096, 8192]
    for hd in (64, 128):
        for seq in seqs:
            for causal in (False, True):
                yield hd, seq, 16384 // seq, 2048 // hd, causal


def main(argv):
    args = parse_args(argv)
    try:
        import torch
        import torch.nn.functional as F
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError as e:  # pragma: no cover - depends on the machine
        print(f"sdpa_reference.py: needs torch with torch.nn.attention ({e})", file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print(f"sdpa_reference.py: torch {torch.__version__} sees no CUDA device "
              f"(torch.version.cuda={torch.version.cuda}); nothing to measure", file=sys.stderr)
        return 3
    dev = torch.device("cuda")
    print(json.dumps({"bench": "device", "impl": "sdpa_flash", "name": torch.cuda.get_device_name(),
                      "torch": torch.__version__, "cuda": torch.version.cuda}), flush=True)
    for hd, seq, batch, heads, causal in shapes(args.quick):
        # Packed (batch, seq, heads, hd) like the varlen layout, viewed as (batch, heads, seq, hd).
        q, k, v = (torch.randn(batch, seq, heads, hd, device=dev, dtype=torch.bfloat16)
                   .transpose(1, 2) for _ in range(3))

        def run():
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        for _ in range(3):
            run()
        torch.cuda.synchronize()
        times = []
        for _ in range(args.iters):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            run()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        ms = statistics.median(times)
        flops = 4.0 * batch * seq * seq * hd * heads / (2.0 if causal else 1.0)
        print(json.dumps({"bench": "prefill", "impl": "sdpa_flash", "kv": "contiguous", "hd": hd,
                          "seq": seq, "batch": batch, "heads": heads, "causal": causal,
                          "ms": round(ms, 4), "tflops": round(flops / (ms * 1e-3) / 1e12, 2)}),
              flush=True)
        del q, k, v
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
