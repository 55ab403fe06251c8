// Host emulation of the few CUDA features the attention kernels use: kernels run as fibers
// (one per CUDA thread, one block at a time), __syncthreads/__syncwarp/__shfl_xor_sync/ldmatrix/
// mma.sync are warp- or block-collectives resolved by a scheduler; cp.async copies at issue
// (EARLY) or at wait (LATE). Force-included (-include) before the unchanged kernel sources.
#pragma once

#define __CUDA_RUNTIME_H__
#define __CUDA_FP16_H__
#define __CUDA_BF16_H__
#define INFER_KERNELS_CUDA_ATTENTION_DEVICE_CUH_

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "kernels/half_convert.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint4 { uint32_t x, y, z, w; };
struct uint2 { uint32_t x, y; };
struct float2 { float x, y; };
inline uint4 make_uint4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return {a, b, c, d}; }

typedef struct CUstream_st* cudaStream_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorUnknown = 1 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
namespace emu {
inline int g_sm_count = 132;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = emu::g_sm_count;
  return cudaSuccess;
}

struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };
struct __half2 { __half x, y; };
struct __nv_bfloat162 { __nv_bfloat16 x, y; };
inline float __half2float(__half h) {
  float f;
  infer::kernels::HalfToFloats(&h.bits, &f, 1);
  return f;
}
inline __half __float2half_rn(float f) {
  __half h;
  infer::kernels::FloatsToHalf(&f, &h.bits, 1);
  return h;
}
inline float __bfloat162float(__nv_bfloat16 b) { return infer::kernels::Bf16ToFloat(b.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {infer::kernels::FloatToBf16(f)}; }
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) {
  return {__bfloat162float(h.x), __bfloat162float(h.y)};
}
inline __half2 __floats2half2_rn(float a, float b) { return {__float2half_rn(a), __float2half_rn(b)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}
inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
template <typename T>
inline T __ldg(const T* p) { return *p; }
using std::max;
using std::min;

namespace emu {

enum State { kRun, kWaitBlock, kWaitWarp, kDone };
enum Kind { kShfl = 1, kLdm, kLdmT, kMmaF16, kMmaBF16, kSyncWarp };

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  int tid = 0;
  State state = kRun;
  int kind = 0;
  struct Copy { void* dst; const void* src; bool valid; };
  std::vector<Copy> pending;
};

struct Warp {
  uint64_t in[32][10];
  uint64_t out[32][4];
};

struct Runtime {
  dim3 grid, block, block_idx;
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  int cur = -1;
  ucontext_t sched;
  std::function<void()> body;
  bool late_copies = false;    // cp.async copies at wait instead of at issue
  bool warp_sequential = false;  // run one warp at a time up to the next block barrier
  unsigned rng = 12345;
  long long collectives = 0;
};
inline Runtime& rt() {
  static Runtime r;
  return r;
}
inline Fiber& self() { return rt().fibers[rt().cur]; }
inline int lane() { return self().tid & 31; }
inline Warp& my_warp() { return rt().warps[self().tid >> 5]; }

inline void Yield() {
  Runtime& r = rt();
  swapcontext(&r.fibers[r.cur].ctx, &r.sched);
}
inline void WaitWarp(int kind) {
  self().state = kWaitWarp;
  self().kind = kind;
  Yield();
}

[[noreturn]] inline void Fail(const std::string& why) {
  Runtime& r = rt();
  std::fprintf(stderr, "EMU FAILURE: %s (block %u,%u,%u)\n", why.c_str(), r.block_idx.x,
               r.block_idx.y, r.block_idx.z);
  for (size_t i = 0; i < r.fibers.size(); ++i) {
    std::fprintf(stderr, "  thread %zu state %d kind %d\n", i, r.fibers[i].state,
                 r.fibers[i].kind);
  }
  std::abort();
}

inline float Bits2F(uint64_t u) {
  float f;
  uint32_t w = static_cast<uint32_t>(u);
  std::memcpy(&f, &w, 4);
  return f;
}
inline uint64_t F2Bits(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}
inline float Lo(uint32_t w, bool bf16) {
  const uint16_t h = static_cast<uint16_t>(w & 0xffff);
  return bf16 ? infer::kernels::Bf16ToFloat(h) : __half2float(__half{h});
}
inline float Hi(uint32_t w, bool bf16) {
  const uint16_t h = static_cast<uint16_t>(w >> 16);
  return bf16 ? infer::kernels::Bf16ToFloat(h) : __half2float(__half{h});
}

inline void Combine(Warp& w, int kind) {
  ++rt().collectives;
  switch (kind) {
    case kShfl:
      for (int l = 0; l < 32; ++l) {
        const int off = static_cast<int>(w.in[l][1]);
        if (off != static_cast<int>(w.in[0][1])) Fail("shuffle offsets differ across lanes");
        w.out[l][0] = w.in[l ^ off][0];
      }
      break;
    case kLdm:
    case kLdmT:
      for (int l = 0; l < 32; ++l) {
        if (w.in[l][0] % 16 != 0) Fail("ldmatrix row address not 16-byte aligned");
      }
      for (int l = 0; l < 32; ++l) {
        for (int i = 0; i < 4; ++i) {
          if (kind == kLdm) {
            const char* rowp = reinterpret_cast<const char*>(w.in[8 * i + l / 4][0]);
            uint32_t v;
            std::memcpy(&v, rowp + (l % 4) * 4, 4);
            w.out[l][i] = v;
          } else {
            const char* r0 = reinterpret_cast<const char*>(w.in[8 * i + 2 * (l % 4)][0]);
            const char* r1 = reinterpret_cast<const char*>(w.in[8 * i + 2 * (l % 4) + 1][0]);
            uint16_t lo, hi;
            std::memcpy(&lo, r0 + 2 * (l / 4), 2);
            std::memcpy(&hi, r1 + 2 * (l / 4), 2);
            w.out[l][i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
          }
        }
      }
      break;
    case kMmaF16:
    case kMmaBF16: {
      const bool bf = kind == kMmaBF16;
      float A[16][16], B[16][8], C[16][8];
      for (int l = 0; l < 32; ++l) {
        const int g = l / 4, q = l % 4;
        const uint32_t a0 = w.in[l][0], a1 = w.in[l][1], a2 = w.in[l][2], a3 = w.in[l][3];
        A[g][2 * q] = Lo(a0, bf); A[g][2 * q + 1] = Hi(a0, bf);
        A[g + 8][2 * q] = Lo(a1, bf); A[g + 8][2 * q + 1] = Hi(a1, bf);
        A[g][2 * q + 8] = Lo(a2, bf); A[g][2 * q + 9] = Hi(a2, bf);
        A[g + 8][2 * q + 8] = Lo(a3, bf); A[g + 8][2 * q + 9] = Hi(a3, bf);
        const uint32_t b0 = w.in[l][4], b1 = w.in[l][5];
        B[2 * q][g] = Lo(b0, bf); B[2 * q + 1][g] = Hi(b0, bf);
        B[2 * q + 8][g] = Lo(b1, bf); B[2 * q + 9][g] = Hi(b1, bf);
        C[g][2 * q] = Bits2F(w.in[l][6]); C[g][2 * q + 1] = Bits2F(w.in[l][7]);
        C[g + 8][2 * q] = Bits2F(w.in[l][8]); C[g + 8][2 * q + 1] = Bits2F(w.in[l][9]);
      }
      float D[16][8];
      for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 8; ++n) {
          float acc = C[m][n];
          for (int k = 0; k < 16; ++k) acc += A[m][k] * B[k][n];
          D[m][n] = acc;
        }
      for (int l = 0; l < 32; ++l) {
        const int g = l / 4, q = l % 4;
        w.out[l][0] = F2Bits(D[g][2 * q]);
        w.out[l][1] = F2Bits(D[g][2 * q + 1]);
        w.out[l][2] = F2Bits(D[g + 8][2 * q]);
        w.out[l][3] = F2Bits(D[g + 8][2 * q + 1]);
      }
      break;
    }
    case kSyncWarp:
      break;
    default:
      Fail("unknown collective");
  }
}

inline void FiberEntry() {
  Runtime& r = rt();
  r.body();
  r.fibers[r.cur].state = kDone;
  swapcontext(&r.fibers[r.cur].ctx, &r.sched);
}

inline void RunFiber(int i) {
  Runtime& r = rt();
  r.cur = i;
  swapcontext(&r.sched, &r.fibers[i].ctx);
  r.cur = -1;
}

// Releases warps whose lanes all wait on the same collective; true if any was released.
inline bool ReleaseWarp(int w) {
  Runtime& r = rt();
  const int base = w * 32;
  const int kind = r.fibers[base].kind;
  for (int l = 0; l < 32; ++l) {
    const Fiber& f = r.fibers[base + l];
    if (f.state != kWaitWarp) return false;
  }
  for (int l = 0; l < 32; ++l) {
    if (r.fibers[base + l].kind != kind) Fail("lanes of a warp wait on different collectives");
  }
  Combine(r.warps[w], kind);
  for (int l = 0; l < 32; ++l) r.fibers[base + l].state = kRun;
  return true;
}

inline void CheckWarpNotPartial(int w) {
  Runtime& r = rt();
  int done = 0, warp_wait = 0;
  for (int l = 0; l < 32; ++l) {
    done += r.fibers[w * 32 + l].state == kDone;
    warp_wait += r.fibers[w * 32 + l].state == kWaitWarp;
  }
  if (warp_wait > 0 && warp_wait < 32) Fail("warp collective with diverged or exited lanes");
  (void)done;
}

inline void RunBlock() {
  Runtime& r = rt();
  const int n = static_cast<int>(r.block.x * r.block.y * r.block.z);
  if (n % 32 != 0) Fail("block size not a multiple of 32");
  const int nw = n / 32;
  r.fibers.resize(n);
  r.warps.resize(nw);
  for (int i = 0; i < n; ++i) {
    Fiber& f = r.fibers[i];
    f.tid = i;
    f.state = kRun;
    f.kind = 0;
    f.pending.clear();
    if (f.stack.empty()) f.stack.resize(512 * 1024);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, FiberEntry, 0);
  }
  std::vector<int> order(nw);
  for (int w = 0; w < nw; ++w) order[w] = w;
  while (true) {
    if (r.warp_sequential) {
      // A random warp order; each warp runs until all its lanes wait at the block barrier or end.
      for (int w = nw - 1; w > 0; --w) {
        r.rng = r.rng * 1103515245u + 12345u;
        std::swap(order[w], order[(r.rng >> 8) % (w + 1)]);
      }
      for (int w : order) {
        while (true) {
          bool ran = false;
          for (int l = 0; l < 32; ++l) {
            if (r.fibers[w * 32 + l].state == kRun) {
              RunFiber(w * 32 + l);
              ran = true;
            }
          }
          if (ReleaseWarp(w)) continue;
          if (!ran) break;
        }
      }
    } else {
      for (int i = 0; i < n; ++i) {
        if (r.fibers[i].state == kRun) RunFiber(i);
      }
      bool released = false;
      for (int w = 0; w < nw; ++w) released |= ReleaseWarp(w);
      if (released) continue;
    }
    // Nothing runnable: all done, all at the block barrier, or stuck.
    int done = 0, at_barrier = 0;
    for (int i = 0; i < n; ++i) {
      done += r.fibers[i].state == kDone;
      at_barrier += r.fibers[i].state == kWaitBlock;
    }
    if (done == n) break;
    if (at_barrier + done == n) {
      if (done != 0) Fail("__syncthreads after some threads exited");
      for (int i = 0; i < n; ++i) r.fibers[i].state = kRun;
      continue;
    }
    for (int w = 0; w < nw; ++w) CheckWarpNotPartial(w);
    Fail("deadlock: threads wait on different barriers");
  }
}

