// Early-return helpers for absl::Status / absl::StatusOr, the project's error values.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define INFER_CONCAT_INNER(a, b) a##b
#define INFER_CONCAT(a, b) INFER_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define INFER_RETURN_IF_ERROR(expr)                    \
  do {                                                 \
    ::absl::Status infer_status_ = (expr);             \
    if (!infer_status_.ok()) return infer_status_;     \
  } while (0)

// INFER_ASSIGN_OR_RETURN(auto x, MakeX()); declares/assigns x or returns the error.
#define INFER_ASSIGN_OR_RETURN(lhs, expr) \
  INFER_ASSIGN_OR_RETURN_IMPL(INFER_CONCAT(infer_statusor_, __LINE__), lhs, expr)
#define INFER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
