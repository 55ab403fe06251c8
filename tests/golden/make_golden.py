#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Builds the golden data under tests/golden/data/ (see tests/golden/README.md).

Run from the repository root:   python3 tests/golden/make_golden.py

It trains three small tokenizers on an offline corpus (/usr/share/common-licenses plus the
strings in strings.py), builds small random Hugging Face models, saves them as model folders and
records what `tokenizers` / `transformers` produce for them.  Everything is seeded and runs
offline; nothing is downloaded.  The C++ tests read the outputs and need no Python.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import copy
import hashlib
import json
import math
import random
import shutil
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertTokenizerFast,
    GPT2Config,
    GPT2LMHeadModel,
    GPT2TokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaTokenizerFast,
)
from transformers.generation import logits_process as lp
from transformers.generation import utils as gen_utils
from transformers.generation import beam_search as gen_beam

sys.path.insert(0, str(Path(__file__).resolve().parent))
import strings  # noqa: E402  (hand-written strings, same folder)

PINNED = {
    "torch": "2.5.1",
    "transformers": "4.46.3",
    "tokenizers": "0.20.3",
    "safetensors": "0.4.5",
    "numpy": "1.26.4",
}
CORPUS_DIR = Path("/usr/share/common-licenses")
TRAIN_EXTRA_REPEAT = 8
BPE_VOCAB = 2000  # total vocabulary including special tokens
WORDPIECE_VOCAB = 2000
MAX_POSITIONS = 128
MIN_MARGIN = 1e-3  # smallest acceptable top-1/top-2 gap for greedy and contrastive steps
EOT = "<|endoftext|>"

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODELS = DATA / "models"
EXPECTED = DATA / "expected"


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def log(*a):
    print(*a, flush=True)


def _is_flat(x):
    """a scalar, or a list of scalars / of lists of scalars: written on one line"""
    if isinstance(x, list):
        return all(not isinstance(e, (dict, list)) or (isinstance(e, list) and _is_flat(e)) for e in x)
    return not isinstance(x, dict)


