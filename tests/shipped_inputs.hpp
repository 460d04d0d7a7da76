// Fixed synthetic faces for checking shipped models: defined by formulas, not
// by a random generator, so they are the same on every machine and library version.
#pragma once

#include <fer/model.hpp>

#include <cmath>
#include <vector>

namespace fer_test {

inline std::vector<cv::Mat> shipped_model_inputs(const fer::Model& model) {
  std::vector<cv::Mat> out;
  for (int k = 0; k < 4; ++k) {
    cv::Mat face(64, 64, CV_8UC3);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        double v = 128 + 90 * std::sin(0.11 * (k + 1) * x + 0.07 * (4 - k) * y) * std::cos(0.05 * (x - y) * k);
        auto c = uint8_t(std::lround(std::min(255.0, std::max(0.0, v))));
        face.at<cv::Vec3b>(y, x) = cv::Vec3b(c, uint8_t((c + 40 * k) % 256), uint8_t(255 - c));
      }
    out.push_back(model.prepare(face));
  }
  return out;
}

}  // namespace fer_test
