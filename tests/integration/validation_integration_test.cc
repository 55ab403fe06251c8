// Every bad field gets INVALID_ARGUMENT or NOT_FOUND with a message naming it, and the server
// goes on serving.
#include "gtest/gtest.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

struct Case {
  std::string name;
  grpc::Status status;
  grpc::StatusCode want;
  std::string field;  // must appear in the message
};

grpc::Status Gen(const std::function<void(v1::GenerateRequest&)>& edit) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(4);
  edit(req);
  return SharedClient().Generate(req, [](const v1::GenerateResponse&) { return true; });
}

grpc::Status Emb(const std::function<void(v1::EmbedRequest&)>& edit) {
  v1::EmbedRequest req;
  req.set_model("embed");
  req.add_inputs("hello");
  edit(req);
  return SharedClient().Embed(req).status;
}

grpc::Status Cls(const std::function<void(v1::ClassifyRequest&)>& edit) {
  v1::ClassifyRequest req;
  req.set_model("nli");
  req.add_inputs("hello");
  edit(req);
  return SharedClient().Classify(req).status;
}

TEST(ValidationIntegration, BadFieldsGetTheRightCodeAndNameTheField) {
  using C = grpc::StatusCode;
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "license ";
  std::vector<Case> cases = {
      {"unknown model", Gen([](auto& r) { r.set_model("nope"); }), C::NOT_FOUND, "model"},
      {"rpc the model cannot serve", Gen([](auto& r) { r.set_model("embed"); }),
       C::INVALID_ARGUMENT, "model"},
      {"empty prompt", Gen([](auto& r) { r.clear_prompt(); }), C::INVALID_ARGUMENT, "prompt"},
      {"prompt and ids", Gen([](auto& r) { r.add_prompt_token_ids(1); }), C::INVALID_ARGUMENT,
       "prompt"},
      {"token id outside vocabulary", Gen([](auto& r) { r.clear_prompt(); r.add_prompt_token_ids(99999); }),
       C::INVALID_ARGUMENT, "prompt_token_ids[0]"},
      {"prompt longer than the context", Gen([&](auto& r) { r.set_prompt(long_prompt); }),
       C::INVALID_ARGUMENT, "prompt"},
      {"max_new_tokens over the limit", Gen([](auto& r) { r.set_max_new_tokens(100000); }),
       C::INVALID_ARGUMENT, "max_new_tokens"},
      {"max_new_tokens zero", Gen([](auto& r) { r.set_max_new_tokens(0); }), C::INVALID_ARGUMENT,
       "max_new_tokens"},
      {"top_p above 1", Gen([](auto& r) { r.set_top_p(1.5); }), C::INVALID_ARGUMENT, "top_p"},
      {"top_p zero", Gen([](auto& r) { r.set_top_p(0.0); }), C::INVALID_ARGUMENT, "top_p"},
      {"negative temperature", Gen([](auto& r) { r.set_temperature(-0.5); }),
       C::INVALID_ARGUMENT, "temperature"},
      {"negative top_k", Gen([](auto& r) { r.set_top_k(-1); }), C::INVALID_ARGUMENT, "top_k"},
      {"zero repetition penalty", Gen([](auto& r) { r.set_repetition_penalty(0); }),
       C::INVALID_ARGUMENT, "repetition_penalty"},
      {"too many beams", Gen([](auto& r) { r.set_num_beams(1000); }), C::INVALID_ARGUMENT,
       "num_beams"},
      {"more sequences than beams", Gen([](auto& r) { r.set_num_beams(2); r.set_num_return_sequences(3); }),
       C::INVALID_ARGUMENT, "num_return_sequences"},
      {"empty stop string", Gen([](auto& r) { r.add_stop(""); }), C::INVALID_ARGUMENT, "stop[0]"},
      {"too many top_logprobs", Gen([](auto& r) { r.set_top_logprobs(500); }),
       C::INVALID_ARGUMENT, "top_logprobs"},
      {"embed without inputs", Emb([](auto& r) { r.clear_inputs(); }), C::INVALID_ARGUMENT,
       "inputs"},
      {"embed empty input", Emb([](auto& r) { r.add_inputs(""); }), C::INVALID_ARGUMENT,
       "inputs[1]"},
      {"embed too many inputs", Emb([](auto& r) { for (int i = 0; i < 20; ++i) r.add_inputs("x"); }),
       C::INVALID_ARGUMENT, "inputs"},
      {"embed on a causal LM", Emb([](auto& r) { r.set_model("gpt2"); }), C::INVALID_ARGUMENT,
       "model"},
      {"classify pairs mismatch", Cls([](auto& r) { r.add_pairs("a"); r.add_pairs("b"); }),
       C::INVALID_ARGUMENT, "pairs"},
      {"zero-shot one label", Cls([](auto& r) { r.add_labels("a"); }), C::INVALID_ARGUMENT,
       "labels"},
      {"zero-shot duplicate label", Cls([](auto& r) { r.add_labels("a"); r.add_labels("a"); }),
       C::INVALID_ARGUMENT, "labels[1]"},
      {"zero-shot LM method on an encoder",
       Cls([](auto& r) { r.add_labels("a"); r.add_labels("b");
                         r.set_method(v1::ZERO_SHOT_METHOD_LANGUAGE_MODEL); }),
       C::INVALID_ARGUMENT, "method"},
      {"head on a model without one", Cls([](auto& r) { r.set_model("gpt2"); }),
       C::INVALID_ARGUMENT, "labels"},
      {"bad embedding temperature",
       Cls([](auto& r) { r.set_model("embed"); r.add_labels("a"); r.add_labels("b");
                         r.set_temperature(0); }),
       C::INVALID_ARGUMENT, "temperature"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.error_code(), c.want)
        << c.name << ": " << client::StatusCodeName(c.status.error_code()) << " "
        << c.status.error_message();
    EXPECT_NE(c.status.error_message().find(c.field), std::string::npos)
        << c.name << ": message \"" << c.status.error_message() << "\" does not name " << c.field;
  }
  // Still serving.
  EXPECT_TRUE(SharedClient().ListModels().ok());
  EXPECT_TRUE(Gen([](auto&) {}).ok());
}

TEST(ValidationIntegration, OversizedRequestIsRefusedBySize) {
  v1::EmbedRequest req;
  req.set_model("embed");
  req.add_inputs(std::string(100000, 'a'));  // over --max-request-bytes 65536
  auto r = SharedClient().Embed(req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << r.status.error_message();
  EXPECT_TRUE(SharedClient().ListModels().ok());
}

TEST(ValidationIntegration, ExplainSelectionOutOfRange) {
  v1::ExplainAttentionRequest req;
  req.set_model("gpt2");
  req.set_text("hello");
  req.add_layers(99);
  grpc::Status st =
      SharedClient().ExplainAttention(req, [](const v1::ExplainAttentionResponse&) { return true; });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("layers[0]"), std::string::npos) << st.error_message();
}

}  // namespace
}  // namespace infer::testing