def dumps_json(obj, level=0):
    one = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    if _is_flat(obj) or len(one) + level <= 100:
        return one
    pad, pad0 = " " * (level + 1), " " * level
    if isinstance(obj, dict):
        items = ["%s%s: %s" % (pad, json.dumps(k, ensure_ascii=False), dumps_json(v, level + 1)) for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad0 + "}"
    items = [pad + dumps_json(v, level + 1) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + pad0 + "]"


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None  # only margins can be infinite (a single finite candidate): written as null
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(path, obj):
    """UTF-8 JSON; one line per flat list so that the files stay small but diffable. Non-ASCII
    characters are written as UTF-8, control characters as \\uXXXX escapes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = _finite(obj)
    text = dumps_json(obj)
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def f32(t):
    return t.detach().to(torch.float32).contiguous().clone()


def save_tensors(path, tensors, meta):
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: f32(v) for k, v in tensors.items()}, str(path), metadata=meta)


def check_versions(allow_mismatch):
    have = {
        "torch": torch.__version__.split("+")[0],
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }
    bad = {k: (v, PINNED[k]) for k, v in have.items() if v != PINNED[k]}
    if bad:
        msg = "version mismatch (have, pinned): %r" % bad
        if not allow_mismatch:
            sys.exit(msg + "  -- install tests/golden/requirements.txt or pass --allow-version-mismatch")
        log("WARNING:", msg)
    return have


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_TOPK = torch.topk  # the real one (Recorder temporarily wraps torch.topk)


def top2_margin(row):
    """top-1 minus top-2 of a 1-D score vector (-inf entries ignored)."""
    v = _TOPK(row.float(), 2).values
    if not torch.isfinite(v[1]):
        return float("inf")
    return float(v[0] - v[1])


# ----------------------------------------------------------------------------------------------
# 1. corpus and tokenizers
# ----------------------------------------------------------------------------------------------

def load_corpus():
    """Texts of /usr/share/common-licenses (symlinks resolved, duplicates dropped, sorted by name)
    followed by strings.TRAIN_EXTRA repeated TRAIN_EXTRA_REPEAT times."""
    seen = set()
    files = []
    for p in sorted(CORPUS_DIR.iterdir()):
        if not p.is_file():
            continue
        real = p.resolve()
        if real in seen:
            continue
        seen.add(real)
        files.append(p)
    lines = []
    h = hashlib.sha256()
    for p in files:
        text = p.read_bytes().decode("utf-8", errors="replace")
        h.update(p.name.encode() + b"\0" + text.encode("utf-8"))
        lines.extend(line for line in text.split("\n") if line.strip())
    for _ in range(TRAIN_EXTRA_REPEAT):
        lines.extend(strings.TRAIN_EXTRA)
    info = {
        "directory": str(CORPUS_DIR),
        "files": [p.name for p in files],
        "sha256_of_license_texts": h.hexdigest(),
        "extra": "strings.TRAIN_EXTRA x %d" % TRAIN_EXTRA_REPEAT,
        "num_lines": len(lines),
    }
    return lines, info


def append_to_bpe_vocab(tok, specials):
    """Rebuilds a trained byte-level BPE tokenizer with `specials` appended to the model vocab (so
    that they appear in vocab.json, as in the released GPT-2 / RoBERTa files) and registers them
    as special added tokens with those ids."""
    state = json.loads(tok.to_str())
    vocab = dict(state["model"]["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in state["model"]["merges"]]
    for sp in specials:
        vocab[sp.content] = len(vocab)
    new = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    new.pre_tokenizer = tok.pre_tokenizer
    new.decoder = tok.decoder
    if tok.post_processor is not None:
        new.post_processor = tok.post_processor
    new.add_special_tokens([t for t in state_added_tokens(state)] + list(specials))
    for sp in specials:
        assert new.token_to_id(sp.content) == vocab[sp.content]
    return new


def state_added_tokens(state):
    return [AddedToken(a["content"], single_word=a["single_word"], lstrip=a["lstrip"], rstrip=a["rstrip"],
                       normalized=a["normalized"], special=a["special"]) for a in state["added_tokens"]]


def train_gpt2_tokenizer(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB - 1,
        min_frequency=2,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    # As in GPT-2, the only special token is the last id and is part of vocab.json.
    tok = append_to_bpe_vocab(tok, [AddedToken(EOT, special=True, normalized=False)])
    fast = GPT2TokenizerFast(
        tokenizer_object=tok,
        unk_token=EOT,
        bos_token=EOT,
        eos_token=EOT,
        add_prefix_space=False,
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    return fast


def train_roberta_tokenizer(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB - 1,
        min_frequency=2,
        special_tokens=[
            AddedToken("<s>", special=True, normalized=False),
            AddedToken("<pad>", special=True, normalized=False),
            AddedToken("</s>", special=True, normalized=False),
            AddedToken("<unk>", special=True, normalized=False),
        ],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(lines, trainer)
    # As in RoBERTa: <mask> is the last id (in vocab.json) and strips the whitespace on its left.
    tok = append_to_bpe_vocab(tok, [AddedToken("<mask>", special=True, normalized=False, lstrip=True, rstrip=False)])
    tok.post_processor = processors.RobertaProcessing(
        sep=("</s>", tok.token_to_id("</s>")),
        cls=("<s>", tok.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=False,
    )
    fast = RobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=AddedToken("<mask>", special=True, normalized=False, lstrip=True, rstrip=False),
        add_prefix_space=False,
        trim_offsets=True,
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=False,
    )
    return fast


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_wordpiece_vocab(words, vocab_size, specials, min_frequency=2, prefix="##"):
    """Deterministic WordPiece vocabulary learner (BPE-style merges with a continuation prefix).

    tokenizers' own WordPieceTrainer (0.20.3) is not reproducible across processes: the ids of
    the "##x" symbols follow Rust HashMap iteration order, and ties between equally frequent
    pairs are broken by those ids. This learner breaks ties by the pair's strings instead.
    words: {word: count} (already normalised and pre-tokenised by the tokenizers library)."""
    import heapq
    seqs, cnts = [], []
    for w in sorted(words):
        seqs.append([w[0]] + [prefix + c for c in w[1:]])
        cnts.append(words[w])
    alphabet = sorted({sym for sq in seqs for sym in sq})
    vocab = list(specials) + alphabet
    pair_count, where = {}, {}
    for i, sq in enumerate(seqs):
        for a, b in zip(sq, sq[1:]):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + cnts[i]
            where.setdefault((a, b), set()).add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    known = set(vocab)
    while len(vocab) < vocab_size and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc:
            continue  # stale entry
        if -negc < min_frequency:
            break
        a, b = pair
        new = a + b[len(prefix):]
        if new not in known:
            vocab.append(new)
            known.add(new)
        changed = set()
        for i in sorted(where.pop(pair, ())):
            sq, c = seqs[i], cnts[i]
            for x, y in zip(sq, sq[1:]):
                pair_count[(x, y)] -= c
                changed.add((x, y))
            out, j = [], 0
            while j < len(sq):
                if j + 1 < len(sq) and sq[j] == a and sq[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(sq[j])
                    j += 1
            seqs[i] = out
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] = pair_count.get((x, y), 0) + c
                where.setdefault((x, y), set()).add(i)
                changed.add((x, y))
        pair_count.pop(pair, None)
        for p in sorted(changed):
            if p in pair_count:
                if pair_count[p] <= 0:
                    del pair_count[p]
                    where.pop(p, None)
                else:
                    heapq.heappush(heap, (-pair_count[p], p))
    return {t: i for i, t in enumerate(vocab)}


def train_wordpiece_tokenizer(lines):
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True,
                                            lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = {}
    for line in lines:
        for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            words[w] = words.get(w, 0) + 1
    vocab = learn_wordpiece_vocab(words, WORDPIECE_VOCAB, BERT_SPECIALS)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in BERT_SPECIALS])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tok


def wrap_bert(tok, cls):
    return cls(
        tokenizer_object=tok,
        do_lower_case=True,
        strip_accents=True,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=MAX_POSITIONS,
        clean_up_tokenization_spaces=True,
    )


# ----------------------------------------------------------------------------------------------
# 2. tokenizer parity cases
# ----------------------------------------------------------------------------------------------

WS = [" ", "  ", "   ", "\t", "\n", "\r\n", " \t", "\n\n", "\t \n", "\u00a0", "\u3000", " \n  "]
FRAGMENTS = [
    "word", "Word.", "123", "3.5", "\U0001F600", "\u4f60\u597d", "caf\u00e9", "it's", "DON'T", "?!",
    "\u0645\u0631\u062d\u0628\u0627", "\ud55c\uae00", "\u3072\u3089\u304c\u306a", "e\u0301", "x", "--",
    "\U0001F44D\U0001F3FD", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "license", "Software", "GNU", "the", "\u00dcber", "na\u00efve", "\u03b1\u03b2\u03b3", "(c)", "$5",
]
CONTRACTION_WORDS = ["I", "you", "they", "it", "He", "SHE", "we", "don", "can", "O", "Bob", "x"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D"]
RANDOM_BLOCKS = [
    (0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF),
    (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x3040, 0x30FF),
    (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x2000, 0x206F),
    (0x0300, 0x036F), (0xE000, 0xE0FF), (0xFF00, 0xFFEF), (0x2190, 0x21FF), (0x10000, 0x1007F),
]


def build_cases():
    """Returns a list of dicts: {"name", "category", "text"} or {..., "bytes_hex"}."""
    rng = random.Random(1234)
    cases = []
    seen = set()

    def add(category, text=None, raw=None):
        key = ("b", raw) if raw is not None else ("t", text)
        if key in seen:
            return
        seen.add(key)
        c = {"name": "%s/%03d" % (category, sum(1 for x in cases if x["category"] == category)),
             "category": category}
        if raw is not None:
            c["bytes_hex"] = raw.hex()
            c["text"] = raw.decode("utf-8", errors="replace")
        else:
            c["text"] = text
        if any(unicodedata.category(ch) == "Cn" for ch in c["text"]):
            c["has_unassigned"] = True  # unassigned in Python's Unicode database
        cases.append(c)

    for s in strings.HAND_CASES:
        add("hand", s)
    # whitespace runs around and between fragments
    for ws in WS:
        for frag in FRAGMENTS[:4]:
            add("whitespace", ws + frag)
            add("whitespace", frag + ws)
            add("whitespace", "a" + ws + frag + ws + "b")
    for k in range(1, 9):
        add("whitespace", " " * k + "word")
        add("whitespace", "word" + " " * k + "word")
        add("whitespace", "\n" * k + "x" + "\t" * k)
    # contractions
    for i, w in enumerate(CONTRACTION_WORDS):
        for j, c in enumerate(CONTRACTIONS):
            if (i + j) % 3 == 0:
                add("contraction", "%s%s here" % (w, c))
    for c in CONTRACTIONS:
        add("contraction", "word %s" % c)
        add("contraction", "word%s%s" % (c, c))
    # numbers
    for _ in range(40):
        kind = rng.randrange(5)
        if kind == 0:
            s = str(rng.randrange(10 ** rng.randrange(1, 15)))
        elif kind == 1:
            s = "%.*f" % (rng.randrange(1, 6), rng.uniform(-1e4, 1e4))
        elif kind == 2:
            s = "{:,}".format(rng.randrange(10 ** 9))
        elif kind == 3:
            s = "%d-%02d-%02d %d:%02d" % (rng.randrange(1900, 2100), rng.randrange(1, 13), rng.randrange(1, 29),
                                          rng.randrange(24), rng.randrange(60))
        else:
            s = " ".join(str(rng.randrange(1000)) for _ in range(rng.randrange(2, 6)))
        add("number", s)
    # random mixtures of fragments and separators
    pool = FRAGMENTS + [s for s in strings.HAND_CASES if 0 < len(s) < 25]
    seps = ["", " ", "  ", "\t", "\n", "\r\n", "-", ", ", ". ", "\u200b", "'"]
    for _ in range(120):
        n = rng.randrange(2, 7)
        parts = [rng.choice(pool) for _ in range(n)]
        s = parts[0]
        for p in parts[1:]:
            s += rng.choice(seps) + p
        add("mixed", s)
    # random code points (many are absent from the training corpus -> unknown for WordPiece)
    for _ in range(40):
        n = rng.randrange(1, 9)
        chars = []
        for _ in range(n):
            lo, hi = rng.choice(RANDOM_BLOCKS)
            chars.append(chr(rng.randrange(lo, hi + 1)))
        add("random_codepoints", "".join(chars))
    # invalid UTF-8
    for raw in strings.INVALID_UTF8:
        add("invalid_utf8", raw=raw)
    return cases


def case_input(c):
    d = {"name": c["name"], "category": c["category"]}
    if c.get("has_unassigned"):
        d["has_unassigned"] = True
    if "bytes_hex" in c:
        d["bytes_hex"] = c["bytes_hex"]
        d["text_replaced"] = c["text"]
    else:
        d["text"] = c["text"]
    return d


def encode_single(tok, text, want_type_ids, extra_decoded):
    enc = tok(text, add_special_tokens=True, return_offsets_mapping=True, return_token_type_ids=True,
              return_attention_mask=False)
    ids = list(enc["input_ids"])
    ids_ns = list(tok(text, add_special_tokens=False, return_attention_mask=False)["input_ids"])
    r = {
        "ids": ids,
        "ids_no_special": ids_ns,
        "tokens": tok.convert_ids_to_tokens(ids),
        "offsets": [list(o) for o in enc["offset_mapping"]],
    }
    if want_type_ids:
        r["type_ids"] = list(enc["token_type_ids"])
    r["decoded"] = tok.decode(ids_ns)
    r["decoded_skip_special"] = tok.decode(ids, skip_special_tokens=True)
    if extra_decoded:
        r["decoded_no_cleanup"] = tok.decode(ids_ns, clean_up_tokenization_spaces=False)
    return r


def build_tokenizer_cases(toks, cases):
    rng = random.Random(99)
    out = {
        "description": "see tests/golden/README.md (tokenizer_cases.json)",
        "invalid_utf8_rule": "bytes_hex cases are tokenized as bytes.decode('utf-8', errors='replace') "
                             "(each maximal invalid subsequence -> one U+FFFD); text_replaced holds that string",
        "offsets_unit": "Unicode code points of the (replaced) input string, [start, end)",
        "tokenizers": {},
    }
    folders = {"gpt2": "models/gpt2", "roberta": "models/roberta", "bert": "models/bert"}
    texts_for_pairs = [c["text"] for c in cases if c["category"] in ("hand", "mixed") and len(c["text"]) < 60]
    pair_list = []
    fixed_pairs = [
        ("A man is playing a guitar.", "A person plays music."),
        ("The license grants you rights.", ""),
        ("", "Only the second text."),
        ("Hello world", "hello world"),
        ("caf\u00e9 \U0001F600", "\u4f60\u597d\uff0c\u4e16\u754c"),
        ("  spaced  out  ", "\ttabbed\t"),
        ("It's fine.", "DON'T!"),
    ]
    pair_list.extend(fixed_pairs)
    while len(pair_list) < 52:
        pair_list.append((rng.choice(texts_for_pairs), rng.choice(texts_for_pairs)))
    long_a = ("The licensee may copy and distribute verbatim copies of the Program's source code as "
              "received, in any medium, provided that each copy carries a notice.")
    long_b = "Trunc\u00e9 \U0001F600 \u4f60\u597d\u4e16\u754c and a second text that is also rather long indeed."
    trunc_single = [
        (long_a, 8), (long_a, 16), (long_b, 5), (long_b, 12), ("short", 32), ("\U0001F600" * 10, 7),
    ]
    trunc_pair = [
        (long_a, long_b, 12, "longest_first"), (long_a, long_b, 20, "longest_first"),
        (long_a, "short b", 10, "longest_first"), ("short a", long_b, 10, "longest_first"),
        (long_a, long_b, 16, "only_first"), (long_a, long_b, 16, "only_second"),
        (long_b, long_a, 9, "longest_first"),
    ]
    for name, tok in toks.items():
        is_bert = name == "bert"
        entry = {
            "folder": folders[name],
            "class": type(tok).__name__,
            "clean_up_tokenization_spaces": bool(tok.clean_up_tokenization_spaces),
            "vocab_size": len(tok),
            "special_tokens": {k: v for k, v in tok.special_tokens_map.items()},
            "special_token_ids": {t: tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens},
            "cases": [],
        }
        backend = Tokenizer.from_file(str(DATA / folders[name] / "tokenizer.json"))
        for c in cases:
            r = case_input(c)
            r.update(encode_single(tok, c["text"], is_bert, is_bert))
            # cross-check: the raw tokenizers library on tokenizer.json gives the same ids/offsets
            b = backend.encode(c["text"], add_special_tokens=True)
            assert b.ids == r["ids"], (name, c)
            assert [list(o) for o in b.offsets] == r["offsets"], (name, c)
            entry["cases"].append(r)
        if name in ("bert", "roberta"):
            entry["pair_cases"] = []
            for i, (a, b_) in enumerate(pair_list):
                enc = tok(a, b_, return_offsets_mapping=True, return_token_type_ids=True,
                          return_attention_mask=False)
                entry["pair_cases"].append({
                    "name": "pair/%03d" % i,
                    "text_a": a,
                    "text_b": b_,
                    "ids": list(enc["input_ids"]),
                    "type_ids": list(enc["token_type_ids"]),
                    "offsets": [list(o) for o in enc["offset_mapping"]],
                    "tokens": tok.convert_ids_to_tokens(enc["input_ids"]),
                })
        entry["truncation_cases"] = []
        for i, (text, ml) in enumerate(trunc_single):
            enc = tok(text, max_length=ml, truncation=True, return_offsets_mapping=True,
                      return_token_type_ids=True, return_attention_mask=False)
            d = {"name": "trunc/%03d" % i, "text": text, "max_length": ml, "truncation": True,
                 "ids": list(enc["input_ids"]), "offsets": [list(o) for o in enc["offset_mapping"]]}
            if is_bert:
                d["type_ids"] = list(enc["token_type_ids"])
            entry["truncation_cases"].append(d)
        if name in ("bert", "roberta"):
            for j, (a, b_, ml, strat) in enumerate(trunc_pair):
                d = {"name": "trunc_pair/%03d" % j, "text_a": a, "text_b": b_, "max_length": ml,
                     "truncation": strat}
                try:
                    enc = tok(a, b_, max_length=ml, truncation=strat, return_offsets_mapping=True,
                              return_token_type_ids=True, return_attention_mask=False)
                except Exception as e:  # the tokenizer refuses: record that an error is expected
                    d["error"] = str(e)
                    entry["truncation_cases"].append(d)
                    continue
                entry["truncation_cases"].append({
                    "name": "trunc_pair/%03d" % j, "text_a": a, "text_b": b_, "max_length": ml,
                    "truncation": strat, "ids": list(enc["input_ids"]),
                    "type_ids": list(enc["token_type_ids"]),
                    "offsets": [list(o) for o in enc["offset_mapping"]]})
        out["tokenizers"][name] = entry
    return out


# ----------------------------------------------------------------------------------------------
# 3. models
# ----------------------------------------------------------------------------------------------

def perturb_norms_and_biases(model, seed, bias_std=0.2, gamma_std=0.2):
    """HF initialises LayerNorm to (1, 0) and linear biases to 0, which would leave those code
    paths untested; give every bias and every LayerNorm gamma random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(1.0 + gamma_std * torch.randn(mod.weight.shape, generator=g))
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(bias_std * torch.randn(p.shape, generator=g))


def make_gpt2(vocab_size, eot_id, seed, init_range):
    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=MAX_POSITIONS,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_inner=128,
        activation_function="gelu_new",
        initializer_range=init_range,
        layer_norm_epsilon=1e-5,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    assert isinstance(model, GPT2LMHeadModel)
    perturb_norms_and_biases(model, seed + 1)
    model.eval()
    return model


def make_bert_config(vocab_size, init_range, **kw):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        hidden_act="gelu",
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=2,
        initializer_range=init_range,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        **kw,
    )


def make_bert_cls(vocab_size, seed, init_range):
    cfg = make_bert_config(
        vocab_size, init_range,
        num_labels=3,
        id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
        label2id={"contradiction": 0, "neutral": 1, "entailment": 2},
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="eager")
    assert isinstance(model, BertForSequenceClassification)
    perturb_norms_and_biases(model, seed + 1)
    return model.eval()


def make_bert_embed(vocab_size, seed, init_range):
    cfg = make_bert_config(vocab_size, init_range)
    torch.manual_seed(seed)
    model = AutoModel.from_config(cfg, attn_implementation="eager")
    assert isinstance(model, BertModel)
    perturb_norms_and_biases(model, seed + 1)
    return model.eval()


DISTIL_LABELS = ["toxic", "spam", "question", "legal"]


def make_distilbert(vocab_size, seed, init_range):
    cfg = DistilBertConfig(
        vocab_size=vocab_size,
        dim=64,
        n_layers=2,
        n_heads=4,
        hidden_dim=128,
        max_position_embeddings=MAX_POSITIONS,
        activation="gelu",
        initializer_range=init_range,
        sinusoidal_pos_embds=False,
        pad_token_id=0,
        num_labels=4,
        problem_type="multi_label_classification",
        id2label={i: l for i, l in enumerate(DISTIL_LABELS)},
        label2id={l: i for i, l in enumerate(DISTIL_LABELS)},
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="eager")
    assert isinstance(model, DistilBertForSequenceClassification)
    perturb_norms_and_biases(model, seed + 1)
    return model.eval()


def make_roberta(vocab_size, seed, init_range, pad_id, bos_id, eos_id):
    cfg = RobertaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        hidden_act="gelu",
        max_position_embeddings=MAX_POSITIONS + 2,  # positions start at padding_idx + 1 = 2
        type_vocab_size=1,
        initializer_range=init_range,
        layer_norm_eps=1e-5,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="eager")
    assert isinstance(model, RobertaForSequenceClassification)
    perturb_norms_and_biases(model, seed + 1)
    return model.eval()


