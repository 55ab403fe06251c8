// cuda::SampleTokens: Backend::SampleTokens on the GPU. One CTA of kThreads threads per row; the
// semantics are those of the CPU reference (kernels/cpu/sampling.cc, which restates
// server/runtime's transformers-4.46 processors and warpers) and the draw of kernels/philox.h.
//
// Per row, V(i) = logits[i] after the repetition penalty (history membership from a bitmap in
// the workspace) and the temperature (an IEEE division, as on the CPU) is recomputed on the fly
// in every pass; logits are never written. m = max V. A "cut" (key, index) describes what the
// top-k / top-p stages keep: token i survives iff (Key(V(i)), i) >= cut lexicographically, Key
// being the order-preserving uint32 image of a float (-0 folded onto +0, so float ties stay
// ties). Min-p adds a per-token test p_i >= threshold.
//
// Passes (each reads the row, ~vocab floats, from L2/HBM, or a compacted candidate list in
// shared memory once the survivors are few):
//   A       max / first argmax (NaN first, as torch.argmax) / last index of the max   1 pass
//   top-k   radix select of the k-th largest Key over 8-bit digits: per pass a 256-bin
//           count histogram (warp-aggregated shared atomics: __match_any_sync)        <= 4 (+1)
//   top-p   D = sum exp(V - m) over survivors (double, fixed reduction tree), then a radix
//           select over the composite (Key, index) in ascending order on the probability MASS
//           of each bin in 62-bit fixed point (integer atomics: order-independent, so
//           deterministic); it finds the first token of the stable ascending order whose
//           cumulative probability, rounded to float, exceeds float(1 - top_p), as the CPU's
//           sort + cumsum does                                                         1 + <= 8
//   min-p   D = sum exp over survivors; threshold = min_p * (1 / D)                    1
//   draw    total = sum of the fixed-point weights of kernels/philox.h; the crossing of
//           floor(u * total) is located by a hierarchical search over contiguous pieces
//           (kWarps pieces per level, integer sums)                                    1 + ~1
//   logprob log_sum = log(sum exp(s - m)) (the draw's sum); top-n by radix select of the
//           n-th best (Key(logprob) descending, index ascending), then a gather         <= 8 + 1
// After top-k or top-p, when at most kListCap tokens survive, they are compacted into shared
// memory (sorted by index with a bitonic sort) and every later pass runs on that list.
// Complexity: O(P * vocab) reads per row with P <= ~25 passes in the worst case (all stages on
// a flat distribution), ~6 with top-k (the rest runs on the list), 1-2 for plain greedy.
// Floating point: expf (CUDA, <= 2 ulp) where the CPU uses glibc's expf, so probabilities can
// differ by an ulp; sums of floats are in double with a fixed order; everything that decides a
// boundary from a sum (top-p cumulative, the draw) uses exact integer sums. Results are bitwise
// reproducible run to run. NaN logits: greedy follows torch.argmax, sampling is unspecified.
// Tuning knobs (untuned, no GPU when written): kThreads, kUnroll (loads in flight per thread),
// kListCap. The launch is one kernel; it reads DevRow/history from the workspace copied by one
// cudaMemcpyAsync and writes results that come back with one cudaMemcpyAsync.
#include "kernels/cuda/sampling.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/philox.h"

