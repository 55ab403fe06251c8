#include "kernels/cuda/cublaslt_api.h"

#include <dlfcn.h>

#include <mutex>

namespace infer::kernels::cuda {
namespace {

template <typename T>
bool Bind(void* lib, const char* name, T* out, std::string* error) {
  *out = reinterpret_cast<T>(dlsym(lib, name));
  if (*out == nullptr && error->empty()) *error = std::string("libcublasLt has no ") + name;
  return *out != nullptr;
}

}  // namespace

const CublasLtApi* CublasLt(std::string* error) {
  static std::once_flag once;
  static CublasLtApi api;
  static bool ok = false;
  static std::string load_error;
  std::call_once(once, [] {
    // The soname of the toolkit we compiled against first, then the unversioned name.
    const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) lib = dlopen("libcublasLt.so", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      load_error = "cannot load " + soname + ": " + (why ? why : "not found");
      return;
    }
    std::string e;
    ok = Bind(lib, "cublasLtCreate", &api.Create, &e) &
         Bind(lib, "cublasLtDestroy", &api.Destroy, &e) &
         Bind(lib, "cublasLtMatmulDescCreate", &api.MatmulDescCreate, &e) &
         Bind(lib, "cublasLtMatmulDescDestroy", &api.MatmulDescDestroy, &e) &
         Bind(lib, "cublasLtMatmulDescSetAttribute", &api.MatmulDescSetAttribute, &e) &
         Bind(lib, "cublasLtMatrixLayoutCreate", &api.MatrixLayoutCreate, &e) &
         Bind(lib, "cublasLtMatrixLayoutDestroy", &api.MatrixLayoutDestroy, &e) &
         Bind(lib, "cublasLtMatmulPreferenceCreate", &api.MatmulPreferenceCreate, &e) &
         Bind(lib, "cublasLtMatmulPreferenceDestroy", &api.MatmulPreferenceDestroy, &e) &
         Bind(lib, "cublasLtMatmulPreferenceSetAttribute", &api.MatmulPreferenceSetAttribute,
              &e) &
         Bind(lib, "cublasLtMatmulAlgoGetHeuristic", &api.MatmulAlgoGetHeuristic, &e) &
         Bind(lib, "cublasLtMatmul", &api.Matmul, &e) &
         Bind(lib, "cublasLtGetStatusName", &api.GetStatusName, &e) &
         Bind(lib, "cublasLtGetStatusString", &api.GetStatusString, &e);
    if (!ok) load_error = e;
  });
  if (!ok && error) *error = load_error;
  return ok ? &api : nullptr;
}

}  // namespace infer::kernels::cuda
