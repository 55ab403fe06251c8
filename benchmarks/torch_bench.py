#!/usr/bin/env python3
"""The engine_bench measurements with PyTorch + transformers, on the same model folders.

One JSON line per measurement, the same names, fields, token ids and work counts as
benchmarks/engine_bench.cc, so run_cpu.sh can set them side by side:

  sgemm_peak     torch.mm 2048^3 float32 (the GEMM behind nn.Linear on this build)
  gpt2_prefill   prompt 128 / 512, batch 1, two variants:
                   full_logits:  model(ids)  -- what a user (and generate()) runs; it computes
                                 logits for every prompt position (2*d*V FLOPs per token extra)
                   last_logits:  model.transformer(ids) then lm_head on the last position only --
                                 the same work as the engine's prefill
  gpt2_decode    128-token prompt, then 128 steps of model(next, past_key_values=..,
                 use_cache=True), greedy argmax
  minilm_embed   BertModel over 32 sentences of 32 / 128 tokens, mean pooling over the attention
                 mask and L2 normalisation in torch (sentence-transformers' computation)

float32, torch.inference_mode(), median of --reps after --warmup. Threads: torch's default (all
cores) unless --threads is given; the line "config" reports torch.get_num_threads().

Usage: python3 benchmarks/torch_bench.py [--models /tmp/infer-bench] [--reps 5] [--warmup 1]
                                         [--filter substr] [--threads N]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import transformers

MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    """The same id stream as engine_bench.cc."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def random_ids(seed: int, n: int, vocab: int) -> list:
    return [splitmix64(seed + i) % vocab for i in range(n)]


# ---- Work counts (same formulas as engine_bench.cc) ----------------------------------------------

def decoder_flops(cfg, c: int, n: int, logit_rows: int) -> float:
    d, L, V = cfg.n_embd, cfg.n_layer, cfg.vocab_size
    f = cfg.n_inner or 4 * d
    keys = sum(c + i + 1 for i in range(n))
    return n * 2.0 * L * (4 * d * d + 2 * d * f) + L * 4.0 * d * keys + logit_rows * 2.0 * d * V


def decode_bytes(cfg, ctx: int) -> float:
    d, L, V = cfg.n_embd, cfg.n_layer, cfg.vocab_size
    f = cfg.n_inner or 4 * d
    weights = L * (4 * d * d + 2 * d * f + 9 * d + f) + V * d + 2 * d
    return 4.0 * (weights + 2.0 * L * ctx * d)


def encoder_flops(cfg, n: int) -> float:
    d, f, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    return n * 2.0 * L * (4 * d * d + 2 * d * f) + L * 4.0 * d * n * n


# ---- Harness -------------------------------------------------------------------------------------

def repeat(args, once):
    """once() returns the seconds of its timed part."""
    for _ in range(args.warmup):
        once()
    return [once() for _ in range(args.reps)]


def timing(t):
    return {"median_s": statistics.median(t), "min_s": min(t), "reps": len(t), "times_s": t}


def emit(obj):
    print(json.dumps(obj), flush=True)


def wanted(args, name: str) -> bool:
    return not args.filter or args.filter in name or name in args.filter


def bench_machine(args):
    n = 2048
    a = torch.rand(n, n)
    b = torch.rand(n, n)

    def once():
        t0 = time.perf_counter()
        torch.mm(a, b.t())
        return time.perf_counter() - t0

    t = repeat(args, once)
    emit({"bench": "sgemm_peak", "impl": "torch", "lib": "torch.mm", "m": n, "n": n, "k": n,
          "threads": torch.get_num_threads(), **timing(t),
          "gflops": 2.0 * n ** 3 / statistics.median(t) / 1e9})


