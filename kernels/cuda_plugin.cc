// The CUDA backend lives in its own shared library, libinfer_cuda.so, loaded with dlopen the first
// time a CUDA backend or the device count is asked for. A CPU-only server never loads the CUDA
// runtime: with it in the process, prometheus-cpp's civetweb /metrics server crashed on its first
// scrape here (SIGSEGV in civetweb's snprintf, seen with CUDA 13 on Debian bookworm; cause not
// found). Search order: next to the executable, the build tree, then the loader's own path.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <mutex>
#include <string>

#include "kernels/backend.h"

namespace infer::kernels {
namespace {

using MakeFn = Backend* (*)(const CudaBackendOptions*, std::string*);
using CountFn = int (*)();

struct Plugin {
  MakeFn make = nullptr;
  CountFn count = nullptr;
  std::string error;
};

const Plugin& Load() {
  static Plugin plugin;
  static std::once_flag once;
  std::call_once(once, [] {
#ifndef INFER_WITH_CUDA
    plugin.error = "this build has no CUDA backend (nvcc was not found at configure time)";
#else
    std::string candidates[3];
    char exe[PATH_MAX] = {0};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
      std::string dir(exe, static_cast<size_t>(n));
      candidates[0] = dir.substr(0, dir.rfind('/')) + "/libinfer_cuda.so";
    }
    candidates[1] = INFER_CUDA_PLUGIN_PATH;
    candidates[2] = "libinfer_cuda.so";
    void* lib = nullptr;
    std::string tried;
    for (const std::string& c : candidates) {
      if (c.empty()) continue;
      lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
      const char* why = dlerror();
      tried += "\n  " + c + ": " + (why ? why : "?");
    }
    if (lib == nullptr) {
      plugin.error = "cannot load the CUDA backend library libinfer_cuda.so:" + tried;
      return;
    }
    plugin.make = reinterpret_cast<MakeFn>(dlsym(lib, "InferMakeCudaBackend"));
    plugin.count = reinterpret_cast<CountFn>(dlsym(lib, "InferCudaDeviceCount"));
    if (!plugin.make || !plugin.count) plugin.error = "libinfer_cuda.so lacks its entry points";
#endif
  });
  return plugin;
}

}  // namespace

bool CudaBackendBuilt() {
#ifdef INFER_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int CudaDeviceCount() {
  const Plugin& p = Load();
  return p.count ? p.count() : 0;
}

std::unique_ptr<Backend> MakeCudaBackend(const CudaBackendOptions& options, std::string* error) {
  const Plugin& p = Load();
  if (!p.make) {
    if (error) *error = p.error;
    return nullptr;
  }
  return std::unique_ptr<Backend>(p.make(&options, error));
}

}  // namespace infer::kernels
