#include <fer/threads.hpp>

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>

#include <cstdlib>
#include <thread>

namespace fer {

int default_num_threads() {
  if (const char* env = std::getenv("FER_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? int(hw) : 1;
}

void set_num_threads(int n) {
  if (n <= 0) n = default_num_threads();
  at::set_num_threads(n);
  cv::setNumThreads(n);
}

int num_threads() { return at::get_num_threads(); }

}  // namespace fer