inline void RunGrid(dim3 grid, dim3 block, std::function<void()> body) {
  Runtime& r = rt();
  r.grid = grid;
  r.block = block;
  r.body = std::move(body);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        r.block_idx = dim3(x, y, z);
        RunBlock();
      }
}

inline dim3 ThreadIdx() { return dim3(static_cast<unsigned>(self().tid), 0, 0); }

}  // namespace emu

#define threadIdx (::emu::ThreadIdx())
#define blockIdx (::emu::rt().block_idx)
#define gridDim (::emu::rt().grid)
#define blockDim (::emu::rt().block)

inline void __syncthreads() {
  emu::self().state = emu::kWaitBlock;
  emu::Yield();
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu::WaitWarp(emu::kSyncWarp); }
inline float __shfl_xor_sync(unsigned, float v, int off, int = 32) {
  emu::Warp& w = emu::my_warp();
  const int l = emu::lane();
  w.in[l][0] = emu::F2Bits(v);
  w.in[l][1] = static_cast<uint64_t>(off);
  emu::WaitWarp(emu::kShfl);
  return emu::Bits2F(w.out[l][0]);
}

namespace infer::kernels::cuda::attn {

template <typename... Params, typename... Args>
inline void LaunchKernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t,
                         Args&&... args) {
  std::tuple<std::decay_t<Params>...> params(args...);
  emu::RunGrid(grid, block, [&] { std::apply(kernel, params); });
}