namespace infer::kernels::cuda {
namespace {

using u64 = unsigned long long;

constexpr int kThreads = 512;  // 1024 spills at the 64-register cap; 512 fits in ~106
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kMaxLogprobs = 32;
constexpr int kListCap = 2048;  // survivors compacted into shared memory (power of two)
static_assert((kListCap & (kListCap - 1)) == 0 && kListCap % kThreads == 0,
              "kListCap: a power of two, a multiple of kThreads");

// ---- row parameters as the kernel reads them ----------------------------------------------

enum RowFlags : int32_t {
  kGreedy = 1,
  kPenalty = 2,      // bitmap_slot >= 0
  kTemperature = 4,
  kTopK = 8,         // 1 <= top_k < vocab
  kTopP = 16,
  kMinP = 32,
};

struct DevRow {
  int32_t flags;
  int32_t top_k;
  float temperature;
  float top_p_threshold;  // float(1 - double(top_p))
  float min_p;
  float penalty;
  int32_t bitmap_slot;    // which [bitmap_words] slice of the workspace bitmap; -1: none
  int32_t pad;
  int64_t history_offset;  // into the packed history
  int64_t history_len;
  uint64_t seed;
  uint64_t step;
};
static_assert(sizeof(DevRow) == 64, "DevRow is packed by the host");

struct KernelArgs {
  const float* logits;   // [rows, vocab]
  int vocab;
  const DevRow* rows;    // [rows]
  const int32_t* history;  // packed histories
  uint32_t* bitmaps;     // [num_bitmaps, bitmap_words]
  int bitmap_words;
  int num_logprobs;      // top entries per row written when want_top
  bool want_logprob;
  bool want_top;
  int32_t* tokens;       // [rows]
  float* logprobs;       // [rows]
  int32_t* top_tokens;   // [rows, num_logprobs]
  float* top_logprobs;   // [rows, num_logprobs]
};

// ---- small device helpers -------------------------------------------------------------------

__device__ __forceinline__ uint32_t Key(float v) {
  const uint32_t u = __float_as_uint(v == 0.0f ? 0.0f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float FromKey(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  return __uint_as_float(u);
}

// Probability in [0, 1] -> 62-bit fixed point (exact for p >= 2^-39; truncates below).
__device__ __forceinline__ u64 ProbToFixed(float p) {
  if (!(p > 0.0f)) return 0;
  if (p >= 1.0f) return u64{1} << 62;
  return static_cast<u64>(p * 0x1p62f);
}

struct ValIdx {
  float v;
  int i;
};

// torch.argmax's order: a NaN beats every number; ties go to the lower index.
__device__ __forceinline__ bool FirstBetter(ValIdx a, ValIdx b) {
  const bool an = isnan(a.v), bn = isnan(b.v);
  if (an != bn) return an;
  if (!an && a.v != b.v) return a.v > b.v;
  return a.i < b.i;
}
// The last token of a stable ascending sort: the largest number, the higher index on ties;
// NaN loses.
__device__ __forceinline__ bool LastBetter(ValIdx a, ValIdx b) {
  const bool an = isnan(a.v), bn = isnan(b.v);
  if (an != bn) return bn;
  if (!an && a.v != b.v) return a.v > b.v;
  return a.i > b.i;
}

template <class T>
__device__ __forceinline__ T WarpSum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Sum of x over the lanes of `peers` (lanes sharing a value, from __match_any_sync); the result
// is valid in the lowest lane of each group. Every lane of the warp must call it.
__device__ __forceinline__ u64 ReducePeers(unsigned peers, u64 x) {
  const int lane = threadIdx.x & 31;
  int rel = __popc(peers & ((1u << lane) - 1u));  // rank among the peers
  unsigned above = peers & ~((2u << lane) - 1u);  // peers on higher lanes still active
  while (__any_sync(kFull, above != 0)) {
    const int next = __ffs(above);
    const u64 t = __shfl_sync(kFull, x, next ? next - 1 : lane);
    if (next) x += t;
    above &= ~__ballot_sync(kFull, rel & 1);  // odd ranks have handed their sum down
    rel >>= 1;
  }
  return x;
}

// ---- shared state ----------------------------------------------------------------------------

struct Shared {
  uint32_t hist_count[256];
  u64 hist_mass[256];
  double red_d[kWarps];
  u64 red_u[kWarps];
  ValIdx red_a[kWarps];
  ValIdx red_b[kWarps];
  // radix select / crossing results
  int sel_found;
  int sel_bin;
  u64 sel_before;
  u64 sel_before_count;
  uint32_t sel_count;
  uint32_t sel_key;
  int sel_idx;
  int list_count;
  int top_count;
  // candidates: (index << 32 | float bits of V) sorted by index; reused for the top-n sort
  u64 list[kListCap];
  float top_lp[kMaxLogprobs];
  int top_idx[kMaxLogprobs];
};

// Deterministic block reductions: a fixed butterfly per warp, then the warps' partials summed in
// warp order by every thread. All threads get the result.
__device__ double BlockSum(double v, Shared& sh) {
  v = WarpSum(v);
  if ((threadIdx.x & 31) == 0) sh.red_d[threadIdx.x >> 5] = v;
  __syncthreads();
  double s = 0.0;
  for (int w = 0; w < kWarps; ++w) s += sh.red_d[w];
  __syncthreads();
  return s;
}

__device__ u64 BlockSumU64(u64 v, Shared& sh) {
  v = WarpSum(v);
  if ((threadIdx.x & 31) == 0) sh.red_u[threadIdx.x >> 5] = v;
  __syncthreads();
  u64 s = 0;
  for (int w = 0; w < kWarps; ++w) s += sh.red_u[w];
  __syncthreads();
  return s;
}

template <bool (*Better)(ValIdx, ValIdx)>
__device__ __forceinline__ ValIdx WarpBest(ValIdx a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    ValIdx b{__shfl_xor_sync(kFull, a.v, o), __shfl_xor_sync(kFull, a.i, o)};
    if (Better(b, a)) a = b;
  }
  return a;
}

// ---- the row's values and what survives ---------------------------------------------------

struct RowView {
  const float* logits;      // [vocab]
  const uint32_t* bitmap;   // [ceil(vocab / 32)] history membership, or null
  float penalty;
  float temperature;
  bool use_temperature;

  __device__ __forceinline__ float Value(int i) const {
    float v = logits[i];
    if (bitmap && ((bitmap[i >> 5] >> (i & 31)) & 1u)) v = v < 0.0f ? v * penalty : v / penalty;
    if (use_temperature) v = v / temperature;
    return v;
  }
};

struct Cuts {
  uint32_t key = 0;  // token i survives iff (Key(V(i)), i) >= (key, idx)
  int idx = 0;
  bool minp = false;  // and, when set, p_i = expf(V - m) / minp_denom >= minp_threshold
  float minp_denom = 1.0f;
  float minp_threshold = 0.0f;
  int protect = -1;   // ... unless i == protect
  float m = 0.0f;

  __device__ __forceinline__ bool Kept(int i, float v) const {
    const uint32_t k = Key(v);
    if (k < key || (k == key && i < idx)) return false;
    if (minp && i != protect) {
      const float p = expf(v - m) / minp_denom;
      if (p < minp_threshold) return false;
    }
    return true;
  }
};

// The whole row from global memory.
struct FullSource {
  RowView row;
  int n;
  __device__ __forceinline__ int Size() const { return n; }
  __device__ __forceinline__ void Get(int pos, int& idx, float& v) const {
    idx = pos;
    v = row.Value(pos);
  }
};

// The compacted survivors in shared memory, in index order.
struct ListSource {
  const u64* list;
  int count;
  __device__ __forceinline__ int Size() const { return count; }
  __device__ __forceinline__ void Get(int pos, int& idx, float& v) const {
    const u64 e = list[pos];
    idx = static_cast<int>(e >> 32);
    v = __uint_as_float(static_cast<uint32_t>(e));
  }
};

// f(index, value) for every element of the source owned by this thread; loads are batched
// kUnroll deep so each thread keeps several in flight.
template <class Src, class F>
__device__ __forceinline__ void ForEach(const Src& src, F&& f) {
  const int size = src.Size();
  for (int base = 0; base < size; base += kThreads * kUnroll) {
    int idx[kUnroll];
    float v[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int pos = base + j * kThreads + static_cast<int>(threadIdx.x);
      idx[j] = 0;
      v[j] = 0.0f;
      if (pos < size) src.Get(pos, idx[j], v[j]);
    }
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int pos = base + j * kThreads + static_cast<int>(threadIdx.x);
      if (pos < size) f(idx[j], v[j]);
    }
  }
}

// sum over survivors of expf(V - m), in double (fixed order: deterministic).
template <class Src>
__device__ double SumExp(const Src& src, const Cuts& cuts, Shared& sh) {
  double s = 0.0;
  ForEach(src, [&](int i, float v) {
    if (cuts.Kept(i, v)) s += static_cast<double>(expf(v - cuts.m));
  });
  return BlockSum(s, sh);
}

// ---- radix select --------------------------------------------------------------------------

struct SelectResult {
  bool found;
  uint32_t key;
  int idx;
  u64 before_count;  // elements of the source strictly before the selected one
  u64 count_at_key;  // elements with the selected key (valid after all four key digits)
};

// In the ascending order of (key, index) over the source, finds the first element at which the
// running weight w (counts when !kMass) makes done(running) true. `elem(idx, v, key, w)` maps an
// element to its key and weight. Index digits are examined only when need_index. The histogram
// of every 8-bit digit is built with warp-aggregated shared atomics on integers, so the result
// does not depend on the order in which threads run.
template <bool kMass, class Src, class Elem, class Done>
__device__ SelectResult RadixSelect(const Src& src, int vocab, bool need_index, Elem elem,
                                    Done done, Shared& sh) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int idx_bits = 32 - __clz(max(vocab - 1, 1));
  const int idx_digits = need_index ? (idx_bits + 7) / 8 : 0;
  const int passes = 4 + idx_digits;
  uint32_t kpre = 0, kmask = 0, ipre = 0, imask = 0;
  u64 before = 0, before_count = 0, count_at_key = 0;
  const int size = src.Size();
  for (int pass = 0; pass < passes; ++pass) {
    const bool on_key = pass < 4;
    const int shift = on_key ? 24 - 8 * pass : 8 * (idx_digits - 1 - (pass - 4));
    for (int b = tid; b < 256; b += kThreads) {
      sh.hist_count[b] = 0;
      sh.hist_mass[b] = 0;
    }
    __syncthreads();
    for (int base = 0; base < size; base += kThreads * kUnroll) {
      int idx[kUnroll];
      float v[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int pos = base + j * kThreads + tid;
        idx[j] = 0;
        v[j] = 0.0f;
        if (pos < size) src.Get(pos, idx[j], v[j]);
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        const int pos = base + j * kThreads + tid;
        uint32_t key = 0;
        u64 w = 0;
        bool in = false;
        if (pos < size) {
          elem(idx[j], v[j], key, w);
          in = (key & kmask) == kpre && (static_cast<uint32_t>(idx[j]) & imask) == ipre;
        }
        if (__ballot_sync(kFull, in) == 0) continue;  // warp-uniform
        const uint32_t digit =
            ((on_key ? key : static_cast<uint32_t>(idx[j])) >> shift) & 255u;
        const int bin = in ? static_cast<int>(digit) : 256;
        const unsigned peers = __match_any_sync(kFull, bin);
        u64 mass = 0;
        if (kMass) mass = ReducePeers(peers, in ? w : 0);
        if (in && lane == __ffs(peers) - 1) {
          atomicAdd(&sh.hist_count[bin], static_cast<uint32_t>(__popc(peers)));
          if (kMass) atomicAdd(&sh.hist_mass[bin], mass);
        }
      }
    }
    __syncthreads();
    if (warp == 0) {
      // Lane l covers bins 8l .. 8l+7; scan across lanes, then the first lane where done flips
      // walks its bins.
      u64 lw[8], lc[8], tot = 0, tot_c = 0;
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        lc[q] = sh.hist_count[lane * 8 + q];
        lw[q] = kMass ? sh.hist_mass[lane * 8 + q] : lc[q];
        tot += lw[q];
        tot_c += lc[q];
      }
      u64 incl = tot, incl_c = tot_c;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const u64 t = __shfl_up_sync(kFull, incl, o);
        const u64 tc = __shfl_up_sync(kFull, incl_c, o);
        if (lane >= o) {
          incl += t;
          incl_c += tc;
        }
      }
      const unsigned flips = __ballot_sync(kFull, done(before + incl));
      if (flips == 0) {
        if (lane == 0) sh.sel_found = 0;
      } else if (lane == __ffs(flips) - 1) {
        u64 c = before + incl - tot, cc = before_count + incl_c - tot_c;
        int q = 0;
        for (; q < 7; ++q) {
          if (done(c + lw[q])) break;
          c += lw[q];
          cc += lc[q];
        }
        sh.sel_found = 1;
        sh.sel_bin = lane * 8 + q;
        sh.sel_before = c;
        sh.sel_before_count = cc;
        sh.sel_count = static_cast<uint32_t>(lc[q]);
      }
    }
    __syncthreads();
    const bool found = sh.sel_found;
    const uint32_t bin = sh.sel_bin;
    const uint32_t count = sh.sel_count;
    before = sh.sel_before;
    before_count = sh.sel_before_count;
    __syncthreads();
    if (!found) return {false, 0, 0, 0, 0};
    if (on_key) {
      kpre |= bin << shift;
      kmask |= 255u << shift;
      if (pass == 3) count_at_key = count;
    } else {
      ipre |= bin << shift;
      imask |= 255u << shift;
    }
    if (count == 1 && pass + 1 < passes) {
      // One element left with this prefix: fetch it instead of resolving the remaining digits.
      ForEach(src, [&](int i, float v) {
        uint32_t key;
        u64 w;
        elem(i, v, key, w);
        if ((key & kmask) == kpre && (static_cast<uint32_t>(i) & imask) == ipre) {
          sh.sel_key = key;
          sh.sel_idx = i;
        }
      });
      __syncthreads();
      const u64 at_key = on_key && pass < 3 ? 1 : count_at_key;
      const SelectResult r{true, sh.sel_key, sh.sel_idx, before_count, at_key};
      __syncthreads();
      return r;
    }
  }
  return {true, kpre, static_cast<int>(ipre), before_count, count_at_key};
}

