#include "detect/haar_detector.hpp"

#include <fer/detector.hpp>

#include <mutex>

namespace fer {

DetectorRegistry& detector_registry() {
  static DetectorRegistry registry("detector");
  static std::once_flag builtins;
  std::call_once(builtins, [] {
    registry.add(
        "haar", [](const DetectorOptions& o) { return std::make_unique<detail::HaarDetector>(o); },
        "OpenCV Haar cascade (frontal faces), from Debian's opencv-data");
  });
  return registry;
}

std::unique_ptr<Detector> Detector::create(const std::string& name, const DetectorOptions& options) {
  return detector_registry().create(name, options);
}

}  // namespace fer