def write_sentence_transformers_files(folder, hidden):
    write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_POSITIONS, "do_lower_case": False})
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    write_json(folder / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": "3.3.1", "transformers": PINNED["transformers"],
                        "pytorch": PINNED["torch"]},
        "prompts": {},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    # Normalize has no parameters; git keeps no empty folders, so put a note in it.
    (folder / "2_Normalize").mkdir(parents=True, exist_ok=True)
    (folder / "2_Normalize" / "README.md").write_text(
        "sentence_transformers.models.Normalize: L2-normalises the pooled embedding; no files needed.\n")


# ----------------------------------------------------------------------------------------------
# 4. expected outputs
# ----------------------------------------------------------------------------------------------

def attention_info(attns, T):
    return {"num_layers": len(attns), "num_heads": int(attns[0].shape[1]), "seq_len": T,
            "tensor_shape": [int(attns[0].shape[1]), T, T]}


@torch.no_grad()
def expected_gpt2(model, tok, cases, name):
    tensors, jcases = {}, []
    for cname, text in cases:
        ids = tok(text)["input_ids"]
        x = torch.tensor([ids])
        captured = {}

        def keep_input(mod, inp, out):  # must return None (a returned value replaces the output)
            captured["x"] = inp[0].detach().clone()

        hook = model.transformer.ln_f.register_forward_hook(keep_input)
        out = model(x, output_hidden_states=True, output_attentions=True)
        hook.remove()
        plain = model(x).logits  # the same forward with nothing attached
        assert torch.equal(plain, out.logits), "capturing changed the forward pass"
        assert torch.allclose(model.transformer.ln_f(captured["x"]), out.hidden_states[-1], atol=1e-6)
        T = len(ids)
        logits = out.logits[0]
        tensors["%s.logits" % cname] = logits
        tensors["%s.pre_ln_f" % cname] = captured["x"][0]
        # logit lens: lm_head(ln_f(h)) for every hidden state; the last one already has ln_f
        lens = []
        n = len(out.hidden_states) - 1
        for i, h in enumerate(out.hidden_states):
            hh = h[0] if i == n else model.transformer.ln_f(h[0])
            ll = model.lm_head(hh)
            top = torch.topk(ll, 5, dim=-1)
            lens.append({"hidden_state": i, "top5_ids": top.indices.tolist(), "top5_logits": top.values.tolist()})
        for i, h in enumerate(out.hidden_states):
            tensors["%s.hidden_states.%d" % (cname, i)] = h[0]
        for l, a in enumerate(out.attentions):
            tensors["%s.attentions.%d" % (cname, l)] = a[0]
        margins = [top2_margin(logits[t]) for t in range(T)]
        jcases.append({
            "name": cname,
            "text": text,
            "input_ids": ids,
            "position_ids": list(range(T)),
            "attentions": attention_info(out.attentions, T),
            "next_token_argmax": [int(i) for i in logits.argmax(-1)],
            "next_token_top2_margin": margins,
            "logit_lens": lens,
            "tensors": {
                "logits": [T, int(logits.shape[-1])],
                "pre_ln_f": [T, 64],
                "hidden_states.<i>": {"i": "0..%d" % (len(out.hidden_states) - 1), "shape": [T, 64]},
                "attentions.<l>": {"l": "0..%d" % (len(out.attentions) - 1), "shape": [4, T, T]},
            },
        })
    return tensors, jcases


