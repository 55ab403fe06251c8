// infer-server: flags, wiring, signals. Listens first (health NOT_SERVING), loads the models,
// turns SERVING. On SIGTERM/SIGINT it turns NOT_SERVING, keeps serving for
// --shutdown-delay-seconds (so load balancers notice), then refuses new calls and gives the calls
// in flight --shutdown-grace-seconds before cancelling them. A second signal exits at once.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "nlohmann/json.hpp"
#include "prometheus/exposer.h"
#include "server/api/inference_service.h"
#include "server/service/logger.h"
#include "server/service/model_set.h"
#include "server/service/server_config.h"
#include "server/service/service_metrics.h"

namespace {

constexpr const char* kServiceName = "infer.v1.InferenceService";

// Written to a temporary name and renamed, so a reader never sees half a file.
bool WriteReadyFile(const std::string& path, int grpc_port, int metrics_port) {
  nlohmann::json j = {{"grpc_port", grpc_port}, {"metrics_port", metrics_port},
                      {"pid", static_cast<int>(getpid())}};
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) return false;
    f << j.dump() << "\n";
    if (!f) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

void SetHealth(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace

int main(int argc, char** argv) {
  using infer::service::Logger;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(infer::service::ServerUsage(), stdout);
      return 0;
    }
  }
  absl::StatusOr<infer::service::ServerConfig> parsed = infer::service::ParseServerArgs(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "infer-server: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  const infer::service::ServerConfig config = *parsed;
  Logger log(config.log_format == "text" ? Logger::Format::kText : Logger::Format::kJson);

  // Signals are taken by one thread with sigwait; block them before any other thread exists so
  // every thread (gRPC's, OpenMP's) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  infer::service::ServiceMetrics metrics;
  infer::api::InferenceServiceImpl service(config.limits, metrics, log);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_request_bytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || grpc_port == 0) {
    log.Error("listen_failed", {{"address", config.listen}});
    return 1;
  }
  SetHealth(*server, false);

  std::unique_ptr<prometheus::Exposer> exposer;
  int metrics_port = 0;
  if (!config.metrics_listen.empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(config.metrics_listen, 2);
      exposer->RegisterCollectable(metrics.registry());
      std::vector<int> ports = exposer->GetListeningPorts();
      metrics_port = ports.empty() ? 0 : ports[0];
    } catch (const std::exception& e) {
      log.Error("metrics_listen_failed", {{"address", config.metrics_listen}, {"error", e.what()}});
      server->Shutdown();
      return 1;
    }
  }
  log.Info("listening", {{"grpc", config.listen},
                         {"grpc_port", grpc_port},
                         {"metrics", config.metrics_listen},
                         {"metrics_port", metrics_port}});

  std::atomic<bool> stopping{false};
  std::thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    stopping.store(true);
    log.Info("shutdown_started", {{"signal", strsignal(sig)},
                                  {"delay_seconds", config.shutdown_delay_seconds},
                                  {"grace_seconds", config.shutdown_grace_seconds}});
    // NOT_SERVING first, while calls are still taken, so load balancers and Kubernetes stop
    // sending new traffic before the server stops accepting it.
    SetHealth(*server, false);
    auto until = [](double seconds) {
      return std::chrono::steady_clock::now() +
             std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    };
    auto wait_signal_until = [&](std::chrono::steady_clock::time_point t) {
      for (;;) {
        auto left = t - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) return false;
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        if (sigtimedwait(&signals, nullptr, &ts) > 0) return true;
      }
    };
    if (wait_signal_until(until(config.shutdown_delay_seconds))) {
      log.Warn("shutdown_forced");
      std::_Exit(1);
    }
    service.StopAccepting();
    std::thread([&] {
      // Calls in flight get the grace period; gRPC cancels what is left after it.
      auto deadline = std::chrono::system_clock::now() +
                      std::chrono::milliseconds(
                          static_cast<int64_t>(config.shutdown_grace_seconds * 1000));
      server->Shutdown(deadline);
    }).detach();
    sigwait(&signals, &sig);
    log.Warn("shutdown_forced", {{"signal", strsignal(sig)}});
    std::_Exit(1);
  }).detach();

  absl::StatusOr<std::unique_ptr<infer::service::ModelSet>> models =
      infer::service::ModelSet::Load(config.models, config.kv_cache_mib, config.scheduling,
                                     &metrics, log);
  if (!models.ok()) {
    log.Error("load_failed", {{"error", std::string(models.status().message())}});
    server->Shutdown(std::chrono::system_clock::now());
    return 1;
  }
  const size_t model_count = (*models)->models().size();
  service.SetModels(std::move(*models));
  if (!stopping.load()) {
    metrics.SetModelsLoaded(static_cast<double>(model_count));
    SetHealth(*server, true);
    if (!config.ready_file.empty() && !WriteReadyFile(config.ready_file, grpc_port, metrics_port)) {
      log.Error("ready_file_failed", {{"path", config.ready_file}});
    }
    log.Info("serving", {{"models", model_count}, {"grpc_port", grpc_port}});
  }
  server->Wait();
  log.Info("stopped");
  return 0;
}
