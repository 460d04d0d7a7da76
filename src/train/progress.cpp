#include "train/progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace fer::detail {

ProgressBar::ProgressBar(std::string title, int64_t total_steps, bool enabled)
    : title_(std::move(title)), total_(total_steps), enabled_(enabled), tty_(isatty(2) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t step, int64_t images, double loss) {
  if (!enabled_ || total_ <= 0) return;
  auto now = std::chrono::steady_clock::now();
  double frac = double(step) / double(total_);
  int quarter = int(frac * 4);
  if (tty_ ? std::chrono::duration<double>(now - last_draw_).count() < 0.25 && step < total_ : quarter == last_quarter_)
    return;
  last_draw_ = now;
  last_quarter_ = quarter;
  double secs = seconds();
  double rate = secs > 0 ? double(images) / secs : 0.0;
  double eta = frac > 0 ? secs * (1 - frac) / frac : 0.0;
  const int width = 30;
  int filled = int(frac * width);
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  std::fprintf(stderr, "%s%s [%s] %3.0f%% %7.0f img/s  ETA %3d:%02d  loss %.4f%s", tty_ ? "\r" : "", title_.c_str(), bar,
               100 * frac, rate, int(eta) / 60, int(eta) % 60, loss, tty_ ? "" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_ && tty_) std::fprintf(stderr, "\r%*s\r", 110, "");
}

}  // namespace fer::detail
