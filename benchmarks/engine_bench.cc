// CPU benchmarks of the engine on real model shapes (random weights), one JSON line per
// measurement, so that benchmarks/run_cpu.sh can set them beside PyTorch's (torch_bench.py).
//
//   engine_bench [--models /tmp/infer-bench] [--reps 5] [--warmup 1] [--filter substr] [--ops]
//                [--perf-ctl FIFO]
//
// Measurements (names as in the "bench" field):
//   machine        sgemm peak (OpenBLAS, the GEMM behind CpuBackend::Linear) and memory read
//                  bandwidth: the roofline every other figure is compared with.
//   gpt2_prefill   one Step over a prompt of 128 / 512 random tokens, batch 1 -> tokens/s.
//   gpt2_decode    a 128-token prompt, then 128 Steps of one token each, argmax on the host.
//   gpt2_decode_b  (--filter gpt2_decode_b16, or gpt2_decode_batch for B = 1, 4, 16, 64) B
//                  sequences with 64-token prompts, then 64 Steps of B tokens: the batched
//                  decode step the scheduler runs at B streams, in the engine alone.
//   skinny_gemm    (--filter skinny_gemm, or e.g. skinny_gemm_m16) y = x w^T for 16 to 512
//                  rows on GPT-2 small's weight shapes: each SkinnyGemm variant the CPU runs
//                  (AVX2, AVX-512) against OpenBLAS's SGEMM.
//   minilm_embed   tasks::EmbedTokens over 32 sentences of 32 / 128 random tokens -> sentences/s.
//   op             (--ops) the GPT-2 forward replayed op by op with random weights of the real
//                  shapes, each backend call timed: where a prefill / decode step spends its time,
//                  and what candidate changes (variants, see BenchOps) would save.
//   lab_check      (--ops) the kernel labs (BiasGeluLab, AttentionGemmLab: candidate replacements
//                  for backend kernels) against the backend, by normalised error.
//
// Every timed figure is the median of --reps repetitions after --warmup untimed ones; "min_s" is
// reported too. Work counts ("flops" per item) count only the useful multiply-adds: matmuls and
// causal attention (QK^T and PV over the keys each query may see), not norms or activations.
// torch_bench.py uses the same formulas and the same token ids (SplitMix64 below).
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/skinny_gemm.h"
#include "nlohmann/json.hpp"
#include "server/model/registry.h"
#include "server/runtime/lm_engine.h"
#include "server/tasks/encoder_tasks.h"

namespace {

using infer::kernels::Activation;
using infer::kernels::Backend;
using infer::kernels::Tensor;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct Options {
  std::string models = "/tmp/infer-bench";
  int reps = 5;
  int warmup = 1;
  std::string filter;  // run only measurements whose name contains this
  bool ops = false;
  // perf's control FIFO (`perf record -D -1 --control fifo:PATH`): the batched decode lab enables
  // the recording around its decode steps only, so a profile holds no prefill and no loading.
  std::string perf_ctl;
};

// Writes "enable" / "disable" to perf's control FIFO, when one was given.
void PerfControl(const Options& o, const char* cmd) {
  if (o.perf_ctl.empty()) return;
  if (FILE* f = std::fopen(o.perf_ctl.c_str(), "w")) {
    std::fprintf(f, "%s\n", cmd);
    std::fclose(f);
  }
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Runs `once` warmup + reps times; `once` returns the seconds of its timed part.
std::vector<double> Repeat(const Options& o, const std::function<double()>& once) {
  for (int i = 0; i < o.warmup; ++i) once();
  std::vector<double> t;
  for (int i = 0; i < o.reps; ++i) t.push_back(once());
  return t;
}

void Emit(json j) { std::cout << j.dump() << std::endl; }

json Timing(const std::vector<double>& t) {
  return {{"median_s", Median(t)},
          {"min_s", *std::min_element(t.begin(), t.end())},
          {"reps", t.size()},
          {"times_s", t}};
}

// The same id stream as torch_bench.py: SplitMix64(seed + i) % vocab.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::vector<int32_t> RandomIds(uint64_t seed, int n, int vocab) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(SplitMix64(seed + i) % vocab);
  return ids;
}

// ---- Work counts (same formulas in torch_bench.py) --------------------------------------------

// Useful FLOPs of a decoder forward that appends n tokens after c cached ones and computes
// `logit_rows` rows of logits: per token 2 * L * (4 d^2 + 2 d f) for the projections and MLP,
// per layer 4 d * (keys visible) for QK^T and PV, and 2 d V per logit row.
double DecoderFlops(const infer::model::ModelInfo& m, int64_t c, int64_t n, int64_t logit_rows) {
  const double d = m.hidden_size, f = m.intermediate_size, L = m.num_layers, V = m.vocab_size;
  double keys = 0;  // sum over appended positions of visible keys
  for (int64_t i = 0; i < n; ++i) keys += static_cast<double>(c + i + 1);
  return n * 2.0 * L * (4 * d * d + 2 * d * f) + L * 4.0 * d * keys + logit_rows * 2.0 * d * V;
}

// Bytes a decode step must read at least: every weight once (float32) plus the KV cache.
double DecodeBytes(const infer::model::ModelInfo& m, int64_t ctx) {
  const double d = m.hidden_size, f = m.intermediate_size, L = m.num_layers, V = m.vocab_size;
  const double weights = L * (4 * d * d + 2 * d * f + 9 * d + f) + V * d + 2 * d;
  return 4.0 * (weights + 2.0 * L * ctx * d);
}

// Encoder FLOPs for one sentence of n tokens (bidirectional attention: n keys per query).
double EncoderFlops(const infer::model::ModelInfo& m, int64_t n) {
  const double d = m.hidden_size, f = m.intermediate_size, L = m.num_layers;
  return n * 2.0 * L * (4 * d * d + 2 * d * f) + L * 4.0 * d * n * n;
}

// Sum with four independent AVX accumulators per thread, so the loop is bound by memory, not by
// the latency of one add chain.
float SumFloats(const float* p, int64_t n, int threads) {
  float total = 0;
  const int64_t chunks = n / 32;
#pragma omp parallel for schedule(static) reduction(+ : total) num_threads(threads)
  for (int64_t c = 0; c < chunks; c += 1024) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const int64_t end = std::min(chunks, c + 1024);
    for (int64_t i = c; i < end; ++i) {
      const float* q = p + i * 32;
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(q));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(q + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(q + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(q + 24));
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (float v : lanes) total += v;
  }
  for (int64_t i = chunks * 32; i < n; ++i) total += p[i];
  return total;
}

// ---- Machine roofline ---------------------------------------------------------------------------

void BenchMachine(const Options& o) {
  const int64_t n = 2048;
  std::vector<float> a(n * n), b(n * n), c(n * n);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>(SplitMix64(i) % 1000) * 1e-3f;
    b[i] = static_cast<float>(SplitMix64(i + 7) % 1000) * 1e-3f;
  }
  // Same call form as CpuBackend::Linear: y = x * w^T, row-major.
  auto t = Repeat(o, [&] {
    auto t0 = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    return Seconds(t0, Clock::now());
  });
  json j = {{"bench", "sgemm_peak"}, {"impl", "engine"}, {"lib", "openblas"},
            {"core", openblas_get_corename()}, {"m", n}, {"n", n}, {"k", n},
            {"threads", openblas_get_num_threads()}};
  j.update(Timing(t));
  j["gflops"] = 2.0 * n * n * n / Median(t) / 1e9;
  Emit(j);

