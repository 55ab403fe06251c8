#!/usr/bin/env python3
"""The Python example client against a real infer-server on a loopback port.

Every RPC is called through infer_client.InferenceClient and checked against what transformers
computed for the same model folders (tests/golden/data), so a wrong answer fails, not only a
crash. Environment (set by client/CMakeLists.txt for ctest):
  INFER_SERVER_BIN    the infer-server binary
  INFER_PROTO_PYTHON  the generated infer/v1 Python modules
  INFER_REPO          the repository root
Run one group with -k, e.g. `test_python_client.py -k Generate`.
"""

import json
import math
import os
import subprocess
import sys
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from golden_data import ByteLevelDecoder, Golden  # noqa: E402
from infer_client import InferenceClient  # noqa: E402
from server_process import ServerProcess  # noqa: E402

REPO = os.environ.get("INFER_REPO", os.path.abspath(os.path.join(HERE, "..", "..")))
SERVER_BIN = os.environ.get("INFER_SERVER_BIN", os.path.join(REPO, "build", "server",
                                                               "infer-server"))
GOLDEN = Golden(REPO)
DEFAULT_LM = os.path.join(REPO, "models", "gpt2-en-mini")
TOLERANCE = 1e-4  # float32 CPU engine vs transformers (DESIGN.md "Fidelity")

from infer.v1 import classify_pb2, embed_pb2, explain_pb2, generate_pb2  # noqa: E402


def model_flags():
    flags = [
        f"gpt2={GOLDEN.model_path('gpt2')},rpcs=Generate+Tokenize+ExplainAttention+Classify",
        f"bert={GOLDEN.model_path('bert')},rpcs=Classify+Tokenize+ExplainAttention",
        f"bert-embed={GOLDEN.model_path('bert-embed')},rpcs=Embed+Tokenize",
    ]
    if os.path.isfile(os.path.join(DEFAULT_LM, "expected.json")):
        flags.append(f"gpt2-en-mini={DEFAULT_LM},rpcs=Generate+Tokenize")
    return flags


class ServerTestCase(unittest.TestCase):
    """Starts one server per test class and stops it with SIGTERM, which must exit 0."""

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER_BIN, model_flags()).start()
        cls.client = InferenceClient(cls.server.target, timeout=60, request_id="py-test")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            code = cls.server.stop()
            if code != 0:
                raise AssertionError(f"infer-server exited with {code} on SIGTERM:\n"
                                     f"{cls.server.log_text()}")
        finally:
            cls.server.close()

    def assertRpcError(self, code, call, *args, **kwargs):
        with self.assertRaises(grpc.RpcError) as raised:
            result = call(*args, **kwargs)
            if hasattr(result, "__iter__") and not hasattr(result, "ListFields"):
                list(result)  # a stream fails when read
        self.assertEqual(raised.exception.code(), code, raised.exception.details())
        return raised.exception

    def generate_all(self, **fields):
        """The whole stream: (messages, {sequence_index: token ids}, {sequence_index: text})."""
        messages = list(self.client.generate(**fields))
        ids, texts = {}, {}
        for m in messages:
            ids.setdefault(m.sequence_index, []).extend(m.token_ids)
            texts[m.sequence_index] = texts.get(m.sequence_index, "") + m.text
        return messages, ids, texts


class ListModelsTest(ServerTestCase):
    def test_models_describe_the_folders(self):
        models = {m.name: m for m in self.client.list_models().models}
        self.assertLessEqual({"gpt2", "bert", "bert-embed"}, set(models))
        gpt2, bert, embed = models["gpt2"], models["bert"], models["bert-embed"]
        self.assertEqual(gpt2.family, "gpt2")
        self.assertEqual(gpt2.architecture, "GPT2LMHeadModel")
        self.assertTrue(gpt2.causal)
        self.assertEqual((gpt2.layers, gpt2.hidden_size, gpt2.heads, gpt2.head_dim,
                          gpt2.vocab_size, gpt2.max_tokens), (2, 64, 4, 16, 2000, 128))
        self.assertEqual(set(gpt2.rpcs), {"Generate", "Tokenize", "ExplainAttention", "Classify"})
        self.assertEqual(gpt2.backend, "cpu")
        self.assertEqual(os.path.realpath(gpt2.path), os.path.realpath(GOLDEN.model_path("gpt2")))
        self.assertFalse(bert.causal)
        self.assertEqual(bert.family, "bert")
        self.assertEqual(list(bert.labels), ["contradiction", "neutral", "entailment"])
        self.assertEqual(set(embed.rpcs), {"Embed", "Tokenize"})
        self.assertEqual(embed.embedding_dimensions, 64)

    def test_request_id_is_echoed(self):
        self.client.list_models()
        self.assertEqual(self.client.last_request_id, "py-test")


