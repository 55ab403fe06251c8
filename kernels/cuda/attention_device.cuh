// The hardware-specific primitives of the attention kernels, kept in one header: shared-memory
// addresses, cp.async, ldmatrix, mma.sync, and the kernel launch itself. Everything else in
// attention_*.cu is plain CUDA C++. (A host emulator of the kernels can supply this header's
// functions under the same include guard and run the unchanged kernel sources on the CPU.)
#ifndef INFER_KERNELS_CUDA_ATTENTION_DEVICE_CUH_
#define INFER_KERNELS_CUDA_ATTENTION_DEVICE_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace infer::kernels::cuda::attn {

// kernel<<<grid, block, 0, stream>>>(args...).
template <typename... Params, typename... Args>
inline void LaunchKernel(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream,
                         Args&&... args) {
  kernel<<<grid, block, 0, stream>>>(static_cast<Args&&>(args)...);
}

// A shared-memory address as the PTX instructions take it (32-bit shared window).
using SmemAddrT = uint32_t;
__device__ __forceinline__ SmemAddrT SmemAddr(const void* p) {
  return static_cast<SmemAddrT>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void CpAsync16(SmemAddrT dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
__device__ __forceinline__ void CpAsyncWaitAll() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// Four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses (16 bytes each) of matrix i;
// register i receives matrix i, lane l holding row l/4, columns 2(l%4) and 2(l%4)+1 (low half
// first). Trans: lane l holds rows 2(l%4) and 2(l%4)+1 of column l/4 instead.
__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], SmemAddrT addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], SmemAddrT addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

// c[16x8] += a[16x16] * b[16x8] with float32 accumulators (mma.sync.m16n8k16.row.col).
// Fragments, g = lane / 4, q = lane % 4 (two 16-bit values per register, low half first):
//   a: {(g, 2q..2q+1), (g+8, 2q..2q+1), (g, 2q+8..2q+9), (g+8, 2q+8..2q+9)}   [row, k]
//   b: {(2q..2q+1, g), (2q+8..2q+9, g)}                                         [k, n]
//   c: {(g, 2q), (g, 2q+1), (g+8, 2q), (g+8, 2q+1)}                             [row, n]
template <typename T>
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1);
template <>
__device__ __forceinline__ void Mma<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                            uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void Mma<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4],
                                                   uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace infer::kernels::cuda::attn

#endif  // INFER_KERNELS_CUDA_ATTENTION_DEVICE_CUH_
