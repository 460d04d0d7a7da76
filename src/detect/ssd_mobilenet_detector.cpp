#include "detect/ssd_mobilenet_detector.hpp"

#include "detect/face_api.hpp"
#include "detect/tfjs_weights.hpp"
#include "models/int8.hpp"

#include <fer/error.hpp>
#include <fer/image.hpp>

#include <algorithm>
#include <cmath>

// Architecture, as face-api 1.7.15 builds it (read from its TypeScript source,
// src/ssdMobilenetv1; reimplemented here):
//   input     512 x 512 RGB letterbox (longer side 512, top-left, zero padding),
//             scaled to [-1, 1] as v / 127.5 - 1
//   backbone  MobileNetV1: 3x3 conv 3->32 stride 2, then 13 blocks of depthwise
//             3x3 (batch norm, eps 0.001) + pointwise 1x1, stride 2 in blocks
//             2, 4, 6 and 12; every convolution is followed by ReLU6 and uses
//             TF "same" padding (for stride 2 on even sizes: one extra row and
//             column at the bottom/right only)
//   extras    1x1 / 3x3-stride-2 pairs 1024->256->512, ->128->256, ->128->256,
//             ->64->128, ReLU6
//   heads     1x1 convs on 6 feature maps (block 11: 32x32x512, 3 priors per
//             cell; block 13: 16x16x1024, then the extras 8x8, 4x4, 2x2, 1x1,
//             6 priors each) -> 5118 boxes; scores = sigmoid(class logit 1)
//   decoding  priors (ymin, xmin, ymax, xmax) stored in the weights as
//             Output/extra_dim; centre += d / 10 * size, size *= exp(d / 5)
//             (variances 0.1 and 0.2); NMS at IoU 0.5, at most 100 faces.
// Checked against face-api itself on the same 512x512 inputs: boxes agree with
// IoU >= 0.9996, scores within 5e-5. On the six sample photos: all 22 faces, no
// false positives at score 0.5; 179 ms per 1920-px photo on 1 thread (see the
// timing note in tiny_face_detector.cpp). Its boxes are tall and tight: tiny_face's
// are 1.6x as wide for the same face (IoU about 0.5 between the two).

