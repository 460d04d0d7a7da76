// A terminal progress bar for training epochs (images/s, ETA, running loss).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fer::detail {

class ProgressBar {
 public:
  ProgressBar(std::string title, int64_t total_steps, bool enabled);
  /// Redraws at most a few times per second (or every quarter when stderr is not a terminal).
  void update(int64_t step, int64_t images, double loss);
  void finish();
  double seconds() const;

 private:
  std::string title_;
  int64_t total_;
  bool enabled_, tty_;
  int last_quarter_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace fer::detail
