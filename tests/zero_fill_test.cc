// ZeroFill: how the CPU backend's Zeros (and so the KV cache pool at load time) is zeroed, split
// over threads in 1 MiB chunks. Every byte must end up zero, ragged tails included, and nothing
// past the end may be touched.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"

namespace infer::kernels::cpu {
namespace {

TEST(ZeroFill, ZeroesEveryByteAndNothingPastTheEnd) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{1} << 20, (size_t{5} << 20) + 777,
                       size_t{9} << 20, (size_t{130} << 20) + 4099}) {
    std::vector<unsigned char> buf(bytes + 64, 0x5a);
    ZeroFill(buf.data(), bytes);
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; ++i) nonzero += buf[i] != 0;
    EXPECT_EQ(nonzero, 0u) << bytes;
    for (size_t i = bytes; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0x5a) << bytes << " at " << i;
  }
}

TEST(ZeroFill, CpuBackendZerosIsAllZero) {
  std::unique_ptr<Backend> cpu = MakeCpuBackend();
  Tensor big = cpu->Zeros({3, (1 << 20) + 5});  // 12 MiB and a ragged tail
  const float* f = big.as<float>();
  size_t nonzero = 0;
  for (int64_t i = 0; i < big.numel(); ++i) nonzero += f[i] != 0.0f;
  EXPECT_EQ(nonzero, 0u);
}

}  // namespace
}  // namespace infer::kernels::cpu
