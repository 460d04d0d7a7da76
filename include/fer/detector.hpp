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
  /// Numeric precision of the DNN detectors: "auto" (bf16 where the CPU has
  /// native bf16 instructions, else fp32), "fp32", "bf16" or "int8":
  /// ssd_mobilenet in int8 (about 1.8x as fast as bf16, finding slightly
  /// fewer hard faces; see the README), the others as "auto". Haar ignores it.
  std::string precision = "auto";
};

/// How a detector's boxes sit on a face, relative to the frame of a FER-2013
/// image (FER-2013's faces are pre-cropped: the whole 48x48 image is the frame).
/// Detectors frame faces differently (Haar's boxes are loose, the DNN
/// detectors' tight and lower); the pipeline maps every box onto the reference
/// box below before cutting a "box" crop, so a model crops the same region
/// whichever detector found the face.
///
/// The reference box is the square, concentric with the FER-2013 frame, whose
/// side is the frame's divided by kReferenceFrameScale: a model trained on
/// FER-2013 with the default crop (square, margin 0.1) cuts exactly the frame.
struct BoxFraming {
  /// FER-2013 frame side / box side, box side = max(width, height).
  float frame_scale = 1.2f;
  float shift_x = 0.f;  ///< (frame centre - box centre) / box side, horizontal
  float shift_y = 0.f;  ///< same, vertical (positive: the frame lies lower)

  /// The frame's side over the reference box's side (1 + 2 x default margin 0.1).
  static constexpr float kReferenceFrameScale = 1.2f;
  /// The reference box (a square) for a box of this detector.
  cv::Rect2f to_reference(const cv::Rect2f& box) const;
  /// The FER-2013 frame (a square) for a box of this detector.
  cv::Rect2f to_frame(const cv::Rect2f& box) const;
};

/// Finds faces. Implementations are not thread-safe: use one per thread.
class Detector {
 public:
  virtual ~Detector() = default;
  /// Registered name ("haar", ...).
  virtual std::string name() const = 0;
  /// Faces in `image` (8-bit gray, BGR or BGRA, any size), best score first.
  virtual std::vector<Face> detect(const cv::Mat& image) = 0;
  /// Same, and every face found but smaller than min_face_size goes to
  /// `skipped` (cleared first) instead of being dropped unseen. The default
  /// calls detect() and reports none skipped; the built-in detectors report them.
  virtual std::vector<Face> detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) {
    skipped.clear();
    return detect(image);
  }
  /// How this detector's boxes map onto the reference box (see BoxFraming).
  /// The default treats boxes as reference boxes already.
  virtual BoxFraming framing() const { return {}; }

  /// Creates a registered detector by name.
  static std::unique_ptr<Detector> create(const std::string& name, const DetectorOptions& options = {});
};

using DetectorRegistry = Registry<Detector, const DetectorOptions&>;
/// The registry of detectors (built-ins: "haar", "tiny_face", "ssd_mobilenet"
/// and "auto", the best of them whose weights are present).
DetectorRegistry& detector_registry();

}  // namespace fer
