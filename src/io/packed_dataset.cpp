// The packed dataset cache (.ferdata), format version 1. All integers little-endian.
//
//   offset  size  field
//   0       8     magic 89 'F' 'E' 'R' 'D' 0D 0A 1A
//   8       4     format version (1)
//   12      4     flags: bit 0 soft labels present, bit 1 sources present
//   16      4     width W
//   20      4     height H
//   24      4     channels C (1 or 3)
//   28      4     number of classes K
//   32      8     number of images N
//   40      8     dropped (Dataset::dropped)
//   48      8     size S of the string block
//   56      8     reserved (0)
//   64      S     string block: K class names, then a u32 count and the notes,
//                 then N sources if flag bit 1; each string is a u32 byte
//                 length followed by its UTF-8 bytes
//   ...     N*H*W*C  images, uint8, HWC, one after another
//   ...     4N    labels, int32
//   ...     4NK   soft labels, float32 (IEEE 754 bits), if flag bit 0
//   end-4   4     CRC-32 of every byte before it
//
// The reader checks the magic and version, checks that the sizes in the header
// add up to exactly the file size before allocating anything, reads the file
// once, verifies the checksum, then parses and validates the content.
#include "io/byte_order.hpp"
#include "io/atomic_file.hpp"
#include "io/crc32.hpp"

#include <fer/dataset.hpp>
#include <fer/error.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace fer {

namespace {

using detail::get_u32;
using detail::get_u64;
using detail::put_string;
using detail::put_u32;
using detail::put_u64;

constexpr uint8_t kMagic[8] = {0x89, 'F', 'E', 'R', 'D', 0x0D, 0x0A, 0x1A};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 64;
constexpr uint32_t kFlagSoft = 1u, kFlagSources = 2u;
constexpr uint64_t kMaxString = 1u << 20;

/// a * b, or false when it exceeds `limit`.
bool mul_within(uint64_t a, uint64_t b, uint64_t limit, uint64_t& out) {
  if (a != 0 && b > limit / a) return false;
  out = a * b;
  return out <= limit;
}

/// Sequential reader over the string block; every read is bounds-checked.
struct StringBlock {
  const uint8_t* p;
  size_t size;
  size_t pos = 0;
  const std::string& origin;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(Status::CorruptData, "packed dataset " + origin + ": " + what);
  }
  uint32_t u32() {
    if (size - pos < 4) fail("string block ends early");
    uint32_t v = get_u32(p + pos);
    pos += 4;
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    if (n > kMaxString || n > size - pos) fail("string length " + std::to_string(n) + " runs past the string block");
    std::string s(reinterpret_cast<const char*>(p + pos), n);
    pos += n;
    return s;
  }
};

}  // namespace

void write_packed_dataset(const Dataset& dataset, const std::string& path) {
  try {
    dataset.validate();
  } catch (const Error& e) {
    throw Error(Status::InvalidArgument, std::string("cannot pack an inconsistent dataset: ") + e.what());
  }
  for (const auto& s : dataset.classes)
    if (s.size() > kMaxString) throw Error(Status::InvalidArgument, "cannot pack: a class name is longer than 1 MiB");
  for (const auto& s : dataset.notes)
    if (s.size() > kMaxString) throw Error(Status::InvalidArgument, "cannot pack: a note is longer than 1 MiB");
  for (const auto& s : dataset.sources)
    if (s.size() > kMaxString) throw Error(Status::InvalidArgument, "cannot pack: a source is longer than 1 MiB");

  const size_t n = dataset.size(), k = dataset.classes.size();
  std::vector<uint8_t> strings;
  for (const auto& c : dataset.classes) put_string(strings, c);
  put_u32(strings, uint32_t(dataset.notes.size()));
  for (const auto& s : dataset.notes) put_string(strings, s);
  for (const auto& s : dataset.sources) put_string(strings, s);

  std::vector<uint8_t> head(kMagic, kMagic + 8);
  put_u32(head, kVersion);
  put_u32(head, (dataset.has_soft_labels() ? kFlagSoft : 0u) | (dataset.sources.empty() ? 0u : kFlagSources));
  put_u32(head, uint32_t(dataset.width));
  put_u32(head, uint32_t(dataset.height));
  put_u32(head, uint32_t(dataset.channels));
  put_u32(head, uint32_t(k));
  put_u64(head, n);
  put_u64(head, uint64_t(dataset.dropped));
  put_u64(head, strings.size());
  put_u64(head, 0);

  std::vector<uint8_t> tail;  // labels, soft labels
  tail.reserve(4 * (n + dataset.soft_labels.size()));
  for (int32_t l : dataset.labels) put_u32(tail, uint32_t(l));
  for (float f : dataset.soft_labels) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    put_u32(tail, u);
  }

  uint32_t crc = detail::crc32(head.data(), head.size());
  crc = detail::crc32(strings.data(), strings.size(), crc);
  crc = detail::crc32(dataset.pixels.data(), dataset.pixels.size(), crc);
  crc = detail::crc32(tail.data(), tail.size(), crc);
  std::vector<uint8_t> check;
  put_u32(check, crc);

  detail::write_file_atomic(path,
                            {{head.data(), head.size()},
                             {strings.data(), strings.size()},
                             {dataset.pixels.data(), dataset.pixels.size()},
                             {tail.data(), tail.size()},
                             {check.data(), check.size()}},
                            "packed dataset");
}

