#include "tests/integration/shared_server.h"

#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>

#include "kernels/backend.h"

namespace infer::testing {
namespace {

const std::map<std::string, std::string>& Folders() {
  static const auto* folders = new std::map<std::string, std::string>{
      {"gpt2", GoldenModel("gpt2")},
      {"embed", GoldenModel("bert-embed")},
      {"nli", GoldenModel("bert")},
      {"multi", GoldenModel("distilbert")}};
  return *folders;
}

}  // namespace

ServerProcess& SharedServer() {
  static ServerProcess* server = [] {
    std::vector<std::string> flags = {"--max-batch", "8", "--max-new-tokens", "256",
                                      "--max-request-bytes", "65536"};
    for (const auto& [name, folder] : Folders()) {
      flags.push_back("--model");
      flags.push_back(name + "=" + folder);
    }
    std::string error;
    std::unique_ptr<ServerProcess> p = ServerProcess::Start(flags, &error);
    if (!p) {
      std::cerr << "could not start infer-server: " << error << "\n";
      std::abort();
    }
    return p.release();  // deleted at exit (below), which stops the server
  }();
  static const bool cleanup = [] {
    std::atexit([] { delete server; });
    return true;
  }();
  (void)cleanup;
  return *server;
}

client::InferenceClient& SharedClient() {
  static auto* c = new client::InferenceClient(
      SharedServer().target(), client::ClientOptions{std::chrono::seconds(60), ""});
  return *c;
}

tasks::TaskModel& LocalModel(const std::string& name) {
  static std::mutex mu;
  static auto* backend = kernels::MakeCpuBackend().release();
  static auto* models = new std::map<std::string, std::unique_ptr<tasks::TaskModel>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = models->find(name);
  if (it == models->end()) {
    auto m = tasks::TaskModel::Load(Folders().at(name), backend);
    if (!m.ok()) {
      std::cerr << "could not load " << name << ": " << m.status() << "\n";
      std::abort();
    }
    it = models->emplace(name, std::move(*m)).first;
  }
  return *it->second;
}

}  // namespace infer::testing
