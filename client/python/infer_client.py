#!/usr/bin/env python3
"""Example Python client of infer.v1.InferenceService (proto/infer/v1/*.proto).

Library:

    from infer_client import InferenceClient
    with InferenceClient("localhost:50051", timeout=30) as client:
        for message in client.generate("Once upon a time", max_new_tokens=20):
            print(message.text, end="", flush=True)
        print(client.embed(["first", "second"]).dimensions)

Command line (the same RPCs, for trying a server out):

    infer_client.py [--target HOST:PORT] [--timeout S] [--request-id ID] [--json] COMMAND ...
    COMMAND: generate PROMPT | classify TEXT... | embed TEXT... | tokenize TEXT... | models |
             health [SERVICE]

The generated modules (infer/v1/*_pb2.py, *_pb2_grpc.py) are found through the environment
variable INFER_PROTO_PYTHON, else <repository>/build/proto/python; README.md explains how to
generate them in another project. Needs grpcio and protobuf (Debian: python3-grpcio,
python3-protobuf).
"""

import argparse
import json
import math
import os
import sys

import grpc


def _add_stub_path():
    # The stubs are build products, not installed packages: put their folder on sys.path before
    # importing them. The default assumes this file sits in <repository>/client/python.
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build",
                           "proto", "python")
    path = os.environ.get("INFER_PROTO_PYTHON", default)
    if not os.path.isdir(os.path.join(path, "infer", "v1")):
        raise ImportError(f"no generated infer/v1 modules under {path!r}: build the project "
                          "(target infer_proto_python) or set INFER_PROTO_PYTHON")
    if path not in sys.path:
        sys.path.insert(0, path)


_add_stub_path()

from google.protobuf import json_format  # noqa: E402
from infer.v1 import classify_pb2, embed_pb2, explain_pb2, generate_pb2  # noqa: E402
from infer.v1 import inference_service_pb2_grpc, models_pb2, tokenize_pb2  # noqa: E402

REQUEST_ID_KEY = "x-request-id"

# grpc.health.v1 is two one-field messages. Encoding them here avoids depending on the
# grpcio-health-checking package (not installed with Debian's python3-grpcio) for an example.
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_health_request(service):
    """HealthCheckRequest {string service = 1}: field 1, wire type 2 (length-delimited)."""
    data = service.encode("utf-8")
    return b"" if not data else b"\x0a" + _varint(len(data)) + data


