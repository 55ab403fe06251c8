// Generate over the wire against the engine in this process: the same tokens, texts,
// log-probabilities and finish reasons, message by message.
#include <map>

#include "gtest/gtest.h"
#include "server/runtime/generation_options.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

struct Streamed {
  grpc::Status status;
  std::vector<v1::GenerateResponse> messages;
  std::map<uint32_t, std::vector<int32_t>> tokens;   // per sequence
  std::map<uint32_t, std::string> text;              // per sequence
  std::map<uint32_t, std::vector<float>> logprobs;
};

Streamed Call(const v1::GenerateRequest& req) {
  Streamed s;
  s.status = SharedClient().Generate(req, [&](const v1::GenerateResponse& r) {
    s.messages.push_back(r);
    for (int32_t t : r.token_ids()) s.tokens[r.sequence_index()].push_back(t);
    s.text[r.sequence_index()] += r.text();
    for (const auto& lp : r.logprobs()) s.logprobs[r.sequence_index()].push_back(lp.logprob());
    return true;
  });
  return s;
}

runtime::GenerationResult Local(const std::string& prompt, runtime::GenerationOptions o) {
  tasks::TaskModel& m = LocalModel("gpt2");
  auto r = m.Generate(prompt, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : runtime::GenerationResult{};
}

runtime::GenerationOptions Defaults() { return LocalModel("gpt2").generation_defaults(); }

TEST(GenerateIntegration, GreedyStreamEqualsEngine) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(24);
  req.set_logprobs(true);
  Streamed s = Call(req);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();

  runtime::GenerationOptions o = Defaults();
  o.max_new_tokens = 24;
  o.logprobs = true;
  runtime::GenerationResult want = Local("The license", o);
  ASSERT_EQ(want.sequences.size(), 1u);
  EXPECT_EQ(s.tokens[0], want.sequences[0].tokens);
  ASSERT_EQ(s.logprobs[0].size(), want.sequences[0].logprobs.size());
  for (size_t i = 0; i < s.logprobs[0].size(); ++i) {
    EXPECT_FLOAT_EQ(s.logprobs[0][i], want.sequences[0].logprobs[i]) << "token " << i;
  }
  EXPECT_EQ(s.text[0], LocalModel("gpt2").tokenizer().Decode(want.sequences[0].tokens, /*skip_special_tokens=*/true));

  // One message per token, then the final one with the finish reason and the usage.
  ASSERT_EQ(s.messages.size(), want.sequences[0].tokens.size() + 1);
  for (size_t i = 0; i + 1 < s.messages.size(); ++i) {
    EXPECT_EQ(s.messages[i].token_ids_size(), 1);
    EXPECT_EQ(s.messages[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  }
  const v1::GenerateResponse& last = s.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.generated_tokens(), 24u);
  EXPECT_EQ(last.usage().prompt_tokens(), static_cast<uint32_t>(want.prompt_tokens));
  EXPECT_EQ(last.usage().generated_tokens(), 24u);
  EXPECT_EQ(last.model(), "gpt2");
}

TEST(GenerateIntegration, SeededSamplingWithSeveralSequencesEqualsEngine) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("You may copy");
  req.set_max_new_tokens(16);
  req.set_do_sample(true);
  req.set_top_p(0.9);
  req.set_top_k(40);
  req.set_temperature(0.8);
  req.set_seed(1234);
  req.set_num_return_sequences(3);
  req.set_top_logprobs(2);
  Streamed s = Call(req);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();

  runtime::GenerationOptions o = Defaults();
  o.max_new_tokens = 16;
  o.do_sample = true;
  o.top_p = 0.9;
  o.top_k = 40;
  o.temperature = 0.8;
  o.seed = 1234;
  o.num_return_sequences = 3;
  o.logprobs = true;
  o.top_logprobs = 2;
  runtime::GenerationResult want = Local("You may copy", o);
  ASSERT_EQ(want.sequences.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(s.tokens[i], want.sequences[i].tokens) << "sequence " << i;
    EXPECT_EQ(s.text[i], LocalModel("gpt2").tokenizer().Decode(want.sequences[i].tokens, /*skip_special_tokens=*/true));
  }
  for (const auto& m : s.messages) {
    for (const auto& lp : m.logprobs()) EXPECT_EQ(lp.top_size(), 2);
  }
  EXPECT_EQ(s.messages.back().seed(), 1234u);
}

TEST(GenerateIntegration, BeamSearchSendsEachSequenceWithItsScore) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(10);
  req.set_num_beams(4);
  req.set_num_return_sequences(2);
  Streamed s = Call(req);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();

  runtime::GenerationOptions o = Defaults();
  o.max_new_tokens = 10;
  o.num_beams = 4;
  o.num_return_sequences = 2;
  runtime::GenerationResult want = Local("The license", o);
  ASSERT_EQ(want.sequences.size(), 2u);
  std::map<uint32_t, double> scores;
  for (const auto& m : s.messages) {
    if (m.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) scores[m.sequence_index()] = m.score();
  }
  for (uint32_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.tokens[i], want.sequences[i].tokens);
    EXPECT_DOUBLE_EQ(scores[i], want.sequences[i].score);
  }
}