using SmemAddrT = uintptr_t;
inline SmemAddrT SmemAddr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

inline void CpAsync16(SmemAddrT dst, const void* src, bool valid) {
  if (dst % 16 != 0) emu::Fail("cp.async destination not 16-byte aligned");
  if (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0) {
    emu::Fail("cp.async source not 16-byte aligned");
  }
  void* d = reinterpret_cast<void*>(dst);
  if (emu::rt().late_copies) {
    emu::self().pending.push_back({d, src, valid});
  } else if (valid) {
    std::memcpy(d, src, 16);
  } else {
    std::memset(d, 0, 16);
  }
}
inline void CpAsyncCommit() {}
inline void CpAsyncWaitAll() {
  for (auto& c : emu::self().pending) {
    if (c.valid) std::memcpy(c.dst, c.src, 16); else std::memset(c.dst, 0, 16);
  }
  emu::self().pending.clear();
}

inline void LdMatrixImpl(uint32_t (&r)[4], SmemAddrT addr, int kind) {
  emu::Warp& w = emu::my_warp();
  const int l = emu::lane();
  w.in[l][0] = addr;
  emu::WaitWarp(kind);
  for (int i = 0; i < 4; ++i) r[i] = static_cast<uint32_t>(w.out[l][i]);
}
inline void LdMatrixX4(uint32_t (&r)[4], SmemAddrT addr) { LdMatrixImpl(r, addr, emu::kLdm); }
inline void LdMatrixX4Trans(uint32_t (&r)[4], SmemAddrT addr) {
  LdMatrixImpl(r, addr, emu::kLdmT);
}

inline void MmaImpl(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, int kind) {
  emu::Warp& w = emu::my_warp();
  const int l = emu::lane();
  for (int i = 0; i < 4; ++i) w.in[l][i] = a[i];
  w.in[l][4] = b0;
  w.in[l][5] = b1;
  for (int i = 0; i < 4; ++i) w.in[l][6 + i] = emu::F2Bits(c[i]);
  emu::WaitWarp(kind);
  for (int i = 0; i < 4; ++i) c[i] = emu::Bits2F(w.out[l][i]);
}
template <typename T>
inline void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  MmaImpl(c, a, b0, b1, std::is_same_v<T, __nv_bfloat16> ? emu::kMmaBF16 : emu::kMmaF16);
}

}  // namespace infer::kernels::cuda::attn
