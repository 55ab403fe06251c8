// Load generator for the Generate RPC: C client threads per concurrency level, each sending
// streamed greedy Generate requests back to back to a running infer-server; measures what a user
// of a batching server cares about (see benchmarks/README.md, "Load generator").
//
//   load_generator --target 127.0.0.1:50051 --model gpt2-small --concurrency 1,4,16,64
//       --duration-seconds 60 --prompt-tokens 64 --max-new-tokens 64 --ignore-eos --json out.json
//
// Per level: aggregate generated tokens/s (every token received / wall time of the level, from
// its first send to its last reply), requests OK and failed by status code, and p50/p99 of time
// to first token, inter-token latency and end-to-end latency (OK requests only, so a fast
// failure never looks like a fast request).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client/infer_client.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using infer::client::InferenceClient;
using json = nlohmann::json;

constexpr char kUsage[] = R"(usage: load_generator [flags]

  --target HOST:PORT         infer-server gRPC address (default 127.0.0.1:50051)
  --model NAME               model to load (default: the first one ListModels says serves Generate)
  --concurrency LIST         streams per level, e.g. 1,4,16,64 (default 1,4,16,64)
  --requests-per-stream N    requests each stream sends per level ...
  --duration-seconds S       ... or: each stream keeps sending until S seconds have passed (requests
                             in flight then finish and count); exactly one of the two (default:
                             --requests-per-stream 4)
  --max-new-tokens N         tokens generated per request (default 64)
  --prompt-tokens N          prompt length, random token ids (default 64)
  --ignore-eos               never stop at EOS: every OK request generates exactly max-new-tokens
  --warmup N                 untimed requests, one at a time, before the first level (default 2)
  --vocab N                  draw prompt ids from [0, N) (default: the model's vocab_size from
                             ListModels)
  --seed N                   seed of the prompt ids (default 1)
  --channels N               gRPC connections the streams are spread over (default 1)
  --timeout-seconds S        deadline per request (default 0: none)
  --json FILE                also write the results as JSON
)";

// Thrown for a bad command line: main prints it with a hint and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string model;
  std::vector<int> concurrency = {1, 4, 16, 64};
  int requests_per_stream = 0;
  double duration_s = 0;
  int max_new_tokens = 64;
  int prompt_tokens = 64;
  bool ignore_eos = false;
  int warmup = 2;
  int vocab = 0;
  uint64_t seed = 1;
  int channels = 1;
  double timeout_s = 0;
  std::string json_out;
};

// Strict integer parse: the whole text must be a number within [lo, hi].
int64_t ParseInt(const std::string& flag, const std::string& text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError("--" + flag + ": expected an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got \"" + text + "\"");
  }
  return v;
}

double ParseSeconds(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  if (used != text.size() || !(v >= 0) || v > 1e6) {
    throw UsageError("--" + flag + ": expected seconds >= 0, got \"" + text + "\"");
  }
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  bool have_requests = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument \"" + arg + "\"");
    std::string name = arg.substr(2), value;
    const bool inline_value = name.find('=') != std::string::npos;
    if (inline_value) {
      value = name.substr(name.find('=') + 1);
      name = name.substr(0, name.find('='));
    }
    if (name == "ignore-eos") {
      if (inline_value) throw UsageError("--ignore-eos takes no value");
      o.ignore_eos = true;
      continue;
    }
    // The usage text is the list of flags, so help and parser cannot disagree: a flag is known
    // when the usage has a line "  --NAME VALUE" (no switch other than --ignore-eos exists).
    if (std::string(kUsage).find("\n  --" + name + " ") == std::string::npos) {
      throw UsageError("unknown flag --" + name);
    }
    if (!inline_value) {
      if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
      value = argv[++i];
    }
    if (value.empty()) throw UsageError("--" + name + ": empty value");
    if (name == "target") {
      o.target = value;
    } else if (name == "model") {
      o.model = value;
    } else if (name == "concurrency") {
      o.concurrency.clear();
      size_t start = 0;
      while (start <= value.size()) {
        size_t comma = std::min(value.find(',', start), value.size());
        o.concurrency.push_back(
            static_cast<int>(ParseInt(name, value.substr(start, comma - start), 1, 4096)));
        start = comma + 1;
      }
    } else if (name == "requests-per-stream") {
      o.requests_per_stream = static_cast<int>(ParseInt(name, value, 1, 1000000));
      have_requests = true;
    } else if (name == "duration-seconds") {
      o.duration_s = ParseSeconds(name, value);
      if (o.duration_s <= 0) throw UsageError("--duration-seconds must be > 0");
    } else if (name == "max-new-tokens") {
      o.max_new_tokens = static_cast<int>(ParseInt(name, value, 1, 1 << 20));
    } else if (name == "prompt-tokens") {
      o.prompt_tokens = static_cast<int>(ParseInt(name, value, 1, 1 << 20));
    } else if (name == "warmup") {
      o.warmup = static_cast<int>(ParseInt(name, value, 0, 100000));
    } else if (name == "vocab") {
      o.vocab = static_cast<int>(ParseInt(name, value, 1, INT32_MAX));
    } else if (name == "seed") {
      o.seed = static_cast<uint64_t>(ParseInt(name, value, 0, INT64_MAX));
    } else if (name == "channels") {
      o.channels = static_cast<int>(ParseInt(name, value, 1, 1024));
    } else if (name == "timeout-seconds") {
      o.timeout_s = ParseSeconds(name, value);
    } else if (name == "json") {
      o.json_out = value;
    }
  }
  if (have_requests && o.duration_s > 0) {
    throw UsageError("give --requests-per-stream or --duration-seconds, not both");
  }
  if (!have_requests && o.duration_s <= 0) o.requests_per_stream = 4;
  return o;
}

