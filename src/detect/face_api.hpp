// Shared pieces of the detectors built on face-api's published weights
// (npm @vladmandic/face-api, MIT): finding the weight files, letterboxing the
// input, and non-maximum suppression.
#pragma once

#include <fer/recognizer.hpp>

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
/// `factor` receives side / max(width, height). With `multiple` > 0 the canvas
/// is only as large as the scaled image rounded up to that multiple (fully
/// convolutional networks then skip most of the padding).
cv::Mat letterbox_rgb(const cv::Mat& image, int side, const cv::Scalar& mean_rgb, float scale, double* factor,
                      int multiple = 0);

/// Indices of the boxes kept by greedy non-maximum suppression, best score
/// first: a box is dropped when its IoU with a kept one exceeds `iou_threshold`.
std::vector<int> non_max_suppression(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                                     float iou_threshold);

/// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

/// A tensor in the layout and type the face-api networks run in: 4-D tensors
/// channels-last (oneDNN's fast convolution path on CPU: about 2.5x NCHW on
/// this project's machine), everything bfloat16 when `bf16` (about 10x NCHW
/// fp32 for tiny_face). Applied to the weights once and to each input.
torch::Tensor run_format(const torch::Tensor& t, bool bf16);

/// The precision a face-api network runs in for the precision option
/// `precision` ("auto", "fp32", "bf16", "int8"; InvalidArgument otherwise).
/// "auto": bf16 where the CPU has native bf16, else fp32 (not int8, which
/// costs ssd_mobilenet detections: see SsdMobilenetNet::to_int8). "int8" for
/// a network without an int8 path (`int8_path`) runs as "auto" does.
Precision detector_precision(const std::string& precision, bool int8_path);

/// conv2d (NCHW, OIHW filter) with TF's "same" padding: output ceil(n / stride),
/// any odd padding at the bottom/right. `bias` may be undefined.
torch::Tensor conv2d_same(const torch::Tensor& x, const torch::Tensor& filter, const torch::Tensor& bias,
                          int64_t stride, int64_t groups = 1);

}  // namespace fer::detail
