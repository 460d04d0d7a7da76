/// @file pipeline.hpp
/// @brief Detection + cropping + recognition of every face in an image.
#pragma once

#include <fer/detector.hpp>
#include <fer/image.hpp>
#include <fer/model.hpp>
#include <fer/types.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fer {

struct PipelineOptions {
  /// Registered detector name; "auto" = the best DNN detector whose weights
  /// are present (ssd_mobilenet, tiny_face), else "haar". detector_name() says which.
  std::string detector = "auto";
  std::string model_path;          ///< model file; empty = default_model_path(), else the untrained fallback
  float score_threshold = 0.5f;    ///< detector score threshold
  int min_face_size = 24;          ///< smallest face side in input pixels
  int max_detect_side = 480;       ///< detection runs on the image downscaled to this longer side
  int threads = 0;                 ///< compute threads (process-wide); 0 = $FER_NUM_THREADS or all cores
  std::string precision = "auto";  ///< "fp32", "bf16", "int8" or "auto" (see Model::resolve_precision); applied
                                   ///< to the DNN detector (DetectorOptions::precision: "auto" keeps it in
                                   ///< bf16/fp32, "int8" runs ssd_mobilenet in int8) and to a model the
                                   ///< pipeline loads itself, not to one passed in
  /// Landmark model: "68", "68_tiny" (see landmark_registry()), "none", or
  /// "auto": "68" when the model crops faces aligned by landmarks, else none.
  /// With a landmark model, every result's face carries its landmarks.
  std::string landmarks = "auto";
  bool return_features = false;    ///< fill FaceResult::features
  bool return_attention = false;   ///< fill FaceResult::attention where the model has attention
  /// Test-time view of the recognizer (Model::predict): "auto" (the model's
  /// own one-pass view, ModelInfo::view, chosen on its validation split:
  /// "center" for most shipped models, see `fer info`),
  /// "none" (the whole face crop), "center" (one pass over its centre crop of
  /// 90% of the area, the mean zoom of training's random resized crops),
  /// "flip" (2 forward passes per face) or "tencrop" (10); the last two are
  /// more accurate probabilities for photos, at that multiple of the
  /// recognition time.
  std::string tta = "auto";
  int64_t max_image_pixels = kDefaultMaxImagePixels;  ///< larger images are rejected (InvalidArgument)
};

/// One detector and one recognizer model. Not thread-safe (the detector keeps
/// state): use one Pipeline per thread; they may share one Model.
class Pipeline {
 public:
  explicit Pipeline(const PipelineOptions& options = {});
  /// Uses an already loaded model (shared read-only with other pipelines).
  Pipeline(const PipelineOptions& options, std::shared_ptr<const Model> model);
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;
  Pipeline& operator=(Pipeline&&) noexcept;

  /// Detects and recognizes every face. `image`: non-empty 8-bit gray, BGR or
  /// BGRA (CV_8UC1/3/4) of any size up to max_image_pixels; anything else
  /// throws Error(InvalidArgument) saying what was expected.
  std::vector<FaceResult> process(const cv::Mat& image);
  /// Same; faces the detector found but that are smaller than min_face_size
  /// (not recognized) go to `skipped` (cleared first), boxes in image pixels.
  std::vector<FaceResult> process(const cv::Mat& image, std::vector<Face>& skipped);
  /// Detects faces without recognizing them: the pipeline's detector, boxes
  /// in image pixels framed as detector_framing(), ready for recognize() (all
  /// of them, some, or boxes a tracker carried on from them). Faces smaller
  /// than min_face_size go to `skipped` (cleared first). `image` as process().
  std::vector<Face> detect(const cv::Mat& image);
  std::vector<Face> detect(const cv::Mat& image, std::vector<Face>& skipped);
  /// Recognizes the given faces (boxes in image coordinates, framed as the
  /// pipeline's detector frames them: see Detector::framing()) without
  /// detecting; faces without landmarks get them from the pipeline's landmark
  /// model, if any. A box that cannot be cropped throws Error(InvalidArgument)
  /// naming it ("faces[i]: ..."): not positive and finite, absurdly large, or
  /// so far outside the image that the part a box crop cuts lies outside it.
  std::vector<FaceResult> recognize(const cv::Mat& image, const std::vector<Face>& faces) const;
  /// Recognizes images that already are faces (crops of your own, FER-2013's
  /// 48x48 images) without detection or landmarks: each whole image is one
  /// face, its box the image (score 0: not detected). Runs in chunks
  /// (Model::predict_faces); an unusable image throws naming it ("faces[i]: ...").
  std::vector<FaceResult> recognize_crops(const std::vector<cv::Mat>& face_images) const;

  const Model& model() const;
  std::shared_ptr<const Model> shared_model() const;
  /// The recognizer's test-time view in use: options.tta, "auto" resolved
  /// for the model (Model::resolve_view).
  std::string view() const;
  /// Name of the detector in use (for "auto", the detector it chose).
  std::string detector_name() const;
  /// How the detector in use frames faces; box crops map its boxes by this.
  BoxFraming detector_framing() const;
  /// Name of the landmark model in use; empty when none.
  std::string landmarks_name() const;
  /// Model file in use; empty for the untrained fallback.
  const std::string& model_path() const;
  const PipelineOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fer
