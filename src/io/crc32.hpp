// CRC-32 (IEEE 802.3, reflected, as in zlib/PNG) for file integrity checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fer::detail {
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);
}
