#include <fer/error.hpp>
#include <fer/threads.hpp>

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace fer {

int default_num_threads() {
  if (const char* env = std::getenv("FER_NUM_THREADS")) {
    long n = std::strtol(env, nullptr, 10);
    if (n > 0) return int(std::min<long>(n, kMaxThreads));
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? int(std::min<unsigned>(hw, kMaxThreads)) : 1;
}

void set_num_threads(int n) {
  if (n > kMaxThreads)
    throw Error(Status::InvalidArgument, "threads must be at most " + std::to_string(kMaxThreads) + ", got " +
                                             std::to_string(n) + " (0 = all cores)");
  if (n <= 0) n = default_num_threads();
  at::set_num_threads(n);
  cv::setNumThreads(n);
}

int num_threads() { return at::get_num_threads(); }

bool tune_heap() {
  static std::once_flag once;
  static bool applied = false;
  std::call_once(once, [] {
#ifdef __GLIBC__
    if (const char* env = std::getenv("FER_HEAP_TUNING"); env && std::strcmp(env, "0") == 0) return;
    for (const char* name : {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_"})
      if (std::getenv(name)) return;  // the user tuned malloc already
    if (const char* tunables = std::getenv("GLIBC_TUNABLES"); tunables && std::strstr(tunables, "malloc")) return;
    // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems.
    applied = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
#endif
  });
  return applied;
}

}  // namespace fer
