#!/usr/bin/env python3
"""infer-client (the C++ command-line client) against a real infer-server.

Each command is run as a user would run it and its output checked against what transformers
computed for the golden model folders. Environment (set by client/CMakeLists.txt):
  INFER_CLIENT_BIN, INFER_SERVER_BIN, INFER_PROTO_PYTHON, INFER_REPO.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from golden_data import ByteLevelDecoder, Golden  # noqa: E402
from server_process import ServerProcess  # noqa: E402

REPO = os.environ.get("INFER_REPO", os.path.abspath(os.path.join(HERE, "..", "..")))
CLIENT_BIN = os.environ.get("INFER_CLIENT_BIN",
                            os.path.join(REPO, "build", "client", "infer-client"))
SERVER_BIN = os.environ.get("INFER_SERVER_BIN",
                            os.path.join(REPO, "build", "server", "infer-server"))
GOLDEN = Golden(REPO)


class CliTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER_BIN, [
            f"gpt2={GOLDEN.model_path('gpt2')},rpcs=Generate+Tokenize+ExplainAttention",
            f"bert={GOLDEN.model_path('bert')},rpcs=Classify+Tokenize+ExplainAttention",
            f"bert-embed={GOLDEN.model_path('bert-embed')},rpcs=Embed",
        ]).start()

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.server.stop()
            if code != 0:
                raise AssertionError(f"infer-server exited with {code} on SIGTERM")
        finally:
            cls.server.close()

    def cli(self, *args, expect=0):
        done = subprocess.run([CLIENT_BIN, "--target", self.server.target, "--timeout", "60",
                               *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, expect,
                         f"{args}: stdout {done.stdout!r} stderr {done.stderr!r}")
        return done.stdout, done.stderr


class CliGenerateTest(CliTestCase):
    def test_streams_the_greedy_text_and_reports_the_finish(self):
        case = GOLDEN.generation_case("greedy/p0")
        out, err = self.cli("generate", case["prompt_text"], "--model", "gpt2",
                            "--max-new-tokens", "20")
        expected = ByteLevelDecoder(GOLDEN.model_path("gpt2")).decode(case["new_ids"][0])
        self.assertEqual(out, expected + "\n")
        self.assertIn("finish_reason=length generated_tokens=20", err)
        self.assertIn("prompt_tokens=4", err)

    def test_json_lines_carry_the_token_ids(self):
        case = GOLDEN.generation_case("bad_words_mixed/p0")
        args = ["--json", "generate", "--prompt-token-ids",
                ",".join(map(str, case["prompt_ids"][0])), "--model", "gpt2",
                "--max-new-tokens", "20"]
        for ids in case["kwargs"]["bad_words_ids"]:
            args += ["--bad-words-ids", ",".join(map(str, ids))]
        out, _ = self.cli(*args)
        messages = [json.loads(line) for line in out.splitlines()]
        ids = [i for m in messages for i in m.get("token_ids", [])]
        self.assertEqual(ids, case["new_ids"][0])
        self.assertEqual(messages[-1]["finish_reason"], "FINISH_REASON_LENGTH")

    def test_beam_search_labels_each_sequence(self):
        case = GOLDEN.generation_case("beam_lp0.6_esTrue/b7")
        kw = case["kwargs"]
        out, err = self.cli("generate", case["prompt_text"], "--model", "gpt2",
                            "--num-beams", "4", "--num-return-sequences", "2",
                            "--max-new-tokens", str(kw["max_new_tokens"]),
                            "--length-penalty", "0.6", "--early-stopping", "true",
                            "--eos-token-ids", str(kw["eos_token_id"]))
        decoder = ByteLevelDecoder(GOLDEN.model_path("gpt2"))
        lines = out.splitlines()
        self.assertEqual(lines, [f"[{i}] {decoder.decode(ids)}"
                                 for i, ids in enumerate(case["new_ids"])])
        self.assertIn("[0] finish_reason=eos", err)
        self.assertIn("[1] finish_reason=eos", err)

    def test_every_sampling_flag_is_accepted(self):
        out, err = self.cli("generate", "You may copy", "--model", "gpt2", "--max-new-tokens", "8",
                            "--min-new-tokens", "2", "--do-sample", "--temperature", "0.9",
                            "--top-k", "40", "--top-p", "0.95", "--min-p", "0.01",
                            "--repetition-penalty", "1.1", "--no-repeat-ngram-size", "3",
                            "--bad-words", "license,software", "--seed", "42", "--logprobs",
                            "--top-logprobs", "2", "--ignore-eos", "--keep-special-tokens",
                            "--stop", "zzz", "--request-id", "cli-sampling")
        self.assertIn("generated_tokens=8", err)
        self.assertIn("seed=42", err)
        self.assertIn("request_id=cli-sampling", err)
        self.assertEqual(err.count(" top=["), 8)
        again, _ = self.cli("generate", "You may copy", "--model", "gpt2", "--max-new-tokens", "8",
                            "--min-new-tokens", "2", "--do-sample", "--temperature", "0.9",
                            "--top-k", "40", "--top-p", "0.95", "--min-p", "0.01",
                            "--repetition-penalty", "1.1", "--no-repeat-ngram-size", "3",
                            "--bad-words", "license,software", "--seed", "42", "--ignore-eos",
                            "--keep-special-tokens")
        self.assertEqual(out, again)  # same seed, same text

    def test_bad_values_fail_with_the_code_name(self):
        _, err = self.cli("generate", "x", "--model", "gpt2", "--top-p", "1.5", expect=1)
        self.assertTrue(err.startswith("error: INVALID_ARGUMENT: "), err)
        _, err = self.cli("generate", "x", "--top-p", "high", expect=2)
        self.assertIn("--top-p", err)
        _, err = self.cli("generate", "x", "--bogus", expect=2)
        self.assertIn("unknown flag --bogus", err)


class CliEncoderTest(CliTestCase):
    def test_classify_prints_the_head_probabilities(self):
        case = GOLDEN.case("bert", "pair1")
        out, _ = self.cli("classify", case["text"], "--pair", case["text_pair"], "--model", "bert")
        lines = out.splitlines()
        self.assertEqual(lines[1], f"[0] {case['text']}")
        score, label = lines[2].split()[:2]
        self.assertEqual(label, "entailment")
        self.assertAlmostEqual(float(score), case["probs"][2], delta=1.5e-4)  # printed to 4 places

    def test_classify_zero_shot_json(self):
        out, _ = self.cli("--json", "classify", "free software", "--labels", "legal,weather",
                          "--method", "nli", "--model", "bert")
        response = json.loads(out)
        self.assertEqual(response["method"], "ZERO_SHOT_METHOD_NLI")
        self.assertEqual({s["label"] for s in response["results"][0]["labels"]},
                         {"legal", "weather"})

    def test_embed_prints_the_cosine_matrix(self):
        expected = GOLDEN.expected("bert-embed")["cosine_similarity"]
        texts = [GOLDEN.case("bert-embed", name)["text"] for name in expected["order"][:3]]
        out, _ = self.cli("embed", *texts, "--model", "bert-embed")
        lines = out.splitlines()
        self.assertEqual(lines[0], "model=bert-embed dimensions=64")
        start = lines.index("cosine similarity:") + 1
        for i in range(3):
            values = [float(v) for v in lines[start + i].split()]
            for got, want in zip(values, expected["matrix"][i][:3]):
                self.assertAlmostEqual(got, want, delta=1e-4)

    def test_embed_json_has_the_vectors(self):
        out, _ = self.cli("--json", "embed", "hello", "--model", "bert-embed")
        response = json.loads(out)
        self.assertEqual(len(response["embeddings"][0]["values"]), 64)

    def test_tokenize_lists_ids_and_spans(self):
        case = GOLDEN.case("gpt2", "short")
        out, _ = self.cli("tokenize", case["text"], "--model", "gpt2")
        self.assertIn("ids: " + " ".join(map(str, case["input_ids"])), out)
        self.assertIn('1294\t"Ġwor"\t[5,9)', out)
        case = GOLDEN.case("bert", "pair1")
        out, _ = self.cli("--json", "tokenize", case["text"], "--pair", case["text_pair"],
                          "--model", "bert")
        result = json.loads(out)["results"][0]
        self.assertEqual(result["ids"], case["input_ids"])


class CliExplainTest(CliTestCase):
    def test_out_file_is_one_document_matching_transformers(self):
        case = GOLDEN.case("gpt2", "short")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "reply.json")
            out, err = self.cli("explain", case["text"], "--model", "gpt2", "--out", path)
            with open(path) as f:
                document = json.load(f)
        self.assertEqual(document["format"], "infer.v1.explain/1")
        msgs = document["messages"]
        self.assertEqual((list(msgs[0]), list(msgs[-1])), (["header"], ["footer"]))
        header = msgs[0]["header"]
        blocks = [m["attention"] for m in msgs if "attention" in m]
        self.assertEqual([t["id"] for t in header["tokens"]], case["input_ids"])
        self.assertEqual(len(blocks), 2)
        for block in blocks:
            _, expected = GOLDEN.tensor("gpt2", f"short.attentions.{block.get('layer', 0)}")
            worst = max(abs(a - b) for a, b in zip(block["values"], expected))
            self.assertLess(worst, 1e-4)
        self.assertIn("layer 0 (4 heads)", out)
        self.assertIn("wrote " + path, err)

    def test_layer_and_head_selection(self):
        out, _ = self.cli("--json", "explain", "A man", "--pair", "A person", "--model", "bert",
                          "--layers", "1", "--heads", "1-2")
        messages = [json.loads(line) for line in out.splitlines()]
        blocks = [m["attention"] for m in messages if "attention" in m]
        self.assertEqual([(b["layer"], b["heads"]) for b in blocks], [(1, [1, 2])])


class CliServerTest(CliTestCase):
    def test_models_and_health(self):
        out, _ = self.cli("models")
        self.assertIn("labels: contradiction,neutral,entailment", out)
        self.assertIn("rpcs: Embed", out)
        out, _ = self.cli("--wait", "10", "health")
        self.assertEqual(out, "SERVING\n")
        out, _ = self.cli("--json", "health", "infer.v1.InferenceService")
        self.assertEqual(json.loads(out), {"status": "SERVING"})
        _, err = self.cli("health", "no.such.Service", expect=1)
        self.assertTrue(err.startswith("error: NOT_FOUND: "), err)

    def test_errors_name_the_code(self):
        _, err = self.cli("embed", "x", "--model", "nope", expect=1)
        self.assertTrue(err.startswith("error: NOT_FOUND: "), err)
        done = subprocess.run([CLIENT_BIN, "--target", "127.0.0.1:1", "models"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1)
        self.assertTrue(done.stderr.startswith("error: UNAVAILABLE: "), done.stderr)
        _, err = self.cli("nonsense", expect=2)
        self.assertIn("unknown command", err)


if __name__ == "__main__":
    unittest.main()