def bench_gpt2(args):
    folder = f"{args.models}/gpt2-small"
    model = transformers.GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    cfg = model.config
    V = cfg.vocab_size
    attn = getattr(cfg, "_attn_implementation", "?")

    for length in (128, 512):
        if not wanted(args, f"gpt2_prefill_{length}"):
            continue
        ids = torch.tensor([random_ids(1000 + length, length, V)])
        for variant in ("full_logits", "last_logits"):
            first = {}

            def once():
                t0 = time.perf_counter()
                if variant == "full_logits":
                    logits = model(ids, use_cache=True).logits[0, -1]
                else:
                    h = model.transformer(ids, use_cache=True).last_hidden_state
                    logits = model.lm_head(h[:, -1])[0]
                s = time.perf_counter() - t0
                first["token"] = int(torch.argmax(logits))
                return s

            t = repeat(args, once)
            rows = length if variant == "full_logits" else 1
            useful = decoder_flops(cfg, 0, length, 1)  # the engine's work
            executed = decoder_flops(cfg, 0, length, rows)
            med = statistics.median(t)
            emit({"bench": "gpt2_prefill", "impl": "torch", "variant": variant,
                  "prompt_len": length, "batch": 1, "attn_implementation": attn,
                  "flops_per_token": useful / length, "executed_flops_per_token": executed / length,
                  "first_token": first["token"], **timing(t), "tokens_per_s": length / med,
                  "gflops": executed / med / 1e9})

    if wanted(args, "gpt2_decode"):
        prompt_len, steps = 128, 128
        prompt = torch.tensor([random_ids(1000 + prompt_len, prompt_len, V)])
        state = {}

        def once():
            out = model(prompt, use_cache=True)
            past = out.past_key_values
            logits = out.logits[:, -1]
            generated, per_step = [], []
            t0 = time.perf_counter()
            for _ in range(steps):
                nxt = torch.argmax(logits, dim=-1)  # [1]
                generated.append(int(nxt))
                s0 = time.perf_counter()
                out = model(nxt[:, None], past_key_values=past, use_cache=True)
                per_step.append(time.perf_counter() - s0)
                past = out.past_key_values
                logits = out.logits[:, -1]
            s = time.perf_counter() - t0
            state["generated"], state["per_step"] = generated, per_step
            return s

        t = repeat(args, once)
        flops = sum(decoder_flops(cfg, prompt_len + i, 1, 1) for i in range(steps))
        nbytes = decode_bytes(cfg, prompt_len + steps // 2)
        h = 0
        for v in state["generated"]:
            h = splitmix64(h ^ v)
        med = statistics.median(t)
        emit({"bench": "gpt2_decode", "impl": "torch", "prompt_len": prompt_len, "steps": steps,
              "batch": 1, "attn_implementation": attn, "flops_per_token": flops / steps,
              "bytes_per_token": nbytes, "median_step_s": statistics.median(state["per_step"]),
              "tokens": state["generated"][:16], "tokens_hash": h, **timing(t),
              "tokens_per_s": steps / med, "gflops": flops / med / 1e9,
              "gbps": nbytes * steps / med / 1e9})


def bench_minilm(args):
    folder = f"{args.models}/minilm"
    model = transformers.BertModel.from_pretrained(folder, torch_dtype=torch.float32,
                                                   add_pooling_layer=False).eval()
    cfg = model.config
    attn = getattr(cfg, "_attn_implementation", "?")
    batch = 32
    for length in (32, 128):
        if not wanted(args, f"minilm_embed_{length}"):
            continue
        ids = torch.tensor([random_ids(100000 * (s + 1) + length, length, cfg.vocab_size)
                            for s in range(batch)])
        mask = torch.ones_like(ids)
        result = {}

        def once():
            t0 = time.perf_counter()
            states = model(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, T, H]
            m = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * m).sum(1) / m.sum(1).clamp(min=1e-9)
            emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
            s = time.perf_counter() - t0
            result["emb"] = emb
            return s

        t = repeat(args, once)
        flops = encoder_flops(cfg, length)
        med = statistics.median(t)
        emit({"bench": "minilm_embed", "impl": "torch", "seq_len": length, "batch": batch,
              "pooling": "mean", "normalize": True, "attn_implementation": attn,
              "flops_per_sentence": flops, "emb0_head": result["emb"][0, :4].tolist(),
              **timing(t), "sentences_per_s": batch / med, "gflops": flops * batch / med / 1e9})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="/tmp/infer-bench")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--filter", default="")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    emit({"bench": "config", "impl": "torch", "torch": torch.__version__,
          "transformers": transformers.__version__, "threads": torch.get_num_threads(),
          "mkldnn": torch.backends.mkldnn.is_available(),
          "cpu_capability": torch.backends.cpu.get_cpu_capability(),
          "reps": args.reps, "warmup": args.warmup})
    with torch.inference_mode():
        if wanted(args, "sgemm_peak") or wanted(args, "machine"):
            bench_machine(args)
        if wanted(args, "gpt2_prefill") or wanted(args, "gpt2_decode"):
            bench_gpt2(args)
        if wanted(args, "minilm_embed"):
            bench_minilm(args)


if __name__ == "__main__":
    sys.exit(main())
