// Server configuration: --model flags, the JSON config file, and the checks that stop a bad
// configuration at start with a message naming the problem.
#include "server/service/server_config.h"

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "server/service/backend_choice.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace infer::service {
namespace {

absl::StatusOr<ServerConfig> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "infer-server");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseServerArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(ServerConfig, ModelFlagForms) {
  auto a = ParseModelFlag("gpt=/models/gpt2");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "gpt");
  EXPECT_EQ(a->path, "/models/gpt2");
  EXPECT_TRUE(a->rpcs.empty());
  EXPECT_EQ(a->backend, "auto");
  EXPECT_EQ(a->dtype, "");

  auto b = ParseModelFlag("/models/all-MiniLM-L6-v2/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->name, "all-MiniLM-L6-v2");

  auto c = ParseModelFlag("e=/m,rpcs=embed+Classify+explain,backend=cpu");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rpcs, (std::vector<Rpc>{Rpc::kEmbed, Rpc::kClassify, Rpc::kExplainAttention}));

  EXPECT_FALSE(ParseModelFlag("e=/m,rpcs=Fly").ok());
  EXPECT_FALSE(ParseModelFlag("e=/m,colour=red").ok());
  EXPECT_FALSE(ParseModelFlag("e=/m,backend=tpu").ok());
  EXPECT_FALSE(ParseModelFlag("=/m").ok());

  auto d = ParseModelFlag("g=/m,backend=cuda:1,dtype=fp16");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->backend, "cuda:1");
  EXPECT_EQ(d->dtype, "fp16");
  EXPECT_TRUE(ParseModelFlag("g=/m,backend=cuda").ok());
  EXPECT_FALSE(ParseModelFlag("g=/m,backend=cuda:x").ok());
  EXPECT_FALSE(ParseModelFlag("g=/m,backend=cuda:-1").ok());
  EXPECT_FALSE(ParseModelFlag("g=/m,dtype=fp8").ok());
  auto cpu16 = ParseModelFlag("g=/m,backend=cpu,dtype=bf16");
  ASSERT_FALSE(cpu16.ok());
  EXPECT_NE(cpu16.status().message().find("fp32 only"), std::string::npos) << cpu16.status();
}

TEST(ServerConfig, BackendResolution) {
  auto cpu = ResolveBackend("cpu", "");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_FALSE(cpu->cuda);
  EXPECT_EQ(cpu->Label(), "cpu");
  const int devices = kernels::CudaDeviceCount();
  auto automatic = ResolveBackend("auto", "bf16");
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_EQ(automatic->cuda, devices > 0);
  EXPECT_EQ(automatic->Label(), devices > 0 ? "cuda:0/bf16" : "cpu");
  auto beyond = ResolveBackend(absl::StrCat("cuda:", devices), "");
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kInvalidArgument);
  if (devices > 0) {
    auto gpu = ResolveBackend("cuda:0", "fp16");
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_EQ(gpu->Label(), "cuda:0/fp16");
  }
}

TEST(ServerConfig, GpuMemoryUtilization) {
  auto c = Parse({"--model", "a=/x", "--gpu-memory-utilization", "0.5"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->scheduling.gpu_memory_utilization, 0.5);
  EXPECT_FALSE(Parse({"--model", "a=/x", "--gpu-memory-utilization", "0"}).ok());
  EXPECT_FALSE(Parse({"--model", "a=/x", "--gpu-memory-utilization", "1.5"}).ok());
}

TEST(ServerConfig, FlagsAndLimits) {
  auto c = Parse({"--model", "a=/x", "--model", "b=/y", "--listen", "127.0.0.1:0",
                  "--metrics-listen", "off", "--max-batch", "3", "--max-new-tokens", "9",
                  "--shutdown-grace-seconds", "1.5", "--shutdown-delay-seconds", "2"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[1].name, "b");
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->metrics_listen, "");
  EXPECT_EQ(c->limits.max_batch, 3);
  EXPECT_EQ(c->limits.max_new_tokens, 9);
  EXPECT_DOUBLE_EQ(c->shutdown_grace_seconds, 1.5);
  EXPECT_DOUBLE_EQ(c->shutdown_delay_seconds, 2);
}

TEST(ServerConfig, BadConfigurationsAreRefusedWithAReason) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{}, "no models"},
      {{"--model", "a=/x", "--model", "a=/y"}, "used twice"},
      {{"--model", "a=/x", "--max-batch", "0"}, "positive"},
      {{"--model", "a=/x", "--max-batch", "ten"}, "--max-batch"},
      {{"--model", "a=/x", "--bogus", "1"}, "--bogus"},
      {{"--model", "a=/x", "stray"}, "stray"},
      {{"--model", "a=/x", "--log-format", "xml"}, "--log-format"},
      {{"--config", "/nonexistent/config.json"}, "/nonexistent/config.json"},
  };
  for (const Case& c : cases) {
    auto r = Parse(c.args);
    ASSERT_FALSE(r.ok()) << c.needle;
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos) << r.status();
  }
}

TEST(ServerConfig, JsonConfig) {
  ServerConfig c;
  auto j = nlohmann::json::parse(R"({
    "models": [{"name": "m", "path": "/p", "rpcs": ["Embed"]}, {"path": "/q/gpt"}],
    "listen": "0.0.0.0:1", "max_labels": 5, "shutdown_grace_seconds": 3})");
  ASSERT_TRUE(ApplyConfigJson(j, &c).ok());
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].rpcs, std::vector<Rpc>{Rpc::kEmbed});
  EXPECT_EQ(c.models[1].name, "gpt");
  EXPECT_EQ(c.listen, "0.0.0.0:1");
  EXPECT_EQ(c.limits.max_labels, 5);

  ServerConfig d;
  auto typo = ApplyConfigJson(nlohmann::json::parse(R"({"max_bacth": 3})"), &d);
  EXPECT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find("max_bacth"), std::string::npos);
  auto wrong_type = ApplyConfigJson(nlohmann::json::parse(R"({"max_batch": "3"})"), &d);
  EXPECT_FALSE(wrong_type.ok());
  auto no_path = ApplyConfigJson(nlohmann::json::parse(R"({"models": [{"name": "x"}]})"), &d);
  EXPECT_FALSE(no_path.ok());
  EXPECT_NE(no_path.message().find("models[0]"), std::string::npos);
}

}  // namespace
}  // namespace infer::service
