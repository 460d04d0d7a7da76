// face-api's SSD-MobileNetV1 face detector in LibTorch, from its published TF.js weights.
#pragma once

#include "detect/framing.hpp"

#include <fer/detector.hpp>

#include <torch/torch.h>

#include <vector>

namespace fer::detail {

class TfjsWeights;

/// The network's tensors in LibTorch layout (OIHW), batch norm folded into the depthwise convolutions.
struct SsdMobilenetNet {
  struct Conv {
    torch::Tensor w, b;
    int stride = 1;
    bool depthwise = false;
  };
  std::vector<Conv> backbone;  // conv_0, then depthwise/pointwise pairs 1..13 (27 layers)
  std::vector<Conv> extra;     // prediction layers conv_0..conv_7 (SSD's extra feature maps)
  Conv box[6], cls[6];         // per feature map: box encodings (A x 4) and class logits (A x 3)
  torch::Tensor priors;        // 5118 x 4 prior boxes (ymin, xmin, ymax, xmax), fractions of the input

  static SsdMobilenetNet from_weights(const TfjsWeights& weights);
  /// 1 x 3 x 512 x 512 input in [-1, 1] -> (boxes 5118 x 4 as ymin, xmin, ymax, xmax in
  /// fractions of the input, face scores 5118).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) const;
  /// Converts the convolution weights to the run format (see run_format);
  /// forward() then converts its input alike. Not reversible.
  void to_run_format(bool bf16);
  bool bf16 = false;
};

/// SSD-MobileNetV1 detector (fixed 512 x 512 input). Not thread-safe (one per thread).
class SsdMobilenetDetector : public Detector {
 public:
  static constexpr const char* kManifest = "ssd_mobilenetv1_model-weights_manifest.json";
  static constexpr int kInputSize = 512;

  explicit SsdMobilenetDetector(const DetectorOptions& options);
  std::string name() const override { return "ssd_mobilenet"; }
  std::vector<Face> detect(const cv::Mat& image) override {
    std::vector<Face> skipped;
    return detect_with_skipped(image, skipped);
  }
  std::vector<Face> detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) override;
  /// Measured on FER-2013 val (src/detect/framing.hpp).
  BoxFraming framing() const override { return kSsdMobilenetFraming; }

 private:
  DetectorOptions options_;
  SsdMobilenetNet net_;
};

}  // namespace fer::detail
