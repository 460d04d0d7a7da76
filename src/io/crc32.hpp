// CRC-32 (IEEE 802.3, reflected, as in zlib/PNG) for file integrity checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fer::detail {
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

/// Whether file readers verify their checksums (always, except inside fuzz
/// targets: a CRC is no defence against a hostile file, and verifying it would
/// stop a fuzzer from reaching the parsing behind it).
bool checksums_enabled();
/// Only for fuzz targets (fuzz/): turns checksum verification off process-wide.
void set_checksums_enabled_for_fuzzing(bool enabled);
}