@torch.no_grad()
def expected_classifier(model, tok, cases, base_attr):
    cfg = model.config
    multi = cfg.problem_type == "multi_label_classification"
    tensors, jcases = {}, []
    for cname, text, pair in cases:
        enc = tok(text, pair, return_tensors="pt") if pair is not None else tok(text, return_tensors="pt")
        kwargs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if "token_type_ids" in enc:
            kwargs["token_type_ids"] = enc["token_type_ids"]
        out = model(**kwargs, output_hidden_states=True, output_attentions=True)
        T = enc["input_ids"].shape[1]
        logits = out.logits[0]
        probs = torch.sigmoid(logits) if multi else torch.softmax(logits, -1)
        tensors["%s.logits" % cname] = logits
        tensors["%s.probs" % cname] = probs
        for i, h in enumerate(out.hidden_states):
            tensors["%s.hidden_states.%d" % (cname, i)] = h[0]
        for l, a in enumerate(out.attentions):
            tensors["%s.attentions.%d" % (cname, l)] = a[0]
        base = getattr(model, base_attr)
        if base_attr == "bert":
            pooled = base(**kwargs).pooler_output[0]
            tensors["%s.pooler_output" % cname] = pooled
        ids = enc["input_ids"][0].tolist()
        d = {"name": cname, "text": text}
        if pair is not None:
            d["text_pair"] = pair
        d["input_ids"] = ids
        if "token_type_ids" in enc:
            d["token_type_ids"] = enc["token_type_ids"][0].tolist()
        if base_attr == "roberta":
            pad = cfg.pad_token_id
            d["position_ids"] = [pad + 1 + t for t in range(T)]
        else:
            d["position_ids"] = list(range(T))
        d["attentions"] = attention_info(out.attentions, T)
        d["logits"] = logits.tolist()
        d["probs"] = probs.tolist()
        if multi:
            d["predicted_labels"] = [cfg.id2label[i] for i, p in enumerate(probs.tolist()) if p > 0.5]
        else:
            d["predicted_label"] = cfg.id2label[int(probs.argmax())]
            srt = sorted(logits.tolist(), reverse=True)
            d["top2_logit_margin"] = srt[0] - srt[1]
        jcases.append(d)
    return tensors, jcases


@torch.no_grad()
def expected_embed(model, tok, cases):
    tensors, jcases = {}, []
    embs = []
    for cname, text in cases:
        enc = tok(text, return_tensors="pt", truncation=True, max_length=MAX_POSITIONS)
        out = model(**enc, output_hidden_states=True, output_attentions=True)
        T = enc["input_ids"].shape[1]
        tokemb = out.last_hidden_state[0]
        mask = enc["attention_mask"][0].to(torch.float32)[:, None]
        mean = (tokemb * mask).sum(0) / mask.sum().clamp(min=1e-9)
        emb = torch.nn.functional.normalize(mean, p=2, dim=0)
        embs.append(emb)
        tensors["%s.token_embeddings" % cname] = tokemb
        tensors["%s.mean_pooled" % cname] = mean
        tensors["%s.embedding" % cname] = emb
        tensors["%s.pooler_output" % cname] = out.pooler_output[0]
        for i, h in enumerate(out.hidden_states):
            tensors["%s.hidden_states.%d" % (cname, i)] = h[0]
        for l, a in enumerate(out.attentions):
            tensors["%s.attentions.%d" % (cname, l)] = a[0]
        jcases.append({"name": cname, "text": text, "input_ids": enc["input_ids"][0].tolist(),
                       "token_type_ids": enc["token_type_ids"][0].tolist(),
                       "position_ids": list(range(T)),
                       "attentions": attention_info(out.attentions, T)})
    E = torch.stack(embs)
    return tensors, jcases, (E @ E.T).tolist()


def sentence_transformers_check(folder, cases, tensors):
    try:
        from sentence_transformers import SentenceTransformer
    except Exception as e:  # optional cross-check
        return "skipped (%s)" % type(e).__name__
    st = SentenceTransformer(str(folder), device="cpu")
    worst = 0.0
    for cname, text in cases:
        got = torch.tensor(st.encode([text], convert_to_numpy=True)[0])
        ref = tensors["%s.embedding" % cname]
        worst = max(worst, float((got - ref).abs().max()))
    assert worst < 1e-5, worst
    return "ok, max abs diff %.3g" % worst


