#!/usr/bin/env python3
"""The explanation viewer (client/viewer/explain_viewer.html) in headless Chromium.

Synthetic ExplainAttention replies, written as `infer-client explain --out` writes them (protobuf
JSON: defaults left out, enums by name, bytes in base64, uint64 as strings), go through
`infer-client explain --html-from-json` (the same embedding as --html), and Chromium's
--dump-dom of the page after its scripts ran is checked: one head-lines group per head, the
layers x heads grid, the neuron view's softmax against the attention map, attribution tokens,
logit-lens cells, projection points, and <body data-status="ready">. A second reply of 512 tokens
x 12 layers x 12 heads (float16) must also reach "ready"; its render time is printed, not
asserted. Screenshots go to $INFER_VIEWER_ARTIFACTS (build/client/tests/viewer/ under ctest).

Standard library only. Without a Chromium the test fails, unless INFER_VIEWER_SKIP_WITHOUT_BROWSER=1
(for local runs), in which case it exits 77 (ctest: skipped). CI installs Debian's chromium
(scripts/install-deps.sh).

    INFER_CLIENT_BIN=build/client/infer-client python3 client/tests/test_viewer.py -v
"""
import base64
import html.parser
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "..", "viewer", "explain_viewer.html")
CLIENT_BIN = os.environ.get("INFER_CLIENT_BIN", "")
ARTIFACTS = os.environ.get("INFER_VIEWER_ARTIFACTS") or os.path.join(tempfile.gettempdir(), "infer-viewer")