Dataset read_packed_dataset(const std::string& path) {
  auto fail = [&](Status s, const std::string& what) -> void {
    throw Error(s, "packed dataset " + path + ": " + what);
  };
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(Status::NotFound, "packed dataset not found: " + path);
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(Status::InvalidArgument, "packed dataset path is not a regular file: " + path);
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(Status::IoError, "cannot stat packed dataset " + path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(Status::IoError, "cannot open packed dataset " + path);
  auto read = [&](void* dst, uint64_t size) {
    if (size && !f.read(static_cast<char*>(dst), std::streamsize(size)))
      fail(Status::IoError, "read failed (the file changed while being read?)");
  };

  uint8_t head[kHeaderSize];
  if (file_size < 8) fail(Status::CorruptData, "truncated (" + std::to_string(file_size) + " bytes); not a packed dataset");
  read(head, 8);
  if (std::memcmp(head, kMagic, 8) != 0) fail(Status::CorruptData, "not a libfer packed dataset (wrong magic bytes)");
  if (file_size < kHeaderSize + 4) fail(Status::CorruptData, "truncated (" + std::to_string(file_size) + " bytes)");
  read(head + 8, kHeaderSize - 8);
  const uint32_t version = get_u32(head + 8);
  if (version == 0 || version > kVersion)
    fail(Status::UnsupportedVersion, "format version " + std::to_string(version) + "; this build reads 1 to " +
                                         std::to_string(kVersion) + " (rebuild the cache or upgrade libfer)");
  const uint32_t flags = get_u32(head + 12);
  if (flags & ~(kFlagSoft | kFlagSources)) fail(Status::UnsupportedVersion, "unknown flags set");
  const uint64_t width = get_u32(head + 16), height = get_u32(head + 20), channels = get_u32(head + 24),
                 classes = get_u32(head + 28), count = get_u64(head + 32), dropped = get_u64(head + 40),
                 strings_size = get_u64(head + 48), reserved = get_u64(head + 56);
  if (width == 0 || height == 0 || width > 65536 || height > 65536 || (channels != 1 && channels != 3))
    fail(Status::CorruptData, "image shape " + std::to_string(width) + "x" + std::to_string(height) + "x" +
                                  std::to_string(channels) + " is invalid");
  if (classes == 0) fail(Status::CorruptData, "no classes");
  if (reserved != 0) fail(Status::CorruptData, "reserved header field is not zero");
  if (dropped > uint64_t(std::numeric_limits<int64_t>::max())) fail(Status::CorruptData, "dropped count is invalid");

  // Every section size, checked against the file before anything is allocated.
  const uint64_t limit = file_size;
  const bool soft = flags & kFlagSoft, has_sources = flags & kFlagSources;
  uint64_t image_bytes = 0, pixel_bytes = 0, label_bytes = 0, soft_values = 0, soft_bytes = 0;
  bool ok = mul_within(width * height, channels, limit, image_bytes) && mul_within(count, image_bytes, limit, pixel_bytes) &&
            mul_within(count, 4, limit, label_bytes) &&
            (!soft || (mul_within(count, classes, limit, soft_values) && mul_within(soft_values, 4, limit, soft_bytes)));
  if (ok && strings_size > limit) ok = false;
  uint64_t expected = kHeaderSize;
  for (uint64_t part : {strings_size, pixel_bytes, label_bytes, soft_bytes, uint64_t(4)}) {
    if (!ok || part > limit - expected) {
      ok = false;
      break;
    }
    expected += part;
  }
  if (!ok || expected != file_size)
    fail(Status::CorruptData, "truncated or padded: the header describes " + std::to_string(count) + " images of " +
                                  std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels) +
                                  ", which does not match the file size " + std::to_string(file_size));
  if (classes * 4 > strings_size || (has_sources && count * 4 > strings_size))
    fail(Status::CorruptData, "string block too small for its class names and sources");

  std::vector<uint8_t> strings(strings_size), tail(label_bytes + soft_bytes);
  Dataset d;
  d.pixels.resize(pixel_bytes);
  uint8_t check[4];
  read(strings.data(), strings.size());
  read(d.pixels.data(), d.pixels.size());
  read(tail.data(), tail.size());
  read(check, 4);
  uint32_t crc = detail::crc32(head, kHeaderSize);
  crc = detail::crc32(strings.data(), strings.size(), crc);
  crc = detail::crc32(d.pixels.data(), d.pixels.size(), crc);
  crc = detail::crc32(tail.data(), tail.size(), crc);
  if (detail::checksums_enabled() && crc != get_u32(check)) fail(Status::CorruptData, "checksum mismatch (the file is damaged)");

  d.width = int(width);
  d.height = int(height);
  d.channels = int(channels);
  d.dropped = int64_t(dropped);
  StringBlock sb{strings.data(), strings.size(), 0, path};
  d.classes.reserve(classes);
  for (uint64_t i = 0; i < classes; ++i) d.classes.push_back(sb.str());
  uint32_t notes = sb.u32();
  if (notes > (strings.size() - sb.pos) / 4) sb.fail("note count runs past the string block");
  for (uint32_t i = 0; i < notes; ++i) d.notes.push_back(sb.str());
  if (has_sources) {
    if (count > (strings.size() - sb.pos) / 4) sb.fail("source count runs past the string block");
    d.sources.reserve(count);
    for (uint64_t i = 0; i < count; ++i) d.sources.push_back(sb.str());
  }
  if (sb.pos != strings.size()) sb.fail("string block has trailing bytes");

  d.labels.resize(count);
  for (uint64_t i = 0; i < count; ++i) d.labels[i] = int32_t(get_u32(tail.data() + 4 * i));
  d.soft_labels.resize(soft_values);
  for (uint64_t i = 0; i < soft_values; ++i) {
    uint32_t u = get_u32(tail.data() + label_bytes + 4 * i);
    std::memcpy(&d.soft_labels[i], &u, 4);
  }
  try {
    d.validate();
  } catch (const Error& e) {
    fail(Status::CorruptData, e.what());
  }
  return d;
}

}  // namespace fer
