#include "track/kalman.hpp"

#include <algorithm>
#include <cmath>

namespace fer::detail {

BoxKalman::BoxKalman(const cv::Rect2f& box, const KalmanNoise& noise) : noise_(noise) {
  const double values[4] = {box.x + box.width / 2.0, box.y + box.height / 2.0, box.width, box.height};
  double s = std::sqrt(std::max(1.0, double(box.width) * box.height));
  double r = noise.measurement * s, q = noise.initial_velocity * s;
  for (int i = 0; i < 4; ++i) axis_[i] = Axis{values[i], 0.0, r * r, 0.0, q * q};
}

double BoxKalman::size() const { return std::sqrt(std::max(1.0, axis_[2].x * axis_[3].x)); }

void BoxKalman::predict(double dt) {
  if (!(dt > 0)) return;
  dt = std::min(dt, kMaxStepSeconds);
  double a = noise_.acceleration * size();
  double q = a * a;  // spectral density of the white-noise acceleration
  for (Axis& ax : axis_) {
    ax.x += ax.v * dt;
    ax.pxx += 2 * dt * ax.pxv + dt * dt * ax.pvv + q * dt * dt * dt / 3;
    ax.pxv += dt * ax.pvv + q * dt * dt / 2;
    ax.pvv += q * dt;
  }
}

void BoxKalman::scale(double sx, double sy) {
  const double factors[4] = {sx, sy, sx, sy};
  for (int i = 0; i < 4; ++i) {
    Axis& ax = axis_[i];
    const double f = factors[i], f2 = f * f;
    ax.x *= f;
    ax.v *= f;
    ax.pxx *= f2;
    ax.pxv *= f2;
    ax.pvv *= f2;
  }
}

void BoxKalman::update(const cv::Rect2f& m) {
  const double z[4] = {m.x + m.width / 2.0, m.y + m.height / 2.0, m.width, m.height};
  double r = noise_.measurement * size();
  for (int i = 0; i < 4; ++i) {
    Axis& ax = axis_[i];
    double s = ax.pxx + r * r;
    double kx = ax.pxx / s, kv = ax.pxv / s, innovation = z[i] - ax.x;
    ax.x += kx * innovation;
    ax.v += kv * innovation;
    double pxx = ax.pxx, pxv = ax.pxv;
    ax.pxx = (1 - kx) * pxx;
    ax.pxv = (1 - kx) * pxv;
    ax.pvv -= kv * pxv;
  }
}

cv::Rect2f BoxKalman::box() const {
  double w = std::max(1.0, axis_[2].x), h = std::max(1.0, axis_[3].x);
  return {float(axis_[0].x - w / 2), float(axis_[1].x - h / 2), float(w), float(h)};
}

cv::Point2f BoxKalman::velocity() const { return {float(axis_[0].v), float(axis_[1].v)}; }

float BoxKalman::position_stddev() const { return float(std::sqrt(std::max(0.0, axis_[0].pxx + axis_[1].pxx) / 2)); }

}  // namespace fer::detail
