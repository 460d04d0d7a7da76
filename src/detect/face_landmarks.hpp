// face-api's 68-point landmark models (face_landmark_68 and its tiny variant)
// in LibTorch, from their published TF.js weights.
#pragma once

#include <fer/landmarks.hpp>

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <vector>

namespace fer::detail {

class TfjsWeights;

/// The network's tensors in LibTorch layout (OIHW). Batch norm is already folded in.
struct FaceLandmarkNet {
  /// A 3x3 convolution: full (dw undefined) or depthwise-separable (dw, then the 1x1 `w`), plus bias.
  struct Conv {
    torch::Tensor dw, w, b;
  };
  /// Dense blocks of 4 convolutions (full model, 4 blocks) or 3 (tiny model, 3 blocks).
  std::vector<std::vector<Conv>> blocks;
  torch::Tensor fc_w, fc_b;  // 136 x C, 136

  /// Reads and checks every tensor's shape; throws fer::Error naming the file and weight.
  /// `tiny`: the 3-block variant of face_landmark_68_tiny_model.
  static FaceLandmarkNet from_weights(const TfjsWeights& weights, bool tiny);
  /// N x 3 x 112 x 112 normalised RGB -> N x 136 (x0, y0, x1, ...) in fractions of the input side.
  torch::Tensor forward(const torch::Tensor& x) const;
  /// Converts the convolution weights to the run format (see run_format, fp32
  /// channels-last here); forward() then converts its input alike.
  void to_run_format(bool bf16);
  bool bf16 = false;
};

/// face_landmark_68 ("68") or face_landmark_68_tiny ("68_tiny"). Thread-safe.
class FaceLandmark68Detector : public LandmarkDetector {
 public:
  static constexpr const char* kManifest = "face_landmark_68_model-weights_manifest.json";
  static constexpr const char* kTinyManifest = "face_landmark_68_tiny_model-weights_manifest.json";
  static constexpr int kInputSize = 112;

  FaceLandmark68Detector(const LandmarkOptions& options, bool tiny);
  std::string name() const override { return tiny_ ? "68_tiny" : "68"; }
  int num_points() const override { return 68; }
  std::vector<std::vector<cv::Point2f>> detect(const cv::Mat& image,
                                               const std::vector<cv::Rect2f>& boxes) const override;

  /// The network input for one face: the box (clipped to the image, whole
  /// pixels) centred on a black square, resized to 112 x 112, normalised RGB
  /// (CV_32FC3). `origin` and `side` receive the square's top-left corner and
  /// side in image pixels, to map outputs back.
  static cv::Mat face_input(const cv::Mat& bgr, const cv::Rect2f& box, cv::Point2f* origin, float* side);

 private:
  std::vector<std::vector<cv::Point2f>> run(const std::vector<cv::Mat>& images,
                                            const std::vector<cv::Rect2f>& boxes) const;

  LandmarkOptions options_;
  bool tiny_;
  FaceLandmarkNet net_;
};

}  // namespace fer::detail
