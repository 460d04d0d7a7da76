// Memory and descriptor counts of this process, for the soak runs
// (stream_fps --soak, pipeline_soak): Linux /proc only.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fer_bench {

/// "VmHWM" (peak RSS) or "VmRSS" of /proc/self/status in MiB (-1 where unavailable).
inline double proc_status_mib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0 && line.size() > std::strlen(key) && line[std::strlen(key)] == ':') {
      std::istringstream ls(line.substr(std::strlen(key) + 1));
      double kib = 0;
      ls >> kib;
      return kib / 1024.0;
    }
  return -1;
}

/// Open file descriptors of this process (-1 where unavailable).
inline int open_fds() {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++n;
  return ec ? -1 : n - 1;  // minus the iterator's own descriptor
}

/// {at_key: at, rss_mib, peak_rss_mib, open_fds}.
inline nlohmann::ordered_json memory_json(const char* at_key, int64_t at) {
  return {{at_key, at}, {"rss_mib", proc_status_mib("VmRSS")}, {"peak_rss_mib", proc_status_mib("VmHWM")},
          {"open_fds", open_fds()}};
}

}  // namespace fer_bench
