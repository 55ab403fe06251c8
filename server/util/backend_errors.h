// Backends report failures as exceptions (the op interface has no status: a CUDA launch error
// or out-of-memory can surface in any op). Every call into a model's forward pass goes through
// CatchBackendErrors, so such a failure fails that step's requests with a status instead of
// ending the process: out of memory -> RESOURCE_EXHAUSTED, anything else -> INTERNAL.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "absl/status/status.h"

namespace infer::util {

template <typename Fn>
absl::Status CatchBackendErrors(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc& e) {
    return absl::ResourceExhaustedError(std::string("out of memory in the model's forward pass: ") +
                                        e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("backend failure in the model's forward pass: ") +
                               e.what());
  }
}

}  // namespace infer::util
