// Small helpers shared by the benchmark programs: comma lists, the CPU's
// /proc/cpuinfo fields, a repeat-and-take-the-median timer, and memory and
// descriptor counts of this process for the soak runs (stream_fps --soak,
// pipeline_soak). Linux /proc only.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fer_bench {

/// Median and p10/p90 of repeated runs, in milliseconds.
struct Timing {
  double median = 0, p10 = 0, p90 = 0;
};

/// One warm-up run of `run`, then `repeats` (>= 1) timed runs: median and
/// p10/p90 in ms, each divided by `per`.
inline Timing time_repeats(const std::function<void()>& run, int repeats, double per = 1) {
  std::vector<double> t;
  run();  // warm-up
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / per);
  }
  std::sort(t.begin(), t.end());
  auto at = [&](double q) { return t[std::min(t.size() - 1, size_t(q * double(t.size())))]; };
  return {t[t.size() / 2], at(0.1), at(0.9)};
}

/// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

/// The value of the first `key` line of /proc/cpuinfo ("model name", "flags"; empty if absent).
inline std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      size_t b = line.find_first_not_of(" \t", colon + 1);
      return b == std::string::npos ? std::string() : line.substr(b);
    }
  return {};
}

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
