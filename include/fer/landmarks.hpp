/// @file landmarks.hpp
/// @brief Facial landmarks per face box, and face alignment by a similarity transform.
#pragma once

#include <fer/registry.hpp>
#include <fer/types.hpp>

#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

namespace fer {

/// Options every landmark model understands.
struct LandmarkOptions {
  std::string data_path;  ///< weights (manifest file or the folder holding it); empty = find the default
  /// Faces whose eye line is tilted by more than this (degrees) are cut again
  /// turned upright and run a second time (the models were trained on upright
  /// faces); 0 = one pass only.
  float upright_pass_degrees = 8.f;
};

/// Finds facial landmarks inside face boxes. The 68-point models give the
/// iBUG 300-W points: jaw 0-16, brows 17-26, nose 27-35 (tip 30), eyes 36-41
/// and 42-47 (the eye on the image's left first), mouth 48-67 (corners 48, 54).
/// Thread-safe: detect() keeps no state and the weights are read-only.
class LandmarkDetector {
 public:
  virtual ~LandmarkDetector() = default;
  /// Registered name ("68", "68_tiny").
  virtual std::string name() const = 0;
  /// Points per face.
  virtual int num_points() const = 0;
  /// Landmarks in image coordinates for each box (image coordinates) of
  /// `image` (8-bit gray, BGR or BGRA); all boxes go through the network as one batch.
  virtual std::vector<std::vector<cv::Point2f>> detect(const cv::Mat& image,
                                                       const std::vector<cv::Rect2f>& boxes) const = 0;
  /// Fills Face::landmarks of every face in `faces` that has none.
  void annotate(const cv::Mat& image, std::vector<Face>& faces) const;

  /// Creates a registered landmark model by name.
  static std::unique_ptr<LandmarkDetector> create(const std::string& name, const LandmarkOptions& options = {});
};

using LandmarkRegistry = Registry<LandmarkDetector, const LandmarkOptions&>;
/// The registry of landmark models (built-ins: "68", "68_tiny").
LandmarkRegistry& landmark_registry();

/// The five points alignment uses, in this order: centre of the eye on the
/// image's left, centre of the other eye, nose tip, left mouth corner, right
/// mouth corner. From 68 iBUG points (averages of the eye contours, points 30,
/// 48 and 54) or passed through when `landmarks` already has 5 points; throws
/// InvalidArgument for any other count.
std::vector<cv::Point2f> alignment_points(const std::vector<cv::Point2f>& landmarks);

/// The built-in alignment template: where the five alignment points of an
/// upright frontal face lie in a square crop of side 1 that spans the face
/// (eyebrows to chin, cheek to cheek) with no margin.
std::vector<cv::Point2f> default_alignment_template();

/// Least-squares similarity transform (rotation, uniform scale, translation;
/// no reflection or shear) taking `from` onto `to` (equal sizes, at least 2
/// distinct points), as a 2x3 CV_64F matrix for cv::warpAffine.
cv::Mat estimate_similarity(const std::vector<cv::Point2f>& from, const std::vector<cv::Point2f>& to);

/// The 2x3 transform from image coordinates to a `size` x `size` aligned crop:
/// the five alignment points of `landmarks` go (least squares) onto `templ`
/// (empty = default_alignment_template()) scaled so a margin of `margin` of the
/// face side lies around it on every side, i.e. point t -> (t + margin) / (1 + 2 margin) * size.
cv::Mat alignment_transform(const std::vector<cv::Point2f>& landmarks, int size, float margin,
                            const std::vector<cv::Point2f>& templ = {});

/// The aligned `size` x `size` crop of `image` (same type as the image; the
/// border is replicated). Large faces are warped at an intermediate size and
/// then area-averaged so they do not alias.
cv::Mat align_face(const cv::Mat& image, const std::vector<cv::Point2f>& landmarks, int size, float margin,
                   const std::vector<cv::Point2f>& templ = {});

}  // namespace fer
