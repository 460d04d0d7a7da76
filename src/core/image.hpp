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

/// The largest face box side accepted, in multiples of the image's longer side:
/// far beyond any real face with its margin, small enough that every pixel
/// coordinate of the box stays an int and no crop asks for an absurd allocation.
constexpr float kMaxFaceBoxScale = 16.f;
/// Empty when `box` is a usable face box for an image of `size`: finite,
/// positive, no side over kMaxFaceBoxScale times the image's longer side, and
/// overlapping the image; else what is wrong with it ("lies outside the image", ...).
std::string face_box_problem(const cv::Rect2f& box, const cv::Size& size);

}  // namespace fer::detail
