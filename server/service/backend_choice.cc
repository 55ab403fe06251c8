#include "server/service/backend_choice.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace infer::service {
namespace {

struct Parsed {
  enum Kind { kAuto, kCpu, kCuda } kind = kAuto;
  int device = 0;
};

absl::StatusOr<Parsed> ParseBackend(const std::string& b) {
  Parsed p;
  if (b.empty() || b == "auto") return p;
  if (b == "cpu") {
    p.kind = Parsed::kCpu;
    return p;
  }
  if (b == "cuda") {
    p.kind = Parsed::kCuda;
    return p;
  }
  if (b.rfind("cuda:", 0) == 0 && absl::SimpleAtoi(b.substr(5), &p.device) && p.device >= 0) {
    p.kind = Parsed::kCuda;
    return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown backend \"", b, "\" (auto, cpu, cuda or cuda:N)"));
}

absl::StatusOr<kernels::DType> ParseDtype(const std::string& d, bool cuda) {
  if (d.empty()) return cuda ? kernels::DType::kBF16 : kernels::DType::kF32;
  if (d == "fp32" || d == "float32") return kernels::DType::kF32;
  if (d == "bf16" || d == "bfloat16") return kernels::DType::kBF16;
  if (d == "fp16" || d == "float16") return kernels::DType::kF16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype \"", d, "\" (bf16, fp16 or fp32)"));
}

}  // namespace

std::string BackendChoice::Label() const {
  if (!cuda) return "cpu";
  const char* t = dtype == kernels::DType::kBF16 ? "bf16"
                  : dtype == kernels::DType::kF16 ? "fp16"
                                                  : "fp32";
  return absl::StrCat("cuda:", device, "/", t);
}

absl::Status CheckBackendSpec(const std::string& backend, const std::string& dtype,
                              const std::string& where) {
  absl::StatusOr<Parsed> p = ParseBackend(backend);
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", p.status().message()));
  absl::StatusOr<kernels::DType> d = ParseDtype(dtype, p->kind != Parsed::kCpu);
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", d.status().message()));
  if (p->kind == Parsed::kCpu && *d != kernels::DType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the CPU backend computes in fp32 only (dtype \"", dtype, "\")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BackendChoice> ResolveBackend(const std::string& backend,
                                             const std::string& dtype) {
  INFER_RETURN_IF_ERROR(CheckBackendSpec(backend, dtype, "backend"));
  INFER_ASSIGN_OR_RETURN(Parsed p, ParseBackend(backend));
  BackendChoice c;
  if (p.kind == Parsed::kCpu) return c;  // no CUDA runtime call at all for an explicit "cpu"
  const int devices = kernels::CudaDeviceCount();
  if (p.kind == Parsed::kAuto) {
    c.cuda = devices > 0;
  } else {
    c.cuda = p.kind == Parsed::kCuda;
    c.device = p.device;
  }
  if (c.cuda && c.device >= devices) {
    return absl::InvalidArgumentError(
        kernels::CudaBackendBuilt()
            ? absl::StrCat("backend cuda:", c.device, " asked for, but ", devices,
                           " CUDA device(s) are visible")
            : std::string("backend cuda asked for, but this build has no CUDA backend (nvcc was "
                          "not found at configure time)"));
  }
  // "auto" on a CPU-only machine ignores a GPU dtype rather than failing.
  if (!c.cuda && p.kind == Parsed::kAuto) {
    c.dtype = kernels::DType::kF32;
    return c;
  }
  INFER_ASSIGN_OR_RETURN(c.dtype, ParseDtype(dtype, c.cuda));
  return c;
}

absl::StatusOr<std::unique_ptr<kernels::Backend>> MakeBackend(const BackendChoice& choice) {
  if (!choice.cuda) return kernels::MakeCpuBackend();
  kernels::CudaBackendOptions o;
  o.device = choice.device;
  o.dtype = choice.dtype;
  std::string why;
  std::unique_ptr<kernels::Backend> be = kernels::MakeCudaBackend(o, &why);
  if (!be) return absl::FailedPreconditionError(absl::StrCat("cuda:", choice.device, ": ", why));
  return be;
}

}  // namespace infer::service
