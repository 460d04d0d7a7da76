// Crash-safe file replacement: write a temporary file next to the target,
// flush it to disk, rename it over the target. A failure at any point (full
// disk, killed process, power loss) leaves the previous file as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace fer::detail {

/// Replaces `path` with the concatenation of `parts` (pointer, size pairs).
/// Throws Error(IoError) naming `what` and the file; the target is untouched then.
struct ByteSpan {
  const void* data;
  size_t size;
};
void write_file_atomic(const std::string& path, std::initializer_list<ByteSpan> parts, const std::string& what);

/// Flushes a folder's entries (renames, new files) to disk; best effort.
void sync_directory(const std::string& path);
/// fsync()s a file another writer (e.g. torch::save) wrote; IoError when it cannot.
void sync_file(const std::string& path);

}  // namespace fer::detail
