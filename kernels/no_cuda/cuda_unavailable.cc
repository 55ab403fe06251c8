// Built instead of kernels/cuda when configure found no nvcc: the CUDA backend reports that it
// is absent, so `--model ...,backend=cuda:0` fails with a clear message instead of a link error.
#include "kernels/backend.h"

namespace infer::kernels {

bool CudaBackendBuilt() { return false; }
int CudaDeviceCount() { return 0; }

std::unique_ptr<Backend> MakeCudaBackend(const CudaBackendOptions&, std::string* error) {
  if (error) *error = "this build has no CUDA backend (nvcc was not found at configure time)";
  return nullptr;
}

}  // namespace infer::kernels
