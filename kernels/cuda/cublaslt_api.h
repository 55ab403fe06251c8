// cuBLASLt, loaded with dlopen when the first CUDA backend is made rather than linked: with
// libcublasLt.so in the process from the start, prometheus-cpp's embedded civetweb fails to
// start the /metrics listener ("null context when constructing CivetServer"; seen with
// cuBLAS 13 on Debian bookworm's civetweb, cause not found), and a CPU-only server has no use
// for the library anyway. The server starts /metrics before it loads models.
#pragma once

#include <cublasLt.h>

#include <string>

namespace infer::kernels::cuda {

struct CublasLtApi {
  decltype(&cublasLtCreate) Create;
  decltype(&cublasLtDestroy) Destroy;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
  decltype(&cublasLtMatmul) Matmul;
  decltype(&cublasLtGetStatusName) GetStatusName;
  decltype(&cublasLtGetStatusString) GetStatusString;
};

// The loaded API (once per process), or null with *error saying which library or symbol is
// missing.
const CublasLtApi* CublasLt(std::string* error);

}  // namespace infer::kernels::cuda