class HealthTest(ServerTestCase):
    def test_server_and_service_are_serving(self):
        self.assertTrue(self.client.wait_for_ready(10))
        self.assertEqual(self.client.health(), "SERVING")
        self.assertEqual(self.client.health("infer.v1.InferenceService"), "SERVING")

    def test_unknown_service_is_not_found(self):
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.client.health, "no.such.Service")


class TokenizeTest(ServerTestCase):
    def test_gpt2_ids_match_transformers(self):
        cases = GOLDEN.expected("gpt2")["cases"]
        response = self.client.tokenize([c["text"] for c in cases], model="gpt2")
        self.assertEqual(response.model, "gpt2")
        self.assertEqual(len(response.results), len(cases))
        for case, result in zip(cases, response.results):
            self.assertEqual(list(result.ids), case["input_ids"], case["name"])
            self.assertEqual([t.id for t in result.tokens], case["input_ids"])
        self.assertEqual(response.usage.prompt_tokens, sum(len(c["input_ids"]) for c in cases))

    def test_spans_are_utf8_byte_ranges(self):
        text = "Hello world"
        tokens = self.client.tokenize([text], model="gpt2").results[0].tokens
        pieces = [text.encode()[t.start:t.end].decode() for t in tokens]
        self.assertEqual("".join(pieces), text)
        # Multi-byte characters: spans are in bytes of the UTF-8 input, so they reach its end.
        unicode_case = GOLDEN.case("gpt2", "unicode")
        tokens = self.client.tokenize([unicode_case["text"]], model="gpt2").results[0].tokens
        self.assertEqual(max(t.end for t in tokens), len(unicode_case["text"].encode()))

    def test_bert_pair_has_specials_and_segments(self):
        case = GOLDEN.case("bert", "pair1")
        response = self.client.tokenize([case["text"]], pairs=[case["text_pair"]], model="bert")
        tokens = response.results[0].tokens
        self.assertEqual([t.id for t in tokens], case["input_ids"])
        self.assertEqual([t.segment for t in tokens], case["token_type_ids"])
        self.assertEqual([t.text for t in tokens if t.special], ["[CLS]", "[SEP]", "[SEP]"])

    def test_without_special_tokens(self):
        case = GOLDEN.case("bert", "short")
        ids = list(self.client.tokenize([case["text"]], model="bert",
                                        add_special_tokens=False).results[0].ids)
        self.assertEqual(ids, case["input_ids"][1:-1])  # no [CLS] ... [SEP]


