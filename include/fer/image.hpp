/// @file image.hpp
/// @brief What libfer accepts as an image.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>

namespace fer {

/// Default upper bound on image size (pixels) accepted by libfer calls.
constexpr int64_t kDefaultMaxImagePixels = int64_t(1) << 28;

/// Checks that `image` is non-empty 8-bit gray, BGR or BGRA (CV_8UC1/3/4),
/// two-dimensional and at most `max_pixels` large; throws Error(InvalidArgument)
/// saying what was expected otherwise.
void validate_image(const cv::Mat& image, int64_t max_pixels = kDefaultMaxImagePixels);

}  // namespace fer
