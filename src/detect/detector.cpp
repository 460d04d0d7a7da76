#include "detect/face_api.hpp"
#include "detect/haar_detector.hpp"
#include "detect/ssd_mobilenet_detector.hpp"
#include "detect/tiny_face_detector.hpp"

#include <fer/detector.hpp>
#include <fer/error.hpp>
#include <fer/threads.hpp>

#include <algorithm>
#include <mutex>

namespace fer {

cv::Rect2f BoxFraming::to_frame(const cv::Rect2f& box) const {
  const float side = std::max(box.width, box.height);
  const float cx = box.x + box.width / 2 + shift_x * side, cy = box.y + box.height / 2 + shift_y * side;
  const float s = frame_scale * side;
  return {cx - s / 2, cy - s / 2, s, s};
}

cv::Rect2f BoxFraming::to_reference(const cv::Rect2f& box) const {
  const cv::Rect2f f = to_frame(box);
  const float s = f.width / kReferenceFrameScale;
  return {f.x + (f.width - s) / 2, f.y + (f.height - s) / 2, s, s};
}

namespace {

bool has_weights(const DetectorOptions& o, const char* manifest) {
  try {
    detail::find_face_api_manifest(o.data_path, manifest);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// "auto": the best detector whose weights are present (options.data_path or the default
// places), else Haar.
std::unique_ptr<Detector> create_auto(const DetectorOptions& o) {
  if (has_weights(o, detail::SsdMobilenetDetector::kManifest)) return std::make_unique<detail::SsdMobilenetDetector>(o);
  if (has_weights(o, detail::TinyFaceDetector::kManifest)) return std::make_unique<detail::TinyFaceDetector>(o);
  DetectorOptions haar = o;
  haar.data_path.clear();  // data_path names face-api's weights here, not a cascade
  return std::make_unique<detail::HaarDetector>(haar);
}

}  // namespace

DetectorRegistry& detector_registry() {
  static DetectorRegistry registry("detector");
  static std::once_flag builtins;
  std::call_once(builtins, [] {
    tune_heap();  // every detector is made through this registry
    registry.add(
        "haar", [](const DetectorOptions& o) { return std::make_unique<detail::HaarDetector>(o); },
        "OpenCV Haar cascade (frontal faces), from Debian's opencv-data");
    registry.add(
        "tiny_face", [](const DetectorOptions& o) { return std::make_unique<detail::TinyFaceDetector>(o); },
        "face-api's Tiny Face Detector (Tiny-YOLOv2, separable convs), input max_detect_side rounded to 32");
    registry.add(
        "ssd_mobilenet", [](const DetectorOptions& o) { return std::make_unique<detail::SsdMobilenetDetector>(o); },
        "face-api's SSD-MobileNetV1 face detector (512x512 input)");
    registry.add(
        "auto", create_auto,
        "the best detector whose weights are present: ssd_mobilenet, tiny_face, else haar (name() says which)");
  });
  return registry;
}

std::unique_ptr<Detector> Detector::create(const std::string& name, const DetectorOptions& options) {
  return detector_registry().create(name, options);
}

}  // namespace fer
