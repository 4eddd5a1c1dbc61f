// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr
// (abseil 20220623 has none of its own).
#ifndef ARCA_LIBS_BASE_STATUS_MACROS_H_
#define ARCA_LIBS_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ARCA_STATUS_CONCAT_INNER_(a, b) a##b
#define ARCA_STATUS_CONCAT_(a, b) ARCA_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status arca_status_ = (expr);        \
    if (!arca_status_.ok()) return arca_status_; \
  } while (0)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or returns its status.
// `lhs` may be a declaration: ASSIGN_OR_RETURN(auto x, Foo());
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ARCA_ASSIGN_OR_RETURN_IMPL_(ARCA_STATUS_CONCAT_(arca_statusor_, __LINE__), lhs, rexpr)

#define ARCA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // ARCA_LIBS_BASE_STATUS_MACROS_H_
