// OpenCV cascade face detector.
#pragma once

#include "detect/framing.hpp"

#include <fer/detector.hpp>

#include <opencv2/objdetect.hpp>

namespace fer::detail {

/// Haar cascade detector. Not thread-safe (cv::CascadeClassifier is not).
class HaarDetector : public Detector {
 public:
  explicit HaarDetector(const DetectorOptions& options);
  std::string name() const override { return "haar"; }
  std::vector<Face> detect(const cv::Mat& image) override {
    std::vector<Face> skipped;
    return detect_with_skipped(image, skipped);
  }
  std::vector<Face> detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) override;
  /// Measured on FER-2013 val (src/detect/framing.hpp).
  BoxFraming framing() const override { return kHaarFraming; }

  /// Finds the cascade file: options.data_path, $FER_HAAR_CASCADE, then opencv-data's folders.
  static std::string find_cascade(const std::string& explicit_path);

 private:
  DetectorOptions options_;
  cv::CascadeClassifier cascade_;
};

}  // namespace fer::detail
