#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Reference numbers for ExplainAttention (see tests/golden/README.md, "Explanations").

Run from the repository root, after make_golden.py (which deletes and rewrites data/):

    python3 tests/golden/make_explain_golden.py

It reads the existing model folders data/models/gpt2 and data/models/bert, never rewrites them,
and writes data/expected/explain.{json,safetensors}, then adds those two files to
data/manifest.json. Same pinned versions, offline, single-threaded, float32, eager attention as
make_golden.py, whose writers it reuses so that the files follow the same conventions.
"""

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (sets the offline environment before transformers loads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification, GPT2LMHeadModel  # noqa: E402

OUT_JSON = mg.EXPECTED / "explain.json"
OUT_TENSORS = mg.EXPECTED / "explain.safetensors"

SENTENCE = "The software is free and the license is copyleft."
# (name, text, text_pair): a one-token input (for BERT: [CLS] the [SEP]), a sentence, a pair.
CASES = {
    "gpt2": [("one", "The", None), ("sentence", SENTENCE, None)],
    "bert": [("one", "The", None), ("sentence", SENTENCE, None),
             ("pair", "A man is playing a guitar.", "A person plays music.")],
}
PROJECTION_TEXTS = [
    SENTENCE,
    "You may copy and distribute the program.",
    "The weather is sunny and warm today.",
    "How do I redistribute the software?",
    "A man is playing a guitar.",
    "This License applies to any program or other work.",
]
LENS_TOP_K = 5


def heads_first(x, heads):
    """[T, heads*d] -> [heads, T, d]"""
    T = x.shape[0]
    return x.reshape(T, heads, -1).permute(1, 0, 2).contiguous()


def rollout(attentions):
    """Abnar & Zuidema: A_hat = rows-normalised 0.5 mean_h(A) + 0.5 I; R_0 = A_hat_0,
    R_l = A_hat_l R_(l-1). float64 throughout."""
    out, R = [], None
    for a in attentions:  # [heads, T, T]
        a = a.double()
        m = 0.5 * a.mean(0) + 0.5 * torch.eye(a.shape[-1], dtype=torch.float64)
        m = m / m.sum(-1, keepdim=True)
        R = m if R is None else m @ R
        out.append(R)
    return out


def norm_weighted(alpha, v, w_o):
    """Kobayashi et al.: f_h(x_j) = v_j^h W_O^h (value bias in v, output bias excluded).
    alpha [H,T,T], v [H,T,d], w_o [H*d, hidden]. Returns ([H,T,T] alpha*||f||, [T,T] ||sum_h alpha f||)."""
    H, T, d = v.shape
    f = torch.einsum("htd,hdk->htk", v.double(), w_o.double().reshape(H, d, -1))  # [H, T, hidden]
    per_head = alpha.double() * f.norm(dim=-1)[:, None, :]
    summed = torch.einsum("hij,hjk->ijk", alpha.double(), f).norm(dim=-1)
    return per_head, summed


def lens_stats(layer_logits, final_logits):
    """Per position: top-k ids/probs of this layer; for the final layer's argmax: rank (1-based,
    1 + the number of strictly larger logits), probability, this layer's entropy and
    KL(final || this layer), nats; float64 from the float32 logits."""
    lp = torch.log_softmax(layer_logits.double(), -1)
    lq = torch.log_softmax(final_logits.double(), -1)
    p = lp.exp()
    rows = []
    for t in range(layer_logits.shape[0]):
        top = torch.topk(layer_logits[t], LENS_TOP_K)
        target = int(final_logits[t].argmax())
        rows.append({
            "position": t,
            "top_ids": [int(i) for i in top.indices],
            "top_probs": [float(p[t, i]) for i in top.indices],
            "target_id": target,
            "target_rank": 1 + int((layer_logits[t] > layer_logits[t, target]).sum()),
            "target_probability": float(p[t, target]),
            "entropy": float(-(p[t] * lp[t]).sum()),
            "kl_to_final": float((lq[t].exp() * (lq[t] - lp[t])).sum()),
        })
    return rows


class QkvHooks:
    """Forward hooks that keep each layer's q, k, v projections [T, heads*d] (after the bias,
    before any scaling), as the attention consumes them."""

    def __init__(self, model):
        self.q, self.k, self.v, self.handles = {}, {}, {}, []
        if isinstance(model, GPT2LMHeadModel):
            e = model.config.n_embd
            for l, block in enumerate(model.transformer.h):
                def split(mod, inp, out, l=l):  # c_attn's output columns are q | k | v
                    self.q[l], self.k[l], self.v[l] = [x[0].clone() for x in out.split(e, dim=-1)]
                self.handles.append(block.attn.c_attn.register_forward_hook(split))
        else:
            for l, layer in enumerate(model.bert.encoder.layer):
                s = layer.attention.self
                for store, mod in ((self.q, s.query), (self.k, s.key), (self.v, s.value)):
                    def keep(m, inp, out, store=store, l=l):
                        store[l] = out[0].clone()
                    self.handles.append(mod.register_forward_hook(keep))

    def remove(self):
        for h in self.handles:
            h.remove()


def out_proj(model, l):
    """[heads*d, hidden] with attn_out = concat_heads(a) W (+ bias)."""
    if isinstance(model, GPT2LMHeadModel):
        return model.transformer.h[l].attn.c_proj.weight  # Conv1D: already [in, out]
    return model.bert.encoder.layer[l].attention.output.dense.weight.t()  # nn.Linear [out, in]


def attention_scale(model, l):
    c = model.config
    if isinstance(model, GPT2LMHeadModel):
        s = 1.0 / (c.n_embd // c.n_head) ** 0.5 if c.scale_attn_weights else 1.0
        return s / (l + 1) if c.scale_attn_by_inverse_layer_idx else s
    return 1.0 / (c.hidden_size // c.num_attention_heads) ** 0.5


def encode(tok, text, pair):
    enc = tok(text, pair, return_special_tokens_mask=True) if pair else tok(text, return_special_tokens_mask=True)
    return enc


@torch.no_grad()
def explain_case(model, tok, mname, cname, text, pair, tensors):
    is_gpt2 = isinstance(model, GPT2LMHeadModel)
    enc = encode(tok, text, pair)
    ids = list(enc["input_ids"])
    kwargs = {"input_ids": torch.tensor([ids])}
    if "token_type_ids" in enc:
        kwargs["token_type_ids"] = torch.tensor([enc["token_type_ids"]])
    hooks = QkvHooks(model)
    out = model(**kwargs, output_hidden_states=True, output_attentions=True)
    hooks.remove()
    assert torch.equal(model(**kwargs).logits, out.logits), "hooks changed the forward pass"
    c = model.config
    H = c.n_head if is_gpt2 else c.num_attention_heads
    L = len(out.attentions)
    p = "%s.%s." % (mname, cname)
    attns = [a[0] for a in out.attentions]
    for l in range(L):
        q, k, v = heads_first(hooks.q[l], H), heads_first(hooks.k[l], H), heads_first(hooks.v[l], H)
        # the hooks saw exactly what the attention used: softmax(scale q k^T [+ causal mask])
        s = attention_scale(model, l) * q @ k.transpose(-1, -2)
        if is_gpt2:
            s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), float("-inf"))
        assert torch.allclose(torch.softmax(s, -1), attns[l], atol=1e-6), (mname, cname, l)
        tensors[p + "query.%d" % l], tensors[p + "key.%d" % l], tensors[p + "value.%d" % l] = q, k, v
        tensors[p + "attention.%d" % l] = attns[l]
        per_head, summed = norm_weighted(attns[l], v, out_proj(model, l))
        tensors[p + "norm_weighted.%d" % l] = per_head
        tensors[p + "norm_weighted_sum.%d" % l] = summed
    for l, r in enumerate(rollout(attns)):
        tensors[p + "rollout.%d" % l] = r
    for i, h in enumerate(out.hidden_states):
        tensors[p + "hidden_states.%d" % i] = h[0]
    d = {"name": cname, "text": text}
    if pair:
        d["text_pair"] = pair
    d.update({"input_ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
              "special_tokens_mask": list(enc["special_tokens_mask"]), "seq_len": len(ids)})
    if "token_type_ids" in enc:
        d["token_type_ids"] = list(enc["token_type_ids"])
    if is_gpt2:
        final = out.logits[0]
        lens = []
        for l, h in enumerate(out.hidden_states):
            # hidden_states[L] already has ln_f: its lens is the model's own logits
            ll = final if l == L else model.lm_head(model.transformer.ln_f(h[0]))
            if l == L:
                assert torch.allclose(model.lm_head(h[0]), final, atol=1e-5)
            tensors[p + "lens_logits.%d" % l] = ll
            lens.append({"layer": l, "positions": lens_stats(ll, final)})
        d["logit_lens"] = lens
    return d


def pca(x, k):
    """float64 PCA of centred rows: coordinates [N,k] and explained variance ratios [k]; each axis
    flipped so that its loading of largest magnitude is positive."""
    xc = x - x.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    axes = vt[:k].copy()
    for i in range(k):
        if axes[i, np.argmax(np.abs(axes[i]))] < 0:
            axes[i] = -axes[i]
    var = s ** 2
    return xc @ axes.T, var[:k] / var.sum(), axes


@torch.no_grad()
def projection(model, tok, mname, tensors):
    n_layers = len(model.transformer.h) if isinstance(model, GPT2LMHeadModel) else len(model.bert.encoder.layer)
    layers = sorted({n_layers // 2, n_layers})  # one middle hidden state and the final one
    encs = [encode(tok, t, None) for t in PROJECTION_TEXTS]
    hidden = [model(input_ids=torch.tensor([e["input_ids"]]), output_hidden_states=True).hidden_states
              for e in encs]
    res = []
    for layer in layers:
        pooled = []
        for e, hs in zip(encs, hidden):
            keep = torch.tensor([m == 0 for m in e["special_tokens_mask"]])
            if not keep.any():  # every token special: mean over all of them
                keep[:] = True
            pooled.append(hs[layer][0][keep].mean(0))
        pooled = torch.stack(pooled)
        key = "%s.projection.%d." % (mname, layer)
        tensors[key + "pooled"] = pooled
        x = pooled.double().numpy()
        for k in (2, 3):
            coords, evr, axes = pca(x, k)
            tensors[key + "pca%d.coordinates" % k] = torch.from_numpy(coords)
            tensors[key + "pca%d.explained_variance_ratio" % k] = torch.from_numpy(evr)
            tensors[key + "pca%d.axes" % k] = torch.from_numpy(axes)
            res.append({"layer": layer, "dims": k, "coordinates": coords.tolist(),
                        "explained_variance_ratio": evr.tolist()})
    return {"texts": PROJECTION_TEXTS, "input_ids": [list(e["input_ids"]) for e in encs],
            "special_tokens_mask": [list(e["special_tokens_mask"]) for e in encs],
            "pooling": "mean over non-special tokens (all tokens when every one is special)",
            "layers": layers, "results": res}


def model_entry(model, mname, tok, tensors):
    c = model.config
    is_gpt2 = isinstance(model, GPT2LMHeadModel)
    L = c.n_layer if is_gpt2 else c.num_hidden_layers
    H = c.n_head if is_gpt2 else c.num_attention_heads
    E = c.n_embd if is_gpt2 else c.hidden_size
    for l in range(L):
        w = out_proj(model, l)
        assert tuple(w.shape) == (E, E)
        tensors["%s.out_proj.%d" % (mname, l)] = w
    return {
        "folder": "models/%s" % mname, "class": type(model).__name__, "causal": is_gpt2,
        "num_layers": L, "num_heads": H, "head_dim": E // H, "hidden_size": E,
        "vocab_size": c.vocab_size,
        "attention_scale": [attention_scale(model, l) for l in range(L)],
        "cases": [explain_case(model, tok, mname, n, t, pr, tensors) for n, t, pr in CASES[mname]],
        "projection": projection(model, tok, mname, tensors),
    }


def update_manifest():
    """Adds the two files to data/manifest.json (size + sha256) and recomputes total_bytes over
    the listed files; everything else in the manifest is kept as make_golden.py wrote it."""
    path = mg.DATA / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for p in (OUT_JSON, OUT_TENSORS):
        manifest["files"][str(p.relative_to(mg.DATA))] = {
            "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    manifest["files"] = dict(sorted(manifest["files"].items(), key=lambda kv: Path(kv[0])))  # as make_golden
    manifest["total_bytes"] = sum(f["bytes"] for f in manifest["files"].values())
    manifest["explain_generator"] = "tests/golden/make_explain_golden.py"
    mg.write_json(path, manifest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--allow-version-mismatch", action="store_true")
    args = ap.parse_args()
    versions = mg.check_versions(args.allow_version_mismatch)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    mg.seed_all(0)  # nothing here is random; seeded anyway, as make_golden.py

    tensors, models = {}, {}
    for mname, cls in (("gpt2", GPT2LMHeadModel), ("bert", BertForSequenceClassification)):
        folder = str(mg.MODELS / mname)
        model = cls.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
        assert model.config._attn_implementation == "eager"
        models[mname] = model_entry(model, mname, AutoTokenizer.from_pretrained(folder), tensors)
    mg.save_tensors(OUT_TENSORS, tensors, {"content": "explain"})
    mg.write_json(OUT_JSON, {
        "generator": "tests/golden/make_explain_golden.py",
        "versions": versions,
        "description": "reference numbers for ExplainAttention; tensors in explain.safetensors are "
                       "<model>.<case>.<what>.<layer>, see tests/golden/README.md (Explanations)",
        "computed_in": "float32 forward passes; rollout, norm-weighted maps, logit-lens statistics "
                       "and PCA in float64, stored as float32 tensors",
        "models": models,
    })
    update_manifest()
    mg.log("wrote %s (%d tensors, %d bytes) and %s" % (OUT_TENSORS.name, len(tensors),
                                                       OUT_TENSORS.stat().st_size, OUT_JSON.name))


if __name__ == "__main__":
    main()