def find_browser():
    explicit = os.environ.get("INFER_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


BROWSER = find_browser()

# ---- synthetic replies, in the protobuf JSON mapping ---------------------------------------


def prune(value):
    """proto3 JSON leaves fields at their default value out (0, "", false, empty lists)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = prune(item)
            if item in (0, "", False, [], {}) and not isinstance(item, float) or item is None:
                continue
            if isinstance(item, float) and item == 0.0:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def halves_b64(values):
    return base64.b64encode(struct.pack("<%de" % len(values), *values)).decode("ascii")


def f16(value):
    return struct.unpack("<e", struct.pack("<e", value))[0]


def f32(value):
    return struct.unpack("<f", struct.pack("<f", value))[0]


def softmax_rows(q, k, tokens, dim, scale, causal=True):
    """Attention probabilities [tokens, tokens] of one head from q and k ([tokens * dim])."""
    out = []
    for i in range(tokens):
        scores = []
        for j in range(tokens):
            if causal and j > i:
                scores.append(None)
                continue
            scores.append(scale * sum(q[i * dim + c] * k[j * dim + c] for c in range(dim)))
        top = max(s for s in scores if s is not None)
        exps = [0.0 if s is None else math.exp(s - top) for s in scores]
        total = sum(exps)
        out.append([e / total for e in exps])
    return out


def flat(rows):
    return [v for row in rows for v in row]


def top_k_rows(rows, k, query_rows):
    """(values, key_indices) of the k largest keys of the chosen rows, largest first."""
    values, indices = [], []
    for q in query_rows:
        order = sorted(range(len(rows[q])), key=lambda j: -rows[q][j])[:k]
        values += [rows[q][j] for j in order]
        indices += order
    return values, indices


TOKENS = ["The", "\u0120old", "\u0120man", "\u0120and", "\u0120the", "\u0120sea", "."]
HOSTILE = "</script><script>document.body.dataset.status='pwned'</script><!--"


def small_reply():
    """2 layers x 3 heads x 7 tokens, every block kind: float32 and float16, dense, top-k and
    row subsets, a layer split over two blocks."""
    rng = random.Random(7)
    T, H, L, D = len(TOKENS), 3, 2, 4
    scale = 0.5
    facts = {"heads": {}}
    messages = [{"header": prune({
        "model": "synthetic-gpt2", "family": "gpt2", "causal": True, "layers": L, "heads": H,
        "kv_heads": H, "hidden_size": H * D, "head_dim": D, "vocab_size": 50,
        "tokens": [{"id": 10 + i, "text": t, "start": 0, "end": 0} for i, t in enumerate(TOKENS)],
        "input_tokens": T, "target_kind": "EXPLAIN_TARGET_NEXT_TOKEN",
        "targets": [{"position": T - 1, "id": 42, "text": "\u0120and"}],
        "methods": ["EXPLAIN_METHOD_ATTENTION", "EXPLAIN_METHOD_NEURON_VIEW", "EXPLAIN_METHOD_ROLLOUT",
                    "EXPLAIN_METHOD_NORM_WEIGHTED", "EXPLAIN_METHOD_LOGIT_LENS",
                    "EXPLAIN_METHOD_OCCLUSION", "EXPLAIN_METHOD_LIME", "EXPLAIN_METHOD_PROJECTION"],
        "baseline_token_id": 0})}]
    qk = {}
    probs = {}
    for layer in range(L):
        for h in range(H):
            q = [f32(rng.gauss(0, 1.5)) for _ in range(T * D)]
            k = [f32(rng.gauss(0, 1.5)) for _ in range(T * D)]
            if layer == 1:  # sent as float16: attention from the rounded vectors
                q, k = [f16(v) for v in q], [f16(v) for v in k]
            qk[layer, h] = (q, k)
            probs[layer, h] = softmax_rows(q, k, T, D, scale)
    # Attention probabilities: layer 0 float32 in two blocks (heads 0-1, head 2), layer 1 float16.
    for heads in ([0, 1], [2]):
        messages.append({"attention": prune({
            "layer": 0, "heads": heads, "query_tokens": T, "key_tokens": T,
            "kind": "ATTENTION_MAP_PROBABILITIES",
            "values": [f32(v) for h in heads for v in flat(probs[0, h])]})})
    messages.append({"attention": prune({
        "layer": 1, "heads": list(range(H)), "query_tokens": T, "key_tokens": T,
        "kind": "ATTENTION_MAP_PROBABILITIES",
        "values_f16": halves_b64([v for h in range(H) for v in flat(probs[1, h])])})})
    for layer in range(L):
        for h in range(H):
            facts["heads"][layer, h] = max(flat(probs[layer, h]))
    # Query and key vectors (neuron view): layer 0 float32, layer 1 float16.
    for layer in range(L):
        block = {"layer": layer, "heads": list(range(H)), "tokens": T, "head_dim": D, "scale": scale}
        q = [v for h in range(H) for v in qk[layer, h][0]]
        k = [v for h in range(H) for v in qk[layer, h][1]]
        if layer == 0:
            block.update(queries=q, keys=k)
        else:
            block.update(queries_f16=halves_b64(q), keys_f16=halves_b64(k))
        messages.append({"query_key": prune(block)})
    # Rollout: layer 0 dense float32, layer 1 float16 with top-4 keys.
    rollout = [[(j + 1) / ((i + 1) * (i + 2) / 2) if j <= i else 0.0 for j in range(T)] for i in range(T)]
    messages.append({"attention": prune({"layer": 0, "query_tokens": T, "key_tokens": T,
                                         "kind": "ATTENTION_MAP_ROLLOUT", "values": flat(rollout)})})
    values, indices = top_k_rows(rollout, 4, range(T))
    messages.append({"attention": prune({"layer": 1, "query_tokens": T, "key_tokens": T,
                                         "kind": "ATTENTION_MAP_ROLLOUT", "top_k": 4,
                                         "key_indices": indices, "values_f16": halves_b64(values)})})
    # Norm-weighted: per head, rows 2, 4, 6 only, top-3 keys (float32, then float16); the sum.
    for layer in range(L):
        values, indices = [], []
        for h in range(H):
            rows = [[v * (1 + h) for v in row] for row in probs[layer, h]]
            v, i = top_k_rows(rows, 3, [2, 4, 6])
            values += v
            indices += i
        block = {"layer": layer, "heads": list(range(H)), "query_tokens": T, "key_tokens": T,
                 "kind": "ATTENTION_MAP_NORM_WEIGHTED", "query_rows": [2, 4, 6], "top_k": 3,
                 "key_indices": indices}
        block.update(values=values) if layer == 0 else block.update(values_f16=halves_b64(values))
        messages.append({"attention": prune(block)})
        summed = [sum(probs[layer, h][i][j] * (1 + h) for h in range(H)) for i in range(T) for j in range(T)]
        messages.append({"attention": prune({"layer": layer, "query_tokens": T, "key_tokens": T,
                                             "kind": "ATTENTION_MAP_NORM_WEIGHTED_SUM",
                                             "values": summed})})
    # Logit lens: embeddings (0), layer 1, output (2); positions 5 (no target) and 6.
    for layer in range(L + 1):
        positions = []
        for pos in (5, 6):
            top = [{"id": 40 + c, "text": ["\u0120and", "\u0120fish", ","][c],
                    "probability": [0.2 + 0.2 * layer, 0.15, 0.05][c]} for c in range(3)]
            entry = {"position": pos, "top": top, "target_id": -1, "entropy": 2.0 - layer * 0.5,
                     "kl_to_final": 1.0 - layer * 0.5}
            if pos == 6:
                entry.update(target_id=42, target_rank=[9, 3, 1][layer],
                             target_probability=[0.01, 0.1, 0.6][layer])
            positions.append(entry)
        messages.append({"logit_lens": prune({"layer": layer, "positions": positions})})
    # Occlusion by words (6 features; the last token is not perturbed) and LIME by tokens.
    occlusion_seq = [0.5, -0.25, 0.75, 0.1, -0.6, 0.3, 0.0]
    features = [0.5, -0.25, 0.75, 0.1, -0.6, 0.3]
    messages.append({"attribution": prune({
        "method": "EXPLAIN_METHOD_OCCLUSION", "granularity": "EXPLAIN_GRANULARITY_WORD",
        "base_score": -2.5, "baseline_score": -6.0, "sequence_attribution": occlusion_seq,
        "token_attribution": occlusion_seq, "feature_of_token": [0, 1, 2, 3, 4, 5, -1],
        "feature_attribution": features,
        "feature_text": ["The", " old", " man", " and", " the", HOSTILE], "evaluations": 7})})
    lime = [0.05, 0.2, -0.1, 0.4, -0.3, 0.15, 0.25]
    messages.append({"attribution": prune({
        "method": "EXPLAIN_METHOD_LIME", "granularity": "EXPLAIN_GRANULARITY_TOKEN",
        "base_score": -2.5, "baseline_score": -5.5, "sequence_attribution": lime,
        "token_attribution": lime, "feature_of_token": list(range(T)),
        "feature_attribution": lime, "feature_text": ["The", " old", " man", " and", " the", " sea", "."],
        "evaluations": 64, "fit_r2": 0.8125})})
    # Projection: 4 texts in 3-D.
    messages.append({"projection": prune({
        "layer": 2, "dims": 3, "pooling": "EXPLAIN_POOLING_MEAN",
        "texts": ["The old man and the sea.", "A fisherman at sea", HOSTILE, "Stock prices fell"],
        "coordinates": [0.0, 0.0, 0.5, 1.0, 0.5, -0.5, -1.0, 2.0, 0.1, 3.0, -1.5, 1.0],
        "explained_variance_ratio": [0.6, 0.25, 0.1]})})
    messages.append({"footer": prune({
        "forward_passes": 72, "bytes_sent": "12345", "wall_ms": 3.5, "usage": {"prompt_tokens": T},
        "truncated": True, "omitted": ["attention layer 5"], "engine_calls": 3})})
    facts["neuron_probs"] = probs[0, 0][T - 1]
    return {"format": "infer.v1.explain/1", "messages": messages}, facts


def stress_reply():
    """512 tokens x 12 layers x 12 heads of float16 attention (each layer in two blocks of six
    heads), rollout per layer, query/key vectors of two layers, lens, attributions, projection."""
    T, L, H, D = 512, 12, 12, 64
    rng = random.Random(11)

    def pattern(kind):
        rows = []
        for i in range(T):
            row = [0.0] * T
            if kind == 0:  # previous token
                for j in range(i + 1):
                    row[j] = 0.4 / (i + 1)
                row[max(0, i - 1)] += 0.6
            elif kind == 1:  # first token and a local window
                row[0] += 0.5
                lo = max(0, i - 7)
                for j in range(lo, i + 1):
                    row[j] += 0.5 / (i + 1 - lo)
            else:  # uniform over the prefix
                for j in range(i + 1):
                    row[j] = 1.0 / (i + 1)
            rows.extend(row)
        return struct.pack("<%de" % (T * T), *rows)

    patterns = [pattern(k) for k in range(3)]
    half_blocks = [base64.b64encode(b"".join(patterns[h % 3] for h in heads)).decode("ascii")
                   for heads in (range(0, 6), range(6, 12))]
    tokens = [{"id": i, "text": ("\u0120w%d" % i) if i else "Start"} for i in range(T)]
    messages = [{"header": prune({
        "model": "stress", "family": "gpt2", "causal": True, "layers": L, "heads": H,
        "kv_heads": H, "hidden_size": H * D, "head_dim": D, "vocab_size": 50257, "tokens": tokens,
        "input_tokens": T, "target_kind": "EXPLAIN_TARGET_NEXT_TOKEN",
        "targets": [{"position": T - 1, "id": 7, "text": "\u0120end"}]})}]
    for layer in range(L):
        for b, heads in enumerate((list(range(0, 6)), list(range(6, 12)))):
            messages.append({"attention": prune({"layer": layer, "heads": heads, "query_tokens": T,
                                                 "key_tokens": T, "values_f16": half_blocks[b]})})
    for layer in range(2):
        vectors = struct.pack("<%de" % (H * T * D), *[rng.gauss(0, 1) for _ in range(H * T * D)])
        encoded = base64.b64encode(vectors).decode("ascii")
        messages.append({"query_key": prune({"layer": layer, "heads": list(range(H)), "tokens": T,
                                             "head_dim": D, "scale": 0.125,
                                             "queries_f16": encoded, "keys_f16": encoded})})
    uniform = base64.b64encode(patterns[2]).decode("ascii")
    for layer in range(L):
        messages.append({"attention": prune({"layer": layer, "query_tokens": T, "key_tokens": T,
                                             "kind": "ATTENTION_MAP_ROLLOUT", "values_f16": uniform})})
    for layer in range(L + 1):
        messages.append({"logit_lens": prune({"layer": layer, "positions": [
            {"position": p, "top": [{"id": 7, "text": "\u0120end", "probability": 0.1 + layer / 20}],
             "target_id": 7, "target_rank": L + 1 - layer, "target_probability": 0.05}
            for p in range(T - 8, T)]})})
    seq = [rng.uniform(-1, 1) for _ in range(T)]
    messages.append({"attribution": prune({
        "method": "EXPLAIN_METHOD_OCCLUSION", "base_score": -3.0, "baseline_score": -7.0,
        "sequence_attribution": seq, "token_attribution": seq, "feature_of_token": list(range(T)),
        "feature_attribution": seq, "feature_text": [t["text"] for t in tokens], "evaluations": T + 1})})
    messages.append({"projection": prune({
        "dims": 2, "texts": ["text %d" % i for i in range(20)],
        "coordinates": [rng.uniform(-3, 3) for _ in range(40)],
        "explained_variance_ratio": [0.4, 0.2], "layer": L})})
    messages.append({"footer": prune({"forward_passes": T + 2, "bytes_sent": str(100 << 20),
                                      "wall_ms": 900.0})})
    return {"format": "infer.v1.explain/1", "messages": messages}


def camel_and_numbers(value, key=None):
    """The other protobuf JSON spelling: lowerCamelCase names, enums as numbers."""
    enums = {
        "kind": ["ATTENTION_MAP_PROBABILITIES", "ATTENTION_MAP_NORM_WEIGHTED",
                 "ATTENTION_MAP_NORM_WEIGHTED_SUM", "ATTENTION_MAP_ROLLOUT"],
        "granularity": ["EXPLAIN_GRANULARITY_TOKEN", "EXPLAIN_GRANULARITY_WORD", "EXPLAIN_GRANULARITY_SEGMENT"],
    }
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            parts = k.split("_")
            out[parts[0] + "".join(p.title() for p in parts[1:])] = camel_and_numbers(v, k)
        return out
    if isinstance(value, list):
        return [camel_and_numbers(v, key) for v in value]
    if key in enums and isinstance(value, str):
        return enums[key].index(value)
    return value


INTERACTIONS = """
(function () {
  const seen = {}, $ = (id) => document.getElementById(id);
  const fire = (node, type) => node.dispatchEvent(new Event(type, { bubbles: true }));
  const set = (id, value, type) => { $(id).value = value; fire($(id), type || "change"); };
  function run() {
    if (document.body.dataset.status === "loading") { setTimeout(run, 10); return; }
    try {
      document.querySelector('.model-cell[data-layer="1"][data-head="2"]').click();
      seen.zoomOpen = !$("zoom").hidden;
      seen.zoomTitle = $("zoom-title").textContent;
      set("hv-layer", "1");
      seen.layer1Groups = document.querySelectorAll("g.head-lines").length;
      set("hv-kind", "ATTENTION_MAP_NORM_WEIGHTED");
      seen.normNote = $("hv-note").textContent;
      const token = document.querySelector('.hv-token[data-side="q"][data-pos="4"]');
      token.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
      seen.focusNote = $("hv-note").textContent;
      token.dispatchEvent(new MouseEvent("mouseout", { bubbles: true }));
      set("hv-threshold", "0.5", "input");
      seen.thresholdNote = $("hv-note").textContent;
      set("nv-layer", "1");
      seen.neuronDiffF16 = Number($("neuron-view").dataset.maxDiff);
      set("nv-query", "2");
      seen.neuronRowsQuery2 = document.querySelectorAll("tr.neuron-top-row").length;
      set("fv-layer", "0", "input");
      seen.flowLayer0 = Array.from(document.querySelectorAll(".flow-token"), (s) => Number(s.dataset.value));
    } catch (e) {
      seen.error = String((e && e.stack) || e);
    }
    document.body.dataset.interaction = JSON.stringify(seen);
  }
  setTimeout(run, 0);
})();
"""


# ---- the page's DOM ------------------------------------------------------------------------


class Dom(html.parser.HTMLParser):
    """Elements of a serialized DOM, each {tag, attrs, text} (text: all descendant text)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.stack = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "",
                   "parent": self.stack[-1] if self.stack else None}
        self.elements.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": "",
                              "parent": self.stack[-1] if self.stack else None})

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        for element in self.stack:
            element["text"] += data

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for e in self.elements:
            if tag and e["tag"] != tag:
                continue
            if cls and cls not in e["attrs"].get("class", "").split():
                continue
            if any(e["attrs"].get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(e)
        return out

    def body(self):
        return self.find("body")[0]["attrs"]


def chromium(url, *extra, timeout=300):
    with tempfile.TemporaryDirectory() as profile:
        command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
                   "--run-all-compositor-stages-before-draw",
                   "--user-data-dir=" + profile, *extra, url]
        start = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        return done, time.monotonic() - start


