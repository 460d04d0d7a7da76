/// @file version.hpp
/// @brief Library version.
#pragma once

#define FER_VERSION_MAJOR 0
#define FER_VERSION_MINOR 1
#define FER_VERSION_PATCH 0
/// major * 10000 + minor * 100 + patch
#define FER_VERSION_NUMBER (FER_VERSION_MAJOR * 10000 + FER_VERSION_MINOR * 100 + FER_VERSION_PATCH)

namespace fer {
/// Version of the library actually linked ("0.1.0").
const char* version() noexcept;
}  // namespace fer
