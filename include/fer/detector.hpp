/// @file detector.hpp
/// @brief Face detectors: find faces in an image.
#pragma once

#include <fer/registry.hpp>
#include <fer/types.hpp>

#include <memory>
#include <string>
#include <vector>

namespace fer {

/// Options every detector understands.
struct DetectorOptions {
  float score_threshold = 0.5f;  ///< drop faces scored below this
  int min_face_size = 24;        ///< smallest face side, in input-image pixels
  int max_detect_side = 480;     ///< the image is downscaled to this longer side before detection
  std::string data_path;         ///< model/cascade file; empty = find the default
};

/// Finds faces. Implementations are not thread-safe: use one per thread.
class Detector {
 public:
  virtual ~Detector() = default;
  /// Registered name ("haar", ...).
  virtual std::string name() const = 0;
  /// Faces in `image` (8-bit gray, BGR or BGRA, any size), best score first.
  virtual std::vector<Face> detect(const cv::Mat& image) = 0;

  /// Creates a registered detector by name.
  static std::unique_ptr<Detector> create(const std::string& name, const DetectorOptions& options = {});
};

using DetectorRegistry = Registry<Detector, const DetectorOptions&>;
/// The registry of detectors (built-ins: "haar").
DetectorRegistry& detector_registry();

}  // namespace fer