class GenerateTest(ServerTestCase):
    def setUp(self):
        self.decoder = ByteLevelDecoder(GOLDEN.model_path("gpt2"))

    def test_greedy_matches_transformers_token_for_token(self):
        for name in ("greedy/p0", "greedy/p1", "greedy/p3"):
            case = GOLDEN.generation_case(name)
            messages, ids, texts = self.generate_all(
                prompt=case["prompt_text"], model="gpt2",
                max_new_tokens=case["kwargs"]["max_new_tokens"])
            self.assertEqual(ids[0], case["new_ids"][0], name)
            # Streamed: one message per token, the text pieces joining to decode(all tokens).
            self.assertGreater(len(messages), 1)
            self.assertEqual(texts[0], self.decoder.decode(case["new_ids"][0]), name)
            last = messages[-1]
            self.assertEqual(last.finish_reason, generate_pb2.FINISH_REASON_LENGTH)
            self.assertEqual(last.generated_tokens, len(case["new_ids"][0]))
            self.assertEqual(last.usage.prompt_tokens, len(case["prompt_ids"][0]))
            self.assertEqual(last.usage.generated_tokens, len(case["new_ids"][0]))
            self.assertEqual(last.model, "gpt2")

    def test_eos_stops_with_finish_reason_eos(self):
        case = GOLDEN.generation_case("greedy_eos_stop/p0")
        messages, ids, _ = self.generate_all(prompt=case["prompt_text"], model="gpt2",
                                             max_new_tokens=20,
                                             eos_token_ids=[case["kwargs"]["eos_token_id"]])
        self.assertEqual(ids[0], case["new_ids"][0])
        self.assertEqual(messages[-1].finish_reason, generate_pb2.FINISH_REASON_EOS)

    def test_prompt_token_ids_and_penalties(self):
        case = GOLDEN.generation_case("repetition_penalty/p1")
        _, ids, _ = self.generate_all(prompt_token_ids=case["prompt_ids"][0], model="gpt2",
                                      max_new_tokens=20, repetition_penalty=1.3)
        self.assertEqual(ids[0], case["new_ids"][0])
        case = GOLDEN.generation_case("bad_words_mixed/p0")
        _, ids, _ = self.generate_all(prompt=case["prompt_text"], model="gpt2", max_new_tokens=20,
                                      bad_words_ids=case["kwargs"]["bad_words_ids"])
        self.assertEqual(ids[0], case["new_ids"][0])

    def test_beam_search_returns_ranked_sequences(self):
        case = GOLDEN.generation_case("beam_no_eos/p0")
        kw = case["kwargs"]
        messages, ids, _ = self.generate_all(
            prompt=case["prompt_text"], model="gpt2", num_beams=kw["num_beams"],
            max_new_tokens=kw["max_new_tokens"], num_return_sequences=kw["num_return_sequences"],
            early_stopping=generate_pb2.EARLY_STOPPING_HEURISTIC, length_penalty=1.0)
        self.assertEqual([ids[0], ids[1]], case["new_ids"])
        scores = {m.sequence_index: m.score for m in messages if m.finish_reason}
        self.assertGreaterEqual(scores[0], scores[1])

    def test_contrastive_search(self):
        case = GOLDEN.generation_case("contrastive/p0")
        _, ids, _ = self.generate_all(prompt=case["prompt_text"], model="gpt2", max_new_tokens=20,
                                      penalty_alpha=0.6, top_k=4)
        self.assertEqual(ids[0], case["new_ids"][0])

    def test_logprobs_describe_the_chosen_tokens(self):
        messages, ids, _ = self.generate_all(prompt="The Free Software Foundation", model="gpt2",
                                             max_new_tokens=8, logprobs=True, top_logprobs=3)
        entries = [lp for m in messages for lp in m.logprobs]
        self.assertEqual([e.token_id for e in entries], ids[0])
        for entry in entries:
            self.assertLessEqual(entry.logprob, 0.0)
            self.assertEqual(len(entry.top), 3)
            # Greedy: the chosen token is the most likely one.
            self.assertEqual(entry.top[0].token_id, entry.token_id)
            self.assertAlmostEqual(entry.top[0].logprob, entry.logprob, places=5)
            self.assertGreaterEqual(entry.top[0].logprob, entry.top[1].logprob)
        last = [m for m in messages if m.finish_reason][0]
        self.assertAlmostEqual(last.score, sum(e.logprob for e in entries), places=3)

    def test_stop_string_ends_the_sequence(self):
        case = GOLDEN.generation_case("greedy/p0")
        full = self.decoder.decode(case["new_ids"][0])
        stop = full[6:9]
        offset = full.encode().find(stop.encode())
        messages, _, texts = self.generate_all(prompt=case["prompt_text"], model="gpt2",
                                               max_new_tokens=20, stop=[stop])
        last = messages[-1]
        self.assertEqual(last.finish_reason, generate_pb2.FINISH_REASON_STOP)
        self.assertEqual(last.stop_string, stop)
        self.assertEqual(last.stop_offset, offset)
        # The tokens that spell the stop string are kept (transformers' behaviour), no more.
        self.assertTrue(texts[0].encode().startswith(full.encode()[:offset + len(stop.encode())]))
        self.assertLess(len(texts[0]), len(full))

    def test_seeded_sampling_is_reproducible(self):
        fields = dict(prompt="You may copy", model="gpt2", max_new_tokens=12, do_sample=True,
                      temperature=1.0, top_k=50, seed=1234)
        first, ids_a, _ = self.generate_all(**fields)
        _, ids_b, _ = self.generate_all(**fields)
        self.assertEqual(ids_a, ids_b)
        self.assertEqual(first[-1].seed, 1234)
        _, ids_c, _ = self.generate_all(**dict(fields, seed=99))
        self.assertNotEqual(ids_a, ids_c)

    def test_several_sampled_sequences(self):
        messages, ids, _ = self.generate_all(prompt="You may copy", model="gpt2", max_new_tokens=6,
                                             do_sample=True, seed=7, num_return_sequences=3)
        self.assertEqual(sorted(ids), [0, 1, 2])
        finished = sorted(m.sequence_index for m in messages if m.finish_reason)
        self.assertEqual(finished, [0, 1, 2])
        self.assertEqual(messages[-1].usage.generated_tokens, sum(len(v) for v in ids.values()))

    def test_cancel_stops_the_stream(self):
        call = self.client.generate("The", model="gpt2", max_new_tokens=100, ignore_eos=True)
        first = next(call)
        self.assertGreater(len(first.token_ids), 0)
        self.assertEqual(dict(call.initial_metadata()).get("x-request-id"), "py-test")
        call.cancel()
        with self.assertRaises(grpc.RpcError) as raised:
            list(call)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.CANCELLED)
        # The server is still fine afterwards.
        _, ids, _ = self.generate_all(prompt="The", model="gpt2", max_new_tokens=3)
        self.assertEqual(len(ids[0]), 3)