# ---------------------------- generation ------------------------------------------------------

def _id_list(x):
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [int(v) for v in x.view(-1).tolist()]
    if isinstance(x, int):
        return [x]
    return [int(v) for v in x]


class Recorder:
    """Wraps pieces of transformers' generation during one generate() call and records how close
    every decision was, so that float noise cannot flip them:
      - contrastive search: the gap between the best and second-best contrastive score, and the
        log-probability gap between the k-th and (k+1)-th candidate of the top-k recall;
      - beam search: for every step and unfinished batch item, the score gap at the boundary
        between the selected and the first rejected non-eos candidate, the gap of every eos
        candidate to the rank-num_beams boundary, the gaps of every comparison with the worst kept
        hypothesis and of the early-stopping test, and the gaps between the final hypotheses.
    (The order of the selected beams among themselves is not a decision that changes outputs.)"""

    def __init__(self):
        self.topk_log_gaps = []
        self.contrastive_margins = []
        self.beam_margins = []
        self.final_hyp_scores = None
        self.beam_steps = 0

    def __enter__(self):
        rec = self
        self._saved = (torch.topk, gen_utils._ranking_fast, gen_beam.BeamSearchScorer.process,
                       gen_beam.BeamSearchScorer.finalize, gen_beam.BeamHypotheses.add,
                       gen_beam.BeamHypotheses.is_done)
        orig_rank, orig_process, orig_finalize, orig_add, orig_is_done = self._saved[1:]

        def topk(input, k, dim=-1, largest=True, sorted=True, **kw):
            res = _TOPK(input, k, dim=dim, largest=largest, sorted=sorted, **kw)
            if largest and input.shape[dim] > k:  # only contrastive search calls this (on probabilities)
                v = _TOPK(input.float(), k + 1, dim=dim).values.reshape(-1, k + 1)
                for row in v:
                    rec.topk_log_gaps.append(float(torch.log(row[k - 1]) - torch.log(row[k])))
            return res

        def ranking(context_hidden, next_hidden, next_top_k_probs, cosine_matrix_mask, alpha, beam_width):
            sel = orig_rank(context_hidden, next_hidden, next_top_k_probs, cosine_matrix_mask, alpha, beam_width)
            nc = context_hidden / context_hidden.norm(dim=2, keepdim=True)
            nn_ = next_hidden / next_hidden.norm(dim=2, keepdim=True)
            cos = torch.matmul(nc, nn_.transpose(1, 2)).squeeze(-1)
            cos = cos + (1 - cosine_matrix_mask.to(cos.dtype)) * torch.finfo(cos.dtype).min
            score = (1.0 - alpha) * next_top_k_probs.view(-1) - alpha * cos.max(dim=-1).values
            for row in score.view(-1, beam_width):
                rec.contrastive_margins.append(top2_margin(row))
            return sel

        def process(scorer, input_ids, next_scores, next_tokens, next_indices, pad_token_id=None,
                    eos_token_id=None, beam_indices=None, group_index=0, decoder_prompt_len=0):
            eos = set(_id_list(eos_token_id))
            k = scorer.group_size
            rec.beam_steps += 1
            for b in range(next_scores.shape[0]):
                if scorer._done[b]:
                    continue
                sc, tk = next_scores[b].tolist(), next_tokens[b].tolist()
                nonsel = [r for r, t in enumerate(tk) if t not in eos]
                if len(nonsel) > k:
                    rec.beam_margins.append(sc[nonsel[k - 1]] - sc[nonsel[k]])
                for r, t in enumerate(tk):
                    if t in eos and r <= nonsel[min(k, len(nonsel)) - 1]:
                        rec.beam_margins.append(sc[r] - sc[k] if r < k else sc[k - 1] - sc[r])
            return orig_process(scorer, input_ids, next_scores, next_tokens, next_indices, pad_token_id,
                                eos_token_id, beam_indices, group_index, decoder_prompt_len)

        def add(hyps, hyp, sum_logprobs, beam_indices=None, generated_len=None):
            n = generated_len if generated_len is not None else hyp.shape[-1]
            score = sum_logprobs / (n ** hyps.length_penalty)
            if len(hyps) >= hyps.num_beams:
                rec.beam_margins.append(abs(score - hyps.worst_score))
                if score > hyps.worst_score:  # the lowest of the old ones is dropped
                    srt = sorted([b[0] for b in hyps.beams] + [score])
                    rec.beam_margins.append(srt[1] - srt[0])
            return orig_add(hyps, hyp, sum_logprobs, beam_indices, generated_len)

        def is_done(hyps, best_sum_logprobs, cur_len, decoder_prompt_len=0):
            if len(hyps) >= hyps.num_beams and hyps.early_stopping is not True:
                if hyps.early_stopping is False or hyps.length_penalty <= 0.0:
                    best = best_sum_logprobs / (cur_len - decoder_prompt_len) ** hyps.length_penalty
                else:
                    best = best_sum_logprobs / (hyps.max_length - decoder_prompt_len) ** hyps.length_penalty
                rec.beam_margins.append(abs(hyps.worst_score - best))
            return orig_is_done(hyps, best_sum_logprobs, cur_len, decoder_prompt_len)

        def finalize(scorer, *a, **kw):
            out = orig_finalize(scorer, *a, **kw)
            rec.final_hyp_scores = [sorted((float(b[0]) for b in h.beams), reverse=True) for h in scorer._beam_hyps]
            for srt in rec.final_hyp_scores:
                for i in range(min(len(srt) - 1, scorer.num_beam_hyps_to_keep)):
                    rec.beam_margins.append(srt[i] - srt[i + 1])
            return out

        torch.topk = topk
        gen_utils._ranking_fast = ranking
        gen_beam.BeamSearchScorer.process = process
        gen_beam.BeamSearchScorer.finalize = finalize
        gen_beam.BeamHypotheses.add = add
        gen_beam.BeamHypotheses.is_done = is_done
        return self

    def __exit__(self, *exc):
        (torch.topk, gen_utils._ranking_fast, gen_beam.BeamSearchScorer.process,
         gen_beam.BeamSearchScorer.finalize, gen_beam.BeamHypotheses.add,
         gen_beam.BeamHypotheses.is_done) = self._saved
        return False


def run_generate(model, prompt_ids, kwargs):
    """prompt_ids: list of lists of equal length (no padding). Returns a json record."""
    x = torch.tensor(prompt_ids)
    call = dict(kwargs)
    call.update(return_dict_in_generate=True, output_scores=True)
    with Recorder() as rec, torch.no_grad():
        out = model.generate(x, attention_mask=torch.ones_like(x), **call)
    rec_out = {"kwargs": kwargs, "prompt_ids": prompt_ids, "sequences": out.sequences.tolist()}
    P = x.shape[1]
    rec_out["new_ids"] = [s[P:] for s in out.sequences.tolist()]
    beams = kwargs.get("num_beams", 1)
    if beams > 1:
        rec_out["sequences_scores"] = out.sequences_scores.tolist()
        rec_out["final_hypothesis_scores"] = rec.final_hyp_scores
        rec_out["beam_steps"] = rec.beam_steps
        margin = min(rec.beam_margins)
    elif kwargs.get("penalty_alpha"):
        rec_out["contrastive_margins"] = rec.contrastive_margins
        rec_out["topk_log_gaps"] = rec.topk_log_gaps
        margin = min(rec.contrastive_margins + rec.topk_log_gaps)
    else:
        # greedy: out.scores[step] is the processed score row that argmax was taken on
        m = []
        for step in out.scores:
            m.append([top2_margin(step[b]) for b in range(step.shape[0])])
        rec_out["step_margins"] = m
        margin = min(min(r) for r in m)
    rec_out["min_margin"] = margin
    return rec_out


GEN_PROMPTS = [
    "The Free Software Foundation",
    "You may copy and distribute",
    "Permission is hereby granted, free of charge, to any person",
    "\u4f60\u597d \U0001F600 caf\u00e9",
]


