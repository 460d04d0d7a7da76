#include <fer/error.hpp>

namespace fer {

const char* status_name(Status status) noexcept {
  switch (status) {
    case Status::Ok: return "ok";
    case Status::InvalidArgument: return "invalid_argument";
    case Status::NotFound: return "not_found";
    case Status::IoError: return "io_error";
    case Status::CorruptData: return "corrupt_data";
    case Status::UnsupportedVersion: return "unsupported_version";
    case Status::ShapeMismatch: return "shape_mismatch";
    case Status::UnknownComponent: return "unknown_component";
    case Status::OutOfMemory: return "out_of_memory";
    case Status::Unsupported: return "unsupported";
    case Status::Internal: return "internal";
    case Status::Cancelled: return "cancelled";
  }
  return "unknown_status";
}

Error::Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}

}  // namespace fer
