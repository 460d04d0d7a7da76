#include "io/crc32.hpp"

#include <array>
#include <atomic>

namespace fer::detail {

namespace {
std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_table();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

namespace {
std::atomic<bool> g_checksums{true};
}

bool checksums_enabled() { return g_checksums.load(std::memory_order_relaxed); }
void set_checksums_enabled_for_fuzzing(bool enabled) { g_checksums.store(enabled, std::memory_order_relaxed); }

}  // namespace fer::detail
