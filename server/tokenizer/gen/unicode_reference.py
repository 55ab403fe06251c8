#!/usr/bin/env python3
"""Dumps, for every Unicode scalar value, how Hugging Face `tokenizers` (the pinned
version) classifies it, so that unicode_tables.cc can be checked against the reference
and its exception tables regenerated.

HF mixes Unicode versions: the GPT-2 regex runs on Oniguruma's tables, BertNormalizer and
BertPreTokenizer use the `unicode_categories` crate, NFD comes from
`unicode-normalization-alignments` (Unicode 9.0) and lowercase from Rust's std. utf8proc is one
Unicode version (15.0 for 2.8), so the C++ side needs a few per-code-point exceptions.

Output: one TSV line per code point:
  cp  gpt2_class(L/N/S/O)  bert_clean(K keep/X drop/W to space)  bert_split(P punct/W space/-)
      nfd  strip_accents(nfd minus Mn)  lowercase  reorders(1 when NFD moves U+0334, combining
      class 1, in front of the character: its combining class is above 1)  word(1 when Rust
      regex's \w matches it: a single_word added token next to it does not match)
where the last three are space-separated hex code points ('' when empty).
Usage: python3 unicode_reference.py OUT.tsv
"""
import sys
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers

bl = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                   strip_accents=False, lowercase=False)
strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                   strip_accents=True, lowercase=False)
nfd = normalizers.NFD()
lower = normalizers.Lowercase()
bert_pre = pre_tokenizers.BertPreTokenizer()
single_word = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
single_word.add_tokens([AddedToken("ab", single_word=True)])


def hexs(s):
    return " ".join("%X" % ord(ch) for ch in s)


def gpt2_class(c):
    if len(bl.pre_tokenize_str("a" + c)) == 1:
        return "L"
    if len(bl.pre_tokenize_str("1" + c)) == 1:
        return "N"
    if len(bl.pre_tokenize_str("!" + c)) == 1:
        return "O"
    return "S"


with open(sys.argv[1], "w") as out:
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        cl = clean.normalize_str(c)
        clean_cls = "X" if cl == "" else ("W" if cl == " " and c != " " else "K")
        n = len(bert_pre.pre_tokenize_str("a" + c + "a"))
        split_cls = "P" if n == 3 else ("W" if n == 2 else "-")
        reorders = 1 if nfd.normalize_str(c + "\u0334").startswith("\u0334") else 0
        word = 0 if single_word.encode("ab" + c).tokens[0] == "ab" else 1
        out.write("%X\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n" % (
            cp, gpt2_class(c), clean_cls, split_cls, hexs(nfd.normalize_str(c)),
            hexs(strip.normalize_str(c)), hexs(lower.normalize_str(c)), reorders, word))
