#include "detect/tiny_face_detector.hpp"

#include "detect/face_api.hpp"
#include "detect/tfjs_weights.hpp"

#include <fer/error.hpp>
#include <fer/image.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

// Architecture, as face-api 1.7.15 builds it (read from its TypeScript source,
// src/tinyFaceDetector and src/tinyYolov2; reimplemented here):
//   input   S x S RGB letterbox (image scaled so its longer side is S, placed
//           top-left, zero padding), minus the mean RGB (117.001, 114.697,
//           97.404), divided by 255; S = 416 by default, any multiple of 32
//   conv0   3x3 conv 3->16, no padding ("valid"), bias, leaky ReLU (0.1)
//   pool    2x2 max pool, stride 2, TF "same" padding (ceil mode)
//   conv1-5 depthwise 3x3 (padding 1) + pointwise 1x1 + bias + leaky ReLU,
//           16->32->64->128->256->512, each followed by a 2x2 max pool of
//           stride 2 (conv1-4) or stride 1 with "same" padding (conv5)
//   conv8   1x1 conv 512 -> 25 = 5 anchors x (x, y, w, h, objectness)
// S = 416 gives a 13x13 grid (416 -> 414 -> 207 -> 104 -> 52 -> 26 -> 13).
// Decoding per cell (row, col) and anchor a with size (aw, ah) in cells:
//   centre = ((col, row) + sigmoid(tx, ty)) / G, size = exp(tw, th) * (aw, ah) / G
// (fractions of S), score = sigmoid(objectness); NMS at IoU 0.4. Batch norm is
// already folded into the published weights.
//
// Checked against face-api itself (its TF.js code run in node on the same
// 416x416 inputs): raw outputs agree within 5e-5, boxes with IoU >= 0.9996
// (tests/data/face_api_reference.txt, tests/test_tiny_face.cpp).
// On the six sample photos (22 faces counted by eye, tests/data/sample_faces.txt),
// score 0.5 (2026-11-28): input 320: 16 found, 2 false positives; 416: 19, 1;
// 480 (the default max_detect_side): 21, 0; 608: 20, 0. Haar: 16, 1.
// Time per 1920-px photo at 480, 1 thread: median 84 ms vs Haar's 154 ms and
// ssd_mobilenet's 179 ms in the same run (load average 4.5 on 2 cores from other
// jobs, so absolute numbers are inflated; 2 threads were slower still under that load).

namespace fer::detail {

namespace {

constexpr float kAnchors[5][2] = {
    {1.603231f, 2.094468f}, {6.041143f, 7.080126f}, {2.882459f, 3.518061f},
    {4.266906f, 5.178857f}, {9.041765f, 10.66308f},
};
constexpr float kIouThreshold = 0.4f;
constexpr float kLeakySlope = 0.1f;
const cv::Scalar kMeanRgb(117.001, 114.697, 97.404);
constexpr int kChannels[6] = {16, 32, 64, 128, 256, 512};

// TF conv filter H x W x in x out -> OIHW.
torch::Tensor conv_filter(const TfjsWeights& w, const std::string& name, std::vector<int64_t> shape) {
  return w.get(name, shape).permute({3, 2, 0, 1}).contiguous();
}

// TF depthwise filter H x W x C x 1 -> C x 1 x H x W.
torch::Tensor depthwise_filter(const TfjsWeights& w, const std::string& name, int64_t channels) {
  return w.get(name, {3, 3, channels, 1}).permute({2, 3, 0, 1}).contiguous();
}

float sigmoid(float v) { return 1.f / (1.f + std::exp(-v)); }

}  // namespace

TinyFaceNet TinyFaceNet::from_weights(const TfjsWeights& w) {
  TinyFaceNet n;
  n.conv0_w = conv_filter(w, "conv0/filters", {3, 3, 3, kChannels[0]});
  n.conv0_b = w.get("conv0/bias", {kChannels[0]});
  for (int i = 0; i < 5; ++i) {
    std::string p = "conv" + std::to_string(i + 1) + "/";
    n.dw[i] = depthwise_filter(w, p + "depthwise_filter", kChannels[i]);
    n.pw[i] = conv_filter(w, p + "pointwise_filter", {1, 1, kChannels[i], kChannels[i + 1]});
    n.pw_b[i] = w.get(p + "bias", {kChannels[i + 1]});
  }
  n.head_w = conv_filter(w, "conv8/filters", {1, 1, kChannels[5], 25});
  n.head_b = w.get("conv8/bias", {25});
  return n;
}

void TinyFaceNet::to_run_format(bool use_bf16) {
  bf16 = use_bf16;
  for (torch::Tensor* t : {&conv0_w, &conv0_b, &head_w, &head_b}) *t = run_format(*t, bf16);
  for (int i = 0; i < 5; ++i)
    for (torch::Tensor* t : {&dw[i], &pw[i], &pw_b[i]}) *t = run_format(*t, bf16);
}

torch::Tensor TinyFaceNet::forward(const torch::Tensor& input) const {
  auto leaky = [](const torch::Tensor& t) { return torch::leaky_relu(t, kLeakySlope); };
  torch::Tensor x = leaky(torch::conv2d(run_format(input, bf16), conv0_w, conv0_b));
  x = torch::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
  for (int i = 0; i < 5; ++i) {
    x = torch::conv2d(x, dw[i], {}, {1, 1}, {1, 1}, {1, 1}, dw[i].size(0));
    x = leaky(torch::conv2d(x, pw[i], pw_b[i]));
    if (i < 4) {
      x = torch::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, /*ceil_mode=*/true);
    } else {  // stride 1, "same": one extra row/column at the bottom/right
      x = torch::constant_pad_nd(x, {0, 1, 0, 1}, -std::numeric_limits<float>::infinity());
      x = torch::max_pool2d(x, {2, 2}, {1, 1});
    }
  }
  return torch::conv2d(x, head_w, head_b).to(torch::kFloat32).contiguous();
}