def decode_health_response(data):
    """HealthCheckResponse {ServingStatus status = 1} -> the status name. Skips other fields."""
    def read_varint(pos):
        value, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("malformed HealthCheckResponse")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, pos

    status, pos = 0, 0
    while pos < len(data):
        key, pos = read_varint(pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(pos)
            if field == 1:
                status = value
        elif wire == 2:
            length, pos = read_varint(pos)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError("malformed HealthCheckResponse")
        if pos > len(data):
            raise ValueError("malformed HealthCheckResponse")
    return HEALTH_STATUS_NAMES.get(status, "UNKNOWN")


def _build(message_class, request, fields):
    """A request message from keyword arguments, or the given message merged with them."""
    if "bad_words_ids" in fields:  # accept plain lists of ids: [[1, 2], [3]]
        fields["bad_words_ids"] = [
            ids if isinstance(ids, generate_pb2.TokenIds) else generate_pb2.TokenIds(ids=ids)
            for ids in fields["bad_words_ids"]]
    message = message_class(**fields)
    if request is not None:
        merged = message_class()
        merged.CopyFrom(request)
        merged.MergeFrom(message)
        message = merged
    return message


class InferenceClient:
    """One channel to the server; one method per RPC.

    Unary methods return the response message. Streaming methods (generate, explain_attention)
    return the gRPC call object: iterate it for the messages, call .cancel() to stop early.
    Failures raise grpc.RpcError (e.code(), e.details()). Keyword arguments are request fields
    with their .proto names (enums by name, e.g. method="ZERO_SHOT_METHOD_NLI").
    """

    def __init__(self, target="localhost:50051", *, timeout=None, request_id=None, channel=None):
        # Attention replies grow as layers x heads x tokens^2: take messages of any size.
        self._channel = channel or grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", -1)])
        self._stub = inference_service_pb2_grpc.InferenceServiceStub(self._channel)
        self._health_check = self._channel.unary_unary(
            HEALTH_CHECK_METHOD, request_serializer=encode_health_request,
            response_deserializer=decode_health_response)
        self.timeout = timeout
        self.request_id = request_id
        # The x-request-id the server echoed on the last unary call (not thread-safe: an example).
        self.last_request_id = None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _metadata(self):
        return [(REQUEST_ID_KEY, self.request_id)] if self.request_id else None

    def _unary(self, method, request):
        response, call = method.with_call(request, timeout=self.timeout, metadata=self._metadata())
        self.last_request_id = dict(call.initial_metadata()).get(REQUEST_ID_KEY)
        return response

    def generate(self, prompt=None, *, request=None, **fields):
        if prompt is not None:
            fields["prompt"] = prompt
        message = _build(generate_pb2.GenerateRequest, request, fields)
        return self._stub.Generate(message, timeout=self.timeout, metadata=self._metadata())

    def classify(self, inputs=None, *, request=None, **fields):
        if inputs is not None:
            fields["inputs"] = list(inputs)
        return self._unary(self._stub.Classify, _build(classify_pb2.ClassifyRequest, request, fields))

    def embed(self, inputs=None, *, request=None, **fields):
        if inputs is not None:
            fields["inputs"] = list(inputs)
        return self._unary(self._stub.Embed, _build(embed_pb2.EmbedRequest, request, fields))

    def explain_attention(self, text=None, *, request=None, **fields):
        if text is not None:
            fields["text"] = text
        message = _build(explain_pb2.ExplainAttentionRequest, request, fields)
        return self._stub.ExplainAttention(message, timeout=self.timeout,
                                           metadata=self._metadata())

    def tokenize(self, inputs=None, *, request=None, **fields):
        if inputs is not None:
            fields["inputs"] = list(inputs)
        return self._unary(self._stub.Tokenize, _build(tokenize_pb2.TokenizeRequest, request, fields))

    def list_models(self):
        return self._unary(self._stub.ListModels, models_pb2.ListModelsRequest())

    def health(self, service=""):
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", ...; NOT_FOUND for unknown services."""
        return self._health_check(service, timeout=self.timeout, metadata=self._metadata())

    def wait_for_ready(self, timeout):
        """True once the channel connects within `timeout` seconds (models may still load:
        health() says when the server serves)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
            return True
        except grpc.FutureTimeoutError:
            return False


# ---- command line ----

def _to_json(message):
    return json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _cmd_generate(client, args):
    fields = {}
    for name in ("model", "max_new_tokens", "do_sample", "temperature", "top_k", "top_p",
                 "repetition_penalty", "num_beams", "num_return_sequences", "seed"):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    if args.stop:
        fields["stop"] = args.stop
    texts, last = {}, None
    for message in client.generate(args.prompt, **fields):
        if args.json:
            print(_to_json(message), flush=True)
        elif message.sequence_index == 0 and not args.num_return_sequences:
            print(message.text, end="", flush=True)
        texts[message.sequence_index] = texts.get(message.sequence_index, "") + message.text
        last = message
    if args.json:
        return 0
    if args.num_return_sequences:
        for index in sorted(texts):
            print(f"[{index}] {texts[index]}")
    else:
        print()
    if last is not None:
        reason = generate_pb2.FinishReason.Name(last.finish_reason)
        print(f"finish_reason={reason} prompt_tokens={last.usage.prompt_tokens} "
              f"generated_tokens={last.usage.generated_tokens} model={last.model}", file=sys.stderr)
    return 0


def _cmd_classify(client, args):
    fields = {}
    if args.model:
        fields["model"] = args.model
    if args.labels:
        fields["labels"] = [label for label in args.labels.split(",") if label]
    if args.method:
        fields["method"] = {"lm": "ZERO_SHOT_METHOD_LANGUAGE_MODEL", "nli": "ZERO_SHOT_METHOD_NLI",
                            "embedding": "ZERO_SHOT_METHOD_EMBEDDING"}[args.method]
    if args.pair:
        fields["pairs"] = args.pair
    response = client.classify(args.texts, **fields)
    if args.json:
        print(_to_json(response))
        return 0
    for text, result in zip(args.texts, response.results):
        print(text)
        for label in result.labels:
            print(f"    {label.score:.4f}  {label.label}")
    return 0


def _cmd_embed(client, args):
    response = client.embed(args.texts, **({"model": args.model} if args.model else {}))
    if args.json:
        print(_to_json(response))
        return 0
    print(f"model={response.model} dimensions={response.dimensions}")
    vectors = [list(e.values) for e in response.embeddings]
    norms = [math.sqrt(sum(v * v for v in vector)) or 1.0 for vector in vectors]
    for text, norm in zip(args.texts, norms):
        print(f"norm={norm:.4f}  {text}")
    if len(vectors) > 1:
        print("cosine similarity:")
        for a, na in zip(vectors, norms):
            print("   " + " ".join(f"{sum(x * y for x, y in zip(a, b)) / (na * nb):.4f}"
                                   for b, nb in zip(vectors, norms)))
    return 0


def _cmd_tokenize(client, args):
    fields = {"model": args.model} if args.model else {}
    if args.pair:
        fields["pairs"] = args.pair
    response = client.tokenize(args.texts, **fields)
    if args.json:
        print(_to_json(response))
        return 0
    for result in response.results:
        print(" ".join(f"{t.text}({t.id})" for t in result.tokens))
    return 0


def _cmd_models(client, args):
    response = client.list_models()
    if args.json:
        print(_to_json(response))
        return 0
    for model in response.models:
        print(f"{model.name}: {model.family} {model.architecture} on {model.backend}, "
              f"rpcs {','.join(model.rpcs)}")
    return 0


def _cmd_health(client, args):
    status = client.health(args.service)
    print(json.dumps({"status": status}) if args.json else status)
    return 0 if status == "SERVING" else 1


def _parser():
    parser = argparse.ArgumentParser(description="Example client of infer.v1.InferenceService")
    parser.add_argument("--target", default="localhost:50051")
    parser.add_argument("--timeout", type=float, help="deadline of the call in seconds")
    parser.add_argument("--request-id", help="x-request-id metadata")
    parser.add_argument("--json", action="store_true", help="responses as JSON lines")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="stream generated text")
    generate.add_argument("prompt")
    generate.add_argument("--model")
    generate.add_argument("--max-new-tokens", type=int)
    generate.add_argument("--do-sample", action="store_const", const=True)
    generate.add_argument("--temperature", type=float)
    generate.add_argument("--top-k", type=int)
    generate.add_argument("--top-p", type=float)
    generate.add_argument("--repetition-penalty", type=float)
    generate.add_argument("--num-beams", type=int)
    generate.add_argument("--num-return-sequences", type=int)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--stop", action="append")
    generate.set_defaults(run=_cmd_generate)

    classify = commands.add_parser("classify", help="fine-tuned head or zero-shot labels")
    classify.add_argument("texts", nargs="+")
    classify.add_argument("--model")
    classify.add_argument("--labels", help="comma-separated zero-shot labels")
    classify.add_argument("--method", choices=["lm", "nli", "embedding"])
    classify.add_argument("--pair", action="append", help="second segment, one per text")
    classify.set_defaults(run=_cmd_classify)

    embed = commands.add_parser("embed", help="sentence embeddings")
    embed.add_argument("texts", nargs="+")
    embed.add_argument("--model")
    embed.set_defaults(run=_cmd_embed)

    tokenize = commands.add_parser("tokenize", help="the model's tokenizer")
    tokenize.add_argument("texts", nargs="+")
    tokenize.add_argument("--model")
    tokenize.add_argument("--pair", action="append", help="second segment, one per text")
    tokenize.set_defaults(run=_cmd_tokenize)

    commands.add_parser("models", help="models the server holds").set_defaults(run=_cmd_models)

    health = commands.add_parser("health", help="grpc.health.v1 Check")
    health.add_argument("service", nargs="?", default="")
    health.set_defaults(run=_cmd_health)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    with InferenceClient(args.target, timeout=args.timeout, request_id=args.request_id) as client:
        try:
            return args.run(client, args)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
