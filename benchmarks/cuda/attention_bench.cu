// Attention kernel lab (llm.c style): validates cuda::Attention against a naive GPU reference on
// small shapes, then times it with CUDA events and prints one JSON object per measurement.
//
//   prefill: BF16, head_dim 64/128, seq 512..8192, batch = 16384 / seq, heads = 2048 / head_dim
//            (FlashAttention's benchmark shapes), causal and not, K/V contiguous (as SDPA sees
//            them) and from the paged cache (block_size 16). FLOPs = 4 * batch * seq^2 *
//            head_dim * heads, halved when causal.
//   decode:  BF16, Llama-3-8B-like heads (32 query, 8 kv, head_dim 128), paged cache with
//            block_size 16 and shuffled blocks, batch 1..256, context 512..32k. Bytes = K + V
//            rows read + q + out; reported next to the device-to-device cudaMemcpy bandwidth of
//            the same run (counted as bytes read + bytes written) as a ratio.
//
// Usage: attention_bench [--quick] [--iters N] [--skip-prefill] [--skip-decode]
// Exits non-zero when a validation fails (nothing is timed then).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_plan.h"

using infer::kernels::AttentionParams;
using infer::kernels::DType;
namespace cuda = infer::kernels::cuda;

#define CHECK_CUDA(x)                                                                     \
  do {                                                                                    \
    const cudaError_t e_ = (x);                                                           \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,                     \
                   cudaGetErrorString(e_));                                               \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)

namespace {

// ---------------------------------------------------------------------------------------------
// Device helpers.

// x[i] = bf16(N(0,1)-ish * scale) from a counter hash (no host data for multi-GB caches).
__global__ void FillRandomBf16(__nv_bfloat16* x, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint64_t h = (static_cast<uint64_t>(i) + seed) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    // Sum of four uniforms: roughly normal, mean 0, variance 1/3 * 4 / 4.
    float u = 0.0f;
    for (int k = 0; k < 4; ++k) u += static_cast<float>((h >> (16 * k)) & 0xFFFF) / 65535.0f;
    x[i] = __float2bfloat16((u - 2.0f) * 1.7320508f * scale);
  }
}

// Naive reference: one thread per (query row, head), float32, two passes over the keys, the
// output accumulated in float32 global memory. ref_out [total_q, heads, head_dim].
__global__ void NaiveAttention(AttentionParams p, float* ref_out) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int row = static_cast<int>(idx / p.num_heads);
  const int h = static_cast<int>(idx % p.num_heads);
  if (row >= p.cu_seqlens_q[p.num_seqs]) return;
  int s = 0;
  while (p.cu_seqlens_q[s + 1] <= row) ++s;
  const int q0 = p.cu_seqlens_q[s], q_len = p.cu_seqlens_q[s + 1] - q0, i = row - q0;
  const int ctx = p.context_lens[s];
  const int visible = p.causal ? ctx - q_len + i + 1 : ctx;
  const int d = p.head_dim, kh = h / (p.num_heads / p.num_kv_heads);
  const auto* q =
      static_cast<const __nv_bfloat16*>(p.q) + (static_cast<int64_t>(row) * p.num_heads + h) * d;
  auto key_row = [&](int pos, const void* contig, const void* paged) {
    int64_t slot;
    const void* base;
    if (p.block_tables != nullptr) {
      const int block = p.block_tables[s * p.max_blocks_per_seq + pos / p.block_size];
      slot = static_cast<int64_t>(block) * p.block_size + pos % p.block_size;
      base = paged;
    } else {
      slot = q0 + pos;
      base = contig;
    }
    return static_cast<const __nv_bfloat16*>(base) + (slot * p.num_kv_heads + kh) * d;
  };
  float mx = -INFINITY;
  for (int j = 0; j < visible; ++j) {
    const __nv_bfloat16* k = key_row(j, p.k, p.k_cache);
    float dot = 0.0f;
    for (int c = 0; c < d; ++c) dot += __bfloat162float(q[c]) * __bfloat162float(k[c]);
    mx = fmaxf(mx, dot * p.scale);
  }
  float* o = ref_out + (static_cast<int64_t>(row) * p.num_heads + h) * d;
  for (int c = 0; c < d; ++c) o[c] = 0.0f;
  float sum = 0.0f;
  for (int j = 0; j < visible; ++j) {
    const __nv_bfloat16* k = key_row(j, p.k, p.k_cache);
    const __nv_bfloat16* v = key_row(j, p.v, p.v_cache);
    float dot = 0.0f;
    for (int c = 0; c < d; ++c) dot += __bfloat162float(q[c]) * __bfloat162float(k[c]);
    const float w = expf(dot * p.scale - mx);
    sum += w;
    for (int c = 0; c < d; ++c) o[c] += w * __bfloat162float(v[c]);
  }
  for (int c = 0; c < d; ++c) o[c] /= sum;
}

