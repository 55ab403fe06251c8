// What operators rely on: health (SERVING after load, NOT_SERVING on shutdown), reflection,
// Prometheus /metrics counting the calls, structured logs, clean exit on SIGTERM, bad flags.
#include <signal.h>

#include <regex>
#include <thread>

#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "reflection_probe.grpc.pb.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

TEST(OperationsIntegration, HealthIsServingForServerAndService) {
  auto overall = SharedClient().Health("");
  ASSERT_TRUE(overall.ok()) << overall.status.error_message();
  EXPECT_EQ(overall.value, client::HealthStatus::kServing);
  auto svc = SharedClient().Health("infer.v1.InferenceService");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc.value, client::HealthStatus::kServing);
  auto unknown = SharedClient().Health("no.such.Service");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(OperationsIntegration, ReflectionListsTheService) {
  auto channel = SharedClient().channel();
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "infer.v1.InferenceService"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"), names.end());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST(OperationsIntegration, MetricsCountTheCallsJustMade) {
  ServerProcess& server = SharedServer();
  const std::string ok_embed = "infer_requests_total{code=\"OK\",model=\"embed\",rpc=\"Embed\"}";
  const std::string bad_gen =
      "infer_requests_total{code=\"INVALID_ARGUMENT\",model=\"gpt2\",rpc=\"Generate\"}";
  std::string before = HttpGet(server.metrics_port(), "/metrics");
  ASSERT_FALSE(before.empty());
  double embed0 = std::max(0.0, MetricSample(before, ok_embed));
  double bad0 = std::max(0.0, MetricSample(before, bad_gen));

  v1::EmbedRequest e;
  e.set_model("embed");
  e.add_inputs("one");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SharedClient().Embed(e).ok());
  v1::GenerateRequest g;
  g.set_model("gpt2");
  g.set_prompt("x");
  g.set_top_p(7);
  EXPECT_FALSE(SharedClient().Generate(g, [](const v1::GenerateResponse&) { return true; }).ok());

  std::string after = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_EQ(MetricSample(after, ok_embed), embed0 + 3);
  EXPECT_EQ(MetricSample(after, bad_gen), bad0 + 1);
  EXPECT_GE(MetricSample(after, "infer_request_duration_seconds_count{model=\"embed\",rpc=\"Embed\"}"),
            3);
  EXPECT_GT(MetricSample(after, "infer_prompt_tokens_total{model=\"embed\"}"), 0);
  EXPECT_EQ(MetricSample(after, "infer_models_loaded"), 4);
}

TEST(OperationsIntegration, LogLinesAreJsonWithRequestIds) {
  v1::TokenizeRequest req;
  req.set_model("gpt2");
  req.add_inputs("hi");
  client::CallOptions call;
  call.request_id = "log-line-7";
  ASSERT_TRUE(SharedClient().Tokenize(req, call).ok());
  ServerProcess& server = SharedServer();
  ASSERT_TRUE(server.WaitForLog("log-line-7", std::chrono::seconds(10)));
  std::istringstream in(server.Log());
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("ts") && j.contains("level") && j.contains("event")) << line;
    if (j.value("request_id", "") == "log-line-7") {
      found = true;
      EXPECT_EQ(j["rpc"], "Tokenize");
      EXPECT_EQ(j["model"], "gpt2");
      EXPECT_EQ(j["code"], "OK");
    }
  }
  EXPECT_TRUE(found);
}

TEST(OperationsIntegration, SigtermTurnsNotServingDrainsAndExits) {
  std::string error;
  auto server = ServerProcess::Start(
      {"--model", "gpt2=" + GoldenModel("gpt2"), "--shutdown-delay-seconds", "2",
       "--shutdown-grace-seconds", "5"},
      &error);
  ASSERT_TRUE(server) << error;
  client::InferenceClient c(server->target(), {std::chrono::seconds(10), ""});
  auto h = c.Health("infer.v1.InferenceService");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value, client::HealthStatus::kServing);

  ASSERT_TRUE(server->Signal(SIGTERM));
  // Within the delay the server still answers, and says NOT_SERVING.
  bool not_serving = false;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
       std::chrono::steady_clock::now() < end && !not_serving;) {
    auto s = c.Health("");
    not_serving = s.ok() && s.value == client::HealthStatus::kNotServing;
  }
  EXPECT_TRUE(not_serving) << server->Log();
  std::optional<int> code = server->WaitExit(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "did not exit:\n" << server->Log();
  EXPECT_EQ(*code, 0) << server->Log();
  const std::string log = server->Log();
  EXPECT_LT(log.find("\"event\":\"shutdown_started\""), log.find("\"event\":\"stopped\""));
}

TEST(OperationsIntegration, BadModelFolderFailsStartWithClearMessage) {
  std::string error;
  auto server = ServerProcess::Start({"--model", "x=/nonexistent/folder"}, &error,
                                     std::chrono::seconds(20));
  EXPECT_FALSE(server);
  EXPECT_NE(error.find("load_failed"), std::string::npos) << error;
  EXPECT_NE(error.find("/nonexistent/folder"), std::string::npos) << error;
}

}  // namespace
}  // namespace infer::testing
