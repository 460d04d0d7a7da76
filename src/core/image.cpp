#include "core/image.hpp"

#include <fer/error.hpp>
#include <fer/image.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace fer {

namespace detail {

std::string describe(const cv::Mat& image) {
  static const char* kDepth[] = {"8-bit unsigned", "8-bit signed", "16-bit unsigned", "16-bit signed",
                                 "32-bit integer", "32-bit float",  "64-bit float",    "16-bit float"};
  int depth = image.depth();
  std::string d = depth >= 0 && depth < 8 ? kDepth[depth] : "unknown-depth";
  return d + " " + std::to_string(image.channels()) + "-channel " + std::to_string(image.cols) + "x" +
         std::to_string(image.rows);
}

std::string face_box_problem(const cv::Rect2f& box, const cv::Size& size) {
  if (!(box.width > 0.f && box.height > 0.f) || !std::isfinite(box.x) || !std::isfinite(box.y) ||
      !std::isfinite(box.width) || !std::isfinite(box.height))
    return "face box must have a positive, finite size";
  const double limit = double(kMaxFaceBoxScale) * std::max(size.width, size.height);
  if (double(box.width) > limit || double(box.height) > limit)
    return "face box of " + std::to_string(box.width) + "x" + std::to_string(box.height) + " is more than " +
           std::to_string(int(kMaxFaceBoxScale)) + " times the " + std::to_string(size.width) + "x" +
           std::to_string(size.height) + " image";
  if (double(box.x) >= size.width || double(box.y) >= size.height || double(box.x) + box.width <= 0 ||
      double(box.y) + box.height <= 0)
    return "face box lies outside the image";
  return {};
}

cv::Mat to_gray(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, image.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
  return gray;
}

cv::Mat to_bgr(const cv::Mat& image) {
  if (image.channels() == 3) return image;
  cv::Mat bgr;
  cv::cvtColor(image, bgr, image.channels() == 4 ? cv::COLOR_BGRA2BGR : cv::COLOR_GRAY2BGR);
  return bgr;
}

}  // namespace detail

void validate_image(const cv::Mat& image, int64_t max_pixels) {
  if (image.empty() || image.cols <= 0 || image.rows <= 0)
    throw Error(Status::InvalidArgument, "image is empty; expected an 8-bit gray, BGR or BGRA image");
  if (image.dims != 2)
    throw Error(Status::InvalidArgument, "image has " + std::to_string(image.dims) + " dimensions; expected 2");
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
    throw Error(Status::InvalidArgument, "unsupported image: " + detail::describe(image) +
                                             "; expected 8-bit gray (CV_8UC1), BGR (CV_8UC3) or BGRA (CV_8UC4)");
  if (int64_t(image.cols) * int64_t(image.rows) > max_pixels)
    throw Error(Status::InvalidArgument, "image of " + std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                                             " exceeds the limit of " + std::to_string(max_pixels) +
                                             " pixels (PipelineOptions::max_image_pixels)");
}

}  // namespace fer