def dump_dom(path, budget_ms=60000):
    done, seconds = chromium("file://" + os.path.abspath(path), "--dump-dom",
                             "--virtual-time-budget=%d" % budget_ms)
    if done.returncode != 0 or "<body" not in done.stdout:
        raise AssertionError("chromium --dump-dom failed (%d): %s" % (done.returncode, done.stderr[-2000:]))
    return Dom(done.stdout), seconds


def screenshot(page, name, size="1400,4600", hide=""):
    """A PNG of the page's top `size` pixels under ARTIFACTS; `hide`: sections to leave out of it
    (headless screenshots do not follow scrolling)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    target = os.path.join(ARTIFACTS, name)
    if hide:
        with open(page) as f:
            text = f.read()
        page = page[:-len(".html")] + "-shot.html"
        with open(page, "w") as f:
            f.write(text.replace("</head>", "<style>%s { display: none; }</style></head>" % hide, 1))
    done, _ = chromium("file://" + os.path.abspath(page), "--screenshot=" + target,
                       "--window-size=" + size, "--virtual-time-budget=60000")
    if done.returncode != 0 or not os.path.exists(target):
        raise AssertionError("chromium --screenshot failed: " + done.stderr[-2000:])
    print("viewer screenshot: " + target, flush=True)
    return target


def make_page(document, directory, name):
    json_path = os.path.join(directory, name + ".json")
    html_path = os.path.join(directory, name + ".html")
    with open(json_path, "w") as f:
        json.dump(document, f)
    done = subprocess.run([CLIENT_BIN, "explain", "--html-from-json", json_path, "--html", html_path],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError("infer-client explain --html-from-json failed: " + done.stderr)
    return html_path


class ViewerTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not CLIENT_BIN:
            raise unittest.SkipTest("INFER_CLIENT_BIN is not set")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assertReady(self, dom):
        body = dom.body()
        self.assertEqual(body.get("data-status"), "ready", "page error: %s" % body.get("data-error"))


class ViewerSmallTest(ViewerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.document, cls.facts = small_reply()
        cls.page = make_page(cls.document, cls.dir, "small")
        cls.dom, _ = dump_dom(cls.page)

    def test_page_is_ascii_and_embeds_escaped_json(self):
        with open(TEMPLATE, "rb") as f:
            template = f.read()
        self.assertTrue(all(b < 128 for b in template), "explain_viewer.html must stay ASCII")
        with open(self.page) as f:
            page = f.read()
        start = page.index('<script type="application/json" id="explain-data">')
        end = page.index("</script>", start)
        embedded = json.loads(page[start + len('<script type="application/json" id="explain-data">'):end])
        self.assertEqual(embedded, self.document)
        self.assertNotIn("</script><script>document", page)

    def test_ready_and_hostile_text_stays_text(self):
        self.assertReady(self.dom)
        labels = [e["text"] for e in self.dom.find("text", cls="proj-label")]
        self.assertIn(HOSTILE[:27] + "\u2026", labels)

    def test_head_view_one_group_per_head(self):
        groups = self.dom.find("g", cls="head-lines")
        self.assertEqual(sorted(g["attrs"]["data-head"] for g in groups), ["0", "1", "2"])
        self.assertEqual(len(self.dom.find("text", cls="hv-token", data_side="q")), len(TOKENS))
        # Every group draws lines (threshold 0.01; causal rows sum to 1), as "M x y L x y" paths.
        for g in groups:
            paths = [e for e in self.dom.find("path") if e["parent"] is g]
            self.assertTrue(paths, "head %s draws no lines" % g["attrs"]["data-head"])
            self.assertTrue(all(p["attrs"]["d"].startswith("M") for p in paths))

    def test_model_view_grid_and_decoded_values(self):
        cells = self.dom.find("div", cls="model-cell")
        self.assertEqual(sorted((c["attrs"]["data-layer"], c["attrs"]["data-head"]) for c in cells),
                         [(str(l), str(h)) for l in range(2) for h in range(3)])
        for c in cells:  # layer 0 from float32 values, layer 1 from float16 halves
            key = (int(c["attrs"]["data-layer"]), int(c["attrs"]["data-head"]))
            self.assertAlmostEqual(float(c["attrs"]["data-max"]), self.facts["heads"][key], delta=2e-3)

    def test_neuron_view_softmax_matches_attention(self):
        section = self.dom.find("section", id="neuron-view")[0]["attrs"]
        self.assertNotIn("hidden", section)
        self.assertAlmostEqual(float(section["data-softmax-sum"]), 1.0, places=5)
        self.assertLess(float(section["data-max-diff"]), 1e-5)
        rows = self.dom.find("tr", cls="neuron-top-row")
        self.assertEqual(len(rows), len(TOKENS))  # the last query sees all 7 keys
        best = max(range(len(TOKENS)), key=lambda j: self.facts["neuron_probs"][j])
        self.assertTrue(rows[0]["text"].startswith("#%d" % best), rows[0]["text"])

    def test_flow_view_strip_from_rollout(self):
        strip = self.dom.find("span", cls="flow-token")
        self.assertEqual(len(strip), len(TOKENS))
        # Default: the last layer (float16, top-4 keys per row), its last row: keys 3-6 kept.
        values = [float(s["attrs"]["data-value"]) for s in strip]
        self.assertEqual(values[:3], [0.0, 0.0, 0.0])
        self.assertAlmostEqual(values[6], 7 / 28, delta=1e-3)
        self.assertAlmostEqual(values[3], 4 / 28, delta=1e-3)

    def test_attribution_tokens_and_sorted_features(self):
        blocks = self.dom.find("div", cls="attr-block")
        self.assertEqual([b["attrs"]["data-method"] for b in blocks], ["occlusion", "lime"])
        tokens = self.dom.find("span", cls="attr-token")
        self.assertEqual(len(tokens), 2 * 2 * len(TOKENS))  # text + one target row, per block
        self.assertEqual([float(t["attrs"]["data-value"]) for t in tokens[:7]],
                         [0.5, -0.25, 0.75, 0.1, -0.6, 0.3, 0.0])
        self.assertEqual(len(self.dom.find("span", cls="unperturbed")), 2)  # token 6, both strips
        bars = [float(b["attrs"]["data-value"]) for b in self.dom.find("div", cls="feature-bar")]
        self.assertEqual(len(bars), 6 + 7)
        self.assertEqual(bars[:6], sorted(bars[:6], reverse=True))
        text = self.dom.find("section", id="attribution-view")[0]["text"]
        self.assertIn("base_score -2.5000", text)
        self.assertIn("fit_r2 0.813", text)

    def test_logit_lens_table(self):
        cells = self.dom.find("td", cls="lens-cell")
        self.assertEqual(len(cells), 3 * 2)
        self.assertEqual({c["text"] for c in cells}, {"and"})
        ranks = [c["attrs"]["data-rank"] for c in self.dom.find("td", cls="lens-rank")]
        self.assertEqual(ranks, ["9", "3", "1"])

    def test_projection_points_and_axes(self):
        self.assertEqual(len(self.dom.find("circle", cls="proj-point")), 4)
        titles = [e["text"] for e in self.dom.find("text", cls="axis-title")]
        self.assertIn("PC1 (60.0% of variance)", titles)
        self.assertTrue(any(t.startswith("colour: PC3 (10.0% of variance)") for t in titles), titles)

    def test_facts_and_cost(self):
        facts = self.dom.find("section", id="facts")[0]["text"]
        self.assertIn("synthetic-gpt2 (gpt2)", facts)
        cost = self.dom.find("section", id="cost")[0]["text"]
        self.assertIn("72 (3 engine calls)", cost)
        self.assertIn("12.1 KiB", cost)
        self.assertIn("Truncated at the byte budget; left out: attention layer 5", cost)

    def test_camel_case_names_and_numeric_enums(self):
        page = make_page(camel_and_numbers(self.document), self.dir, "camel")
        dom, _ = dump_dom(page)
        self.assertReady(dom)
        self.assertEqual(len(dom.find("g", cls="head-lines")), 3)
        self.assertEqual(len(dom.find("div", cls="model-cell")), 6)
        self.assertEqual(len(dom.find("div", cls="feature-bar")), 13)
        self.assertEqual(len(dom.find("td", cls="lens-cell")), 6)

    def test_without_data_and_with_json_lines(self):
        dom, _ = dump_dom(TEMPLATE, 2000)
        self.assertEqual(dom.body().get("data-status"), "no-data")
        lines = os.path.join(self.dir, "lines.jsonl")
        with open(lines, "w") as f:
            for message in self.document["messages"]:
                f.write(json.dumps(message) + "\n")
        page = os.path.join(self.dir, "lines.html")
        subprocess.run([CLIENT_BIN, "explain", "--html-from-json", lines, "--html", page], check=True,
                       capture_output=True, timeout=60)
        dom, _ = dump_dom(page)
        self.assertReady(dom)
        self.assertEqual(len(dom.find("circle", cls="proj-point")), 4)

    def test_interactions(self):
        # The page as the CLI wrote it, plus a script that drives its controls the way a user
        # would (select, input, hover, click) once it is ready, and writes what it saw on <body>.
        with open(self.page) as f:
            page = f.read()
        page = page.replace("</body>", "<script>" + INTERACTIONS + "</script></body>")
        path = os.path.join(self.dir, "interactions.html")
        with open(path, "w") as f:
            f.write(page)
        dom, _ = dump_dom(path)
        self.assertReady(dom)
        seen = json.loads(dom.body()["data-interaction"])
        self.assertNotIn("error", seen)
        self.assertTrue(seen["zoomOpen"])
        self.assertEqual(seen["zoomTitle"], "attention probabilities, layer 1, head 2")
        self.assertEqual(seen["layer1Groups"], 3)
        norm_lines = int(seen["normNote"].split()[0])  # rows 2, 4, 6 x top-3 keys x 3 heads
        self.assertTrue(0 < norm_lines <= 27, seen["normNote"])
        self.assertIn("scaled by the layer's largest", seen["normNote"])
        focus_lines = int(seen["focusNote"].split()[0])  # query 4 only
        self.assertTrue(0 < focus_lines <= 9, seen["focusNote"])
        self.assertLess(int(seen["thresholdNote"].split()[0]), norm_lines)
        self.assertLess(seen["neuronDiffF16"], 1e-3)  # layer 1: float16 vectors and map
        self.assertEqual(seen["neuronRowsQuery2"], 3)  # causal: query 2 sees keys 0-2
        for j, value in enumerate(seen["flowLayer0"]):  # rollout layer 0, last row
            self.assertAlmostEqual(value, (j + 1) / 28, places=3)

    def test_screenshot(self):
        path = screenshot(self.page, "viewer_small.png")
        self.assertGreater(os.path.getsize(path), 10000)


class ViewerStressTest(ViewerTestCase):
    def test_512_tokens_12_layers_12_heads(self):
        start = time.monotonic()
        page = make_page(stress_reply(), self.dir, "stress")
        built = time.monotonic() - start
        dom, seconds = dump_dom(page, 120000)
        self.assertReady(dom)
        body = dom.body()
        self.assertEqual(len(dom.find("g", cls="head-lines")), 12)
        self.assertEqual(len(dom.find("div", cls="model-cell")), 144)
        self.assertEqual(len(dom.find("span", cls="attr-token")), 2 * 512)
        self.assertEqual(len(dom.find("td", cls="lens-cell")), 13 * 8)
        size = os.path.getsize(page) / 2**20
        report = ("viewer stress (512 tokens x 12 layers x 12 heads, %.0f MiB page): page rendered in "
                  "%s ms (data read in %s ms) by the page's clock; chromium run %.1f s wall; "
                  "reply + page written in %.1f s" % (size, body.get("data-render-ms"),
                                                      body.get("data-parse-ms"), seconds, built))
        print(report, flush=True)
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, "viewer_stress_timing.txt"), "w") as f:
            f.write(report + "\n")
        screenshot(page, "viewer_stress.png", "1400,2400", "#facts, #head-view")


if __name__ == "__main__":
    if not BROWSER:
        message = ("no Chromium found (chromium, chromium-browser, google-chrome; or set INFER_CHROMIUM): "
                   "install Debian's chromium package (scripts/install-deps.sh does)")
        if os.environ.get("INFER_VIEWER_SKIP_WITHOUT_BROWSER") == "1":
            print("SKIP: " + message, flush=True)
            sys.exit(77)
        print("FAIL: " + message + "; INFER_VIEWER_SKIP_WITHOUT_BROWSER=1 skips this test locally",
              file=sys.stderr, flush=True)
        sys.exit(1)
    unittest.main()