TEST(GenerateIntegration, StopStringEndsWithStopReasonAndOffset) {
  // Generate once to learn a string the greedy continuation contains, then stop on it.
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(20);
  Streamed first = Call(req);
  ASSERT_TRUE(first.status.ok());
  const std::string text = first.text[0];
  ASSERT_GE(text.size(), 6u);
  const std::string stop = text.substr(3, 3);
  req.add_stop(stop);
  Streamed s = Call(req);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  const v1::GenerateResponse& last = s.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.stop_string(), stop);
  EXPECT_EQ(s.text[0].substr(last.stop_offset(), stop.size()), stop);
  EXPECT_LT(s.tokens[0].size(), first.tokens[0].size() + 1);
}

TEST(GenerateIntegration, PromptTokenIdsEqualTextPrompt) {
  v1::GenerateRequest by_text;
  by_text.set_model("gpt2");
  by_text.set_prompt("The license");
  by_text.set_max_new_tokens(8);
  v1::GenerateRequest by_ids = by_text;
  by_ids.clear_prompt();
  for (int32_t id : LocalModel("gpt2").tokenizer().Encode("The license").ids) {
    by_ids.add_prompt_token_ids(id);
  }
  Streamed a = Call(by_text), b = Call(by_ids);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(a.tokens[0], b.tokens[0]);
}

TEST(GenerateIntegration, ClientThatCancelsStopsTheGenerationAndOthersGoOn) {
  // 32 sampled sequences of up to 120 tokens: thousands of token events. The client cancels at
  // the first message; the server must notice before the next step, not run to the end.
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(120);
  req.set_do_sample(true);
  req.set_seed(5);
  req.set_num_return_sequences(32);
  req.set_ignore_eos(true);
  int received = 0;
  client::CallOptions call;
  call.request_id = "cancel-test-1";
  grpc::Status st = SharedClient().Generate(
      req, [&](const v1::GenerateResponse&) { return ++received < 1; }, call);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(received, 1);

  ServerProcess& server = SharedServer();
  ASSERT_TRUE(server.WaitForLog("\"request_id\":\"cancel-test-1\"", std::chrono::seconds(30)))
      << server.Log();
  const std::string log = server.Log();
  const size_t at = log.find("\"request_id\":\"cancel-test-1\"");
  const size_t begin = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at) + 1;
  const std::string line = log.substr(begin, log.find('\n', at) - begin);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["code"], "CANCELLED") << line;
  EXPECT_EQ(j["client_gone"], true) << line;
  // Far fewer tokens than the 32 x 120 the request allowed were produced.
  ASSERT_TRUE(j.contains("streamed_tokens")) << line;
  EXPECT_LT(j["streamed_tokens"].get<int>(), 32 * 120 / 2) << line;

  // The server keeps serving.
  v1::GenerateRequest next;
  next.set_model("gpt2");
  next.set_prompt("The license");
  next.set_max_new_tokens(4);
  Streamed s = Call(next);
  EXPECT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.tokens[0].size(), 4u);
}

TEST(GenerateIntegration, SpecialTokensStayOutOfTheTextUnlessKept) {
  // Force an EOS as the only allowed outcome: min/max of one token, every id banned but EOS.
  tasks::TaskModel& m = LocalModel("gpt2");
  const runtime::GenerationOptions defaults = m.generation_defaults();
  ASSERT_FALSE(defaults.eos_token_ids.empty());
  const int32_t eos = defaults.eos_token_ids[0];
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(1);
  for (int32_t id = 0; id < m.info().vocab_size; ++id) {
    if (id != eos) req.add_bad_words_ids()->add_ids(id);
  }
  Streamed dropped = Call(req);
  ASSERT_TRUE(dropped.status.ok()) << dropped.status.error_message();
  ASSERT_EQ(dropped.tokens[0], std::vector<int32_t>{eos});
  EXPECT_EQ(dropped.text[0], "");
  req.set_keep_special_tokens(true);
  Streamed kept = Call(req);
  ASSERT_TRUE(kept.status.ok());
  EXPECT_EQ(kept.text[0], m.tokenizer().Decode(std::vector<int32_t>{eos}));
  EXPECT_FALSE(kept.text[0].empty());
}

TEST(GenerateIntegration, RequestIdIsEchoed) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("x");
  req.set_max_new_tokens(1);
  client::CallOptions call;
  call.request_id = "echo-me-42";
  client::CallInfo info;
  grpc::Status st =
      SharedClient().Generate(req, [](const v1::GenerateResponse&) { return true; }, call, &info);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(info.request_id, "echo-me-42");
}

TEST(GenerateIntegration, DeadlineEndsTheCall) {
  v1::GenerateRequest req;
  req.set_model("gpt2");
  req.set_prompt("The license");
  req.set_max_new_tokens(120);
  req.set_num_return_sequences(32);
  req.set_do_sample(true);
  req.set_ignore_eos(true);
  client::CallOptions call;
  call.timeout = std::chrono::milliseconds(1);
  grpc::Status st =
      SharedClient().Generate(req, [](const v1::GenerateResponse&) { return true; }, call);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
}

}  // namespace
}  // namespace infer::testing