namespace fer::detail {

namespace {

constexpr float kBatchNormEps = 0.0010000000474974513f;
constexpr float kIouThreshold = 0.5f;
constexpr size_t kMaxResults = 100;
constexpr int kPriorsPerCell[6] = {3, 6, 6, 6, 6, 6};
constexpr int kPriors = 5118;

torch::Tensor conv_filter(const TfjsWeights& w, const std::string& name, std::vector<int64_t> shape) {
  return w.get(name, shape).permute({3, 2, 0, 1}).contiguous();
}

SsdMobilenetNet::Conv pointwise(const TfjsWeights& w, const std::string& prefix, int64_t k, int64_t in, int64_t out,
                                int stride) {
  SsdMobilenetNet::Conv c;
  c.w = conv_filter(w, prefix + "/weights", {k, k, in, out});
  c.b = w.get(prefix + "/convolution_bn_offset", {out});
  c.stride = stride;
  return c;
}

// Depthwise conv with its batch norm folded into weight and bias.
SsdMobilenetNet::Conv depthwise(const TfjsWeights& w, const std::string& prefix, int64_t channels, int stride) {
  torch::Tensor filt = w.get(prefix + "/depthwise_weights", {3, 3, channels, 1}).permute({2, 3, 0, 1});
  std::string bn = prefix + "/BatchNorm/";
  torch::Tensor gamma = w.get(bn + "gamma", {channels}), beta = w.get(bn + "beta", {channels});
  torch::Tensor mean = w.get(bn + "moving_mean", {channels}), var = w.get(bn + "moving_variance", {channels});
  torch::Tensor k = gamma / torch::sqrt(var + kBatchNormEps);
  SsdMobilenetNet::Conv c;
  c.w = (filt * k.view({channels, 1, 1, 1})).contiguous();
  c.b = beta - mean * k;
  c.stride = stride;
  c.depthwise = true;
  return c;
}

SsdMobilenetNet::Conv head(const TfjsWeights& w, const std::string& prefix, int64_t in, int64_t out) {
  SsdMobilenetNet::Conv c;
  c.w = conv_filter(w, prefix + "/weights", {1, 1, in, out});
  c.b = w.get(prefix + "/biases", {out});
  return c;
}

torch::Tensor conv_same(const torch::Tensor& x, const SsdMobilenetNet::Conv& c) {
  return conv2d_same(x, c.w, c.b, c.stride, c.depthwise ? x.size(1) : 1);
}

torch::Tensor clip6(const torch::Tensor& x) { return torch::clamp(x, 0.0, 6.0); }

}  // namespace

SsdMobilenetNet SsdMobilenetNet::from_weights(const TfjsWeights& w) {
  SsdMobilenetNet n;
  n.backbone.push_back(pointwise(w, "MobilenetV1/Conv2d_0_pointwise", 3, 3, 32, 2));
  const int64_t out_channels[14] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
  for (int i = 1; i <= 13; ++i) {
    int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    std::string p = "MobilenetV1/Conv2d_" + std::to_string(i);
    n.backbone.push_back(depthwise(w, p + "_depthwise", out_channels[i - 1], stride));
    n.backbone.push_back(pointwise(w, p + "_pointwise", 1, out_channels[i - 1], out_channels[i], 1));
  }
  const int64_t extra_channels[9] = {1024, 256, 512, 128, 256, 128, 256, 64, 128};
  for (int i = 0; i < 8; ++i) {
    bool reduce = i % 2 == 0;  // 1x1 reductions, then 3x3 stride-2 convolutions
    n.extra.push_back(pointwise(w, "Prediction/Conv2d_" + std::to_string(i) + "_pointwise", reduce ? 1 : 3,
                                extra_channels[i], extra_channels[i + 1], reduce ? 1 : 2));
  }
  const int64_t map_channels[6] = {512, 1024, 512, 256, 256, 128};
  for (int i = 0; i < 6; ++i) {
    std::string p = "Prediction/BoxPredictor_" + std::to_string(i);
    n.box[i] = head(w, p + "/BoxEncodingPredictor", map_channels[i], kPriorsPerCell[i] * 4);
    n.cls[i] = head(w, p + "/ClassPredictor", map_channels[i], kPriorsPerCell[i] * 3);
  }
  n.priors = w.get("Output/extra_dim", {1, kPriors, 4}).reshape({kPriors, 4}).contiguous();
  return n;
}

void SsdMobilenetNet::to_run_format(bool use_bf16) {
  bf16 = use_bf16;
  auto convert = [&](Conv& c) {
    c.w = run_format(c.w, bf16);
    c.b = run_format(c.b, bf16);
  };
  for (auto* list : {&backbone, &extra})
    for (Conv& c : *list) convert(c);
  for (int i = 0; i < 6; ++i) {
    convert(box[i]);
    convert(cls[i]);
  }
}

void SsdMobilenetNet::to_int8() {
  if (bf16) throw Error(Status::Internal, "ssd_mobilenet: to_int8 comes before to_run_format");
  const QParams relu6{6.0 / 255.0, 0};
  // For the fixed 512 x 512 input every stride-2 3x3 convolution sees an even
  // size, where TF's "same" padding is one row and column at the bottom/right;
  // stride-1 3x3 convolutions pad one all round, 1x1 ones not at all.
  auto quantize = [&](const std::vector<Conv>& convs) {
    std::vector<QStep> steps;
    for (const Conv& c : convs) {
      const int64_t k = c.w.size(2), groups = c.depthwise ? c.w.size(0) : 1;
      QStep s;
      s.pad = k == 3 && c.stride == 2;
      const int64_t padding = k == 3 && c.stride == 1 ? 1 : 0;
      s.conv = std::make_shared<QConv2d>(c.w, c.b, c.stride, padding, groups, /*relu=*/true, relu6);
      steps.push_back(std::move(s));
    }
    return steps;
  };
  qbackbone_ = quantize(backbone);
  qextra_ = quantize(extra);
  int8 = true;
}

std::pair<torch::Tensor, torch::Tensor> SsdMobilenetNet::forward(const torch::Tensor& input) const {
  // Runs the backbone and the extra layers (layer(list, i, x)), keeping the six
  // feature maps the heads read, in float (to_float): the pointwise conv of
  // block 11, the backbone's output, and every second extra layer's.
  auto feature_maps = [&](torch::Tensor x, auto&& layer, auto&& to_float) {
    std::vector<torch::Tensor> maps;
    for (size_t i = 0; i < backbone.size(); ++i) {
      x = layer(false, i, x);
      if (i == 22) maps.push_back(to_float(x));
    }
    maps.push_back(to_float(x));
    for (size_t i = 0; i < extra.size(); ++i) {
      x = layer(true, i, x);
      if (i % 2 == 1) maps.push_back(to_float(x));
    }
    return maps;
  };
  if (int8) {
    if (input.size(2) != 512 || input.size(3) != 512)
      throw Error(Status::ShapeMismatch, "ssd_mobilenet: the int8 network takes a 512x512 input");
    auto layer = [&](bool is_extra, size_t i, const torch::Tensor& q) {
      const QStep& s = (is_extra ? qextra_ : qbackbone_)[i];
      return (*s.conv)(s.pad ? pad_bottom_right(q, 1, 1) : q);
    };
    // [-1, 1] in steps of 1/127: -1, 0 and 1 exactly.
    return decode(feature_maps(quantize_activation(input, QParams{1.0 / 127.0, 128}), layer,
                               [](const torch::Tensor& q) { return dequantize_activation(q); }));
  }
  auto layer = [&](bool is_extra, size_t i, const torch::Tensor& x) {
    return clip6(conv_same(x, (is_extra ? extra : backbone)[i]));
  };
  return decode(feature_maps(run_format(input, bf16), layer, [](const torch::Tensor& x) { return x; }));
}

std::pair<torch::Tensor, torch::Tensor> SsdMobilenetNet::decode(const std::vector<torch::Tensor>& maps) const {
  std::vector<torch::Tensor> enc, logits;
  for (int i = 0; i < 6; ++i) {  // NCHW -> (row, col, prior) order, as the priors are stored
    auto head = [&](const Conv& c, int64_t k) {
      return torch::conv2d(maps[i], c.w, c.b).to(torch::kFloat32).permute({0, 2, 3, 1}).reshape({-1, k});
    };
    enc.push_back(head(box[i], 4));
    logits.push_back(head(cls[i], 3));
  }
  torch::Tensor d = torch::cat(enc, 0), scores = torch::sigmoid(torch::cat(logits, 0).select(1, 1));
  if (d.size(0) != priors.size(0))
    throw Error(Status::ShapeMismatch, "ssd_mobilenet: " + std::to_string(d.size(0)) + " box predictions for " +
                                           std::to_string(priors.size(0)) + " priors; the input must be 512x512");
  torch::Tensor size = priors.slice(1, 2, 4) - priors.slice(1, 0, 2);  // (h, w)
  torch::Tensor centre = priors.slice(1, 0, 2) + size / 2;             // (cy, cx)
  torch::Tensor c = d.slice(1, 0, 2) / 10 * size + centre;
  torch::Tensor half = torch::exp(d.slice(1, 2, 4).clamp_max(100.f) / 5) * size / 2;  // as Tiny Face: no Inf sizes
  return {torch::cat({c - half, c + half}, 1), scores};
}

SsdMobilenetDetector::SsdMobilenetDetector(const DetectorOptions& options) : options_(options) {
  if (options_.min_face_size < 1) throw Error(Status::InvalidArgument, "min_face_size must be positive");
  const Precision precision = detector_precision(options_.precision, /*int8_path=*/true);
  net_ = SsdMobilenetNet::from_weights(read_tfjs_weights(find_face_api_manifest(options_.data_path, kManifest)));
  if (precision == Precision::Int8) net_.to_int8();
  net_.to_run_format(precision == Precision::BFloat16);  // int8 runs its heads in fp32
}

std::vector<Face> SsdMobilenetDetector::detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) {
  validate_image(image);
  skipped.clear();
  double factor = 1.0;
  cv::Mat input = letterbox_rgb(image, kInputSize, cv::Scalar(127.5, 127.5, 127.5), 1.f / 127.5f, &factor);
  torch::InferenceMode guard;
  // NHWC memory viewed as NCHW is already channels-last, the run format's layout.
  torch::Tensor x = torch::from_blob(input.data, {1, kInputSize, kInputSize, 3}, torch::kFloat32).permute({0, 3, 1, 2});
  auto [boxes_t, scores_t] = net_.forward(x);

  auto b = boxes_t.accessor<float, 2>();
  auto s = scores_t.accessor<float, 1>();
  const float to_pixels = float(kInputSize / factor);  // fractions of the letterbox -> image pixels
  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  for (int64_t i = 0; i < s.size(0); ++i) {
    if (!(s[i] > options_.score_threshold)) continue;  // NaN scores too
    float y0 = b[i][0], x0 = b[i][1], y1 = b[i][2], x1 = b[i][3];
    boxes.emplace_back(x0 * to_pixels, y0 * to_pixels, (x1 - x0) * to_pixels, (y1 - y0) * to_pixels);
    scores.push_back(s[i]);
  }
  const cv::Rect2f frame(0.f, 0.f, float(image.cols), float(image.rows));
  std::vector<Face> faces;
  for (int i : non_max_suppression(boxes, scores, kIouThreshold)) {
    cv::Rect2f box = boxes[i] & frame;
    if (box.width <= 0.f || box.height <= 0.f) continue;
    Face f;
    f.box = box;
    f.score = scores[i];
    if (box.width < options_.min_face_size) {
      skipped.push_back(std::move(f));
      continue;
    }
    faces.push_back(std::move(f));
    if (faces.size() == kMaxResults) break;
  }
  return faces;
}

}  // namespace fer::detail