  // Memory read bandwidth: a 1 GiB float sum with the OpenMP threads the kernels use.
  const int64_t words = int64_t{1} << 28;
  std::vector<float> big(words);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < words; ++i) big[i] = static_cast<float>(i & 7);
  volatile float sink = 0;
  // With every thread (what the kernels get) and with one (less exposed to other users' load).
  for (int threads : {omp_get_max_threads(), 1}) {
    auto tb = Repeat(o, [&] {
      auto t0 = Clock::now();
      sink = SumFloats(big.data(), words, threads);
      return Seconds(t0, Clock::now());
    });
    json m = {{"bench", "mem_read_bw"}, {"impl", "engine"}, {"bytes", words * 4},
              {"threads", threads}};
    m.update(Timing(tb));
    m["gbps"] = words * 4.0 / Median(tb) / 1e9;
    Emit(m);
    if (omp_get_max_threads() == 1) break;
  }
  (void)sink;
}

// ---- GPT-2 through LmEngine ---------------------------------------------------------------------

int Argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

void BenchGpt2(const Options& o, Backend* backend) {
  auto loaded = infer::model::LoadModel(o.models + "/gpt2-small", backend);
  Check(loaded.status(), "loading gpt2-small");
  const infer::model::ModelInfo info = loaded->info();
  // Prefix caching off: every repetition feeds the same prompt, and with the cache on all but
  // its last token would come from the cache, timing one token instead of a prefill.
  infer::runtime::LmEngineOptions lo;
  lo.prefix_caching = false;
  infer::runtime::LmEngine engine(std::move(loaded->decoder), backend, lo);
  const int V = info.vocab_size;
  auto must = [](auto s) {
    Check(s.status(), "NewSequence");
    return *s;
  };

  for (int len : {128, 512}) {
    const std::string name = "gpt2_prefill";
    if (!o.filter.empty() && (name + "_" + std::to_string(len)).find(o.filter) == std::string::npos)
      continue;
    const std::vector<int32_t> prompt = RandomIds(1000 + len, len, V);
    infer::runtime::StepOutput out;
    auto t = Repeat(o, [&] {
      infer::runtime::SeqId seq = must(engine.NewSequence());
      infer::runtime::StepItem item{seq, prompt};
      auto t0 = Clock::now();
      Check(engine.Step({&item, 1}, false, &out), "prefill Step");
      double s = Seconds(t0, Clock::now());
      engine.Release(seq);
      return s;
    });
    const double flops = DecoderFlops(info, 0, len, 1);
    json j = {{"bench", name}, {"impl", "engine"}, {"prompt_len", len}, {"batch", 1},
              {"flops_per_token", flops / len}, {"first_token", Argmax(out.logits.data(), V)}};
    j.update(Timing(t));
    j["tokens_per_s"] = len / Median(t);
    j["gflops"] = flops / Median(t) / 1e9;
    Emit(j);
  }

  if (o.filter.empty() || std::string("gpt2_decode").find(o.filter) != std::string::npos) {
    const int prompt_len = 128, steps = 128;
    const std::vector<int32_t> prompt = RandomIds(1000 + prompt_len, prompt_len, V);
    std::vector<int32_t> generated;
    std::vector<double> per_step;
    auto t = Repeat(o, [&] {
      infer::runtime::SeqId seq = must(engine.NewSequence());
      infer::runtime::StepOutput out;
      infer::runtime::StepItem item{seq, prompt};
      Check(engine.Step({&item, 1}, false, &out), "decode prefill");
      generated.clear();
      per_step.clear();
      auto t0 = Clock::now();
      for (int i = 0; i < steps; ++i) {
        const int32_t next = Argmax(out.logits.data(), V);
        generated.push_back(next);
        item.tokens.assign(1, next);
        auto s0 = Clock::now();
        Check(engine.Step({&item, 1}, false, &out), "decode Step");
        per_step.push_back(Seconds(s0, Clock::now()));
      }
      double s = Seconds(t0, Clock::now());
      engine.Release(seq);
      return s;
    });
    double flops = 0;
    for (int i = 0; i < steps; ++i) flops += DecoderFlops(info, prompt_len + i, 1, 1);
    const double bytes = DecodeBytes(info, prompt_len + steps / 2);
    json j = {{"bench", "gpt2_decode"}, {"impl", "engine"}, {"prompt_len", prompt_len},
              {"steps", steps}, {"batch", 1}, {"flops_per_token", flops / steps},
              {"bytes_per_token", bytes}, {"median_step_s", Median(per_step)},
              {"tokens", std::vector<int32_t>(generated.begin(), generated.begin() + 16)},
              {"tokens_hash", std::accumulate(generated.begin(), generated.end(), uint64_t{0},
                                              [](uint64_t h, int32_t v) {
                                                return SplitMix64(h ^ static_cast<uint64_t>(v));
                                              })}};
    j.update(Timing(t));
    j["tokens_per_s"] = steps / Median(t);
    j["gflops"] = flops / Median(t) / 1e9;
    j["gbps"] = bytes * steps / Median(t) / 1e9;
    Emit(j);
  }
}

