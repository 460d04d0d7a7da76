// face-api's SSD-MobileNetV1 face detector in LibTorch, from its published TF.js weights.
#pragma once

#include "detect/framing.hpp"

#include <fer/detector.hpp>

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace fer::detail {

class TfjsWeights;
class QConv2d;

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
  /// Int8 inference for the backbone and the extra layers (before
  /// to_run_format, which then applies to the heads only): every such layer is
  /// a convolution followed by ReLU6, so its output range is [0, 6] and the
  /// input's is [-1, 1]; int8 needs no calibration data (on the sample photos
  /// every layer reaches 6). Each layer is one oneDNN int8 convolution with
  /// ReLU, requantized to [0, 6] in 255 steps, which saturates at 6. The six
  /// feature maps return to float for the heads (fp32). Throws Unsupported
  /// without LibTorch's oneDNN quantized engine.
  /// Measured 2026-11-29 (2-core EPYC, 640x480 frame, detector_bench): 12.5 ms
  /// on 1 thread against 25.6 in bf16; the same 22 faces of the sample photos (box IoU with
  /// face-api's >= 0.92, scores within 0.094), but 67.0% instead of 69.3% of
  /// 1,000 upscaled FER-2013 val faces found (benchmarks/fer2013_framing
  /// --precision): the int8 weights, not the activations, cost the accuracy.
  /// So precision "auto" keeps the detectors in bf16/fp32; "int8" asks for this.
  void to_int8();
  bool bf16 = false;
  bool int8 = false;

 private:
  struct QStep {
    std::shared_ptr<QConv2d> conv;
    bool pad = false;  // a row and a column of zeros at the bottom/right first (TF "same", stride 2)
  };
  std::vector<QStep> qbackbone_, qextra_;
  std::pair<torch::Tensor, torch::Tensor> decode(const std::vector<torch::Tensor>& maps) const;
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
