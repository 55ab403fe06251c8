#!/usr/bin/env python3
"""Trains the project's embedded default generation model, models/gpt2-en-mini.

A small GPT-2 (transformers.GPT2LMHeadModel) with a byte-level BPE tokenizer, trained from
scratch on the English fortune-cookie collection of Debian's `fortunes` package, so that the
server has a causal LM that writes English-like text with no download. The weights are
committed; nobody needs to run this to use the model. Run it to reproduce or change the model:

    apt-get install -y fortunes            # the only network access: the corpus (Debian, BSD)
    python3 scripts/train_default_lm.py --out models/gpt2-en-mini --threads 2
    python3 scripts/train_default_lm.py --out models/gpt2-en-mini --record   # expected.json only

Pinned Python packages (PyPI): torch 2.5.1 (CPU), transformers 4.46.3, tokenizers 0.20.3,
safetensors 0.4.5, numpy.

Corpus: every fortune file of Debian bookworm's `fortunes` 1:1.99.1-7.3 under
/usr/share/games/fortunes (the non-offensive collection; `fortunes-off` is not used), except
  - art, ascii-art           mostly ASCII drawings
  - perl                     mostly code
  - knghtbrd                 IRC logs ("<nick> ...")
  - translate-me             not English
  - ethnic, men-women        stereotype jokes we do not want a default model to repeat
Cleaning, per file (UTF-8, undecodable bytes replaced):
  1. split into fortunes on lines that are exactly "%";
  2. remove overstriking (any character followed by a backspace) and other C0 controls except
     newline and tab; expand tabs; strip trailing spaces; drop blank lines at the ends;
  3. reflow: within a paragraph (blank-line separated), a line joins the previous one with a
     single space when the previous line is at least 45 characters long (hard-wrapped prose)
     and the line does not start an attribution ("--"), a dialogue turn ("Name:") or a list
     item; other line breaks (verse, dialogue, attributions) are kept. Leading indentation is
     dropped and runs of spaces inside a line become one space;
  4. a fortune is kept when it has at least 20 characters and at least 70% of its non-space
     characters are letters (drops tables, ASCII art, code).
The fortunes are shuffled with the seed; every 50th goes to the held-out set (about 2%), the rest
to training. Each document is followed by <|endoftext|> in the token stream (GPT-2's document
separator, also the model's bos/eos/pad).

Tokenizer: tokenizers' BpeTrainer on the training documents, GPT-2 style (ByteLevel pre-tokenizer
without prefix space and with GPT-2's regex, ByteLevel decoder, ByteLevel post-processor with
trim_offsets=False); <|endoftext|> is appended as the last id and is part of vocab.json, as in
GPT-2. Saved through GPT2TokenizerFast.save_pretrained (tokenizer.json, vocab.json, merges.txt,
tokenizer_config.json, special_tokens_map.json).

Model and training: GPT2LMHeadModel (gelu_new, tied lm_head), AdamW (betas 0.9/0.95, weight decay
0.1 on matrices), linear warm-up then cosine decay to 10%, random windows of n_positions+1 tokens
from the training stream, gradient clipping 1.0, fixed seed, torch deterministic algorithms,
float32. The final model is evaluated on every non-overlapping window of the held-out stream (and
on as many tokens of the training stream) and the numbers go into README.md.

--record (also run at the end of training) loads the saved folder with transformers and writes
expected.json: the tokenizers library's ids for a few sentences, and for three prompts the
greedy generation (the folder's generation_config.json, do_sample=False) plus the top logits at
the prompt's last position. tests/default_lm_test.cc checks the C++ engine against it.
"""

import argparse
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

CORPUS_PACKAGE = "fortunes"
CORPUS_DIR = Path("/usr/share/games/fortunes")
EXCLUDED_FILES = {"art", "ascii-art", "perl", "knghtbrd", "translate-me", "ethnic", "men-women"}
EOT = "<|endoftext|>"
HELD_OUT_EVERY = 50