class ClassifyTest(ServerTestCase):
    def test_nli_head_matches_transformers(self):
        labels = GOLDEN.expected("bert")["id2label"]
        cases = [GOLDEN.case("bert", n) for n in ("short", "medium", "unicode")]
        response = self.client.classify([c["text"] for c in cases], model="bert")
        self.assertEqual(response.method, classify_pb2.ZERO_SHOT_METHOD_UNSPECIFIED)
        for case, result in zip(cases, response.results):
            scores = {s.label: s.score for s in result.labels}
            for index, probability in enumerate(case["probs"]):
                self.assertAlmostEqual(scores[labels[str(index)]], probability, delta=TOLERANCE)
            self.assertEqual(result.labels[0].label, case["predicted_label"])
            ordered = [s.score for s in result.labels]
            self.assertEqual(ordered, sorted(ordered, reverse=True))
            self.assertEqual(result.tokens, len(case["input_ids"]))

    def test_sentence_pair(self):
        case = GOLDEN.case("bert", "pair1")
        result = self.client.classify([case["text"]], pairs=[case["text_pair"]],
                                      model="bert").results[0]
        scores = {s.label: s.score for s in result.labels}
        self.assertAlmostEqual(scores["entailment"], case["probs"][2], delta=TOLERANCE)
        self.assertAlmostEqual(scores["contradiction"], case["probs"][0], delta=TOLERANCE)

    def test_zero_shot_nli_and_lm(self):
        labels = ["software", "weather", "music"]
        nli = self.client.classify(["The program is free software."], model="bert", labels=labels,
                                   method="ZERO_SHOT_METHOD_NLI")
        self.assertEqual(nli.method, classify_pb2.ZERO_SHOT_METHOD_NLI)
        self.assertEqual({s.label for s in nli.results[0].labels}, set(labels))
        self.assertAlmostEqual(sum(s.score for s in nli.results[0].labels), 1.0, places=4)
        lm = self.client.classify(["The program is free software."], model="gpt2", labels=labels,
                                  top_k=2)
        self.assertEqual(lm.method, classify_pb2.ZERO_SHOT_METHOD_LANGUAGE_MODEL)
        self.assertEqual(len(lm.results[0].labels), 2)
        for score in lm.results[0].labels:
            self.assertLess(score.logit, 0.0)  # a log-probability