def build_generation(model, tok, eot_id, label, full=True):
    prompts = [tok(p)["input_ids"] for p in GEN_PROMPTS]
    pad = eot_id
    cases = []

    def add(name, kwargs, prompt_idx):
        for pi in prompt_idx:
            r = run_generate(model, [prompts[pi]], kwargs)
            r["name"] = "%s/p%d" % (name, pi)
            r["model"] = label
            r["prompt_text"] = GEN_PROMPTS[pi]
            cases.append(r)
        return cases[-1]

    base = {"do_sample": False, "pad_token_id": pad, "eos_token_id": eot_id}
    g = add("greedy", dict(base, num_beams=1, max_new_tokens=20), range(len(prompts)))
    if label != "gpt2":
        return cases, None

    # min_new_tokens with an eos that greedy would produce early
    greedy0 = cases[0]["new_ids"][0]
    eos_a = greedy0[2]
    add("greedy_eos_stop", dict(base, num_beams=1, max_new_tokens=20, eos_token_id=eos_a), [0])
    add("greedy_min_new_tokens", dict(base, num_beams=1, max_new_tokens=20, eos_token_id=eos_a,
                                      min_new_tokens=8), [0])
    add("repetition_penalty", dict(base, num_beams=1, max_new_tokens=20, repetition_penalty=1.3), range(4))
    add("no_repeat_ngram", dict(base, num_beams=1, max_new_tokens=20, no_repeat_ngram_size=2), range(4))
    bad_single = [[greedy0[0]], [greedy0[3]]]
    bad_multi = [[greedy0[1], greedy0[2]]]
    add("bad_words_single", dict(base, num_beams=1, max_new_tokens=20, bad_words_ids=bad_single), [0])
    add("bad_words_multi", dict(base, num_beams=1, max_new_tokens=20, bad_words_ids=bad_multi), [0])
    add("bad_words_mixed", dict(base, num_beams=1, max_new_tokens=20, bad_words_ids=bad_single + bad_multi), [0, 1])
    add("contrastive", dict(base, penalty_alpha=0.6, top_k=4, max_new_tokens=20), range(3))
    add("beam_no_eos", dict(base, num_beams=4, max_new_tokens=10, num_return_sequences=2, early_stopping=False,
                            length_penalty=1.0), [0, 1])
    if not full:
        return cases, None

    # pick (prompt, eos) so that beam hypotheses finish at different steps and early_stopping /
    # length_penalty change the results
    beam_prompts = [tok(p)["input_ids"] for p in BEAM_PROMPTS]
    bp, eos_beam, info = choose_beam_eos(model, beam_prompts, base)
    others = [i for i in range(len(beam_prompts)) if i != bp][:1]
    for lp_ in (1.0, 0.6, 2.0):
        for es in (True, False, "never"):
            for pi in [bp] + others:
                r = run_generate(model, [beam_prompts[pi]], dict(
                    base, num_beams=4, max_new_tokens=BEAM_MAX_NEW, num_return_sequences=2, length_penalty=lp_,
                    early_stopping=es, eos_token_id=eos_beam))
                r["name"] = "beam_lp%s_es%s/b%d" % (lp_, es, pi)
                r["model"] = label
                r["prompt_text"] = BEAM_PROMPTS[pi]
                cases.append(r)
    # a batch of two prompts of equal length (no padding needed): the beam prompt and the start of
    # the first other prompt that is at least as long
    n = len(beam_prompts[bp])
    other = next(p for i, p in enumerate(beam_prompts + prompts) if len(p) >= n and p != beam_prompts[bp])
    two = [beam_prompts[bp], other[:n]]
    for kw, nm in ((dict(base, num_beams=4, max_new_tokens=BEAM_MAX_NEW, num_return_sequences=2, length_penalty=1.0,
                         early_stopping=False, eos_token_id=eos_beam), "batch2_beam"),
                   (dict(base, num_beams=4, max_new_tokens=BEAM_MAX_NEW, num_return_sequences=2, length_penalty=1.0,
                         early_stopping=True, eos_token_id=eos_beam), "batch2_beam_es"),
                   (dict(base, num_beams=1, max_new_tokens=20), "batch2_greedy")):
        r = run_generate(model, two, kw)
        r["name"] = nm
        r["model"] = label
        cases.append(r)
    info.update({"eos_for_min_new_tokens": eos_a, "eos_for_beam": eos_beam})
    return cases, info


BEAM_PROMPTS = GEN_PROMPTS + ["This program is free software", "THE SOFTWARE IS PROVIDED", "Copyright",
                              "In no event shall the authors"]
BEAM_MAX_NEW = 16


def choose_beam_eos(model, prompts, base):
    """Search (prompt, eos token) for the beam cases: eos is a token that beam search produces
    after its first step; prefer pairs whose 9 (length_penalty x early_stopping) runs all have
    margins >= MIN_MARGIN, give the most distinct outputs, and finish hypotheses with eos."""
    best, best_key, tried = None, None, 0
    for pi, prompt in enumerate(prompts):
        P = len(prompt)
        probe = run_generate(model, [prompt], dict(base, num_beams=4, max_new_tokens=BEAM_MAX_NEW,
                                                     num_return_sequences=4, early_stopping=False,
                                                     length_penalty=1.0))
        first = {s[P] for s in probe["sequences"]}
        counts = {}
        for s in probe["sequences"]:
            for t in s[P + 1:]:
                if t not in first:
                    counts[t] = counts.get(t, 0) + 1
        cands = sorted(counts, key=lambda t: (-counts[t], t))[:6]
        for c in cands:
            tried += 1
            outs, hit, ok, by_lp = set(), 0, True, 0
            for lp_ in (1.0, 0.6, 2.0):
                lp_outs = set()
                for es in (True, False, "never"):
                    r = run_generate(model, [prompt], dict(base, num_beams=4, max_new_tokens=BEAM_MAX_NEW,
                                                             num_return_sequences=2, length_penalty=lp_,
                                                             early_stopping=es, eos_token_id=c))
                    o = json.dumps(r["sequences"])
                    outs.add(o)
                    lp_outs.add(o)
                    hit += any(c in s[P:] for s in r["sequences"])
                    ok = ok and r["min_margin"] >= MIN_MARGIN
                by_lp += len(lp_outs) > 1
            key = (ok, by_lp, len(outs), hit, -pi, -c)
            if best_key is None or key > best_key:
                best, best_key = (pi, c), key
    info = {"beam_prompt": best[0], "beam_eos_search": {"pairs_tried": tried, "margins_ok": best_key[0],
            "lengths_penalties_where_early_stopping_matters": best_key[1], "distinct_outputs_of_9": best_key[2],
            "runs_with_eos_in_output": best_key[3]}}
    return best[0], best[1], info


# ---------------------------- logits processors -----------------------------------------------