// ---- compaction, sorting -----------------------------------------------------------------

// Ascending bitonic sort of sh.list[0, len) (len a power of two <= kListCap).
__device__ void BitonicSort(u64* a, int len) {
  __syncthreads();
  for (int k = 2; k <= len; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < len; i += kThreads) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const bool up = (i & k) == 0;
          const u64 x = a[i], y = a[ixj];
          if ((x > y) == up) {
            a[i] = y;
            a[ixj] = x;
          }
        }
      }
      __syncthreads();
    }
  }
}

__device__ __forceinline__ int PowerOfTwoAtLeast(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Copies the survivors of the full row into sh.list, sorted by index. Call only when they are
// known to be at most kListCap.
__device__ ListSource Compact(const FullSource& full, const Cuts& cuts, Shared& sh) {
  if (threadIdx.x == 0) sh.list_count = 0;
  __syncthreads();
  ForEach(full, [&](int i, float v) {
    if (cuts.Kept(i, v)) {
      const int slot = atomicAdd(&sh.list_count, 1);
      if (slot < kListCap)
        sh.list[slot] = (static_cast<u64>(i) << 32) | __float_as_uint(v);
    }
  });
  __syncthreads();
  const int count = min(sh.list_count, kListCap);
  const int len = PowerOfTwoAtLeast(max(count, 2));
  for (int s = count + threadIdx.x; s < len; s += kThreads) sh.list[s] = ~u64{0};
  BitonicSort(sh.list, len);
  return ListSource{sh.list, count};
}

// ---- stages ------------------------------------------------------------------------------

// Top-p on `src`: the new cut, and how many tokens of the full row survive it.
template <class Src>
__device__ void TopP(const Src& src, int vocab, float threshold, int last_max_idx, Cuts& cuts,
                     u64& survivors, Shared& sh) {
  const float denom = static_cast<float>(SumExp(src, cuts, sh));
  const Cuts c = cuts;
  auto elem = [&](int i, float v, uint32_t& key, u64& w) {
    const bool kept = c.Kept(i, v);
    key = Key(kept ? v : -INFINITY);
    w = kept ? ProbToFixed(expf(v - c.m) / denom) : 0;
  };
  auto done = [threshold](u64 cum) {
    return !(static_cast<float>(static_cast<double>(cum) * 0x1p-62) <= threshold);
  };
  const SelectResult r = RadixSelect<true>(src, vocab, true, elem, done, sh);
  if (r.found) {
    cuts.key = r.key;
    cuts.idx = r.idx;
    survivors = static_cast<u64>(src.Size()) - r.before_count;
  } else {  // every cumulative stays <= threshold: only the last token of the order is kept
    cuts.key = Key(cuts.m);
    cuts.idx = last_max_idx;
    survivors = 1;
  }
}

// First index (vocabulary order) whose cumulative weight exceeds t; t < the total weight.
template <class Src, class Weight>
__device__ int FindCrossing(const Src& src, u64 t, Weight weight, Shared& sh) {
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  int lo = 0, hi = src.Size();
  while (hi - lo > 32) {
    const int piece = (hi - lo + kWarps - 1) / kWarps;
    const int plo = min(lo + warp * piece, hi), phi = min(plo + piece, hi);
    u64 s = 0;
    for (int pos0 = plo + lane; pos0 < phi; pos0 += 32 * kUnroll) {
      int i[kUnroll];
      float v[kUnroll];
#pragma unroll
      for (int j = 0; j < kUnroll; ++j) {
        i[j] = 0;
        v[j] = 0.0f;
        if (pos0 + 32 * j < phi) src.Get(pos0 + 32 * j, i[j], v[j]);
      }
#pragma unroll
      for (int j = 0; j < kUnroll; ++j)
        if (pos0 + 32 * j < phi) s += weight(i[j], v[j]);
    }
    s = WarpSum(s);
    if (lane == 0) sh.red_u[warp] = s;
    __syncthreads();
    if (tid == 0) {
      u64 c = 0;
      int w = 0;
      for (; w < kWarps - 1; ++w) {
        if (c + sh.red_u[w] > t) break;
        c += sh.red_u[w];
      }
      sh.sel_bin = w;
      sh.sel_before = c;
    }
    __syncthreads();
    const int w = sh.sel_bin;
    t -= sh.sel_before;
    const int new_lo = min(lo + w * piece, hi);
    hi = min(new_lo + piece, hi);
    lo = new_lo;
    __syncthreads();
  }
  if (warp == 0) {
    const int pos = lo + lane;
    int i = -1;
    u64 w = 0;
    if (pos < hi) {
      float v;
      src.Get(pos, i, v);
      w = weight(i, v);
    }
    u64 incl = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const u64 x = __shfl_up_sync(kFull, incl, o);
      if (lane >= o) incl += x;
    }
    const unsigned hit = __ballot_sync(kFull, pos < hi && incl > t && incl - w <= t);
    const int src_lane = hit ? __ffs(hit) - 1 : 0;
    const int token = __shfl_sync(kFull, i, src_lane);
    if (lane == 0) sh.sel_idx = hit ? token : -1;
  }
  __syncthreads();
  const int token = sh.sel_idx;
  __syncthreads();
  return token;
}