// Batched decode, as the continuous-batching scheduler runs it at B concurrent streams: B
// sequences, each with its own random prompt (prefilled together in one Step, untimed), then
// `steps` Steps of B items of one token each, host argmax per row. What a B-row decode step costs
// in the engine alone (no gRPC, no scheduler): tokens/s = B * steps / time. Sequence 0's tokens are
// reported so runs at different B can be compared: batching must not change them.
void BenchGpt2DecodeBatch(const Options& o, Backend* backend) {
  auto loaded = infer::model::LoadModel(o.models + "/gpt2-small", backend);
  Check(loaded.status(), "loading gpt2-small");
  const infer::model::ModelInfo info = loaded->info();
  infer::runtime::LmEngineOptions lo;
  lo.kv_cache_bytes = int64_t{1} << 30;
  lo.prefix_caching = false;
  infer::runtime::LmEngine engine(std::move(loaded->decoder), backend, lo);
  const int V = info.vocab_size, prompt_len = 64, steps = 64;
  for (int batch : {1, 4, 16, 64}) {
    const std::string name = "gpt2_decode_b" + std::to_string(batch);
    if (o.filter != name && o.filter != "gpt2_decode_batch" && o.filter != "gpt2_decode_b")
      continue;
    std::vector<int32_t> seq0;
    std::vector<double> per_step;
    auto t = Repeat(o, [&] {
      std::vector<infer::runtime::StepItem> items(batch);
      std::vector<int32_t> next(batch);
      infer::runtime::StepOutput out;
      for (int b = 0; b < batch; ++b) {
        auto s = engine.NewSequence();
        Check(s.status(), "NewSequence");
        items[b] = {*s, RandomIds(5000 + 131 * b, prompt_len, V)};
      }
      // All prompts in one Step (batch * 64 rows: the SGEMM path, apart in a profile).
      Check(engine.Step(items, false, &out), "batch prefill");
      for (int b = 0; b < batch; ++b) next[b] = Argmax(out.logits.data() + size_t(b) * V, V);
      seq0.clear();
      per_step.clear();
      PerfControl(o, "enable");
      auto t0 = Clock::now();
      for (int i = 0; i < steps; ++i) {
        for (int b = 0; b < batch; ++b) items[b].tokens.assign(1, next[b]);
        seq0.push_back(next[0]);
        auto s0 = Clock::now();
        Check(engine.Step(items, false, &out), "batch decode Step");
        per_step.push_back(Seconds(s0, Clock::now()));
        for (int b = 0; b < batch; ++b) next[b] = Argmax(out.logits.data() + size_t(b) * V, V);
      }
      double s = Seconds(t0, Clock::now());
      PerfControl(o, "disable");
      for (auto& it : items) engine.Release(it.seq);
      return s;
    });
    double flops = 0;
    for (int i = 0; i < steps; ++i) flops += batch * DecoderFlops(info, prompt_len + i, 1, 1);
    json j = {{"bench", "gpt2_decode_batch"}, {"impl", "engine"}, {"prompt_len", prompt_len},
              {"steps", steps}, {"batch", batch}, {"median_step_s", Median(per_step)},
              {"seq0_tokens", std::vector<int32_t>(seq0.begin(), seq0.begin() + 8)},
              {"seq0_hash", std::accumulate(seq0.begin(), seq0.end(), uint64_t{0},
                                            [](uint64_t h, int32_t v) {
                                              return SplitMix64(h ^ static_cast<uint64_t>(v));
                                            })}};
    j.update(Timing(t));
    j["tokens_per_s"] = batch * steps / Median(t);
    j["gflops"] = flops / Median(t) / 1e9;
    Emit(j);
  }
}