class EmbedTest(ServerTestCase):
    def test_cosine_similarities_match_sentence_transformers(self):
        expected = GOLDEN.expected("bert-embed")
        order = expected["cosine_similarity"]["order"]
        texts = [GOLDEN.case("bert-embed", name)["text"] for name in order]
        response = self.client.embed(texts, model="bert-embed")
        self.assertEqual(response.dimensions, 64)
        vectors = [list(e.values) for e in response.embeddings]
        for vector, name in zip(vectors, order):
            self.assertEqual(len(vector), 64)
            self.assertAlmostEqual(math.sqrt(sum(v * v for v in vector)), 1.0, places=4)
        for i, row in enumerate(expected["cosine_similarity"]["matrix"]):
            for j, value in enumerate(row):
                cosine = sum(a * b for a, b in zip(vectors[i], vectors[j]))
                self.assertAlmostEqual(cosine, value, delta=TOLERANCE, msg=f"{order[i]}/{order[j]}")
        tokens = [len(GOLDEN.case("bert-embed", name)["input_ids"]) for name in order]
        self.assertEqual([e.tokens for e in response.embeddings], tokens)
        self.assertEqual(response.usage.prompt_tokens, sum(tokens))

    def test_unnormalized_cls_pooling_differs(self):
        response = self.client.embed(["How do I redistribute the software?"], model="bert-embed",
                                     pooling=embed_pb2.POOLING_CLS, normalize=False)
        norm = math.sqrt(sum(v * v for v in response.embeddings[0].values))
        self.assertGreater(abs(norm - 1.0), 1e-3)


class ExplainAttentionTest(ServerTestCase):
    def test_attention_matches_transformers(self):
        case = GOLDEN.case("gpt2", "short")
        messages = list(self.client.explain_attention(case["text"], model="gpt2"))
        kinds = [m.WhichOneof("payload") for m in messages]
        self.assertEqual(kinds, ["header", "attention", "attention", "footer"])
        header = messages[0].header
        self.assertEqual((header.model, header.family, header.causal, header.layers, header.heads),
                         ("gpt2", "gpt2", True, 2, 4))
        self.assertEqual([t.id for t in header.tokens], case["input_ids"])
        for message in messages[1:3]:
            block = message.attention
            shape, expected = GOLDEN.tensor("gpt2", f"short.attentions.{block.layer}")
            self.assertEqual(list(block.heads), [0, 1, 2, 3])
            self.assertEqual([len(block.heads), block.query_tokens, block.key_tokens], shape)
            self.assertEqual(len(block.values), len(expected))
            worst = max(abs(a - b) for a, b in zip(block.values, expected))
            self.assertLess(worst, TOLERANCE, f"layer {block.layer}")
        footer = messages[-1].footer
        self.assertGreaterEqual(footer.forward_passes, 1)
        self.assertEqual(footer.usage.prompt_tokens, len(case["input_ids"]))
        self.assertGreaterEqual(footer.bytes_sent, 2 * 4 * 6 * 6 * 4)  # at least the floats

    def test_layer_and_head_selection(self):
        case = GOLDEN.case("gpt2", "medium")
        messages = list(self.client.explain_attention(case["text"], model="gpt2", layers=[1],
                                                      heads=[0, 2]))
        blocks = [m.attention for m in messages if m.WhichOneof("payload") == "attention"]
        self.assertEqual([b.layer for b in blocks], [1])
        self.assertEqual(list(blocks[0].heads), [0, 2])
        _, expected = GOLDEN.tensor("gpt2", "medium.attentions.1")
        t = len(case["input_ids"])
        want = expected[0:t * t] + expected[2 * t * t:3 * t * t]
        self.assertLess(max(abs(a - b) for a, b in zip(blocks[0].values, want)), TOLERANCE)

    def test_encoder_pair(self):
        case = GOLDEN.case("bert", "pair1")
        messages = list(self.client.explain_attention(case["text"], text_pair=case["text_pair"],
                                                      model="bert", layers=[0]))
        header = messages[0].header
        self.assertFalse(header.causal)
        self.assertEqual([t.id for t in header.tokens], case["input_ids"])
        block = messages[1].attention
        _, expected = GOLDEN.tensor("bert", "pair1.attentions.0")
        self.assertLess(max(abs(a - b) for a, b in zip(block.values, expected)), TOLERANCE)


