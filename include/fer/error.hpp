/// @file error.hpp
/// @brief Status codes and the exception type every libfer call throws.
#pragma once

#include <stdexcept>
#include <string>

namespace fer {

/// Outcome of an operation. Values are pinned: the C API returns the same
/// numbers, so codes are only ever appended, never renumbered.
enum class Status : int {
  Ok = 0,
  InvalidArgument = 1,     ///< bad image, option or argument
  NotFound = 2,            ///< a file or resource does not exist
  IoError = 3,             ///< reading or writing a file failed
  CorruptData = 4,         ///< a file is truncated, damaged or not ours
  UnsupportedVersion = 5,  ///< a file's format version is not readable
  ShapeMismatch = 6,       ///< tensors or images do not have the expected shape
  UnknownComponent = 7,    ///< no component registered under that name
  OutOfMemory = 8,         ///< an allocation failed or would be absurdly large
  Unsupported = 9,         ///< valid request that this build cannot serve
  Internal = 10,           ///< a bug or an unexpected failure in a dependency
  Cancelled = 11,          ///< stopped on request (e.g. training interrupted by a signal)
};

/// Short stable name of a status ("invalid_argument", ...).
const char* status_name(Status status) noexcept;

/// The exception libfer throws. `what()` says what was wrong and how to fix it.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message);
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

}  // namespace fer
