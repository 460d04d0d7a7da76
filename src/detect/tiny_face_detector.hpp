// face-api's Tiny Face Detector (a Tiny-YOLOv2 with depthwise-separable
// convolutions) in LibTorch, from its published TF.js weights.
#pragma once

#include "detect/framing.hpp"

#include <fer/detector.hpp>

#include <torch/torch.h>

namespace fer::detail {

class TfjsWeights;

/// The network's tensors in LibTorch layout (OIHW), batch-norm already folded in.
struct TinyFaceNet {
  torch::Tensor conv0_w, conv0_b;       // 3x3 full conv, 3 -> 16
  torch::Tensor dw[5], pw[5], pw_b[5];  // separable blocks conv1..conv5
  torch::Tensor head_w, head_b;         // 1x1 conv 512 -> 5 anchors x 5

  /// Reads and checks every tensor's shape; throws fer::Error naming the file and weight.
  static TinyFaceNet from_weights(const TfjsWeights& weights);
  /// N x 3 x H x W normalised RGB (H, W multiples of 32) -> N x 25 x H/32 x W/32
  /// raw predictions, float32, whatever the run format.
  torch::Tensor forward(const torch::Tensor& x) const;
  /// Converts the weights to the run format (see run_format); forward() then
  /// converts its input alike. Not reversible.
  void to_run_format(bool bf16);
  bool bf16 = false;
};

/// Tiny Face Detector. Not thread-safe (one per thread); its weights are read once per instance.
class TinyFaceDetector : public Detector {
 public:
  static constexpr const char* kManifest = "tiny_face_detector_model-weights_manifest.json";

  /// The network input side is options.max_detect_side rounded down to a multiple of 32 (>= 128).
  explicit TinyFaceDetector(const DetectorOptions& options);
  std::string name() const override { return "tiny_face"; }
  std::vector<Face> detect(const cv::Mat& image) override {
    std::vector<Face> skipped;
    return detect_with_skipped(image, skipped);
  }
  std::vector<Face> detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) override;
  /// Measured on FER-2013 val (src/detect/framing.hpp).
  BoxFraming framing() const override { return kTinyFaceFraming; }

  int input_size() const { return input_size_; }
  /// Decodes raw predictions (1 x 25 x Gh x Gw) of a letterbox input_width
  /// pixels wide into boxes in the letterbox's pixels, with scores above `threshold`.
  static void decode(const torch::Tensor& raw, int input_width, float threshold, std::vector<cv::Rect2f>* boxes,
                     std::vector<float>* scores);

 private:
  DetectorOptions options_;
  int input_size_;
  TinyFaceNet net_;
};

}  // namespace fer::detail