RECORD_PROMPTS = ["The old man", "Once upon a time", "A computer is"]
RECORD_NEW_TOKENS = 24
RECORD_TOP_LOGITS = 64
RECORD_SENTENCES = [
    "The old man and the sea.",
    "Never put off till tomorrow what you can do the day after tomorrow.",
    "  Two  spaces, tabs\tand\nnewlines; numbers 1234 and émigré café \u2014 dashes.",
    "<|endoftext|>A new document starts here.",
    "Don't panic! It's only 42 (or so).",
]


# ---------------------------------------------------------------------------------------------
# corpus

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LIST_ITEM = re.compile(r"^(\d+[.)]|[-*o+]|\(?[a-z]\))\s")
_SPEAKER = re.compile(r"^[A-Z][A-Za-z .']{0,24}:\s")


def clean_fortune(text):
    text = re.sub(r".\x08", "", text)  # overstriking: "_\bx" or "x\bx" -> "x"
    text = _CONTROL.sub("", text)
    lines = [ln.expandtabs(8).rstrip() for ln in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    out = []  # list of output lines ("" = paragraph break)
    prev_len = 0
    for ln in lines:
        s = re.sub(r" {2,}", " ", ln.strip())
        if not s:
            if out and out[-1] != "":
                out.append("")
            prev_len = 0
            continue
        joins = (
            out
            and out[-1] != ""
            and prev_len >= 45
            and not s.startswith("--")
            and not _LIST_ITEM.match(s)
            and not _SPEAKER.match(s)
        )
        if joins:
            out[-1] = out[-1] + " " + s
        else:
            out.append(s)
        prev_len = len(ln.strip())
    return "\n".join(out).strip()


def keep_fortune(text):
    if len(text) < 20:
        return False
    chars = [c for c in text if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    return letters >= 0.7 * len(chars)


def load_corpus(corpus_dir):
    if not corpus_dir.is_dir():
        sys.exit(f"{corpus_dir} not found: apt-get install -y {CORPUS_PACKAGE}")
    files = sorted(p for p in corpus_dir.iterdir()
                   if p.is_file() and not p.is_symlink() and "." not in p.name
                   and p.name not in EXCLUDED_FILES)
    docs = []
    stats = {}
    for p in files:
        raw = p.read_bytes().decode("utf-8", errors="replace")
        parts = re.split(r"^%\n", raw.replace("\r\n", "\n") + "\n", flags=re.M)
        kept = 0
        for part in parts:
            t = clean_fortune(part)
            if keep_fortune(t):
                docs.append(t)
                kept += 1
        stats[p.name] = kept
    return docs, stats, [p.name for p in files]


def split_docs(docs, seed):
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    train, held = [], []
    for k, i in enumerate(order):
        (held if k % HELD_OUT_EVERY == 0 else train).append(docs[i])
    return train, held


# ---------------------------------------------------------------------------------------------
# tokenizer


def train_tokenizer(train_docs, vocab_size, max_positions):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,
        min_frequency=2,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(train_docs, trainer)
    # <|endoftext|> as the last id, inside vocab.json, as in GPT-2.
    state = json.loads(tok.to_str())
    vocab = dict(state["model"]["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
    vocab[EOT] = len(vocab)
    new = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    new.pre_tokenizer = tok.pre_tokenizer
    new.decoder = tok.decoder
    new.post_processor = tok.post_processor
    new.add_special_tokens([AddedToken(EOT, special=True, normalized=False)])
    assert new.token_to_id(EOT) == vocab_size - 1 == len(vocab) - 1, (new.token_to_id(EOT), len(vocab))
    return GPT2TokenizerFast(
        tokenizer_object=new,
        unk_token=EOT,
        bos_token=EOT,
        eos_token=EOT,
        pad_token=EOT,
        add_prefix_space=False,
        model_max_length=max_positions,
        clean_up_tokenization_spaces=False,
    )


def encode_stream(tok, docs):
    import numpy as np

    eot = tok.convert_tokens_to_ids(EOT)
    ids = [eot]
    for enc in tok.backend_tokenizer.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eot)
    return np.asarray(ids, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# training


def make_model(args, vocab_size, eot_id):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.context,
        n_embd=args.hidden,
        n_layer=args.layers,
        n_head=args.heads,
        n_inner=4 * args.hidden,
        activation_function="gelu_new",
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(cfg)


def evaluate(model, stream, context, max_tokens, batch=16):
    """Mean next-token loss over non-overlapping windows of context+1 tokens (at most max_tokens)."""
    import numpy as np
    import torch

    model.eval()
    n_win = min((len(stream) - 1) // context, max(1, max_tokens // context))
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, n_win, batch):
            rows = [stream[i * context: i * context + context + 1] for i in range(s, min(n_win, s + batch))]
            x = torch.from_numpy(np.stack(rows))
            logits = model(input_ids=x[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                     x[:, 1:].reshape(-1), reduction="sum")
            total += loss.item()
            count += x.shape[0] * context
    model.train()
    return total / count, count


def train(args):
    import numpy as np
    import torch

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    docs, stats, files = load_corpus(Path(args.corpus_dir))
    train_docs, held_docs = split_docs(docs, args.seed)
    tok = train_tokenizer(train_docs, args.vocab, args.context)
    eot = tok.convert_tokens_to_ids(EOT)
    train_ids = encode_stream(tok, train_docs)
    held_ids = encode_stream(tok, held_docs)
    corpus_info = {
        "package": CORPUS_PACKAGE,
        "directory": str(args.corpus_dir),
        "files": files,
        "excluded": sorted(EXCLUDED_FILES),
        "documents": len(docs),
        "train_documents": len(train_docs),
        "held_out_documents": len(held_docs),
        "train_chars": sum(len(d) for d in train_docs),
        "held_out_chars": sum(len(d) for d in held_docs),
        "train_tokens": int(len(train_ids)),
        "held_out_tokens": int(len(held_ids)),
    }
    print(json.dumps(corpus_info), flush=True)

    model = make_model(args, len(tok), eot)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters {n_params} ({n_params / 1e6:.2f} M)", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    gen = torch.Generator().manual_seed(args.seed)
    stream = torch.from_numpy(train_ids)
    ctx = args.context
    offsets = torch.arange(ctx + 1)
    model.train()
    t_train = time.time()
    smooth = None
    log = []
    for step in range(args.steps):
        starts = torch.randint(0, len(stream) - ctx - 1, (args.batch,), generator=gen)
        x = stream[starts[:, None] + offsets[None, :]]
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = model(input_ids=x[:, :-1]).logits  # [batch, ctx, vocab]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        if step % args.log_every == 0 or step == args.steps - 1:
            el = time.time() - t_train
            print(f"step {step} loss {loss.item():.4f} smooth {smooth:.4f} lr {lr_at(step):.2e} "
                  f"elapsed {el:.0f}s tokens/s {(step + 1) * args.batch * ctx / max(el, 1e-9):.0f}", flush=True)
        if args.eval_every and step > 0 and step % args.eval_every == 0:
            hl, _ = evaluate(model, held_ids, ctx, args.eval_tokens)
            print(f"step {step} held_out_loss {hl:.4f} ppl {math.exp(hl):.2f}", flush=True)
            log.append({"step": step, "held_out_loss": round(hl, 4)})
    train_seconds = time.time() - t_train

    held_loss, held_n = evaluate(model, held_ids, ctx, 10**9)
    train_loss, train_n = evaluate(model, train_ids, ctx, held_n)
    print(f"final train_loss {train_loss:.4f} held_out_loss {held_loss:.4f} ppl {math.exp(held_loss):.2f}",
          flush=True)

    model.eval()
    model.generation_config = make_generation_config(eot)
    # float16 on disk (10.6 MB instead of 21 MB: the repository keeps tracked files small);
    # readers upcast to float32 exactly, and --record compares against that upcast model.
    model.to(torch.float16).save_pretrained(out, safe_serialization=True)
    model.to(torch.float32)
    tok.save_pretrained(out)
    summary = {
        "corpus": corpus_info,
        "shape": {"n_layer": args.layers, "n_embd": args.hidden, "n_head": args.heads,
                  "n_positions": ctx, "vocab_size": len(tok)},
        "parameters": n_params,
        "command": "python3 scripts/train_default_lm.py " + " ".join(sys.argv[1:]),
        "steps": args.steps,
        "batch": args.batch,
        "tokens_seen": args.steps * args.batch * ctx,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t0, 1),
        "final_train_loss": round(train_loss, 4),
        "final_held_out_loss": round(held_loss, 4),
        "held_out_perplexity": round(math.exp(held_loss), 2),
        "held_out_tokens_evaluated": held_n,
        "eval_log": log,
        "versions": versions(),
    }
    (out / "training_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1), flush=True)


def make_generation_config(eot):
    from transformers import GenerationConfig

    # Greedy (reproducible) with a mild repetition penalty and no repeated 3-grams: a model this
    # small loops under plain greedy decoding. Requests override any of these.
    return GenerationConfig(
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        do_sample=False,
        max_new_tokens=64,
        repetition_penalty=1.2,
        no_repeat_ngram_size=3,
    )


def versions():
    import tokenizers
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "python": sys.version.split()[0]}


# ---------------------------------------------------------------------------------------------
# expected outputs for tests/default_lm_test.cc


def record(out, threads):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, GPT2LMHeadModel

    torch.set_num_threads(threads)
    out = Path(out)
    model = GPT2LMHeadModel.from_pretrained(out, torch_dtype=torch.float32).eval()
    hf_tok = AutoTokenizer.from_pretrained(out)
    raw = Tokenizer.from_file(str(out / "tokenizer.json"))
    expected = {
        "description": "written by scripts/train_default_lm.py --record; checked by tests/default_lm_test.cc",
        "versions": versions(),
        "tokenizer_cases": [],
        "generation_cases": [],
    }
    for s in RECORD_SENTENCES:
        ids = raw.encode(s).ids
        assert ids == hf_tok(s)["input_ids"], s
        assert raw.decode(ids, skip_special_tokens=False) == s, s
        expected["tokenizer_cases"].append({"text": s, "ids": ids})
    gen_kwargs = {"do_sample": False, "max_new_tokens": RECORD_NEW_TOKENS}
    for name, kwargs in (("folder_defaults", gen_kwargs),
                         ("plain_greedy", dict(gen_kwargs, repetition_penalty=1.0, no_repeat_ngram_size=0))):
        for p in RECORD_PROMPTS:
            ids = raw.encode(p).ids
            x = torch.tensor([ids])
            with torch.no_grad():
                logits = model(input_ids=x).logits[0, -1].double()
                seq = model.generate(x, attention_mask=torch.ones_like(x), **kwargs)[0, len(ids):].tolist()
            top = torch.topk(logits, RECORD_TOP_LOGITS)
            expected["generation_cases"].append({
                "name": name,
                "prompt": p,
                "prompt_ids": ids,
                "kwargs": kwargs,
                "new_ids": seq,
                "text": hf_tok.decode(seq),
                "top_logit_ids": top.indices.tolist(),
                "top_logits": [float(v) for v in top.values.tolist()],
            })
            print(f"[{name}] {p!r} -> {hf_tok.decode(seq)!r}", flush=True)
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/gpt2-en-mini", help="model folder to write")
    ap.add_argument("--corpus-dir", default=str(CORPUS_DIR))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-tokens", type=int, default=65536)
    ap.add_argument("--record", action="store_true",
                    help="only (re)write expected.json from the saved folder")
    ap.add_argument("--corpus-only", action="store_true", help="print corpus statistics and samples")
    args = ap.parse_args()
    if args.corpus_only:
        docs, stats, files = load_corpus(Path(args.corpus_dir))
        print(json.dumps(stats), len(docs), sum(len(d) for d in docs))
        for d in random.Random(0).sample(docs, 12):
            print("-----\n" + d)
        return
    if not args.record:
        train(args)
    record(args.out, args.threads)


if __name__ == "__main__":
    main()