// The n best (logprob descending, index ascending) of the full row by radix select + gather.
__device__ void TopNFull(const FullSource& src, int vocab, const Cuts& cuts, float log_sum,
                         int n, Shared& sh) {
  auto lp_of = [&](int i, float v) {
    const float s = cuts.Kept(i, v) ? v : -INFINITY;
    return (s - cuts.m) - log_sum;
  };
  auto elem = [&](int i, float v, uint32_t& key, u64& w) {
    key = ~Key(lp_of(i, v));
    w = 1;
  };
  const u64 target = static_cast<u64>(n);
  const SelectResult r =
      RadixSelect<false>(src, vocab, true, elem, [target](u64 c) { return c >= target; }, sh);
  if (threadIdx.x == 0) sh.top_count = 0;
  __syncthreads();
  ForEach(src, [&](int i, float v) {
    const float lp = lp_of(i, v);
    const uint32_t k = ~Key(lp);
    if (k < r.key || (k == r.key && i <= r.idx)) {
      const int slot = atomicAdd(&sh.top_count, 1);
      if (slot < kMaxLogprobs) {
        sh.top_idx[slot] = i;
        sh.top_lp[slot] = lp;
      }
    }
  });
  __syncthreads();
}

// The same on a compacted list; tokens outside it are -inf and come after the finite ones in
// index order.
__device__ void TopNList(const ListSource& src, const Cuts& cuts, float log_sum, int n,
                         Shared& sh) {
  const int count = src.Size();
  const int len = PowerOfTwoAtLeast(max(count, 2));
  // Rewrite the list in place as (~Key(logprob) << 32 | index) for the finite entries.
  constexpr int kPer = kListCap / kThreads;
  u64 mine[kPer];
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int pos = threadIdx.x + k * kThreads;
    u64 e = ~u64{0};
    if (pos < count) {
      int i;
      float v;
      src.Get(pos, i, v);
      const float lp = ((cuts.Kept(i, v) ? v : -INFINITY) - cuts.m) - log_sum;
      if (lp > -INFINITY) e = (static_cast<u64>(~Key(lp)) << 32) | static_cast<uint32_t>(i);
    }
    mine[k] = e;
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int pos = threadIdx.x + k * kThreads;
    if (pos < len) sh.list[pos] = mine[k];
  }
  BitonicSort(sh.list, len);
  if (threadIdx.x == 0) {
    int have = 0;
    while (have < n && have < count && sh.list[have] != ~u64{0}) {
      const u64 e = sh.list[have];
      sh.top_idx[have] = static_cast<int>(static_cast<uint32_t>(e));
      sh.top_lp[have] = FromKey(~static_cast<uint32_t>(e >> 32));
      ++have;
    }
    const int finite = have;
    for (int i = 0; have < n && i < 0x7fffffff; ++i) {  // lowest -inf indices
      bool taken = false;
      for (int q = 0; q < finite; ++q) taken |= sh.top_idx[q] == i;
      if (taken) continue;
      sh.top_idx[have] = i;
      sh.top_lp[have] = -INFINITY;
      ++have;
    }
    sh.top_count = have;
  }
  __syncthreads();
}