__global__ void Bf16ToFloat(const __nv_bfloat16* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = __bfloat162float(x[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Host helpers.

template <typename T>
T* DeviceAlloc(size_t n) {
  void* p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
  return static_cast<T*>(p);
}
template <typename T>
T* DeviceCopy(const std::vector<T>& v) {
  T* p = DeviceAlloc<T>(v.size());
  CHECK_CUDA(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}
void Fill(__nv_bfloat16* x, int64_t n, uint64_t seed) {
  FillRandomBf16<<<1024, 256>>>(x, n, seed, 1.0f);
  CHECK_CUDA(cudaGetLastError());
}

// Median milliseconds of `iters` timed runs of f after `warmup` untimed ones.
template <typename F>
double MedianMs(F&& f, int iters, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  std::vector<float> ms(iters);
  for (int i = 0; i < iters; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    f();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    CHECK_CUDA(cudaEventElapsedTime(&ms[i], a, b));
  }
  CHECK_CUDA(cudaEventDestroy(a));
  CHECK_CUDA(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[iters / 2];
}

// A batch laid out for cuda::Attention: packed q/out, contiguous k/v or a paged cache.
struct Batch {
  AttentionParams p;
  std::vector<int32_t> cu, ctx;  // host copies (p.*_host point here)
  std::vector<void*> owned;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  ~Batch() {
    for (void* x : owned) cudaFree(x);
    cudaFree(workspace);
  }
  template <typename T>
  T* Own(T* x) {
    owned.push_back(x);
    return x;
  }
};

// q_lens[s] query rows at the end of ctx_lens[s] keys; paged when block_size > 0 (blocks in
// shuffled order), else contiguous k/v (ctx must equal q_len).
void MakeBatch(Batch& b, const std::vector<int>& q_lens, const std::vector<int>& ctx_lens,
               int heads, int kv_heads, int head_dim, bool causal, int block_size,
               uint64_t seed) {
  const int n = static_cast<int>(q_lens.size());
  b.cu.assign(n + 1, 0);
  b.ctx = ctx_lens;
  for (int s = 0; s < n; ++s) b.cu[s + 1] = b.cu[s] + q_lens[s];
  const int64_t total_q = b.cu[n];
  AttentionParams& p = b.p;
  p = AttentionParams{};
  p.dtype = DType::kBF16;
  p.num_seqs = n;
  p.num_heads = heads;
  p.num_kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  p.causal = causal;
  const int64_t q_elems = total_q * heads * head_dim;
  auto* q = b.Own(DeviceAlloc<__nv_bfloat16>(q_elems));
  Fill(q, q_elems, seed);
  p.q = q;
  p.out = b.Own(DeviceAlloc<__nv_bfloat16>(q_elems));
  const int64_t kv_row = static_cast<int64_t>(kv_heads) * head_dim;
  if (block_size > 0) {
    int max_blocks = 0, num_blocks = 0;
    for (int s = 0; s < n; ++s) {
      const int nb = (ctx_lens[s] + block_size - 1) / block_size;
      max_blocks = std::max(max_blocks, nb);
      num_blocks += nb;
    }
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int32_t> tables(static_cast<size_t>(n) * max_blocks, 0);
    int next = 0;
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < (ctx_lens[s] + block_size - 1) / block_size; ++i) {
        tables[static_cast<size_t>(s) * max_blocks + i] = perm[next++];
      }
    }
    const int64_t cache_elems = static_cast<int64_t>(num_blocks) * block_size * kv_row;
    auto* kc = b.Own(DeviceAlloc<__nv_bfloat16>(cache_elems));
    auto* vc = b.Own(DeviceAlloc<__nv_bfloat16>(cache_elems));
    Fill(kc, cache_elems, seed + 1);
    Fill(vc, cache_elems, seed + 2);
    p.k_cache = kc;
    p.v_cache = vc;
    p.block_tables = b.Own(DeviceCopy(tables));
    p.max_blocks_per_seq = max_blocks;
    p.block_size = block_size;
  } else {
    const int64_t kv_elems = total_q * kv_row;
    auto* k = b.Own(DeviceAlloc<__nv_bfloat16>(kv_elems));
    auto* v = b.Own(DeviceAlloc<__nv_bfloat16>(kv_elems));
    Fill(k, kv_elems, seed + 1);
    Fill(v, kv_elems, seed + 2);
    p.k = k;
    p.v = v;
  }
  p.cu_seqlens_q = b.Own(DeviceCopy(b.cu));
  p.context_lens = b.Own(DeviceCopy(b.ctx));
  p.cu_seqlens_q_host = b.cu.data();
  p.context_lens_host = b.ctx.data();
  b.workspace_bytes = cuda::AttentionWorkspaceBytes(p);
  if (b.workspace_bytes > 0) CHECK_CUDA(cudaMalloc(&b.workspace, b.workspace_bytes));
  CHECK_CUDA(cudaDeviceSynchronize());
}

void Run(Batch& b) { cuda::Attention(b.p, b.workspace, b.workspace_bytes, nullptr); }

// Relative error ||out - ref|| / ||ref|| of one cuda::Attention run against NaiveAttention.
double Validate(Batch& b) {
  const int64_t n = static_cast<int64_t>(b.cu.back()) * b.p.num_heads * b.p.head_dim;
  CHECK_CUDA(cudaMemset(b.p.out, 0xFF, n * sizeof(__nv_bfloat16)));  // NaN if not written
  Run(b);
  float* ref = DeviceAlloc<float>(n);
  float* got = DeviceAlloc<float>(n);
  const int64_t threads = static_cast<int64_t>(b.cu.back()) * b.p.num_heads;
  NaiveAttention<<<static_cast<unsigned>((threads + 127) / 128), 128>>>(b.p, ref);
  Bf16ToFloat<<<1024, 256>>>(static_cast<const __nv_bfloat16*>(b.p.out), got, n);
  CHECK_CUDA(cudaGetLastError());
  std::vector<float> hr(n), hg(n);
  CHECK_CUDA(cudaMemcpy(hr.data(), ref, n * 4, cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaMemcpy(hg.data(), got, n * 4, cudaMemcpyDeviceToHost));
  cudaFree(ref);
  cudaFree(got);
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(hg[i])) return INFINITY;
    num += (static_cast<double>(hg[i]) - hr[i]) * (static_cast<double>(hg[i]) - hr[i]);
    den += static_cast<double>(hr[i]) * hr[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

bool ValidateAll() {
  struct V {
    const char* name;
    std::vector<int> q, ctx;
    int heads, kv_heads, hd, block_size;
    bool causal;
  };
  const std::vector<V> cases = {
      {"prefill_hd64_causal_contig", {300, 77}, {300, 77}, 4, 4, 64, 0, true},
      {"prefill_hd128_bidir_contig", {129, 64}, {129, 64}, 4, 2, 128, 0, false},
      {"prefill_hd128_causal_paged_chunk", {100, 3}, {700, 50}, 4, 1, 128, 16, true},
      {"prefill_hd64_bidir_paged", {200}, {200}, 2, 2, 64, 32, false},
      {"decode_hd128_gqa_splits", {1, 1, 1}, {100, 20000, 17}, 32, 8, 128, 16, true},
      {"mixed_hd128", {1, 40, 1}, {3000, 40, 9}, 8, 2, 128, 16, true},
  };
  bool ok = true;
  for (const V& c : cases) {
    Batch b;
    MakeBatch(b, c.q, c.ctx, c.heads, c.kv_heads, c.hd, c.causal, c.block_size, 42);
    const double err = Validate(b);
    const bool pass = err <= 1.6e-2;
    ok = ok && pass;
    std::printf("{\"bench\":\"validate\",\"case\":\"%s\",\"rel_err\":%.3g,\"ok\":%s,"
                "\"plan\":\"%s\"}\n",
                c.name, err, pass ? "true" : "false",
                cuda::PlanAttention(b.p).Describe().c_str());
  }
  std::fflush(stdout);
  return ok;
}

void BenchPrefill(int iters, bool quick) {
  const std::vector<int> hds = {64, 128};
  const std::vector<int> seqs = quick ? std::vector<int>{512, 2048}
                                      : std::vector<int>{512, 1024, 2048, 4096, 8192};
  for (int hd : hds) {
    for (int seq : seqs) {
      for (int causal = 0; causal < 2; ++causal) {
        for (int paged = 0; paged < 2; ++paged) {
          const int batch = 16384 / seq, heads = 2048 / hd;
          Batch b;
          MakeBatch(b, std::vector<int>(batch, seq), std::vector<int>(batch, seq), heads, heads,
                    hd, causal != 0, paged ? 16 : 0, 7);
          const double ms = MedianMs([&] { Run(b); }, iters);
          CHECK_CUDA(cudaGetLastError());
          const double flops =
              4.0 * batch * static_cast<double>(seq) * seq * hd * heads / (causal ? 2.0 : 1.0);
          std::printf("{\"bench\":\"prefill\",\"impl\":\"infer\",\"kv\":\"%s\",\"hd\":%d,"
                      "\"seq\":%d,\"batch\":%d,\"heads\":%d,\"causal\":%s,\"ms\":%.4f,"
                      "\"tflops\":%.2f}\n",
                      paged ? "paged16" : "contiguous", hd, seq, batch, heads,
                      causal ? "true" : "false", ms, flops / (ms * 1e-3) / 1e12);
          std::fflush(stdout);
        }
      }
    }
  }
}

// Device-to-device cudaMemcpy bandwidth, counted as bytes read + bytes written.
double MemcpyGbps(int iters) {
  const size_t bytes = size_t{1} << 30;
  void* a = DeviceAlloc<char>(bytes);
  void* b = DeviceAlloc<char>(bytes);
  CHECK_CUDA(cudaMemset(a, 1, bytes));
  const double ms = MedianMs(
      [&] { CHECK_CUDA(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); }, iters);
  cudaFree(a);
  cudaFree(b);
  const double gbps = 2.0 * bytes / (ms * 1e-3) / 1e9;
  std::printf("{\"bench\":\"memcpy_d2d\",\"bytes_per_copy\":%zu,\"ms\":%.4f,"
              "\"gbps_read_plus_write\":%.1f}\n",
              bytes, ms, gbps);
  std::fflush(stdout);
  return gbps;
}

void BenchDecode(int iters, bool quick, double memcpy_gbps) {
  const int heads = 32, kv_heads = 8, hd = 128, block_size = 16;
  const std::vector<int> batches = quick ? std::vector<int>{1, 64}
                                         : std::vector<int>{1, 8, 32, 64, 128, 256};
  const std::vector<int> ctxs = quick ? std::vector<int>{2048}
                                      : std::vector<int>{512, 2048, 8192, 32768};
  size_t free_b = 0, total_b = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
  for (int ctx : ctxs) {
    for (int batch : batches) {
      const double kv_bytes = 2.0 * batch * static_cast<double>(ctx) * kv_heads * hd * 2;
      if (kv_bytes > 0.7 * static_cast<double>(free_b)) {
        std::printf("{\"bench\":\"decode\",\"batch\":%d,\"ctx\":%d,\"skipped\":\"%.1f GB of "
                    "KV does not fit\"}\n",
                    batch, ctx, kv_bytes / 1e9);
        continue;
      }
      Batch b;
      MakeBatch(b, std::vector<int>(batch, 1), std::vector<int>(batch, ctx), heads, kv_heads, hd,
                true, block_size, 11);
      const double ms = MedianMs([&] { Run(b); }, iters);
      CHECK_CUDA(cudaGetLastError());
      const double bytes = kv_bytes + 2.0 * batch * heads * hd * 2;
      const double gbps = bytes / (ms * 1e-3) / 1e9;
      std::printf("{\"bench\":\"decode\",\"impl\":\"infer\",\"heads\":%d,\"kv_heads\":%d,"
                  "\"hd\":%d,\"batch\":%d,\"ctx\":%d,\"ms\":%.4f,\"gbps\":%.1f,"
                  "\"ratio_to_memcpy\":%.3f,\"plan\":\"%s\"}\n",
                  heads, kv_heads, hd, batch, ctx, ms, gbps, gbps / memcpy_gbps,
                  cuda::PlanAttention(b.p).Describe().c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 20;
  bool quick = false, prefill = true, decode = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--iters" && i + 1 < argc) {
      iters = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--skip-prefill") {
      prefill = false;
    } else if (a == "--skip-decode") {
      decode = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--iters N] [--skip-prefill] [--skip-decode]\n", argv[0]);
      return 2;
    }
  }
  int dev = 0;
  cudaDeviceProp prop;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    std::fprintf(stderr, "attention_bench: no CUDA device\n");
    return 2;
  }
  std::printf("{\"bench\":\"device\",\"name\":\"%s\",\"sms\":%d,\"cc\":\"%d.%d\"}\n", prop.name,
              prop.multiProcessorCount, prop.major, prop.minor);
  if (!ValidateAll()) {
    std::fprintf(stderr, "attention_bench: validation failed, not timing\n");
    return 1;
  }
  if (prefill) BenchPrefill(iters, quick);
  if (decode) BenchDecode(iters, quick, MemcpyGbps(iters));
  return 0;
}
