/// @file version.hpp
/// @brief Library version.
#pragma once

#define FER_VERSION_MAJOR 0
#define FER_VERSION_MINOR 1
#define FER_VERSION_PATCH 0
/// major * 10000 + minor * 100 + patch (fer.h defines the same number for C)
#ifndef FER_VERSION_NUMBER
#define FER_VERSION_NUMBER 100
#endif
static_assert(FER_VERSION_NUMBER == FER_VERSION_MAJOR * 10000 + FER_VERSION_MINOR * 100 + FER_VERSION_PATCH,
              "FER_VERSION_NUMBER disagrees with the version parts");

namespace fer {
/// Version of the library actually linked ("0.1.0").
const char* version() noexcept;
}  // namespace fer