// ---- the kernel --------------------------------------------------------------------------

template <class Src>
struct SampleOut {
  int token;
  double sum_exp;
};

// Top-p, min-p and the draw on `src` once top-k (if any) is done. Returns the token and the
// sum of exp(s - m) over the final survivors.
template <class Src>
__device__ SampleOut<Src> FinishSampling(const Src& src, const FullSource& full, int vocab,
                                         const DevRow& row, int last_max_idx, Cuts& cuts,
                                         Shared& sh) {
  const float m = cuts.m;
  if (row.flags & kMinP) {
    const float denom = static_cast<float>(SumExp(src, cuts, sh));
    const float top = 1.0f / denom;
    cuts.minp_threshold = row.min_p * top;
    cuts.minp_denom = denom;
    cuts.protect = last_max_idx;
    cuts.minp = true;
  }
  const int shift = philox::DrawWeightShift(vocab);
  const Cuts c = cuts;
  auto weight = [&](int i, float v) -> u64 {
    return c.Kept(i, v) ? static_cast<u64>(philox::ExpToFixed(expf(v - m), shift)) : 0;
  };
  double s = 0.0;
  u64 total = 0;
  ForEach(src, [&](int i, float v) {
    if (c.Kept(i, v)) {
      const float e = expf(v - m);
      s += static_cast<double>(e);
      total += static_cast<u64>(philox::ExpToFixed(e, shift));
    }
  });
  s = BlockSum(s, sh);
  total = BlockSumU64(total, sh);
  int token = -1;
  if (total > 0) {
    const u64 t = philox::SampleDrawThreshold(philox::Uniform53(row.seed, row.step), total);
    token = FindCrossing(src, t, weight, sh);
  }
  if (token < 0) {  // nothing drawable (all -inf or NaN): the argmax of the final scores
    ValIdx best{-INFINITY, 0x7fffffff};
    ForEach(full, [&](int i, float v) {
      const ValIdx cand{c.Kept(i, v) ? v : -INFINITY, i};
      if (FirstBetter(cand, best)) best = cand;
    });
    best = WarpBest<FirstBetter>(best);
    if ((threadIdx.x & 31) == 0) sh.red_a[threadIdx.x >> 5] = best;
    __syncthreads();
    best = sh.red_a[0];
    for (int w = 1; w < kWarps; ++w)
      if (FirstBetter(sh.red_a[w], best)) best = sh.red_a[w];
    __syncthreads();
    token = best.i;
  }
  return {token, s};
}

