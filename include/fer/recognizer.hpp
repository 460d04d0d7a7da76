/// @file recognizer.hpp
/// @brief Feature extractors and classifiers: the two halves of a recognizer model.
#pragma once

#include <fer/config.hpp>
#include <fer/registry.hpp>

#include <opencv2/core.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fer {

/// Numeric precision of inference. BFloat16 runs convolutions and matrix
/// products in bfloat16 (CPU autocast, channels-last weights) with float32
/// accumulation where oneDNN provides it. Int8 runs the extractor quantized
/// (uint8 activations, int8 weights, batch norms folded, ReLUs fused) with
/// ranges calibrated on real faces (Model::calibrate, `fer quantize`); only
/// architectures with an int8 path accept it. Outputs stay float32.
enum class Precision : int { Float32 = 0, BFloat16 = 1, Int8 = 2 };

/// "fp32", "bf16" or "int8".
const char* precision_name(Precision p) noexcept;
/// Parses "fp32", "bf16", "int8" or "auto" (bf16 where the CPU has native bf16
/// instructions, AVX512-BF16 or AMX, else fp32); throws InvalidArgument otherwise.
/// Model::resolve_precision also lets "auto" pick int8 for a calibrated model.
Precision parse_precision(const std::string& name);
/// Whether this CPU executes bfloat16 dot products natively (AVX512-BF16 or AMX-BF16).
bool cpu_has_native_bf16();
/// Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8).
bool cpu_has_native_int8();

/// Int8 calibration: for each quantization point of a network (named by the
/// architecture, e.g. "input", "features.0"), the [min, max] of its float
/// activations over the calibration images.
using ActivationRanges = std::map<std::string, std::pair<float, float>>;
/// The largest |min| and |max| an activation range may have (model files and
/// the quantizer refuse larger ones).
constexpr float kMaxActivationMagnitude = 1e30f;

/// A named float tensor of a component's state (weights and buffers), in
/// host memory, row-major. Torch-free so that users can implement components.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  ///< product(shape) values
};
using TensorList = std::vector<NamedTensor>;

/// Output of a feature extractor for a batch of N crops.
struct FeatureBatch {
  cv::Mat features;                ///< N x feature_dim, CV_32F
  std::vector<cv::Mat> attention;  ///< N maps (CV_32F), or empty when the architecture has none
};

/// Backbone turning a normalized face crop into a feature vector (and an
/// attention map where the architecture has one). extract() is thread-safe;
/// load_state() is not.
class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  /// Registered architecture name ("small_cnn", "resnet18", ...).
  virtual std::string architecture() const = 0;
  /// Options it was built with (including "channels" and "input_size").
  virtual const Config& config() const = 0;
  virtual int feature_dim() const = 0;
  /// crops: N images of type CV_32FC(channels) at the input size, normalized.
  virtual FeatureBatch extract(const std::vector<cv::Mat>& crops) const = 0;
  /// All weights and buffers, in a fixed order.
  virtual TensorList state() const = 0;
  /// Replaces all weights; names and shapes must match state() exactly
  /// (throws ShapeMismatch / CorruptData otherwise).
  virtual void load_state(const TensorList& state) = 0;
  /// Number of trainable parameters.
  virtual int64_t parameter_count() const = 0;
  /// Selects the inference precision (not thread-safe: call before sharing).
  /// Components without a bf16 path ignore bf16 and report Float32; Int8
  /// throws Unsupported without an int8 path and InvalidArgument without
  /// activation ranges (set_activation_ranges).
  virtual void set_precision(Precision precision) { (void)precision; }
  virtual Precision precision() const { return Precision::Float32; }
  /// Whether the architecture has an int8 path.
  virtual bool supports_int8() const { return false; }
  /// Whether bf16 is the faster choice for a frame's few faces where the CPU
  /// has native bf16 (false for networks of many small depthwise convolutions,
  /// such as mobile_fer, which run faster in fp32 up to about 8 faces);
  /// precision "auto" follows it.
  virtual bool prefers_bf16() const { return true; }
  /// Runs the float network on `crops` (as extract()) and returns `ranges`
  /// widened to every activation seen at the int8 quantization points.
  /// Throws Unsupported without an int8 path.
  virtual ActivationRanges calibrate(const std::vector<cv::Mat>& crops, ActivationRanges ranges) const;
  /// The ranges a later set_precision(Precision::Int8) quantizes with (an
  /// extractor already in int8 is rebuilt with them).
  virtual void set_activation_ranges(const ActivationRanges& ranges);

  static std::unique_ptr<FeatureExtractor> create(const std::string& architecture, const Config& config);
};

/// Maps feature vectors to class logits. logits() is thread-safe.
class Classifier {
 public:
  virtual ~Classifier() = default;
  /// Registered head name ("linear", "cosine").
  virtual std::string name() const = 0;
  virtual const Config& config() const = 0;
  virtual int num_classes() const = 0;
  /// features: N x in_features CV_32F; returns N x num_classes CV_32F logits.
  virtual cv::Mat logits(const cv::Mat& features) const = 0;
  virtual TensorList state() const = 0;
  virtual void load_state(const TensorList& state) = 0;

  static std::unique_ptr<Classifier> create(const std::string& name, const Config& config);
};

using ExtractorRegistry = Registry<FeatureExtractor, const Config&>;
using ClassifierRegistry = Registry<Classifier, const Config&>;
/// Feature extractors by architecture name (built-ins: "small_cnn").
ExtractorRegistry& extractor_registry();
/// Classifier heads by name (built-ins: "linear", "cosine").
ClassifierRegistry& classifier_registry();

}  // namespace fer