// ---- MiniLM embeddings through tasks::EmbedTokens -----------------------------------------------

void BenchMiniLm(const Options& o, Backend* backend) {
  auto loaded = infer::model::LoadModel(o.models + "/minilm", backend);
  Check(loaded.status(), "loading minilm");
  const infer::model::ModelInfo info = loaded->info();
  infer::model::PoolingMode mode = infer::model::PoolingMode::kMean;
  bool normalize = true;
  if (loaded->pooling) {
    mode = loaded->pooling->mode;
    normalize = loaded->pooling->normalize;
  }
  const int batch = 32;
  for (int len : {32, 128}) {
    const std::string name = "minilm_embed_" + std::to_string(len);
    if (!o.filter.empty() && name.find(o.filter) == std::string::npos) continue;
    std::vector<infer::tasks::TokenizedInput> inputs(batch);
    for (int s = 0; s < batch; ++s) {
      inputs[s].ids = RandomIds(uint64_t{100000} * (s + 1) + len, len, info.vocab_size);
    }
    std::vector<std::vector<float>> result;
    auto t = Repeat(o, [&] {
      auto t0 = Clock::now();
      auto r = infer::tasks::EmbedTokens(*loaded->encoder, inputs, mode, normalize);
      double s = Seconds(t0, Clock::now());
      Check(r.status(), "EmbedTokens");
      result = std::move(*r);
      return s;
    });
    const double flops = EncoderFlops(info, len);
    json j = {{"bench", "minilm_embed"}, {"impl", "engine"}, {"seq_len", len}, {"batch", batch},
              {"pooling", std::string(infer::model::PoolingModeName(mode))},
              {"normalize", normalize}, {"flops_per_sentence", flops},
              {"emb0_head", std::vector<float>(result[0].begin(), result[0].begin() + 4)}};
    j.update(Timing(t));
    j["sentences_per_s"] = batch / Median(t);
    j["gflops"] = flops * batch / Median(t) / 1e9;
    Emit(j);
  }
}

// ---- Few-row GEMM lab: CpuBackend::Linear's paths on GPT-2 small's shapes ---------------------
// y[m, n] = x[m, k] w[n, k]^T for m rows (16: a 16-stream decode step; 64 to 512: prefill
// chunks) on the four GPT-2 small weight shapes, by each SkinnyGemm variant this CPU runs and by
// OpenBLAS's SGEMM (the path Linear takes past SkinnyGemmMaxRows(k)). Weights rotate over 12
// copies (the LM head is 154 MB alone), so they come from memory as in a decode step.
void BenchSkinnyGemm(const Options& o) {
  using infer::kernels::cpu::SkinnyGemmIsa;
  struct Shape {
    int64_t n, k;
    const char* name;
  };
  const Shape shapes[] = {{768, 768, "qkvo"}, {3072, 768, "fc"}, {768, 3072, "proj"},
                          {50257, 768, "lm_head"}};
  for (int64_t m : {16, 32, 64, 128, 256, 512}) {
    for (const Shape& sh : shapes) {
      const std::string name = "skinny_gemm_m" + std::to_string(m) + "_" + sh.name;
      if (!o.filter.empty() && name.find(o.filter) == std::string::npos) continue;
      const int copies = sh.n > 10000 ? 1 : 12;
      std::vector<std::vector<float>> w(copies, std::vector<float>(sh.n * sh.k));
      for (int c = 0; c < copies; ++c) {
        for (size_t i = 0; i < w[c].size(); ++i) {
          w[c][i] = static_cast<float>(SplitMix64(i + 31 * c) % 2001) * 1e-5f - 0.01f;
        }
      }
      std::vector<float> x(m * sh.k), y(m * sh.n);
      for (size_t i = 0; i < x.size(); ++i) {
        x[i] = static_cast<float>(SplitMix64(i) % 2001) * 1e-3f - 1;
      }
      struct Variant {
        std::string impl;
        std::function<void(const float*)> run;
      };
      std::vector<Variant> variants;
      for (SkinnyGemmIsa isa : {SkinnyGemmIsa::kAvx2, SkinnyGemmIsa::kAvx512}) {
        if (!infer::kernels::cpu::SkinnyGemmIsaSupported(isa)) continue;
        variants.push_back({isa == SkinnyGemmIsa::kAvx2 ? "skinny_avx2" : "skinny_avx512",
                            [&, isa](const float* wc) {
                              infer::kernels::cpu::SkinnyGemmWith(isa, x.data(), m, sh.k, wc,
                                                                  sh.n, y.data());
                            }});
      }
      variants.push_back({"openblas_sgemm", [&](const float* wc) {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, sh.n, sh.k,
                                        1.0f, x.data(), sh.k, wc, sh.k, 0.0f, y.data(), sh.n);
                          }});
      const int calls = sh.n > 10000 ? 2 : 24;  // per timed repetition
      for (const Variant& v : variants) {
        auto t = Repeat(o, [&] {
          auto t0 = Clock::now();
          for (int i = 0; i < calls; ++i) v.run(w[i % copies].data());
          return Seconds(t0, Clock::now()) / calls;
        });
        json j = {{"bench", "skinny_gemm"}, {"impl", v.impl}, {"m", m}, {"n", sh.n},
                  {"k", sh.k}, {"shape", sh.name}};
        j.update(Timing(t));
        j["gflops"] = 2.0 * m * sh.n * sh.k / Median(t) / 1e9;
        j["weight_gbps"] = 4.0 * sh.n * sh.k / Median(t) / 1e9;
        Emit(j);
      }
    }
  }
}

