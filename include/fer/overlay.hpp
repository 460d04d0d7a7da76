/// @file overlay.hpp
/// @brief Drawing tracked faces of a video frame: id, smoothed label, bars, FPS.
#pragma once

#include <fer/stream.hpp>

#include <string>
#include <vector>

namespace fer {

struct OverlayOptions {
  std::vector<std::string> class_names;  ///< names for the bars (the model's classes)
  bool probability_bars = true;          ///< a bar per class (smoothed probabilities) beside each face
  double fps = -1;                       ///< drawn in the top-left corner when >= 0
  double font_scale = 0.0;               ///< 0 = chosen from the image size
};

/// Draws every tracked face (box coloured by track id, "#id label p%", a
/// confidence bar per class) and the FPS on `image` (8-bit gray, BGR or BGRA).
/// Predicted (not detected) boxes are drawn with a thinner line.
void draw_overlay(cv::Mat& image, const std::vector<TrackedFace>& faces, const OverlayOptions& options = {});

}  // namespace fer