def build_logits_processors():
    g = torch.Generator().manual_seed(7)
    V = 50
    scores = torch.randn(2, V, generator=g) * 2.0
    ids = torch.tensor([
        [3, 7, 11, 3, 9, 12, 3, 7, 11, 40, 3, 7],
        torch.randint(0, V, (12,), generator=g).tolist(),
    ])
    ids[1, -3:] = ids[1, 2:5]  # make sure row 1 also repeats a trigram prefix
    procs = [
        ("repetition_penalty_1.5", lp.RepetitionPenaltyLogitsProcessor(penalty=1.5),
         {"class": "RepetitionPenaltyLogitsProcessor", "penalty": 1.5}),
        ("repetition_penalty_0.7", lp.RepetitionPenaltyLogitsProcessor(penalty=0.7),
         {"class": "RepetitionPenaltyLogitsProcessor", "penalty": 0.7}),
        ("no_repeat_ngram_2", lp.NoRepeatNGramLogitsProcessor(2),
         {"class": "NoRepeatNGramLogitsProcessor", "ngram_size": 2}),
        ("no_repeat_ngram_3", lp.NoRepeatNGramLogitsProcessor(3),
         {"class": "NoRepeatNGramLogitsProcessor", "ngram_size": 3}),
        ("bad_words_single", lp.NoBadWordsLogitsProcessor([[3], [25]], eos_token_id=None),
         {"class": "NoBadWordsLogitsProcessor", "bad_words_ids": [[3], [25]], "eos_token_id": None}),
        ("bad_words_multi", lp.NoBadWordsLogitsProcessor([[7, 11], [3, 7, 20], [5, 6]], eos_token_id=None),
         {"class": "NoBadWordsLogitsProcessor", "bad_words_ids": [[7, 11], [3, 7, 20], [5, 6]],
          "eos_token_id": None}),
        ("bad_words_mixed", lp.NoBadWordsLogitsProcessor([[25], [7, 11], [3, 7, 20], [5, 6]], eos_token_id=None),
         {"class": "NoBadWordsLogitsProcessor", "bad_words_ids": [[25], [7, 11], [3, 7, 20], [5, 6]],
          "eos_token_id": None}),
        ("min_new_tokens_active", lp.MinNewTokensLengthLogitsProcessor(8, 5, 0),
         {"class": "MinNewTokensLengthLogitsProcessor", "prompt_length_to_skip": 8, "min_new_tokens": 5,
          "eos_token_id": 0}),
        ("min_new_tokens_inactive", lp.MinNewTokensLengthLogitsProcessor(8, 4, 0),
         {"class": "MinNewTokensLengthLogitsProcessor", "prompt_length_to_skip": 8, "min_new_tokens": 4,
          "eos_token_id": 0}),
        ("temperature_0.7", lp.TemperatureLogitsWarper(0.7),
         {"class": "TemperatureLogitsWarper", "temperature": 0.7}),
        ("top_k_5", lp.TopKLogitsWarper(5), {"class": "TopKLogitsWarper", "top_k": 5, "min_tokens_to_keep": 1}),
        ("top_p_0.8", lp.TopPLogitsWarper(0.8, min_tokens_to_keep=1),
         {"class": "TopPLogitsWarper", "top_p": 0.8, "min_tokens_to_keep": 1}),
        ("top_p_0.95", lp.TopPLogitsWarper(0.95, min_tokens_to_keep=1),
         {"class": "TopPLogitsWarper", "top_p": 0.95, "min_tokens_to_keep": 1}),
    ]
    tensors = {"input.scores": scores}
    meta = {
        "description": "each processor applied alone to input.scores (shape [2, 50]) with input_ids below; "
                       "outputs are <name>.scores; -inf is stored as IEEE -inf",
        "vocab_size": V,
        "input_ids": ids.tolist(),
        "input_shape": [2, V],
        "processors": [],
    }
    for name, p, args in procs:
        out = p(ids.clone(), scores.clone())
        tensors["%s.scores" % name] = out
        changed = (out != scores)
        meta["processors"].append({
            "name": name,
            "args": args,
            "tensor": "%s.scores" % name,
            "num_changed_per_row": changed.sum(-1).tolist(),
            "num_neg_inf_per_row": torch.isneginf(out).sum(-1).tolist(),
        })
    return tensors, meta


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

MODEL_TEXTS = {
    "short": "Hello world",
    "medium": "The GNU General Public License is a free, copyleft license for software.",
    "long": ("Permission is hereby granted, free of charge, to any person obtaining a copy of this "
             "software and associated documentation files, to deal in the Software without restriction."),
    "unicode": "Caf\u00e9 \U0001F600 \u4f60\u597d! It's 5 o'clock.",
}
PAIRS = {
    "pair1": ("A man is playing a guitar on stage.", "A person is performing music."),
    "pair2": ("The software is distributed without any warranty.", "The program comes with a full guarantee."),
}
EMBED_TEXTS = {
    "query": "How do I redistribute the software?",
    "doc1": "You may copy and distribute verbatim copies of the program.",
    "doc2": "The weather is sunny and warm today.",
    "long": MODEL_TEXTS["long"] + " The above copyright notice shall be included in all copies.",
    "unicode": MODEL_TEXTS["unicode"],
}


GPT2_VARIANTS = ("gpt2", "gpt2-bf16", "gpt2-f16")
ENCODER_HIDDEN_NOTE = ("hidden_states.0 = embeddings output (word + position (+ token type) embeddings, then "
                       "the embedding LayerNorm); hidden_states.i for i >= 1 = output of layer i-1 "
                       "(post-LayerNorm blocks, no final norm)")


def gpt2_variants_in_memory(V, eot_id, seed):
    m = make_gpt2(V, eot_id, seed=seed, init_range=GPT2_INIT)
    assert m.config._attn_implementation == "eager"
    return {
        "gpt2": m,
        # what the engine sees after loading 16-bit weights: the rounded values, in float32
        "gpt2-bf16": copy.deepcopy(m).to(torch.bfloat16).to(torch.float32).eval(),
        "gpt2-f16": copy.deepcopy(m).to(torch.float16).to(torch.float32).eval(),
    }


def evaluate_gpt2(variants, tok, eot_id, full=True):
    """Forward expectations + generation cases for each variant; returns (results, smallest margin)."""
    results, worst = {}, float("inf")
    cases = list(MODEL_TEXTS.items())
    for d in GPT2_VARIANTS:
        m = variants[d]
        use = cases if d == "gpt2" else [c for c in cases if c[0] == "medium"]
        tensors, jcases = expected_gpt2(m, tok, use, d)
        gcases, eos_info = build_generation(m, tok, eot_id, d, full=full)
        margins = {
            "min_next_token_margin_forward": min(min(c["next_token_top2_margin"]) for c in jcases),
            "min_generation_margin": min(c["min_margin"] for c in gcases),
        }
        worst = min(worst, *margins.values())
        results[d] = (tensors, jcases, gcases, eos_info, margins)
    return results, worst


