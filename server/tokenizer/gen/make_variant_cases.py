#!/usr/bin/env python3
"""Writes server/tokenizer/testing/variant_cases.json for tests/tokenizer_variants_test.cc.

The golden data (tests/golden) covers the GPT-2, RoBERTa and BERT configurations as released.
This adds the options those leave untested -- add_prefix_space with offset trimming, templates,
NFD/Lowercase normalizer sequences, cased BERT, added tokens with lstrip/rstrip/single_word and
normalized=True -- on small tokenizers trained here, and records what `tokenizers` returns
(ids, type ids, character offsets, sequence ids, decode with and without special tokens).
Seeded and offline, but tokenizers' WordPieceTrainer breaks ties in hash order, so a rerun may
give other BERT vocabularies (and cases): the committed file, which embeds each tokenizer.json,
is the reference. Usage: python3 make_variant_cases.py OUT.json
"""
import json
import random
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = [
    "The quick brown fox jumps over the lazy dog.", "It's a license; you'll see we've done it.",
    "Copyright (c) 2024 -- all rights reserved!", "naïve café Über résumé façade", "数字 你好 世界 こんにちは",
    "Ωμέγα αβγ İstanbul ΣΑΣ", "1234 3.14 $5 #tag @user http://x.y/z?a=b", "emoji 😀 👍🏽 🇫🇷 done",
] * 20

WS = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x85", "\xa0", "\u2000", "\u3000", "\u200b", "\ufeff"]
WORDS = ["the", "The", "license", "it's", "DON'T", "we've", "I'm", "'s", "'", "123", "3.14", "café", "naïve",
         "Über", "你好", "こんにちは", "한국어", "مرحبا", "नमस्ते", "αβγ", "İstanbul", "ΣΑΣ", "ǅ", "ﬁ", "e\u0301",
         "a\u0316\u0301\u0334", "😀", "👍🏽", "👨\u200d👩\u200d👧", "<s>", "</s>", "<mask>", "[CLS]", "[SEP]",
         "<|endoftext|>", "<|sep|>", "hello world", "<x>", "Ünï", "New Word", "[XX]", "...", "?!", "(c)",
         "\x00", "\ufffd", "\u00ad", "\ue000"]


def rand_text(rng):
    parts = []
    for _ in range(rng.randrange(0, 10)):
        r = rng.random()
        if r < 0.45:
            parts.append(rng.choice(WORDS))
        elif r < 0.7:
            parts.append(rng.choice(WS))
        else:
            lo, hi = rng.choice([(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x4E00, 0x4EFF),
                                 (0x1F300, 0x1F64F), (0x2000, 0x206F)])
            parts.append("".join(chr(rng.randrange(lo, hi + 1)) for _ in range(rng.randrange(1, 4))))
    return "".join(parts)


def bpe_base():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[AddedToken(s, special=True, normalized=False) for s in ["<s>", "<pad>", "</s>", "<unk>"]]))
    return tok


def wordpiece_base():
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(
        vocab_size=300, min_frequency=1, show_progress=False,
        special_tokens=[AddedToken(s, special=True, normalized=False) for s in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def variants():
    out = {}
    t = bpe_base()
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    t.post_processor = processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    t.add_tokens([AddedToken("hello world", single_word=True), AddedToken("<x>", lstrip=True, rstrip=True, normalized=True),
                  AddedToken("Ünï", normalized=False)])
    t.add_special_tokens([AddedToken("<|sep|>", special=True, normalized=False, rstrip=True)])
    out["bpe_prefix_space_trim_offsets"] = t
    t = bpe_base()
    t.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()])
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    eot = t.token_to_id("<|endoftext|>")
    t.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A:0 <|endoftext|>:1 $B:1",
        special_tokens=[("<|endoftext|>", eot)])
    out["bpe_nfd_lowercase_template"] = t
    t = bpe_base()
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    t.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    t.post_processor = processors.RobertaProcessing(sep=("</s>", t.token_to_id("</s>")), cls=("<s>", t.token_to_id("<s>")),
                                                    trim_offsets=True, add_prefix_space=True)
    out["roberta_prefix_space"] = t
    t = bpe_base()
    t.post_processor = processors.RobertaProcessing(sep=("</s>", t.token_to_id("</s>")), cls=("<s>", t.token_to_id("<s>")),
                                                    trim_offsets=True, add_prefix_space=False)
    t.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    out["roberta_no_prefix_space"] = t
    for name, kw in [("bert_cased", dict(lowercase=False, strip_accents=None)),
                     ("bert_lowercase_keep_accents", dict(lowercase=True, strip_accents=False)),
                     ("bert_no_clean_no_chinese", dict(clean_text=False, handle_chinese_chars=False, lowercase=True)),
                     ("bert_uncased", dict())]:
        t = wordpiece_base()
        t.normalizer = normalizers.BertNormalizer(**kw)
        t.add_tokens([AddedToken("New Word", normalized=True), AddedToken("[XX]", normalized=False, lstrip=True)])
        out[name] = t
    t = wordpiece_base()
    t.model = models.WordPiece(t.get_vocab(), unk_token="[UNK]", max_input_chars_per_word=8)
    out["bert_max_chars_8"] = t
    return out


def main():
    rng = random.Random(20240607)
    result = {"generator": "server/tokenizer/gen/make_variant_cases.py", "tokenizers_version": tokenizers.__version__,
              "offsets_unit": "code points of the input after bytes.decode('utf-8', errors='replace')",
              "variants": {}}
    for name, tok in variants().items():
        cases = []
        for i in range(120):
            a = rand_text(rng).encode("utf-8")
            if rng.random() < 0.1:
                pos = rng.randrange(0, len(a) + 1)
                a = a[:pos] + bytes(rng.choice([[0xFF], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xED, 0xA0, 0x80]])) + a[pos:]
            b = rand_text(rng).encode("utf-8") if rng.random() < 0.3 else None
            add = rng.random() < 0.8
            ta = a.decode("utf-8", errors="replace")
            if b is not None and b:
                enc = tok.encode(ta, b.decode("utf-8"), add_special_tokens=add)
            else:
                b = None
                enc = tok.encode(ta, add_special_tokens=add)
            c = {"a_hex": a.hex(), "add_special_tokens": add, "ids": enc.ids, "type_ids": enc.type_ids,
                 "offsets": [list(o) for o in enc.offsets],
                 "sequence_ids": [-1 if s is None else s for s in enc.sequence_ids],
                 "decoded": tok.decode(enc.ids, skip_special_tokens=False), "decoded_skip_special": tok.decode(enc.ids, skip_special_tokens=True)}
            if b is not None:
                c["b"] = b.decode("utf-8")
            cases.append(c)
        result["variants"][name] = {"tokenizer_json": json.loads(tok.to_str()), "cases": cases}
    with open(sys.argv[1], "w") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    main()