// SplitMix64: a tiny, well-mixed generator, so every (level, stream, request) gets its own
// prompt from a seed alone, reproducibly, without sharing state between threads.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A greedy request on fresh random ids. Random ids from the first position on mean no two
// prompts share a prefix, so a prefix cache cannot skip the prefill. Penalties are switched off
// explicitly so the work measured is the same whatever the model's generation_config says.
infer::v1::GenerateRequest MakeRequest(const Options& o, int vocab, uint64_t key) {
  infer::v1::GenerateRequest r;
  r.set_model(o.model);
  uint64_t state = o.seed * 0x2545f4914f6cdd1dULL ^ key;
  for (int i = 0; i < o.prompt_tokens; ++i) {
    r.add_prompt_token_ids(static_cast<int32_t>(SplitMix64(state) % static_cast<uint64_t>(vocab)));
  }
  r.set_max_new_tokens(o.max_new_tokens);
  r.set_do_sample(false);
  r.set_num_beams(1);
  r.set_repetition_penalty(1.0);
  r.set_no_repeat_ngram_size(0);
  r.set_ignore_eos(o.ignore_eos);
  return r;
}

// What one stream (thread) observed during one level; merged after the threads join, so the
// hot path takes no lock.
struct StreamStats {
  std::vector<double> ttft_s, itl_s, e2e_s;
  int64_t tokens = 0;  // every token received, failed requests included (they were generated)
  int ok = 0;
  std::map<std::string, int> failed;               // status code name -> count
  std::map<std::string, std::string> first_error;  // status code name -> its first message

  void Merge(const StreamStats& s) {
    ttft_s.insert(ttft_s.end(), s.ttft_s.begin(), s.ttft_s.end());
    itl_s.insert(itl_s.end(), s.itl_s.begin(), s.itl_s.end());
    e2e_s.insert(e2e_s.end(), s.e2e_s.begin(), s.e2e_s.end());
    tokens += s.tokens;
    ok += s.ok;
    for (const auto& [code, n] : s.failed) failed[code] += n;
    first_error.insert(s.first_error.begin(), s.first_error.end());  // keeps existing entries
  }
};

// Sends one request and records it into `stats`; returns its final status.
grpc::Status RunRequest(const InferenceClient& client, const infer::v1::GenerateRequest& request,
                        StreamStats& stats) {
  const Clock::time_point start = Clock::now();
  Clock::time_point last;
  bool seen_token = false;
  double ttft = 0;
  std::vector<double> gaps;
  gaps.reserve(request.max_new_tokens());
  int64_t tokens = 0;
  grpc::Status status = client.Generate(request, [&](const infer::v1::GenerateResponse& m) {
    const int n = m.token_ids_size();
    if (n == 0) return true;  // e.g. a closing message carrying only usage
    const Clock::time_point now = Clock::now();
    if (!seen_token) {
      // Tokens that share the first message arrived with it: they are part of the TTFT,
      // not gaps.
      ttft = std::chrono::duration<double>(now - start).count();
      seen_token = true;
    } else {
      // Several tokens in one message: the gap is shared evenly, so a server that sends in
      // bursts is neither flattered (zero gaps) nor punished (one long gap).
      const double gap = std::chrono::duration<double>(now - last).count() / n;
      gaps.insert(gaps.end(), n, gap);
    }
    last = now;
    tokens += n;
    return true;
  });
  stats.tokens += tokens;
  if (!status.ok()) {
    const std::string code = infer::client::StatusCodeName(status.error_code());
    ++stats.failed[code];
    stats.first_error.emplace(code, status.error_message());
    return status;
  }
  ++stats.ok;
  stats.e2e_s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  if (seen_token) stats.ttft_s.push_back(ttft);
  stats.itl_s.insert(stats.itl_s.end(), gaps.begin(), gaps.end());
  return status;
}