__global__ void __launch_bounds__(kThreads, 1) SampleKernel(KernelArgs a) {
  __shared__ Shared sh;
  const int r = blockIdx.x;
  const int tid = threadIdx.x;
  const int vocab = a.vocab;
  const DevRow row = a.rows[r];
  const bool greedy = row.flags & kGreedy;

  FullSource full;
  full.n = vocab;
  full.row.logits = a.logits + static_cast<int64_t>(r) * vocab;
  full.row.bitmap = nullptr;
  full.row.penalty = row.penalty;
  full.row.temperature = row.temperature;
  full.row.use_temperature = !greedy && (row.flags & kTemperature);
  if (row.flags & kPenalty) {
    uint32_t* bitmap = a.bitmaps + static_cast<int64_t>(row.bitmap_slot) * a.bitmap_words;
    for (int w = tid; w < a.bitmap_words; w += kThreads) bitmap[w] = 0;
    __syncthreads();
    const int32_t* hist = a.history + row.history_offset;
    for (int64_t h = tid; h < row.history_len; h += kThreads) {
      const int32_t id = hist[h];
      if (id >= 0 && id < vocab) atomicOr(&bitmap[id >> 5], 1u << (id & 31));
    }
    __threadfence_block();
    __syncthreads();
    full.row.bitmap = bitmap;
  }

  // Pass A: first argmax (greedy), max and its last index (top-p's cap, min-p's protected token).
  ValIdx first{-INFINITY, 0x7fffffff}, last{NAN, -1};
  ForEach(full, [&](int i, float v) {
    const ValIdx c{v, i};
    if (FirstBetter(c, first)) first = c;
    if (LastBetter(c, last)) last = c;
  });
  first = WarpBest<FirstBetter>(first);
  last = WarpBest<LastBetter>(last);
  if ((tid & 31) == 0) {
    sh.red_a[tid >> 5] = first;
    sh.red_b[tid >> 5] = last;
  }
  __syncthreads();
  first = sh.red_a[0];
  last = sh.red_b[0];
  for (int w = 1; w < kWarps; ++w) {
    if (FirstBetter(sh.red_a[w], first)) first = sh.red_a[w];
    if (LastBetter(sh.red_b[w], last)) last = sh.red_b[w];
  }
  __syncthreads();

  Cuts cuts;
  cuts.m = isnan(last.v) ? -INFINITY : last.v;
  const int last_max_idx = last.i < 0 ? vocab - 1 : last.i;

  int token;
  double sum_exp = 0.0;
  bool have_sum = false;
  bool on_list = false;
  ListSource list{sh.list, 0};
  if (greedy) {
    token = first.i;
  } else {
    if (row.flags & kTopK) {
      auto elem = [&](int, float v, uint32_t& key, u64& w) {
        key = ~Key(v);
        w = 1;
      };
      const u64 k = static_cast<u64>(row.top_k);
      const SelectResult s =
          RadixSelect<false>(full, vocab, false, elem, [k](u64 c) { return c >= k; }, sh);
      cuts.key = ~s.key;
      cuts.idx = 0;
      // Survivors: every key above the k-th (before_count) and every copy of it.
      const u64 survivors = s.before_count + s.count_at_key;
      if (survivors <= static_cast<u64>(kListCap)) {
        list = Compact(full, cuts, sh);
        on_list = true;
      }
    }
    if (row.flags & kTopP) {
      u64 survivors = 0;
      if (on_list) {
        TopP(list, vocab, row.top_p_threshold, last_max_idx, cuts, survivors, sh);
      } else {
        TopP(full, vocab, row.top_p_threshold, last_max_idx, cuts, survivors, sh);
        if (survivors <= static_cast<u64>(kListCap)) {
          list = Compact(full, cuts, sh);
          on_list = true;
        }
      }
    }
    if (on_list) {
      const SampleOut<ListSource> o =
          FinishSampling(list, full, vocab, row, last_max_idx, cuts, sh);
      token = o.token;
      sum_exp = o.sum_exp;
    } else {
      const SampleOut<FullSource> o =
          FinishSampling(full, full, vocab, row, last_max_idx, cuts, sh);
      token = o.token;
      sum_exp = o.sum_exp;
    }
    have_sum = true;
  }
  if (tid == 0) a.tokens[r] = token;

  if (!a.want_logprob && !a.want_top) return;
  if (!have_sum) sum_exp = SumExp(full, cuts, sh);
  const float log_sum = static_cast<float>(log(sum_exp));
  if (a.want_logprob && tid == 0) {
    const float v = full.row.Value(token);
    a.logprobs[r] = ((cuts.Kept(token, v) ? v : -INFINITY) - cuts.m) - log_sum;
  }
  if (!a.want_top) return;
  const int n = min(a.num_logprobs, vocab);
  if (on_list) {
    TopNList(list, cuts, log_sum, n, sh);
  } else {
    TopNFull(full, vocab, cuts, log_sum, n, sh);
  }
  if (tid == 0) {
    // Best first: (logprob descending, index ascending); at most 32 entries.
    const int have = min(sh.top_count, n);
    for (int x = 1; x < have; ++x) {
      const float lp = sh.top_lp[x];
      const int id = sh.top_idx[x];
      const uint32_t kx = ~Key(lp);
      int y = x - 1;
      while (y >= 0) {
        const uint32_t ky = ~Key(sh.top_lp[y]);
        if (ky < kx || (ky == kx && sh.top_idx[y] < id)) break;
        sh.top_lp[y + 1] = sh.top_lp[y];
        sh.top_idx[y + 1] = sh.top_idx[y];
        --y;
      }
      sh.top_lp[y + 1] = lp;
      sh.top_idx[y + 1] = id;
    }
    const int64_t o = static_cast<int64_t>(r) * a.num_logprobs;
    for (int j = 0; j < a.num_logprobs; ++j) {
      a.top_tokens[o + j] = j < have ? sh.top_idx[j] : -1;
      a.top_logprobs[o + j] = j < have ? sh.top_lp[j] : -INFINITY;
    }
  }
}

