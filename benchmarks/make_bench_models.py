#!/usr/bin/env python3
"""Creates the random-weight model folders the CPU benchmarks run on.

Real shapes, random weights (fixed seeds), written with transformers' save_pretrained as
safetensors, so the engine and PyTorch read exactly the same files:

  <out>/gpt2-small  GPT2LMHeadModel, default GPT-2 small config: 124M parameters, vocab 50257,
                    12 layers, 768 wide, 12 heads, 1024 positions (about 500 MB of float32).
  <out>/minilm      BertModel shaped like sentence-transformers/all-MiniLM-L6-v2: 6 layers,
                    hidden 384, 12 heads, intermediate 1536, vocab 30522, 512 positions, with the
                    sentence-transformers modules.json, 1_Pooling/config.json (mean) and Normalize.

The folders are big: keep them outside the repository (default /tmp/infer-bench). No tokenizer
files are written: the benchmarks feed random token ids.

Usage: python3 benchmarks/make_bench_models.py [--out /tmp/infer-bench] [--force]
"""
import argparse
import json
import pathlib
import sys

import torch
import transformers


def write_json(path: pathlib.Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def make_gpt2(folder: pathlib.Path, seed: int) -> None:
    torch.manual_seed(seed)
    config = transformers.GPT2Config()  # the defaults are GPT-2 small
    assert (config.n_layer, config.n_embd, config.n_head, config.vocab_size,
            config.n_positions) == (12, 768, 12, 50257, 1024)
    model = transformers.GPT2LMHeadModel(config).eval()
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(folder), safe_serialization=True)
    print(f"gpt2-small: {params / 1e6:.1f}M parameters -> {folder}", file=sys.stderr)


def make_minilm(folder: pathlib.Path, seed: int) -> None:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, hidden_act="gelu", max_position_embeddings=512,
        type_vocab_size=2, layer_norm_eps=1e-12, architectures=["BertModel"])
    model = transformers.BertModel(config).eval()
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(folder), safe_serialization=True)
    # sentence-transformers layout of all-MiniLM-L6-v2: Transformer -> mean Pooling -> Normalize.
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": 384,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": 256,
                                                      "do_lower_case": False})
    (folder / "2_Normalize").mkdir(parents=True, exist_ok=True)
    print(f"minilm: {params / 1e6:.1f}M parameters -> {folder}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/infer-bench", help="where the folders go")
    ap.add_argument("--force", action="store_true", help="rebuild folders that already exist")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    torch.set_grad_enabled(False)
    for name, make, seed in (("gpt2-small", make_gpt2, 1234), ("minilm", make_minilm, 4321)):
        folder = out / name
        if (folder / "model.safetensors").exists() and not args.force:
            print(f"{name}: exists, kept ({folder})", file=sys.stderr)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        make(folder, seed)


if __name__ == "__main__":
    main()