struct LevelResult {
  int concurrency = 0;
  double wall_s = 0;
  StreamStats all;
  bool gave_up = false;
};

// A stream stops after this many failures in a row, so a dead server does not turn a
// --duration-seconds level into a busy loop of instant errors.
constexpr int kMaxConsecutiveFailures = 5;

LevelResult RunLevel(const Options& o, const std::vector<std::unique_ptr<InferenceClient>>& clients,
                     int vocab, int level_index, int concurrency) {
  std::vector<StreamStats> per_stream(concurrency);
  std::atomic<bool> gave_up{false};
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop_sending = start + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> threads;
  for (int s = 0; s < concurrency; ++s) {
    threads.emplace_back([&, s] {
      const InferenceClient& client = *clients[s % clients.size()];
      int failures_in_row = 0;
      for (uint64_t i = 0;; ++i) {
        if (o.requests_per_stream > 0 ? i >= static_cast<uint64_t>(o.requests_per_stream)
                                      : Clock::now() >= stop_sending) {
          break;
        }
        const uint64_t key =
            (static_cast<uint64_t>(level_index + 1) << 48) ^ (static_cast<uint64_t>(s) << 32) ^ i;
        if (RunRequest(client, MakeRequest(o, vocab, key), per_stream[s]).ok()) {
          failures_in_row = 0;
        } else if (++failures_in_row >= kMaxConsecutiveFailures) {
          gave_up = true;
          break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  LevelResult r;
  r.concurrency = concurrency;
  r.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& s : per_stream) r.all.Merge(s);
  r.gave_up = gave_up;
  return r;
}

// Nearest-rank percentile (q in [0, 1]) of `v`, in milliseconds; sorts `v`. -1 when empty.
double PercentileMs(std::vector<double>& v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const auto rank = std::clamp<size_t>(
      static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))), 1, v.size());
  return v[rank - 1] * 1e3;
}

std::string Fixed(double v, int digits) {
  if (v < 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string FailedText(const std::map<std::string, int>& failed) {
  std::string text;
  for (const auto& [code, n] : failed) {
    text += (text.empty() ? "" : ", ") + code + " " + std::to_string(n);
  }
  return text.empty() ? "0" : text;
}

// Resolves the model (name and vocabulary) through ListModels, and checks the request shape fits
// its context before any load is sent.
void ResolveModel(const InferenceClient& client, Options& o, int& vocab) {
  auto models = client.ListModels();
  if (!models.ok()) {
    throw std::runtime_error(
        "ListModels failed: " +
        std::string(infer::client::StatusCodeName(models.status.error_code())) + ": " +
        models.status.error_message());
  }
  const infer::v1::ModelInfo* found = nullptr;
  for (const auto& m : models.value.models()) {
    const bool generates =
        std::find(m.rpcs().begin(), m.rpcs().end(), "Generate") != m.rpcs().end();
    if (o.model.empty() ? generates : m.name() == o.model) {
      found = &m;
      break;
    }
  }
  if (found == nullptr) {
    throw std::runtime_error(o.model.empty() ? "the server has no model that serves Generate"
                                             : "the server has no model named \"" + o.model + "\"");
  }
  o.model = found->name();
  vocab = o.vocab > 0 ? o.vocab : static_cast<int>(found->vocab_size());
  if (vocab <= 0) throw std::runtime_error("ListModels gives no vocab_size: pass --vocab");
  if (found->max_tokens() > 0 &&
      static_cast<uint64_t>(o.prompt_tokens) + o.max_new_tokens > found->max_tokens()) {
    throw std::runtime_error("--prompt-tokens + --max-new-tokens = " +
                             std::to_string(o.prompt_tokens + o.max_new_tokens) +
                             " exceeds the context of " + o.model + " (" +
                             std::to_string(found->max_tokens()) + " tokens)");
  }
}

json Report(const Options& o, int vocab, std::vector<LevelResult>& levels) {
  std::cout
      << "| streams | requests OK | failed | tokens | wall s | tokens/s | x first level"
         " | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | e2e p50 ms | e2e p99 ms |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  json out = {{"target", o.target},
              {"model", o.model},
              {"prompt_tokens", o.prompt_tokens},
              {"max_new_tokens", o.max_new_tokens},
              {"ignore_eos", o.ignore_eos},
              {"vocab", vocab},
              {"seed", o.seed},
              {"channels", o.channels},
              {"requests_per_stream", o.requests_per_stream},
              {"duration_seconds", o.duration_s},
              {"levels", json::array()}};
  const double base = levels.empty() || levels[0].wall_s <= 0
                          ? 0
                          : static_cast<double>(levels[0].all.tokens) / levels[0].wall_s;
  for (auto& l : levels) {
    StreamStats& a = l.all;
    const double tps = l.wall_s > 0 ? static_cast<double>(a.tokens) / l.wall_s : 0;
    const double p[6] = {PercentileMs(a.ttft_s, 0.5), PercentileMs(a.ttft_s, 0.99),
                         PercentileMs(a.itl_s, 0.5),  PercentileMs(a.itl_s, 0.99),
                         PercentileMs(a.e2e_s, 0.5),  PercentileMs(a.e2e_s, 0.99)};
    std::cout << "| " << l.concurrency << " | " << a.ok << " | " << FailedText(a.failed)
              << (l.gave_up ? " (gave up)" : "") << " | " << a.tokens << " | " << Fixed(l.wall_s, 1)
              << " | " << Fixed(tps, 1) << " | " << (base > 0 ? Fixed(tps / base, 2) + "x" : "-");
    for (double v : p) std::cout << " | " << Fixed(v, 1);
    std::cout << " |\n";
    out["levels"].push_back({{"concurrency", l.concurrency},
                             {"requests_ok", a.ok},
                             {"failed", a.failed},
                             {"gave_up", l.gave_up},
                             {"tokens", a.tokens},
                             {"wall_s", l.wall_s},
                             {"tokens_per_s", tps},
                             {"ttft_ms", {{"p50", p[0]}, {"p99", p[1]}}},
                             {"itl_ms", {{"p50", p[2]}, {"p99", p[3]}}},
                             {"e2e_ms", {{"p50", p[4]}, {"p99", p[5]}}}});
  }
  return out;
}

int Run(Options o) {
  // Separate connections need separate subchannel pools: channels with equal arguments otherwise
  // share one TCP connection, which would make --channels meaningless.
  std::vector<std::unique_ptr<InferenceClient>> clients;
  for (int c = 0; c < o.channels; ++c) {
    grpc::ChannelArguments args = InferenceClient::DefaultChannelArguments();
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    clients.push_back(std::make_unique<InferenceClient>(
        grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args),
        infer::client::ClientOptions{
            .timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1e3)),
            .request_id = ""}));
  }
  if (!clients[0]->WaitForReady(std::chrono::seconds(10))) {
    throw std::runtime_error("nothing answers at " + o.target + " (waited 10 s)");
  }
  int vocab = 0;
  ResolveModel(*clients[0], o, vocab);
  std::cerr << "model " << o.model << ", prompt ids in [0, " << vocab << ")\n";

  // The first requests pay one-off costs (page faults on the memory-mapped weights, allocator
  // growth, thread pools starting); keep them out of every level.
  for (int i = 0; i < o.warmup; ++i) {
    StreamStats ignored;
    grpc::Status status =
        RunRequest(*clients[0], MakeRequest(o, vocab, ~static_cast<uint64_t>(i)), ignored);
    if (!status.ok()) {
      throw std::runtime_error("warm-up request failed: " +
                               std::string(infer::client::StatusCodeName(status.error_code())) +
                               ": " + status.error_message());
    }
  }

  std::vector<LevelResult> levels;
  for (size_t i = 0; i < o.concurrency.size(); ++i) {
    std::cerr << "level " << o.concurrency[i] << " streams ..." << std::flush;
    levels.push_back(RunLevel(o, clients, vocab, static_cast<int>(i), o.concurrency[i]));
    const LevelResult& l = levels.back();
    std::cerr << " " << l.all.ok << " OK in " << Fixed(l.wall_s, 1) << " s\n";
    for (const auto& [code, message] : l.all.first_error) {
      std::cerr << "  failed: " << code << " (" << l.all.failed.at(code) << "x), first: " << message
                << "\n";
    }
  }
  json out = Report(o, vocab, levels);
  if (!o.json_out.empty()) {
    std::ofstream f(o.json_out);
    f << out.dump(2) << "\n";
    if (!f) throw std::runtime_error("cannot write " + o.json_out);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = ParseArgs(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "load_generator: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    return Run(std::move(o));
  } catch (const std::exception& e) {
    std::cerr << "load_generator: " << e.what() << "\n";
    return 1;
  }
}
