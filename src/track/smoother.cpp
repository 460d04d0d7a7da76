#include "track/smoother.hpp"

#include <fer/error.hpp>

#include <algorithm>
#include <cmath>

namespace fer::detail {

LabelSmoother::LabelSmoother(double time_constant_seconds, float margin)
    : tau_(time_constant_seconds), margin_(margin) {}

void LabelSmoother::update(const std::vector<float>& p, double timestamp) {
  if (p.empty()) return;
  if (smoothed_.empty()) {
    smoothed_ = p;
  } else {
    if (p.size() != smoothed_.size())
      throw Error(Status::ShapeMismatch, "LabelSmoother: " + std::to_string(p.size()) + " probabilities after " +
                                             std::to_string(smoothed_.size()));
    double dt = timestamp - last_time_;
    if (tau_ <= 0) {
      smoothed_ = p;
    } else if (dt > 0) {
      // Exact response of dy/dt = (x - y) / tau to x moving linearly from the
      // previous sample to this one over dt (first-order hold): unlike a fixed
      // weight per frame, this does not depend on the frame rate.
      // With u = dt / tau: y = y + (1 - e^-u) (x0 - y) + (x1 - x0) (1 - ramp),
      // ramp = (1 - e^-u) / u. Written with expm1 and a series for tiny u so
      // that a step of a few ulps (0.1 + 0.2 after 0.3) keeps 0 <= ramp <= 1;
      // a step so long that u is inf is a full step.
      const double u = dt / tau_;
      const double gain = -std::expm1(-u);  // 1 - e^-u, exact for small u
      const double ramp = u < 1e-8 ? 1 - u / 2 : std::isfinite(u) ? gain / u : 0.0;
      for (size_t k = 0; k < p.size(); ++k) {
        double x0 = last_input_[k], x1 = p[k], y = smoothed_[k];
        smoothed_[k] = float(y + gain * (x0 - y) + (x1 - x0) * (1 - ramp));
      }
    }
  }
  last_input_ = p;
  last_time_ = timestamp;
  int best = int(std::max_element(smoothed_.begin(), smoothed_.end()) - smoothed_.begin());
  if (label_ < 0 || (best != label_ && smoothed_[size_t(best)] > smoothed_[size_t(label_)] + margin_)) label_ = best;
}

}  // namespace fer::detail
