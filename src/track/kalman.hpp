// Constant-velocity Kalman filter on a face box, driven by real time steps.
#pragma once

#include <opencv2/core.hpp>

namespace fer::detail {

/// Noise of BoxKalman, relative to the box size so that the filter behaves the
/// same for small and large faces.
struct KalmanNoise {
  float acceleration = 1.5f;      ///< process noise: box sizes per second^2 (white-noise acceleration)
  float measurement = 0.05f;      ///< detector noise: box sizes (standard deviation)
  float initial_velocity = 1.0f;  ///< prior on the velocity of a new track: box sizes per second
};

/// Filters a box as four independent axes (centre x, centre y, width, height),
/// each with a position and a velocity; the step is the real time between
/// frames, so the filter does not depend on the frame rate. Not thread-safe.
class BoxKalman {
 public:
  BoxKalman() = default;
  explicit BoxKalman(const cv::Rect2f& box, const KalmanNoise& noise = {});

  /// Longest step predict() takes: a longer gap is taken as this long (the
  /// covariance would otherwise overflow to inf and the box become NaN).
  static constexpr double kMaxStepSeconds = 1e4;

  /// Advances the state by `dt` seconds (dt >= 0; at most kMaxStepSeconds counts).
  void predict(double dt);
  /// Rescales the state to an image resized by `sx` horizontally and `sy`
  /// vertically (positions, sizes, velocities and their uncertainties).
  void scale(double sx, double sy);
  /// Corrects the state with a measured box.
  void update(const cv::Rect2f& measured);

  /// The current box estimate (width and height at least 1 pixel).
  cv::Rect2f box() const;
  /// Velocity of the box centre in pixels per second.
  cv::Point2f velocity() const;
  /// Standard deviation of the centre position estimate, in pixels.
  float position_stddev() const;

 private:
  struct Axis {
    double x = 0, v = 0;                 // position, velocity
    double pxx = 0, pxv = 0, pvv = 0;    // covariance
  };
  double size() const;
  Axis axis_[4];  // centre x, centre y, width, height
  KalmanNoise noise_;
};

}  // namespace fer::detail
