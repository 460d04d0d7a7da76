// Shared helpers of the libFuzzer targets: a private scratch folder per
// process, and the rule that only fer::Error may leave a parser.
#pragma once

#include <fer/error.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace fer::fuzz {

/// A folder unique to this process, created on first use.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fer_fuzz_XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  return dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  if (!out) std::abort();
}

/// Runs `fn`; a fer::Error is the expected outcome for bad input. Anything
/// else escapes and makes libFuzzer report the input as a crash.
template <class F>
void expect_only_fer_errors(F&& fn) {
  try {
    fn();
  } catch (const fer::Error&) {
  }
}

}  // namespace fer::fuzz
