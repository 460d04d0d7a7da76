// Shared pieces of the detectors built on face-api's published weights
// (npm @vladmandic/face-api, MIT): finding the weight files, letterboxing the
// input, and non-maximum suppression.
#pragma once

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace fer::detail {

/// Path of face-api's weights manifest `manifest_name`. `explicit_path` (a
/// manifest file, or a folder holding it) wins; otherwise the first folder that
/// holds it among $FER_FACE_API_DIR (itself or its model/), the source tree's
/// assets/face-api/model and the installed share/fer/face-api/model. Throws
/// NotFound naming the places searched.
std::string find_face_api_manifest(const std::string& explicit_path, const std::string& manifest_name);
/// Whether find_face_api_manifest("", manifest_name) would succeed.
bool face_api_manifest_available(const std::string& manifest_name);

/// The image scaled so its longer side is `side`, in the top-left corner of a
/// side x side RGB float canvas, as (rgb - mean) * scale; padding is (0 - mean) * scale.
/// `factor` receives side / max(width, height).
cv::Mat letterbox_rgb(const cv::Mat& image, int side, const cv::Scalar& mean_rgb, float scale, double* factor);

/// Indices of the boxes kept by greedy non-maximum suppression, best score
/// first: a box is dropped when its IoU with a kept one exceeds `iou_threshold`.
std::vector<int> non_max_suppression(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                                     float iou_threshold);

/// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

/// conv2d (NCHW, OIHW filter) with TF's "same" padding: output ceil(n / stride),
/// any odd padding at the bottom/right. `bias` may be undefined.
torch::Tensor conv2d_same(const torch::Tensor& x, const torch::Tensor& filter, const torch::Tensor& bias,
                          int64_t stride, int64_t groups = 1);

}  // namespace fer::detail