// ---- host side -------------------------------------------------------------------------------

constexpr size_t kAlign = 256;
size_t AlignUp(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

bool RowUsesPenalty(const SampleRow& row) {
  return row.repetition_penalty != 1.0f && row.history_end > row.history_begin;
}

// Workspace: [DevRow x rows | packed histories | bitmaps | outputs]; the first two come from one
// host staging buffer, the outputs go back in one copy.
struct Layout {
  size_t rows_off = 0, hist_off = 0, bitmap_off = 0, out_off = 0;
  size_t tokens_off = 0, logprobs_off = 0, top_tokens_off = 0, top_logprobs_off = 0;
  size_t in_bytes = 0, out_bytes = 0, total = 0;
  int64_t history_total = 0;
  int num_bitmaps = 0;
  int bitmap_words = 0;
  bool want_logprob = false, want_top = false;
};

Layout MakeLayout(const SampleParams& p) {
  Layout l;
  for (int r = 0; r < p.rows; ++r) {
    const SampleRow& row = p.rows_host[r];
    if (RowUsesPenalty(row)) {
      l.history_total += row.history_end - row.history_begin;
      ++l.num_bitmaps;
    }
  }
  l.bitmap_words = (p.vocab + 31) / 32;
  l.want_logprob = p.logprobs_host != nullptr;
  l.want_top = p.num_logprobs > 0 && (p.top_tokens_host || p.top_logprobs_host);
  l.rows_off = 0;
  l.hist_off = AlignUp(sizeof(DevRow) * static_cast<size_t>(p.rows));
  l.in_bytes = l.hist_off + sizeof(int32_t) * static_cast<size_t>(l.history_total);
  l.bitmap_off = AlignUp(l.in_bytes);
  l.out_off = AlignUp(l.bitmap_off + sizeof(uint32_t) * static_cast<size_t>(l.num_bitmaps) *
                                         static_cast<size_t>(l.bitmap_words));
  const size_t rows = static_cast<size_t>(p.rows);
  const size_t top = l.want_top ? rows * static_cast<size_t>(p.num_logprobs) : 0;
  l.tokens_off = l.out_off;
  l.logprobs_off = l.tokens_off + sizeof(int32_t) * rows;
  l.top_tokens_off = l.logprobs_off + (l.want_logprob ? sizeof(float) * rows : 0);
  l.top_logprobs_off = l.top_tokens_off + sizeof(int32_t) * top;
  l.out_bytes = l.top_logprobs_off + sizeof(float) * top - l.out_off;
  l.total = AlignUp(l.out_off + l.out_bytes);
  return l;
}

void Validate(const SampleParams& p) {
  if (p.vocab <= 0) throw std::invalid_argument("cuda::SampleTokens: vocab must be positive");
  if (!p.logits || !p.rows_host || !p.tokens_host)
    throw std::invalid_argument(
        "cuda::SampleTokens: logits, rows_host and tokens_host are required");
  if (p.num_logprobs < 0 || p.num_logprobs > kMaxLogprobs)
    throw std::invalid_argument("cuda::SampleTokens: num_logprobs must be in [0, 32], got " +
                                std::to_string(p.num_logprobs));
  for (int r = 0; r < p.rows; ++r) {
    const SampleRow& row = p.rows_host[r];
    if (row.history_begin < 0 || row.history_end < row.history_begin ||
        (row.history_end > row.history_begin && !p.history_host))
      throw std::invalid_argument("cuda::SampleTokens: bad history range in row " +
                                  std::to_string(r));
  }
}

}  // namespace