def tokenizer_files_ok(folder):
    Tokenizer.from_file(str(folder / "tokenizer.json"))
    for f in ("tokenizer_config.json", "special_tokens_map.json"):
        assert (folder / f).exists(), folder / f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--allow-version-mismatch", action="store_true")
    args = ap.parse_args()
    versions = check_versions(args.allow_version_mismatch)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()

    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)

    # ---- tokenizers ----
    lines, corpus_info = load_corpus()
    log("corpus: %d lines from %d files + extras" % (len(lines), len(corpus_info["files"])))
    gpt2_tok = train_gpt2_tokenizer(lines)
    roberta_tok = train_roberta_tokenizer(lines)
    wp = train_wordpiece_tokenizer(lines)
    bert_tok = wrap_bert(wp, BertTokenizerFast)
    distil_tok = wrap_bert(Tokenizer.from_str(wp.to_str()), DistilBertTokenizerFast)
    eot_id = gpt2_tok.convert_tokens_to_ids(EOT)
    log("vocab sizes: gpt2 %d (eot %d), roberta %d, bert %d" % (len(gpt2_tok), eot_id, len(roberta_tok), len(bert_tok)))

    gpt2_dirs = ["gpt2", "gpt2-bf16", "gpt2-f16", "gpt2-sharded"]
    for d in gpt2_dirs:
        gpt2_tok.save_pretrained(str(MODELS / d), legacy_format=None if d == "gpt2" else False)
    roberta_tok.save_pretrained(str(MODELS / "roberta"))
    bert_tok.save_pretrained(str(MODELS / "bert"))
    bert_tok.save_pretrained(str(MODELS / "bert-embed"))
    distil_tok.save_pretrained(str(MODELS / "distilbert"))

    # reload what was saved; everything below uses the saved files
    toks = {
        "gpt2": AutoTokenizer.from_pretrained(str(MODELS / "gpt2")),
        "roberta": AutoTokenizer.from_pretrained(str(MODELS / "roberta")),
        "bert": AutoTokenizer.from_pretrained(str(MODELS / "bert")),
    }
    for t in toks.values():
        assert t.is_fast
    for d in os.listdir(MODELS):
        tokenizer_files_ok(MODELS / d)

    cases = build_cases()
    tc = build_tokenizer_cases(toks, cases)
    tc["corpus"] = corpus_info
    write_json(DATA / "tokenizer_cases.json", tc)
    log("tokenizer cases: %d single (+%d pairs, %d truncation for bert)" % (
        len(cases), len(tc["tokenizers"]["bert"]["pair_cases"]), len(tc["tokenizers"]["bert"]["truncation_cases"])))

    # ---- models ----
    V = len(gpt2_tok)
    gtok = toks["gpt2"]
    seed, results = None, None
    for cand in range(GPT2_SEED_START, GPT2_SEED_START + 40):
        variants = gpt2_variants_in_memory(V, eot_id, cand)
        results, worst = evaluate_gpt2(variants, gtok, eot_id, full=False)
        log("gpt2 seed %d: smallest margin without the eos-beam cases %.3g" % (cand, worst))
        if worst < MIN_MARGIN:
            continue
        results, worst = evaluate_gpt2(variants, gtok, eot_id, full=True)
        beam_ok = results["gpt2"][3]["beam_eos_search"]["lengths_penalties_where_early_stopping_matters"] > 0
        log("gpt2 seed %d: smallest margin %.3g, early_stopping matters: %s" % (cand, worst, beam_ok))
        if worst >= MIN_MARGIN and beam_ok:
            seed = cand
            break
    if seed is None:
        sys.exit("no GPT-2 seed gives margins >= %g" % MIN_MARGIN)
    gpt2 = make_gpt2(V, eot_id, seed=seed, init_range=GPT2_INIT)
    gpt2.save_pretrained(str(MODELS / "gpt2"), safe_serialization=True)
    gpt2.save_pretrained(str(MODELS / "gpt2-sharded"), safe_serialization=True, max_shard_size="200KB")
    copy.deepcopy(gpt2).to(torch.bfloat16).save_pretrained(str(MODELS / "gpt2-bf16"), safe_serialization=True)
    copy.deepcopy(gpt2).to(torch.float16).save_pretrained(str(MODELS / "gpt2-f16"), safe_serialization=True)

    Vb = len(bert_tok)
    make_bert_cls(Vb, seed=11, init_range=ENC_INIT).save_pretrained(str(MODELS / "bert"), safe_serialization=True)
    make_bert_embed(Vb, seed=12, init_range=ENC_INIT).save_pretrained(str(MODELS / "bert-embed"),
                                                                        safe_serialization=True)
    write_sentence_transformers_files(MODELS / "bert-embed", 64)
    make_distilbert(Vb, seed=13, init_range=ENC_INIT).save_pretrained(str(MODELS / "distilbert"),
                                                                        safe_serialization=True)
    rt = roberta_tok
    make_roberta(len(rt), seed=14, init_range=ENC_INIT, pad_id=rt.pad_token_id, bos_id=rt.bos_token_id,
                 eos_id=rt.eos_token_id).save_pretrained(str(MODELS / "roberta"), safe_serialization=True)
    log("models saved")

    # ---- expected outputs (from the saved folders, in float32) ----
    def load(cls, d):
        m = cls.from_pretrained(str(MODELS / d), torch_dtype=torch.float32, attn_implementation="eager")
        assert m.config._attn_implementation == "eager"
        return m.eval()

    summary = {"versions": versions, "gpt2_seed": seed, "margins": {}}
    loaded = {d: load(AutoModelForCausalLM, d) for d in GPT2_VARIANTS}
    sh = load(AutoModelForCausalLM, "gpt2-sharded")
    for (k, a), (k2, b) in zip(loaded["gpt2"].state_dict().items(), sh.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    final, worst = evaluate_gpt2(loaded, gtok, eot_id)
    gen_all = []
    for d in GPT2_VARIANTS:
        tensors, jcases, gcases, eos_info, margins = final[d]
        # the folders reproduce what the search computed in memory
        assert [c["sequences"] for c in gcases] == [c["sequences"] for c in results[d][2]], d
        m = loaded[d]
        save_tensors(EXPECTED / ("%s.safetensors" % d), tensors, {"model": d})
        write_json(EXPECTED / ("%s.json" % d), {
            "model": d, "folder": "models/%s" % d,
            "computed_in": "float32 from the weights stored in the folder (upcast if stored in 16 bits)",
            "config": {"n_layer": m.config.n_layer, "n_head": m.config.n_head, "n_embd": m.config.n_embd,
                       "vocab_size": m.config.vocab_size},
            "hidden_states_note": "hidden_states.0 = wte[ids] + wpe[pos] (input of block 0); hidden_states.i "
                                  "for 0 < i < n_layer = output of block i-1; hidden_states.n_layer = "
                                  "ln_f(output of the last block) (as HF returns it); pre_ln_f = output of "
                                  "the last block before ln_f",
            "cases": jcases})
        gen_all.extend(gcases)
        if eos_info:
            summary["generation_eos_choices"] = eos_info
        summary["margins"][d] = margins
    write_json(EXPECTED / "generation.json", {
        "description": "model.generate outputs; see README.md. sequences include the prompt.",
        "min_margin_required": MIN_MARGIN,
        "cases": gen_all})

    enc_cases = [(k, v, None) for k, v in MODEL_TEXTS.items()] + [(k, a, b) for k, (a, b) in PAIRS.items()]
    for d, base_attr in (("bert", "bert"), ("distilbert", "distilbert"), ("roberta", "roberta")):
        m = load(AutoModelForSequenceClassification, d)
        tok = AutoTokenizer.from_pretrained(str(MODELS / d))
        tensors, jcases = expected_classifier(m, tok, enc_cases, base_attr)
        save_tensors(EXPECTED / ("%s.safetensors" % d), tensors, {"model": d})
        write_json(EXPECTED / ("%s.json" % d), {
            "model": d, "folder": "models/%s" % d, "problem_type": m.config.problem_type or "single_label_classification",
            "id2label": {str(k): v for k, v in m.config.id2label.items()},
            "probs_function": "sigmoid" if m.config.problem_type == "multi_label_classification" else "softmax",
            "hidden_states_note": ENCODER_HIDDEN_NOTE,
            "cases": jcases})

    m = load(AutoModel, "bert-embed")
    tok = AutoTokenizer.from_pretrained(str(MODELS / "bert-embed"))
    ecases = list(EMBED_TEXTS.items())
    tensors, jcases, sims = expected_embed(m, tok, ecases)
    save_tensors(EXPECTED / "bert-embed.safetensors", tensors, {"model": "bert-embed"})
    st_check = sentence_transformers_check(MODELS / "bert-embed", ecases, tensors)
    write_json(EXPECTED / "bert-embed.json", {
        "model": "bert-embed", "folder": "models/bert-embed",
        "pooling": "mean over tokens (attention mask), then L2 normalisation",
        "hidden_states_note": ENCODER_HIDDEN_NOTE,
        "sentence_transformers_check": st_check,
        "cases": jcases,
        "cosine_similarity": {"order": [c[0] for c in ecases], "matrix": sims}})
    log("sentence-transformers check:", st_check)

    lt, lmeta = build_logits_processors()
    save_tensors(EXPECTED / "logits_processors.safetensors", lt, {"content": "logits processors"})
    write_json(EXPECTED / "logits_processors.json", lmeta)

    # ---- manifest ----
    files = sorted(p for p in DATA.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    manifest = {
        "generator": "tests/golden/make_golden.py",
        "versions": versions,
        "corpus": corpus_info,
        "gpt2_seed": seed,
        "initializer_range": {"gpt2": GPT2_INIT, "encoders": ENC_INIT},
        "summary": summary,
        "total_bytes": total,
        "files": {str(p.relative_to(DATA)): {"bytes": p.stat().st_size,
                                               "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                  for p in files},
    }
    write_json(DATA / "manifest.json", manifest)
    log(json.dumps(summary, indent=1))
    log("wrote %d files, %.2f MB" % (len(files), total / 1e6))
    assert worst >= MIN_MARGIN, worst


GPT2_SEED_START = 1
GPT2_INIT = 0.5
ENC_INIT = 0.2

if __name__ == "__main__":
    main()
