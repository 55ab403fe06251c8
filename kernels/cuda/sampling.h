// Device-side token choice (Backend::SampleTokens): processes and samples every row on the GPU,
// so only token ids and log-probabilities cross to the host.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/backend.h"

namespace infer::kernels::cuda {

// Device scratch SampleTokens needs for these parameters.
size_t SampleWorkspaceBytes(const SampleParams& p);
// Copies the rows' parameters and histories to the device (inside `workspace`), runs the
// kernels on `stream`, copies the results into the host outputs and waits for them.
void SampleTokens(const SampleParams& p, void* workspace, size_t workspace_bytes,
                  cudaStream_t stream);

}  // namespace infer::kernels::cuda
