// The real infer-server binary as a child process on loopback ports, for integration tests:
// started with the given flags plus its own --listen/--metrics-listen/--ready-file, waited for
// (bounded) until it writes the ready file, and stopped by signal. Its stderr (the JSON log) goes
// to a file the test can read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace infer::testing {

class ServerProcess {
 public:
  // Fails (returns nullptr and fills *error with the server's log) when the server exits or
  // does not become ready within `timeout`.
  static std::unique_ptr<ServerProcess> Start(const std::vector<std::string>& flags,
                                              std::string* error,
                                              std::chrono::milliseconds timeout =
                                                  std::chrono::seconds(60));
  ~ServerProcess();  // SIGKILLs a server still running

  std::string target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }

  bool Signal(int sig) const;
  // The exit status once the process has exited, nullopt if it still runs after `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  // Everything the server logged so far.
  std::string Log() const;
  // Waits (bounded) until the log contains `needle`.
  bool WaitForLog(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  ServerProcess() = default;

  pid_t pid_ = -1;
  bool exited_ = false;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string dir_;  // temporary folder with the ready file and the log
};

// The server binary and the golden model folders, from compile definitions.
std::string ServerBinary();
std::string GoldenModel(const std::string& name);
std::string RepoPath(const std::string& relative);

// GET http://127.0.0.1:port/path; the body, or "" on failure.
std::string HttpGet(int port, const std::string& path);

// The value of the Prometheus sample `name_and_labels` (e.g. `x_total{model="m"}`) in a
// /metrics body, -1 when absent.
double MetricSample(const std::string& metrics, const std::string& name_and_labels);

}  // namespace infer::testing
