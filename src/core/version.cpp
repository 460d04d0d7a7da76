#include <fer/version.hpp>

#define FER_STR2(x) #x
#define FER_STR(x) FER_STR2(x)

namespace fer {
const char* version() noexcept {
  return FER_STR(FER_VERSION_MAJOR) "." FER_STR(FER_VERSION_MINOR) "." FER_STR(FER_VERSION_PATCH);
}
}  // namespace fer