TinyFaceDetector::TinyFaceDetector(const DetectorOptions& options) : options_(options) {
  if (options_.max_detect_side < 128)
    throw Error(Status::InvalidArgument,
                "tiny_face: max_detect_side (the network input size) must be at least 128, got " +
                    std::to_string(options_.max_detect_side));
  if (options_.min_face_size < 1) throw Error(Status::InvalidArgument, "min_face_size must be positive");
  input_size_ = std::min(options_.max_detect_side, 1024) / 32 * 32;
  const bool bf16 = detector_precision(options_.precision, /*int8_path=*/false) == Precision::BFloat16;
  net_ = TinyFaceNet::from_weights(read_tfjs_weights(find_face_api_manifest(options_.data_path, kManifest)));
  net_.to_run_format(bf16);
}

void TinyFaceDetector::decode(const torch::Tensor& raw, int input_width, float threshold, std::vector<cv::Rect2f>* boxes,
                              std::vector<float>* scores) {
  const int64_t rows = raw.size(2), cols = raw.size(3);
  torch::Tensor p = raw.reshape({5, 5, rows, cols}).contiguous();
  auto a = p.accessor<float, 4>();
  const float cell = float(input_width) / float(cols);
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < cols; ++col)
      for (int k = 0; k < 5; ++k) {
        float score = sigmoid(a[k][4][row][col]);
        if (!(score >= threshold)) continue;  // NaN scores too
        float cx = (float(col) + sigmoid(a[k][0][row][col])) * cell;
        float cy = (float(row) + sigmoid(a[k][1][row][col])) * cell;
        float w = std::exp(std::min(a[k][2][row][col], 20.f)) * kAnchors[k][0] * cell;
        float h = std::exp(std::min(a[k][3][row][col], 20.f)) * kAnchors[k][1] * cell;
        boxes->emplace_back(cx - w / 2, cy - h / 2, w, h);
        scores->push_back(score);
      }
}

std::vector<Face> TinyFaceDetector::detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) {
  validate_image(image);
  skipped.clear();
  double factor = 1.0;
  // The network is fully convolutional: a 4:3 frame needs only a 480 x 384 input, not 480 x 480.
  cv::Mat input = letterbox_rgb(image, input_size_, kMeanRgb, 1.f / 255.f, &factor, 32);
  torch::InferenceMode guard;
  // NHWC memory viewed as NCHW is already channels-last, the run format's layout.
  torch::Tensor x = torch::from_blob(input.data, {1, input.rows, input.cols, 3}, torch::kFloat32).permute({0, 3, 1, 2});
  torch::Tensor raw = net_.forward(x);

  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  decode(raw, input.cols, options_.score_threshold, &boxes, &scores);
  const cv::Rect2f frame(0.f, 0.f, float(image.cols), float(image.rows));
  std::vector<Face> faces;
  for (int i : non_max_suppression(boxes, scores, kIouThreshold)) {
    const cv::Rect2f& b = boxes[i];
    cv::Rect2f box(float(b.x / factor), float(b.y / factor), float(b.width / factor), float(b.height / factor));
    box &= frame;
    if (box.width <= 0.f || box.height <= 0.f) continue;
    Face f;
    f.box = box;
    f.score = scores[i];
    (box.width < options_.min_face_size ? skipped : faces).push_back(std::move(f));
  }
  return faces;  // NMS order: best score first
}

}  // namespace fer::detail
