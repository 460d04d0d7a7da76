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
  bool attention = false;                ///< blend each face's attention map (FaceResult::attention, filled
                                         ///< when PipelineOptions::return_attention is set and the model has
                                         ///< attention) over its box; faces without a map are left as they are
  double attention_alpha = 0.45;         ///< weight of the heat map in that blend, in [0, 1]
};

/// Draws every tracked face (box coloured by track id, "#id label p%", a
/// confidence bar per class) and the FPS on `image` (8-bit gray, BGR or BGRA).
/// Predicted (not detected) boxes are drawn with a thinner line.
void draw_overlay(cv::Mat& image, const std::vector<TrackedFace>& faces, const OverlayOptions& options = {});

/// Blends `attention` (a CV_32F map of any size, e.g. FaceResult::attention)
/// over `box` of `image` (8-bit gray, BGR or BGRA) as a JET colour map (gray
/// images get its luminance), scaled from the map's minimum (blue) to its
/// maximum (red). The map is stretched over the box (the crop margin or
/// alignment of the model's input is not undone). Pixels outside the box and
/// an alpha channel are untouched; an empty map or a box outside the image
/// changes nothing. `alpha` in [0, 1] is the weight of the heat map.
void blend_attention(cv::Mat& image, const cv::Rect2f& box, const cv::Mat& attention, double alpha = 0.45);

}  // namespace fer
