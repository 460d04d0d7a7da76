// Internal image helpers shared by detectors and models.
#pragma once

#include <opencv2/core.hpp>

namespace fer::detail {

/// 8-bit single-channel view or copy of a validated gray/BGR/BGRA image.
cv::Mat to_gray(const cv::Mat& image);
/// 8-bit BGR view or copy of a validated gray/BGR/BGRA image.
cv::Mat to_bgr(const cv::Mat& image);
/// Describes an image's type for error messages ("8-bit 2-channel 640x480").
std::string describe(const cv::Mat& image);

}  // namespace fer::detail