// ---- Op-by-op replay of the GPT-2 forward -------------------------------------------------------
// The same backend calls, in the same order and shapes, as server/model/gpt2.cc's Forward, with
// random weights (12 distinct layers, so decode streams weights from memory as the model does)
// and a contiguous "paged" cache (block table = identity). Each call is timed on its own.

// ---- Kernel labs: candidate replacements, checked against the CPU backend ----------------------

// GELU (tanh form) without libm: 0.5 x (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2/pi)(x +
// 0.044715 x^3), with exp from a range reduction (x = n ln2 + r) and a degree-6 polynomial, all
// branch-free so GCC vectorises the loop (AVX2 at the x86-64-v3 baseline). GCC if-converts the
// clamps only with -fno-trapping-math (set for this file in CMakeLists.txt; PyTorch builds with
// it too); it changes no result.
inline float ExpLab(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                                        r * (1.0f / 720))))));
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

void BiasGeluLab(float* y, int64_t rows, int64_t n, const float* bias) {
#pragma omp parallel for schedule(static) if (rows * n > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = y + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const float x = row[j] + bias[j];
      const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      row[j] = x / (1.0f + ExpLab(-2.0f * u));
    }
  }
}

// Prefill attention for one sequence as GEMMs: per head and per tile of 64 queries, gather the
// visible keys / values of that head out of the paged cache into contiguous scratch once per head,
// S = Q K^T (sgemm), causal mask + exact softmax per row, O = P V (sgemm). Heads in parallel,
// OpenBLAS called single-threaded from inside the parallel region.
void AttentionGemmLab(const infer::kernels::AttentionParams& p) {
  const int d = p.head_dim, H = p.num_heads;
  const int64_t q_len = p.cu_seqlens_q[1] - p.cu_seqlens_q[0], ctx = p.context_lens[0];
  const int64_t row = static_cast<int64_t>(H) * d;
  const int64_t tile = 64;
  const int saved = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel
  {
    std::vector<float> kh(ctx * d), vh(ctx * d), sc(tile * ctx);
#pragma omp for schedule(dynamic, 1)
    for (int h = 0; h < H; ++h) {
      for (int64_t j = 0; j < ctx; ++j) {
        const int32_t block = p.block_tables[j / p.block_size];
        const int64_t slot = static_cast<int64_t>(block) * p.block_size + j % p.block_size;
        std::memcpy(&kh[j * d], static_cast<const float*>(p.k_cache) + slot * row + h * d, d * sizeof(float));
        std::memcpy(&vh[j * d], static_cast<const float*>(p.v_cache) + slot * row + h * d, d * sizeof(float));
      }
      for (int64_t i0 = 0; i0 < q_len; i0 += tile) {
        const int64_t m = std::min(tile, q_len - i0);
        const int64_t keys = ctx - q_len + i0 + m;  // visible to the tile's last query
        const float* q = static_cast<const float*>(p.q) + i0 * row + h * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, keys, d, p.scale, q, row,
                    kh.data(), d, 0.0f, sc.data(), keys);
        for (int64_t i = 0; i < m; ++i) {
          float* srow = sc.data() + i * keys;
          const int64_t visible = ctx - q_len + i0 + i + 1;
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, srow[j]);
          float sum = 0;
          for (int64_t j = 0; j < visible; ++j) {
            srow[j] = ExpLab(srow[j] - mx);
            sum += srow[j];
          }
          const float inv = 1.0f / sum;
          for (int64_t j = 0; j < visible; ++j) srow[j] *= inv;
          for (int64_t j = visible; j < keys; ++j) srow[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, keys, 1.0f, sc.data(), keys,
                    vh.data(), d, 0.0f, static_cast<float*>(p.out) + i0 * row + h * d, row);
      }
    }
  }
  openblas_set_num_threads(saved);
}