size_t SampleWorkspaceBytes(const SampleParams& p) {
  if (p.rows <= 0) return 0;
  return MakeLayout(p).total;
}

void SampleTokens(const SampleParams& p, void* workspace, size_t workspace_bytes,
                  cudaStream_t stream) {
  if (p.rows <= 0) return;
  Validate(p);
  const Layout l = MakeLayout(p);
  if (!workspace || workspace_bytes < l.total)
    throw std::invalid_argument("cuda::SampleTokens: workspace of " +
                                std::to_string(workspace_bytes) + " bytes, " +
                                std::to_string(l.total) + " needed");

  // Host staging (pageable: cudaMemcpyAsync stages it before returning; pinned memory would
  // make the copy truly asynchronous but the call waits for its results anyway).
  std::vector<unsigned char> staging(l.in_bytes);
  DevRow* rows = reinterpret_cast<DevRow*>(staging.data() + l.rows_off);
  int32_t* hist = reinterpret_cast<int32_t*>(staging.data() + l.hist_off);
  int64_t hist_at = 0;
  int slot = 0;
  for (int r = 0; r < p.rows; ++r) {
    const SampleRow& s = p.rows_host[r];
    DevRow d{};
    d.flags = 0;
    d.bitmap_slot = -1;
    if (s.greedy) d.flags |= kGreedy;
    d.penalty = s.repetition_penalty;
    if (RowUsesPenalty(s)) {
      d.flags |= kPenalty;
      d.bitmap_slot = slot++;
      d.history_offset = hist_at;
      d.history_len = s.history_end - s.history_begin;
      std::memcpy(hist + hist_at, p.history_host + s.history_begin,
                  sizeof(int32_t) * static_cast<size_t>(d.history_len));
      hist_at += d.history_len;
    }
    d.temperature = s.temperature;
    if (!s.greedy) {
      if (s.temperature != 1.0f) d.flags |= kTemperature;
      const int k = std::max(s.top_k, 1);
      if (s.top_k != 0 && k < p.vocab) {
        d.flags |= kTopK;
        d.top_k = k;
      }
      if (s.top_p < 1.0f) {
        d.flags |= kTopP;
        d.top_p_threshold = static_cast<float>(1.0 - static_cast<double>(s.top_p));
      }
      if (s.min_p > 0.0f) {
        d.flags |= kMinP;
        d.min_p = s.min_p;
      }
    }
    d.seed = s.seed;
    d.step = s.step;
    rows[r] = d;
  }

  unsigned char* ws = static_cast<unsigned char*>(workspace);
  INFER_CUDA_CHECK(
      cudaMemcpyAsync(ws, staging.data(), l.in_bytes, cudaMemcpyHostToDevice, stream));

  KernelArgs a{};
  a.logits = p.logits;
  a.vocab = p.vocab;
  a.rows = reinterpret_cast<const DevRow*>(ws + l.rows_off);
  a.history = reinterpret_cast<const int32_t*>(ws + l.hist_off);
  a.bitmaps = reinterpret_cast<uint32_t*>(ws + l.bitmap_off);
  a.bitmap_words = l.bitmap_words;
  a.num_logprobs = p.num_logprobs;
  a.want_logprob = l.want_logprob;
  a.want_top = l.want_top;
  a.tokens = reinterpret_cast<int32_t*>(ws + l.tokens_off);
  a.logprobs = reinterpret_cast<float*>(ws + l.logprobs_off);
  a.top_tokens = reinterpret_cast<int32_t*>(ws + l.top_tokens_off);
  a.top_logprobs = reinterpret_cast<float*>(ws + l.top_logprobs_off);
  SampleKernel<<<p.rows, kThreads, 0, stream>>>(a);
  INFER_CUDA_CHECK(cudaGetLastError());

  std::vector<unsigned char> out(l.out_bytes);
  INFER_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), ws + l.out_off, l.out_bytes, cudaMemcpyDeviceToHost, stream));
  INFER_CUDA_CHECK(cudaStreamSynchronize(stream));

  const size_t rows_n = static_cast<size_t>(p.rows);
  const size_t top = l.want_top ? rows_n * static_cast<size_t>(p.num_logprobs) : 0;
  std::memcpy(p.tokens_host, out.data() + (l.tokens_off - l.out_off), sizeof(int32_t) * rows_n);
  if (l.want_logprob)
    std::memcpy(p.logprobs_host, out.data() + (l.logprobs_off - l.out_off),
                sizeof(float) * rows_n);
  if (l.want_top) {
    if (p.top_tokens_host)
      std::memcpy(p.top_tokens_host, out.data() + (l.top_tokens_off - l.out_off),
                  sizeof(int32_t) * top);
    if (p.top_logprobs_host)
      std::memcpy(p.top_logprobs_host, out.data() + (l.top_logprobs_off - l.out_off),
                  sizeof(float) * top);
  }
}

}  // namespace infer::kernels::cuda
