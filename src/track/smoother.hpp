// Temporal smoothing of class probabilities with label hysteresis.
#pragma once

#include <vector>

namespace fer::detail {

/// Exponential moving average of probabilities in real time: the continuous
/// first-order low-pass dy/dt = (x - y) / time_constant, solved exactly between
/// updates for an input that moves linearly from one sample to the next, so a
/// 10 fps and a 30 fps stream of the same content give the same curve (up to
/// the sampling of sudden changes). The label changes only when another
/// class's smoothed probability beats the current label's by `margin`.
/// Not thread-safe.
class LabelSmoother {
 public:
  LabelSmoother(double time_constant_seconds, float margin);

  void update(const std::vector<float>& probabilities, double timestamp);
  bool empty() const { return smoothed_.empty(); }
  const std::vector<float>& probabilities() const { return smoothed_; }
  /// Index of the displayed (hysteresis) label; -1 before the first update.
  int label() const { return label_; }

 private:
  double tau_;
  float margin_;
  std::vector<float> smoothed_;
  std::vector<float> last_input_;
  double last_time_ = 0;
  int label_ = -1;
};

}  // namespace fer::detail