class ErrorsTest(ServerTestCase):
    def test_status_codes(self):
        code = grpc.StatusCode
        self.assertRpcError(code.NOT_FOUND, self.client.embed, ["x"], model="no-such-model")
        error = self.assertRpcError(code.INVALID_ARGUMENT, self.client.generate, "x",
                                    model="gpt2", top_p=1.5)
        self.assertIn("top_p", error.details())
        self.assertRpcError(code.INVALID_ARGUMENT, self.client.classify, [], model="bert")
        self.assertRpcError(code.INVALID_ARGUMENT, self.client.tokenize, ["a", "b"], pairs=["c"],
                            model="bert")
        self.assertRpcError(code.INVALID_ARGUMENT, self.client.explain_attention, "x",
                            model="gpt2", layers=[7])

    def test_rpc_the_model_does_not_serve_is_invalid_argument_naming_model(self):
        # inference_service.proto: INVALID_ARGUMENT naming `model` for an RPC it cannot serve.
        error = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.client.embed, ["x"],
                                    model="gpt2")
        self.assertIn("Embed", error.details())
        self.assertIn("model", error.details())

    def test_empty_model_picks_a_model_that_serves_the_rpc(self):
        self.assertEqual(self.client.embed(["hello"]).model, "bert-embed")
        self.assertEqual(self.client.tokenize(["hello"]).model, "gpt2")


@unittest.skipUnless(os.path.isfile(os.path.join(DEFAULT_LM, "expected.json")),
                     "models/gpt2-en-mini is not there")
class DefaultModelTest(ServerTestCase):
    def test_generations_match_the_recorded_ones(self):
        with open(os.path.join(DEFAULT_LM, "expected.json"), encoding="utf-8") as f:
            expected = json.load(f)
        for case in expected["generation_cases"]:
            fields = {k: v for k, v in case["kwargs"].items()
                      if k in ("do_sample", "max_new_tokens", "repetition_penalty",
                               "no_repeat_ngram_size")}
            # The recorded text is transformers' decode(), which keeps special tokens.
            _, ids, texts = self.generate_all(prompt=case["prompt"], model="gpt2-en-mini",
                                              keep_special_tokens=True, **fields)
            self.assertEqual(ids[0], case["new_ids"], f"{case['name']}: {case['prompt']}")
            self.assertEqual(texts[0], case["text"])
        for case in expected["tokenizer_cases"]:
            ids = self.client.tokenize([case["text"]], model="gpt2-en-mini").results[0].ids
            self.assertEqual(list(ids), case["ids"], case["text"])


class CommandLineTest(ServerTestCase):
    """infer_client.py's own command line, as a user would run it."""

    def run_cli(self, *args):
        env = dict(os.environ)
        done = subprocess.run([sys.executable, os.path.join(HERE, "infer_client.py"),
                               "--target", self.server.target, *args],
                              capture_output=True, text=True, timeout=120, env=env)
        return done.returncode, done.stdout, done.stderr

    def test_generate_streams_the_greedy_text(self):
        case = GOLDEN.generation_case("greedy/p1")
        code, out, err = self.run_cli("generate", case["prompt_text"], "--model", "gpt2",
                                      "--max-new-tokens", "20")
        self.assertEqual(code, 0, err)
        expected = ByteLevelDecoder(GOLDEN.model_path("gpt2")).decode(case["new_ids"][0])
        self.assertEqual(out, expected + "\n")
        self.assertIn("finish_reason=FINISH_REASON_LENGTH", err)

    def test_json_lines_and_errors(self):
        code, out, err = self.run_cli("--json", "models")
        self.assertEqual(code, 0, err)
        names = [m["name"] for m in json.loads(out)["models"]]
        self.assertIn("bert-embed", names)
        code, out, _ = self.run_cli("--json", "health")
        self.assertEqual((code, json.loads(out)), (0, {"status": "SERVING"}))
        code, out, _ = self.run_cli("classify", "Hello world", "--model", "bert")
        self.assertEqual(code, 0)
        self.assertTrue(out.splitlines()[1].strip().endswith("entailment"))
        code, out, _ = self.run_cli("embed", "a b", "c d")
        self.assertIn("dimensions=64", out)
        code, out, _ = self.run_cli("tokenize", "Hello world", "--model", "gpt2")
        self.assertIn("(1294)", out)
        code, _, err = self.run_cli("embed", "x", "--model", "nope")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("error: NOT_FOUND: "), err)


if __name__ == "__main__":
    unittest.main()
