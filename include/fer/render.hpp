/// @file render.hpp
/// @brief Drawing results on an image (boxes, labels, probability bars).
#pragma once

#include <fer/types.hpp>

#include <string>
#include <vector>

namespace fer {

struct DrawOptions {
  bool probability_bars = true;  ///< a bar per class beside each face
  bool landmarks = true;         ///< a dot at each landmark of faces that have them
  double font_scale = 0.0;       ///< 0 = chosen from the image size
  std::vector<std::string> class_names;  ///< names for the bars (the model's classes)
};

/// Draws every face's box, label, confidence and landmarks on `image` (8-bit BGR, BGRA or gray).
void draw_results(cv::Mat& image, const std::vector<FaceResult>& results, const DrawOptions& options = {});

}  // namespace fer
