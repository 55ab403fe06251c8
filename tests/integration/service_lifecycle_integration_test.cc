// The service object in an in-process gRPC server: UNAVAILABLE before its models are set (the
// server listens while they load), serving after, UNAVAILABLE again once it stops accepting.
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/api/inference_service.h"
#include "tests/integration/shared_server.h"

namespace infer::testing {
namespace {

TEST(ServiceLifecycle, UnavailableWhileLoadingThenServingThenDraining) {
  service::ServiceLimits limits;
  service::ServiceMetrics metrics;
  service::Logger log;
  api::InferenceServiceImpl impl(limits, metrics, log);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&impl);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  client::InferenceClient c("127.0.0.1:" + std::to_string(port),
                            {std::chrono::seconds(30), ""});

  auto loading = c.ListModels();
  EXPECT_EQ(loading.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(loading.status.error_message().find("loading"), std::string::npos);

  service::ModelSpec spec;
  spec.name = "gpt2";
  spec.path = GoldenModel("gpt2");
  auto models = service::ModelSet::Load({spec}, 64, service::SchedulingConfig{}, nullptr, log);
  ASSERT_TRUE(models.ok()) << models.status();
  impl.SetModels(std::move(*models));
  auto serving = c.ListModels();
  ASSERT_TRUE(serving.ok()) << serving.status.error_message();
  EXPECT_EQ(serving.value.models(0).name(), "gpt2");

  impl.StopAccepting();
  auto draining = c.ListModels();
  EXPECT_EQ(draining.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(draining.status.error_message().find("shutting down"), std::string::npos);
  server->Shutdown();
}

TEST(ServiceLifecycle, ModelSetRefusesAnRpcTheArchitectureCannotServe) {
  service::Logger log;
  service::ModelSpec spec;
  spec.name = "enc";
  spec.path = GoldenModel("bert-embed");
  spec.rpcs = {service::Rpc::kGenerate};
  auto models = service::ModelSet::Load({spec}, 64, service::SchedulingConfig{}, nullptr, log);
  ASSERT_FALSE(models.ok());
  EXPECT_NE(models.status().message().find("cannot serve Generate"), std::string::npos)
      << models.status();
}

}  // namespace
}  // namespace infer::testing
