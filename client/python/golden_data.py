"""Expected values from tests/golden/data (written by tests/golden/make_golden.py with
transformers), read with the standard library only so the client tests need nothing beyond
grpcio and protobuf."""

import json
import os
import struct


class Golden:
    def __init__(self, repo):
        self.root = os.path.join(repo, "tests", "golden", "data")
        self.models = os.path.join(self.root, "models")

    def model_path(self, name):
        return os.path.join(self.models, name)

    def expected(self, name):
        with open(os.path.join(self.root, "expected", name + ".json"), encoding="utf-8") as f:
            return json.load(f)

    def case(self, model, name):
        return next(c for c in self.expected(model)["cases"] if c["name"] == name)

    def generation_case(self, name, model="gpt2"):
        cases = self.expected("generation")["cases"]
        return next(c for c in cases if c["name"] == name and c["model"] == model)

    def tensor(self, model, key):
        """A float32 tensor of expected/<model>.safetensors as (shape, flat list)."""
        path = os.path.join(self.root, "expected", model + ".safetensors")
        with open(path, "rb") as f:
            header_size = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(header_size))
            entry = header[key]
            if entry["dtype"] != "F32":
                raise ValueError(f"{key}: expected F32, got {entry['dtype']}")
            begin, end = entry["data_offsets"]
            f.seek(8 + header_size + begin)
            data = f.read(end - begin)
        return entry["shape"], list(struct.unpack(f"<{len(data) // 4}f", data))


def _byte_alphabet():
    """GPT-2's byte-level alphabet: printable bytes stand for themselves, the others are shifted
    to code points from 256 up, in byte order."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) +
                 list(range(0xAE, 0xFF + 1)))
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return {char: byte for byte, char in mapping.items()}


class ByteLevelDecoder:
    """decode(ids) of a byte-level BPE folder (vocab.json), as transformers does without
    clean-up: bytes joined, then UTF-8 with U+FFFD for invalid sequences."""

    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        self.tokens = {token_id: token for token, token_id in vocab.items()}
        self.byte_of = _byte_alphabet()

    def decode(self, ids):
        data = bytearray()
        for token_id in ids:
            token = self.tokens[token_id]
            if all(ch in self.byte_of for ch in token):
                data += bytes(self.byte_of[ch] for ch in token)
            else:  # an added special token such as <|endoftext|> is its own text
                data += token.encode("utf-8")
        return data.decode("utf-8", errors="replace")