double RelError(const float* out, const float* ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// The labs against the backend's kernels, by normalised error ||out - ref|| / ||ref||.
void CheckLabs(Backend* be) {
  const int64_t rows = 64, n = 3072;
  std::vector<float> x(rows * n), bias(n), ref, out;
  for (int64_t i = 0; i < rows * n; ++i)
    x[i] = 12.0f * (static_cast<float>(SplitMix64(i) % 100001) / 100000.0f - 0.5f);
  for (int64_t j = 0; j < n; ++j) bias[j] = 0.01f * static_cast<float>(j % 7);
  ref = out = x;
  infer::kernels::cpu::BiasActivate(ref.data(), rows, n, bias.data(), Activation::kGeluTanh);
  BiasGeluLab(out.data(), rows, n, bias.data());
  double max_abs = 0;
  for (size_t i = 0; i < out.size(); ++i)
    max_abs = std::max(max_abs, std::abs(double(out[i]) - ref[i]));
  Emit({{"bench", "lab_check"}, {"impl", "engine"}, {"lab", "BiasGeluLab"},
        {"input", "x in [-6, 6]"}, {"rel_error", RelError(out.data(), ref.data(), out.size())},
        {"max_abs_error", max_abs}});

  const int H = 12, d = 64, block = 16, T = 300;  // T not a multiple of the tile or block
  const int64_t row = int64_t{H} * d, nblocks = (T + block - 1) / block;
  std::vector<float> q(T * row), kc(nblocks * block * row), vc(kc.size()), o1(T * row),
      o2(T * row);
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(SplitMix64(3 * i) % 2001) / 1000 - 1;
  for (size_t i = 0; i < kc.size(); ++i) {
    kc[i] = static_cast<float>(SplitMix64(3 * i + 1) % 2001) / 1000 - 1;
    vc[i] = static_cast<float>(SplitMix64(3 * i + 2) % 2001) / 1000 - 1;
  }
  std::vector<int32_t> table(nblocks), cu = {0, T}, ctx = {T};
  for (int64_t b = 0; b < nblocks; ++b) table[b] = static_cast<int32_t>(nblocks - 1 - b);  // reversed
  infer::kernels::AttentionParams p;
  p.q = q.data();
  p.k_cache = kc.data();
  p.v_cache = vc.data();
  p.block_tables = table.data();
  p.max_blocks_per_seq = static_cast<int>(nblocks);
  p.block_size = block;
  p.cu_seqlens_q = cu.data();
  p.context_lens = ctx.data();
  p.num_seqs = 1;
  p.num_heads = p.num_kv_heads = H;
  p.head_dim = d;
  p.scale = 0.125f;
  p.out = o1.data();
  be->Attention(p);
  p.out = o2.data();
  AttentionGemmLab(p);
  Emit({{"bench", "lab_check"}, {"impl", "engine"}, {"lab", "AttentionGemmLab"},
        {"input", "causal prefill, 300 tokens, 12 heads x 64, reversed block table"},
        {"rel_error", RelError(o2.data(), o1.data(), o1.size())}});
}

struct OpTimes {
  std::map<std::string, double> s;
  template <class F>
  void Time(const std::string& op, F&& f) {
    auto t0 = Clock::now();
    f();
    s[op] += Seconds(t0, Clock::now());
  }
};

void BenchOps(const Options& o, Backend* be) {
  const int L = 12, d = 768, f = 3072, V = 50257, heads = 12, hd = 64, block = 16;
  const int max_ctx = 1024;
  auto rand_tensor = [&](std::vector<int64_t> shape, uint64_t seed, float scale) {
    Tensor t = be->Alloc(shape);
    float* p = t.as<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = scale * (static_cast<float>(SplitMix64(seed + i) % 2001) / 1000.0f - 1.0f);
    return t;
  };
  struct Layer {
    Tensor g1, b1, wqkv, bqkv, wq, wk, wv, bq, bk, bv, wo, bo, g2, b2, wfc, bfc, wpr, bpr, kc, vc;
  };
  std::vector<Layer> layers(L);
  for (int l = 0; l < L; ++l) {
    uint64_t s = uint64_t{1} << 40 | static_cast<uint64_t>(l) << 32;
    Layer& y = layers[l];
    y.g1 = rand_tensor({d}, s + 1, 1.0f);
    y.b1 = rand_tensor({d}, s + 2, 0.1f);
    // q | k | v rows of one [3d, d] matrix (as c_attn holds them), viewed as three [d, d].
    y.wqkv = rand_tensor({3 * d, d}, s + 3, 0.02f);
    y.bqkv = rand_tensor({3 * d}, s + 6, 0.01f);
    y.wq = y.wqkv.Rows(0, d);
    y.wk = y.wqkv.Rows(d, 2 * d);
    y.wv = y.wqkv.Rows(2 * d, 3 * d);
    y.bq = y.bqkv.Rows(0, d);
    y.bk = y.bqkv.Rows(d, 2 * d);
    y.bv = y.bqkv.Rows(2 * d, 3 * d);
    y.wo = rand_tensor({d, d}, s + 9, 0.02f);
    y.bo = rand_tensor({d}, s + 10, 0.01f);
    y.g2 = rand_tensor({d}, s + 11, 1.0f);
    y.b2 = rand_tensor({d}, s + 12, 0.1f);
    y.wfc = rand_tensor({f, d}, s + 13, 0.02f);
    y.bfc = rand_tensor({f}, s + 14, 0.01f);
    y.wpr = rand_tensor({d, f}, s + 15, 0.02f);
    y.bpr = rand_tensor({d}, s + 16, 0.01f);
    y.kc = rand_tensor({max_ctx / block, block, heads, hd}, s + 17, 1.0f);
    y.vc = rand_tensor({max_ctx / block, block, heads, hd}, s + 18, 1.0f);
  }
  Tensor lm_head = rand_tensor({V, d}, 99, 0.02f), lnf_g = rand_tensor({d}, 98, 1.0f),
         lnf_b = rand_tensor({d}, 97, 0.1f);
  std::vector<int32_t> table(max_ctx / block);
  std::iota(table.begin(), table.end(), 0);
  CheckLabs(be);

  // (appended tokens, cached tokens before them): prefill 128 / 512, decode at context 192.
  // Variants test changes to the engine before anyone makes them:
  //   base       exactly what gpt2.cc and CpuBackend do today;
  //   fused_qkv  one [t, 3d] GEMM against c_attn's [3d, d] rows, then a split into q, k, v
  //              (instead of three [t, d] GEMMs);
  //   gemv       Linear with one row as cblas_sgemv (instead of an M=1 sgemm, which OpenBLAS
  //              0.3.21 runs through the packing GEMM path).
  //   fast_gelu  BiasGeluLab instead of BiasActivate's libm tanhf;
  //   gemm_attn  AttentionGemmLab (prefill only) instead of cpu::Attention;
  //   omp        one thread pool: OpenBLAS set to 1 thread, each Linear split over the OpenMP
  //              threads by output columns (rows of w), each thread one sgemm/sgemv on its slice;
  //              today OpenBLAS's own pthreads and the kernels' OpenMP threads spin against
  //              each other on the same cores.
  struct Case {
    int t, c;
    std::string variant;
  };
  const std::vector<Case> cases = {
      {128, 0, "base"},  {128, 0, "fused_qkv"}, {128, 0, "omp"}, {128, 0, "fast_gelu+gemm_attn"},
      {128, 0, "omp+fast_gelu+gemm_attn"},
      {512, 0, "base"},  {512, 0, "fused_qkv"}, {512, 0, "omp"}, {512, 0, "fast_gelu+gemm_attn"},
      {512, 0, "omp+fast_gelu+gemm_attn"},
      {1, 191, "base"},  {1, 191, "gemv"},      {1, 191, "omp+gemv"}};
  const int blas_threads = openblas_get_num_threads();
  for (const auto& [t, c, variant] : cases) {
    const bool gemv = variant.find("gemv") != std::string::npos;
    const bool fused = variant.find("fused_qkv") != std::string::npos;
    const bool omp = variant.find("omp") != std::string::npos;
    const bool fast_gelu = variant.find("fast_gelu") != std::string::npos;
    const bool gemm_attn = variant.find("gemm_attn") != std::string::npos;
    const std::string kind = t == 1 ? "decode" : "prefill";
    const std::string name = "op_" + kind + "_" + std::to_string(t == 1 ? c + 1 : t) +
                             (variant == "base" ? "" : "+" + variant);
    if (!o.filter.empty() && name.find(o.filter) == std::string::npos) continue;
    Tensor x = rand_tensor({t, d}, 5, 1.0f), h = be->Alloc({t, d}), q = be->Alloc({t, d}),
           k = be->Alloc({t, d}), v = be->Alloc({t, d}), a = be->Alloc({t, d}),
           qkv = be->Alloc({t, 3 * d}), mlp = be->Alloc({t, f}), last = be->Alloc({1, d}),
           logits = be->Alloc({1, V});
    std::vector<int32_t> slots(t), cu = {0, t}, ctx = {c + t};
    std::iota(slots.begin(), slots.end(), c);
    auto linear = [&](const Tensor& in, const Tensor& w, const Tensor* b, Activation act,
                      Tensor& out) {
      const int64_t rows = in.numel() / in.dim(-1), n = w.dim(0), kk = w.dim(1);
      if (!gemv && !omp) return be->Linear(in, w, b, act, out);
      // out[:, n0:n1] = in * w[n0:n1, :]^T on each thread's slice (all of it without omp).
      auto slice = [&](int64_t n0, int64_t n1) {
        if (n1 <= n0) return;
        const float* ws = w.as<float>() + n0 * kk;
        if (gemv && rows == 1) {
          cblas_sgemv(CblasRowMajor, CblasNoTrans, n1 - n0, kk, 1.0f, ws, kk, in.as<float>(), 1,
                      0.0f, out.as<float>() + n0, 1);
        } else {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n1 - n0, kk, 1.0f,
                      in.as<float>(), kk, ws, kk, 0.0f, out.as<float>() + n0, n);
        }
      };
      if (omp) {
#pragma omp parallel
        {
          const int nt = omp_get_num_threads(), id = omp_get_thread_num();
          const int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;  // 64-byte aligned slices
          slice(std::min(n, id * per), std::min(n, (id + 1) * per));
        }
      } else {
        slice(0, n);
      }
      if (b != nullptr || act != Activation::kNone) {
        infer::kernels::cpu::BiasActivate(out.as<float>(), rows, n, b ? b->as<float>() : nullptr,
                                          act);
      }
    };
    openblas_set_num_threads(omp ? 1 : blas_threads);
    std::vector<OpTimes> runs;
    for (int r = 0; r < o.warmup + o.reps; ++r) {
      OpTimes ot;
      for (int l = 0; l < L; ++l) {
        Layer& y = layers[l];
        ot.Time("layernorm", [&] { be->LayerNorm(x, y.g1, y.b1, 1e-5f, h); });
        ot.Time("linear_qkv", [&] {
          if (fused) {
            linear(h, y.wqkv, &y.bqkv, Activation::kNone, qkv);
            const float* src = qkv.as<float>();
            for (int64_t i = 0; i < t; ++i) {
              std::memcpy(q.as<float>() + i * d, src + i * 3 * d, d * sizeof(float));
              std::memcpy(k.as<float>() + i * d, src + i * 3 * d + d, d * sizeof(float));
              std::memcpy(v.as<float>() + i * d, src + i * 3 * d + 2 * d, d * sizeof(float));
            }
          } else {
            linear(h, y.wq, &y.bq, Activation::kNone, q);
            linear(h, y.wk, &y.bk, Activation::kNone, k);
            linear(h, y.wv, &y.bv, Activation::kNone, v);
          }
        });
        infer::kernels::KvWriteParams w;
        w.k = k.as<float>();
        w.v = v.as<float>();
        w.k_cache = y.kc.as<float>();
        w.v_cache = y.vc.as<float>();
        w.slot_mapping = slots.data();
        w.num_tokens = t;
        w.num_kv_heads = heads;
        w.head_dim = hd;
        w.block_size = block;
        ot.Time("kv_write", [&] { be->WriteKv(w); });
        infer::kernels::AttentionParams p;
        p.q = q.as<float>();
        p.out = a.as<float>();
        p.k_cache = y.kc.as<float>();
        p.v_cache = y.vc.as<float>();
        p.block_tables = table.data();
        p.max_blocks_per_seq = static_cast<int>(table.size());
        p.block_size = block;
        p.cu_seqlens_q = cu.data();
        p.context_lens = ctx.data();
        p.num_seqs = 1;
        p.num_heads = p.num_kv_heads = heads;
        p.head_dim = hd;
        p.scale = 0.125f;
        ot.Time("attention", [&] {
          if (gemm_attn && t > 1) {
            AttentionGemmLab(p);
          } else {
            be->Attention(p);
          }
        });
        ot.Time("linear_o", [&] { linear(a, y.wo, &y.bo, Activation::kNone, h); });
        ot.Time("add", [&] { be->AddInPlace(x, h); });
        ot.Time("layernorm", [&] { be->LayerNorm(x, y.g2, y.b2, 1e-5f, h); });
        // Linear with a fused activation = sgemm + BiasActivate; timed apart to see both.
        ot.Time("linear_fc_gemm", [&] { linear(h, y.wfc, nullptr, Activation::kNone, mlp); });
        ot.Time("bias_gelu", [&] {
          if (fast_gelu) {
            BiasGeluLab(mlp.as<float>(), t, f, y.bfc.as<float>());
          } else {
            infer::kernels::cpu::BiasActivate(mlp.as<float>(), t, f, y.bfc.as<float>(),
                                              Activation::kGeluTanh);
          }
        });
        ot.Time("linear_proj", [&] { linear(mlp, y.wpr, &y.bpr, Activation::kNone, h); });
        ot.Time("add", [&] { be->AddInPlace(x, h); });
      }
      ot.Time("layernorm", [&] { be->LayerNorm(x, lnf_g, lnf_b, 1e-5f, x); });
      ot.Time("lm_head", [&] {
        be->GatherRows(x, {t - 1}, last);
        linear(last, lm_head, nullptr, Activation::kNone, logits);
      });
      // Keep activations bounded across repetitions.
      be->LayerNorm(x, lnf_g, lnf_b, 1e-5f, x);
      if (r >= o.warmup) runs.push_back(std::move(ot));
    }
    openblas_set_num_threads(blas_threads);
    double total = 0;
    std::map<std::string, double> med;
    for (auto& [op, unused] : runs[0].s) {
      std::vector<double> v;
      for (auto& run : runs) v.push_back(run.s.at(op));
      med[op] = Median(v);
      total += med[op];
    }
    for (auto& [op, sec] : med) {
      Emit({{"bench", "op"}, {"impl", "engine"}, {"case", name}, {"op", op},
            {"median_s", sec}, {"share", sec / total}});
    }
    Emit({{"bench", "op"}, {"impl", "engine"}, {"case", name}, {"op", "total"},
          {"median_s", total}, {"share", 1.0}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models") o.models = value();
    else if (a == "--reps") o.reps = std::max(1, std::stoi(value()));
    else if (a == "--warmup") o.warmup = std::max(0, std::stoi(value()));
    else if (a == "--filter") o.filter = value();
    else if (a == "--ops") o.ops = true;
    else if (a == "--perf-ctl") o.perf_ctl = value();
    else {
      std::fprintf(stderr,
                   "usage: %s [--models DIR] [--reps N] [--warmup N] [--filter SUBSTR] [--ops] "
                   "[--perf-ctl FIFO]\n",
                   argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  auto want = [&](const char* name) {
    return o.filter.empty() || std::string(name).find(o.filter) != std::string::npos ||
           o.filter.find(name) != std::string::npos;
  };
  auto backend = infer::kernels::MakeCpuBackend();
  Emit({{"bench", "config"}, {"impl", "engine"}, {"omp_threads", omp_get_max_threads()},
        {"openblas_threads", openblas_get_num_threads()},
        {"openblas_core", openblas_get_corename()},
        {"reps", o.reps}, {"warmup", o.warmup}});
  if (want("sgemm_peak") || want("mem_read_bw") || want("machine")) BenchMachine(o);
  if (want("gpt2_prefill") || (want("gpt2_decode") && o.filter.find("gpt2_decode_b") != 0))
    BenchGpt2(o, backend.get());
  if (o.filter.find("gpt2_decode_b") == 0) BenchGpt2DecodeBatch(o, backend.get());
  if (o.filter.find("skinny_gemm") == 0) BenchSkinnyGemm(o);
  if (want("minilm_embed")) BenchMiniLm(o, backend.get());
  if (o.ops) BenchOps(o, backend.get());
  return 0;
}
