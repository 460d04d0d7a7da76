/// @file model.hpp
/// @brief A recognizer model (extractor + classifier + metadata) and its file format.
#pragma once

#include <fer/config.hpp>
#include <fer/recognizer.hpp>
#include <fer/types.hpp>

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fer {

/// What the model expects as input.
struct InputSpec {
  int width = 48;
  int height = 48;
  int channels = 1;               ///< 1 = gray, 3 = BGR
  std::vector<float> mean{0.5f};  ///< per channel, applied to pixel/255
  std::vector<float> std{0.5f};   ///< per channel
};

/// How a face crop is cut from an image: the convention the model was trained
/// with, stored in the model file so training and inference crop alike.
struct CropSpec {
  /// "box": the detector box (made square when `square`), grown by `margin`;
  /// for models trained on pre-cropped faces such as FER-2013.
  /// "aligned": the face's landmarks (68 or 5 points) mapped by a similarity
  /// transform onto `template_points`, upright; needs a landmark model.
  std::string method = "box";
  float margin = 0.1f;  ///< fraction of the face side added on every side
  bool square = true;   ///< "box": make the box square (around its centre) before cutting
  /// "aligned": the five alignment points (see fer::alignment_points) in a unit
  /// square spanning the face without margin; empty = fer::default_alignment_template().
  std::vector<cv::Point2f> template_points;
};

/// Everything a model file says besides its weights.
struct ModelInfo {
  std::string architecture = "small_cnn";  ///< feature extractor name
  Config architecture_config;              ///< its options
  std::string head = "linear";             ///< classifier name
  Config head_config;                      ///< its options
  InputSpec input;
  CropSpec crop;
  std::vector<std::string> classes;        ///< class names in logit order
  bool trained = false;                    ///< false: random weights, output is not recognition
  std::string storage = "float32";         ///< weight storage in the file: "float32" or "bfloat16"
  std::map<std::string, std::string> provenance;  ///< dataset, split, command, date, ...
  std::map<std::string, double> metrics;          ///< e.g. "val_accuracy"
  /// Int8 calibration (Model::calibrate); empty: the model cannot run in int8.
  ActivationRanges activation_ranges;
  /// The model's own test-time view, one forward pass per face: "none" (the
  /// whole face crop) or "center" (its centre crop of 90% of the area, the
  /// mean zoom of random-resized-crop training). What a test-time view of
  /// "auto" (the default of Model::predict, Pipeline, evaluate, the bindings
  /// and the fer commands) runs. Chosen on a validation split by `fer
  /// choose-view`, which records the accuracies it compared in `metrics`
  /// ("view_accuracy_none", "view_accuracy_center") and the split in
  /// `provenance` ("view_chosen_on"). Files without it: "none".
  std::string view = "none";
};

/// The model-file format version this build writes (and the newest it reads).
constexpr uint32_t kModelFormatVersion = 1;

/// Per-face output of a model.
struct Prediction {
  std::vector<float> probabilities;
  std::vector<float> features;
  cv::Mat attention;
};

/// A loaded recognizer. Its weights are read-only after loading: one Model can
/// be shared by many threads and pipelines (predict() and crop() are thread-safe).
class Model {
 public:
  /// Loads and validates a model file. Throws NotFound, IoError, CorruptData,
  /// UnsupportedVersion, ShapeMismatch or UnknownComponent with the reason.
  static std::shared_ptr<Model> load(const std::string& path);
  /// Same from bytes in memory; `origin` names them in error messages.
  static std::shared_ptr<Model> from_bytes(const uint8_t* data, size_t size, const std::string& origin = "<memory>");
  /// A new model with freshly initialised weights (deterministic for a seed).
  static std::shared_ptr<Model> create(const ModelInfo& info, uint64_t seed = 0);

  /// Writes the model file (atomically: to a temporary file, then renamed).
  void save(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

  const ModelInfo& info() const { return info_; }
  ModelInfo& info() { return info_; }
  const FeatureExtractor& extractor() const { return *extractor_; }
  FeatureExtractor& extractor() { return *extractor_; }
  const Classifier& classifier() const { return *classifier_; }
  Classifier& classifier() { return *classifier_; }

  /// Inference precision of the extractor (see Precision). Not thread-safe:
  /// set it before sharing the model. Int8 needs info().activation_ranges
  /// (InvalidArgument without) and an architecture with an int8 path (Unsupported).
  void set_precision(Precision precision);
  Precision precision() const { return extractor_->precision(); }
  /// "fp32", "bf16", "int8" or "auto": auto is int8 for a calibrated model
  /// whose architecture has an int8 path on a CPU with int8 dot products
  /// (VNNI/AMX), else as parse_precision("auto"), except fp32 for
  /// architectures that run slower in bf16 (FeatureExtractor::prefers_bf16).
  Precision resolve_precision(const std::string& name) const;
  /// Measures the int8 activation ranges on `inputs` (prepared faces, as for
  /// predict(); real faces such as a few thousand training images), replacing
  /// info().activation_ranges; a model in int8 is requantized with them.
  /// Throws Unsupported when the architecture has no int8 path. Not thread-safe.
  void calibrate(const std::vector<cv::Mat>& inputs, int batch_size = 64);

  /// Cuts the face around `box` by the model's crop convention and turns it
  /// into the normalized CV_32FC(channels) input. `image`: 8-bit gray/BGR/BGRA.
  /// Only for the "box" method (an "aligned" model throws InvalidArgument: use the Face overload).
  cv::Mat crop(const cv::Mat& image, const cv::Rect2f& box) const;
  /// Same by the model's crop method: "aligned" uses face.landmarks (68 or 5
  /// points) and throws InvalidArgument when it has none.
  cv::Mat crop(const cv::Mat& image, const Face& face) const;
  /// Whether crop() needs landmarks (the crop method is "aligned").
  bool needs_landmarks() const { return info_.crop.method == "aligned"; }
  /// Same for an image that already is the face (resized to the input size).
  cv::Mat prepare(const cv::Mat& face_image) const;
  /// Runs the recognizer on prepared inputs (from crop()/prepare()).
  /// `tta`, the test-time view: "auto" (the model's own view, info().view),
  /// "none" (the input as it is), "center" (its centre crop of 90% of the
  /// area, resized back), "flip" (each input and its mirror image) or
  /// "tencrop" (the centre and four corner crops of 90% of the area, resized
  /// back, and their mirror images), the same views as `fer eval --tta`;
  /// probabilities are the mean over the views (2 or 10 forward passes per
  /// input for flip and tencrop), features and attention maps those of the
  /// input itself, except for center: those of its one pass over the centre
  /// crop (the attention map then covers that crop, 95% of the side). More
  /// than kFaceChunk inputs run kFaceChunk a forward pass.
  std::vector<Prediction> predict(const std::vector<cv::Mat>& inputs, bool with_features = false,
                                  bool with_attention = false, const std::string& tta = "auto") const;
  /// Recognizes images that already are faces (8-bit gray/BGR/BGRA of any
  /// size): prepare() then predict(), kFaceChunk faces a forward pass, so a
  /// whole dataset in one call needs no more memory than one chunk's inputs.
  /// A face that cannot be prepared throws with "faces[i]: " before its reason.
  std::vector<Prediction> predict_faces(const std::vector<cv::Mat>& face_images, bool with_features = false,
                                        bool with_attention = false, const std::string& tta = "auto") const;
  /// Same, with the faces fetched one at a time by index (0 .. count-1, in
  /// order, each once): faces decoded or converted on demand need not all be
  /// in memory at once. What `face_image` throws passes through unchanged.
  std::vector<Prediction> predict_faces(size_t count, const std::function<cv::Mat(size_t)>& face_image,
                                        bool with_features = false, bool with_attention = false,
                                        const std::string& tta = "auto") const;
  /// The view `tta` names for this model: info().view for "auto", else `tta`
  /// itself. Throws InvalidArgument for an unknown name.
  std::string resolve_view(const std::string& tta) const;
  /// Faces a forward pass in predict_faces().
  static constexpr size_t kFaceChunk = 256;

  Model(ModelInfo info, std::unique_ptr<FeatureExtractor> extractor, std::unique_ptr<Classifier> classifier);

 private:
  std::vector<Prediction> predict_views(const std::vector<cv::Mat>& inputs, bool with_features, bool with_attention,
                                        const std::string& tta) const;

  ModelInfo info_;
  std::unique_ptr<FeatureExtractor> extractor_;
  std::unique_ptr<Classifier> classifier_;
};

/// Path of the default model file, searched in order: $FER_MODEL, the source
/// tree's models/default.fermodel, the installed share/fer/models/default.fermodel.
/// Empty when none exists.
std::string default_model_path();

/// ModelInfo for the untrained built-in fallback (small_cnn, FER-2013 classes).
ModelInfo untrained_default_info();

}  // namespace fer
