#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "nlohmann/json.hpp"

namespace infer::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Polls `done` every 10 ms until it holds or `timeout` passes: a bounded wait on a condition.
template <typename F>
bool WaitUntil(F done, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

std::string ServerBinary() { return INFER_SERVER_BIN; }
std::string GoldenModel(const std::string& name) {
  return std::string(INFER_GOLDEN_DIR) + "/models/" + name;
}
std::string RepoPath(const std::string& relative) {
  return std::string(INFER_REPO_DIR) + "/" + relative;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::vector<std::string>& flags,
                                                    std::string* error,
                                                    std::chrono::milliseconds timeout) {
  auto p = std::unique_ptr<ServerProcess>(new ServerProcess());
  char tmpl[] = "/tmp/infer-server-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    *error = "mkdtemp failed";
    return nullptr;
  }
  p->dir_ = tmpl;
  const std::string ready = p->dir_ + "/ready.json";
  const std::string log = p->dir_ + "/server.log";

  std::vector<std::string> args = {ServerBinary(),
                                   "--listen", "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0",
                                   "--ready-file", ready,
                                   "--log-format", "json"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    *error = "fork failed";
    return nullptr;
  }
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // A test runner may have blocked signals; the server expects defaults before it masks them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;
  bool ready_seen = WaitUntil(
      [&] {
        if (std::filesystem::exists(ready)) return true;
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
          p->exited_ = true;
          return true;
        }
        return false;
      },
      timeout);
  if (!ready_seen || p->exited_) {
    *error = (p->exited_ ? "the server exited before it was ready:\n"
                         : "the server was not ready in time:\n") +
             p->Log();
    return nullptr;
  }
  nlohmann::json j = nlohmann::json::parse(ReadFile(ready), nullptr, false);
  if (j.is_discarded()) {
    *error = "unreadable ready file";
    return nullptr;
  }
  p->grpc_port_ = j.value("grpc_port", 0);
  p->metrics_port_ = j.value("metrics_port", 0);
  return p;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool ServerProcess::Signal(int sig) const { return pid_ > 0 && !exited_ && kill(pid_, sig) == 0; }

std::optional<int> ServerProcess::WaitExit(std::chrono::milliseconds timeout) {
  int status = 0;
  bool done = WaitUntil(
      [&] {
        if (exited_) return true;
        if (waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
        return exited_;
      },
      timeout);
  if (!done) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ServerProcess::Log() const { return ReadFile(dir_ + "/server.log"); }

bool ServerProcess::WaitForLog(const std::string& needle,
                               std::chrono::milliseconds timeout) const {
  return WaitUntil([&] { return Log().find(needle) != std::string::npos; }, timeout);
}

double MetricSample(const std::string& metrics, const std::string& name_and_labels) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name_and_labels + " ", 0) == 0) {
      return std::stod(line.substr(name_and_labels.size() + 1));
    }
  }
  return -1;
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return "";
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

}  // namespace infer::testing
