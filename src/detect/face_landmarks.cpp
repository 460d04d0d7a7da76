#include "detect/face_landmarks.hpp"

#include "core/image.hpp"
#include "detect/face_api.hpp"
#include "detect/tfjs_weights.hpp"

#include <fer/error.hpp>
#include <fer/image.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

// Architecture, as face-api 1.7.15 builds it (read from its TypeScript source,
// src/faceLandmarkNet and src/faceFeatureExtractor; reimplemented here):
//   input   the face box cut from the image (clipped to it, whole pixels),
//           centred on a black square (the shorter side padded, the odd pixel
//           after), resized bilinearly to 112 x 112 (TF's resize: source =
//           destination * scale, no half-pixel offset), as (RGB - (122.782,
//           117.001, 104.298)) / 255
//   blocks  dense blocks; each starts with a stride-2 convolution (block 0: a
//           full 3x3 conv 3 -> 32; later blocks: depthwise 3x3 + pointwise,
//           doubling the channels), out1 = relu(conv0(x)); every further conv
//           k is depthwise-separable with stride 1 and reads relu of the sum
//           of all earlier outputs of its block: out_k = conv_k(relu(out1 +
//           ... + out_{k-1})) (conv1 reads out1 itself); the block returns
//           relu(out1 + ... + out_n). TF "same" padding throughout (stride 2
//           on even sizes pads one row/column at the bottom/right only).
//           face_landmark_68: 4 blocks of 4 convs, 32-64-128-256 channels,
//           112 -> 7; face_landmark_68_tiny: 3 blocks of 3, 32-64-128, 112 -> 14
//   head    average pool over the whole map (7x7 or 14x14), then a fully
//           connected layer C -> 136 = 68 x (x, y) in fractions of the square
// Batch norm is already folded into the published weights.
//
// Checked against face-api itself (its TF.js code, CPU backend, run in node on
// the same face crops of the sample photos): see tests/test_landmarks.cpp.

namespace fer::detail {

namespace {

const cv::Scalar kMeanRgb(122.782, 117.001, 104.298);
constexpr int kPoints = 68;

cv::Point2f mean_of(const std::vector<cv::Point2f>& p, int first, int last) {
  cv::Point2f sum(0.f, 0.f);
  for (int i = first; i <= last; ++i) sum += p[size_t(i)];
  return sum * (1.f / float(last - first + 1));
}

torch::Tensor conv_filter(const TfjsWeights& w, const std::string& name, std::vector<int64_t> shape) {
  return w.get(name, shape).permute({3, 2, 0, 1}).contiguous();
}

FaceLandmarkNet::Conv separable(const TfjsWeights& w, const std::string& prefix, int64_t in, int64_t out) {
  FaceLandmarkNet::Conv c;
  c.dw = w.get(prefix + "/depthwise_filter", {3, 3, in, 1}).permute({2, 3, 0, 1}).contiguous();
  c.w = conv_filter(w, prefix + "/pointwise_filter", {1, 1, in, out});
  c.b = w.get(prefix + "/bias", {out});
  return c;
}

torch::Tensor apply(const FaceLandmarkNet::Conv& c, const torch::Tensor& x, int64_t stride) {
  if (!c.dw.defined()) return conv2d_same(x, c.w, c.b, stride);
  return torch::conv2d(conv2d_same(x, c.dw, {}, stride, x.size(1)), c.w, c.b);
}

}  // namespace

FaceLandmarkNet FaceLandmarkNet::from_weights(const TfjsWeights& w, bool tiny) {
  FaceLandmarkNet n;
  const int blocks = tiny ? 3 : 4, convs = tiny ? 3 : 4;
  int64_t in = 3, out = 32;
  for (int b = 0; b < blocks; ++b, in = out, out *= 2) {
    std::string p = "dense" + std::to_string(b) + "/conv";
    std::vector<Conv> block;
    if (b == 0) {
      Conv c;
      c.w = conv_filter(w, p + "0/filters", {3, 3, in, out});
      c.b = w.get(p + "0/bias", {out});
      block.push_back(c);
    } else {
      block.push_back(separable(w, p + "0", in, out));
    }
    for (int k = 1; k < convs; ++k) block.push_back(separable(w, p + std::to_string(k), out, out));
    n.blocks.push_back(std::move(block));
  }
  n.fc_w = w.get("fc/weights", {in, 2 * kPoints}).t().contiguous();
  n.fc_b = w.get("fc/bias", {2 * kPoints});
  return n;
}

void FaceLandmarkNet::to_run_format(bool use_bf16) {
  bf16 = use_bf16;
  for (auto& block : blocks)
    for (Conv& c : block)
      for (torch::Tensor* t : {&c.dw, &c.w, &c.b}) *t = run_format(*t, bf16);
  fc_w = run_format(fc_w, bf16);
  fc_b = run_format(fc_b, bf16);
}

torch::Tensor FaceLandmarkNet::forward(const torch::Tensor& input) const {
  torch::Tensor x = run_format(input, bf16);
  for (const auto& block : blocks) {
    torch::Tensor sum = torch::relu(apply(block[0], x, 2));
    x = sum;
    for (size_t k = 1; k < block.size(); ++k) {
      sum = sum + apply(block[k], x, 1);
      x = torch::relu(sum);
    }
  }
  return torch::linear(x.mean({2, 3}), fc_w, fc_b).to(torch::kFloat32);
}

FaceLandmark68Detector::FaceLandmark68Detector(const LandmarkOptions& options, bool tiny)
    : options_(options), tiny_(tiny) {
  if (!(options_.upright_pass_degrees >= 0.f) || options_.upright_pass_degrees > 90.f)
    throw Error(Status::InvalidArgument, "landmarks: upright_pass_degrees must be in [0, 90] (0 = off)");
  net_ = FaceLandmarkNet::from_weights(
      read_tfjs_weights(find_face_api_manifest(options.data_path, tiny ? kTinyManifest : kManifest)), tiny);
  net_.to_run_format(false);  // channels-last fp32: points must match face-api's within 0.1% of the box
}

cv::Mat FaceLandmark68Detector::face_input(const cv::Mat& bgr, const cv::Rect2f& box, cv::Point2f* origin,
                                           float* side) {
  const std::string problem = detail::face_box_problem(box, bgr.size());
  if (!problem.empty()) throw Error(Status::InvalidArgument, "landmarks: " + problem);
  auto clampf = [](double v, int hi) { return int(std::clamp(std::floor(v), 0.0, double(hi))); };
  const int x0 = clampf(box.x, bgr.cols), y0 = clampf(box.y, bgr.rows);
  const int x1 = clampf(double(box.x) + box.width, bgr.cols), y1 = clampf(double(box.y) + box.height, bgr.rows);
  if (x1 <= x0 || y1 <= y0) throw Error(Status::InvalidArgument, "landmarks: the face box lies outside the image");
  const cv::Rect r(x0, y0, x1 - x0, y1 - y0);
  const int s = std::max(r.width, r.height);
  const int pad_x = (s - r.width) / 2, pad_y = (s - r.height) / 2;  // the odd pixel goes after

  cv::Mat square(s, s, CV_32FC3, cv::Scalar::all(0)), rgb;
  cv::cvtColor(bgr(r), rgb, cv::COLOR_BGR2RGB);
  rgb.convertTo(square(cv::Rect(pad_x, pad_y, r.width, r.height)), CV_32FC3);
  cv::Mat input;
  if (s == kInputSize) {
    input = square;
  } else {  // TF's bilinear resize: source = destination * s / 112, clamped at the edge
    const double f = double(s) / kInputSize;
    cv::Matx23d to_source(f, 0, 0, 0, f, 0);
    cv::warpAffine(square, input, to_source, cv::Size(kInputSize, kInputSize), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                   cv::BORDER_REPLICATE);
  }
  input -= kMeanRgb;
  input *= 1.0 / 255.0;
  if (origin) *origin = cv::Point2f(float(r.x - pad_x), float(r.y - pad_y));
  if (side) *side = float(s);
  return input;
}

// One batch through the network: each (image, box) -> 68 points in that image's coordinates.
std::vector<std::vector<cv::Point2f>> FaceLandmark68Detector::run(const std::vector<cv::Mat>& images,
                                                                  const std::vector<cv::Rect2f>& boxes) const {
  const int64_t n = int64_t(boxes.size());
  std::vector<cv::Point2f> origins(boxes.size());
  std::vector<float> sides(boxes.size());
  torch::InferenceMode guard;
  torch::Tensor x = torch::empty({n, kInputSize, kInputSize, 3}, torch::kFloat32);
  for (int64_t i = 0; i < n; ++i) {
    cv::Mat in = face_input(images[size_t(i)], boxes[size_t(i)], &origins[size_t(i)], &sides[size_t(i)]);
    std::memcpy(x[i].data_ptr<float>(), in.ptr<float>(), size_t(kInputSize) * kInputSize * 3 * sizeof(float));
  }
  torch::Tensor y = net_.forward(x.permute({0, 3, 1, 2})).contiguous();  // NHWC memory: channels-last already
  auto a = y.accessor<float, 2>();
  std::vector<std::vector<cv::Point2f>> out(boxes.size());
  for (int64_t i = 0; i < n; ++i) {
    auto& pts = out[size_t(i)];
    pts.reserve(kPoints);
    const cv::Point2f o = origins[size_t(i)];
    const float s = sides[size_t(i)];
    for (int k = 0; k < kPoints; ++k) pts.emplace_back(o.x + a[i][2 * k] * s, o.y + a[i][2 * k + 1] * s);
  }
  return out;
}

std::vector<std::vector<cv::Point2f>> FaceLandmark68Detector::detect(const cv::Mat& image,
                                                                     const std::vector<cv::Rect2f>& boxes) const {
  validate_image(image);
  if (boxes.empty()) return {};
  cv::Mat bgr = to_bgr(image);
  std::vector<std::vector<cv::Point2f>> out = run(std::vector<cv::Mat>(boxes.size(), bgr), boxes);
  if (!(options_.upright_pass_degrees > 0.f)) return out;

  // Faces whose eyes are tilted: cut the box again turned upright about its
  // centre (black outside the image), find the points there and turn them back.
  std::vector<cv::Mat> upright, back;
  std::vector<cv::Rect2f> upright_boxes;
  std::vector<size_t> which;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& p = out[i];
    cv::Point2f eyes = mean_of(p, 42, 47) - mean_of(p, 36, 41);
    const double roll = std::atan2(eyes.y, eyes.x) * 180.0 / CV_PI;
    if (std::abs(roll) <= options_.upright_pass_degrees) continue;
    const cv::Rect2f& b = boxes[i];
    // At the box's own size, but no larger than the image (a box may be up to
    // kMaxFaceBoxScale times it): the network sees 112x112 pixels anyway.
    const double fit = std::min(1.0, double(std::max(bgr.cols, bgr.rows)) / std::max(b.width, b.height));
    const cv::Size size(std::max(1, int(std::lround(b.width * fit))), std::max(1, int(std::lround(b.height * fit))));
    cv::Mat to_upright = cv::getRotationMatrix2D(cv::Point2f(b.x + b.width / 2, b.y + b.height / 2), roll, fit);
    to_upright.at<double>(0, 2) += size.width / 2.0 - (b.x + b.width / 2);
    to_upright.at<double>(1, 2) += size.height / 2.0 - (b.y + b.height / 2);
    cv::Mat face;
    cv::warpAffine(bgr, face, to_upright, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
    cv::Mat inverse;
    cv::invertAffineTransform(to_upright, inverse);
    upright.push_back(face);
    back.push_back(inverse);
    upright_boxes.emplace_back(0.f, 0.f, float(size.width), float(size.height));
    which.push_back(i);
  }
  if (which.empty()) return out;
  auto refined = run(upright, upright_boxes);
  for (size_t k = 0; k < which.size(); ++k) {
    std::vector<cv::Point2f>& pts = out[which[k]];
    cv::transform(refined[k], pts, back[k]);
  }
  return out;
}

}  // namespace fer::detail

namespace fer {

void LandmarkDetector::annotate(const cv::Mat& image, std::vector<Face>& faces) const {
  std::vector<cv::Rect2f> boxes;
  std::vector<size_t> which;
  for (size_t i = 0; i < faces.size(); ++i)
    if (faces[i].landmarks.empty()) {
      boxes.push_back(faces[i].box);
      which.push_back(i);
    }
  // In chunks: the landmark net's activations for thousands of faces at once
  // would take gigabytes.
  constexpr size_t kChunk = 64;
  for (size_t begin = 0; begin < boxes.size(); begin += kChunk) {
    const size_t end = std::min(boxes.size(), begin + kChunk);
    std::vector<cv::Rect2f> chunk(boxes.begin() + std::ptrdiff_t(begin), boxes.begin() + std::ptrdiff_t(end));
    auto points = detect(image, chunk);
    for (size_t k = begin; k < end; ++k) faces[which[k]].landmarks = std::move(points[k - begin]);
  }
}

LandmarkRegistry& landmark_registry() {
  static LandmarkRegistry registry("landmark model");
  static std::once_flag builtins;
  std::call_once(builtins, [] {
    registry.add(
        "68",
        [](const LandmarkOptions& o) { return std::make_unique<detail::FaceLandmark68Detector>(o, false); },
        "face-api's 68-point landmark model (4 dense blocks, 112x112 input)");
    registry.add(
        "68_tiny",
        [](const LandmarkOptions& o) { return std::make_unique<detail::FaceLandmark68Detector>(o, true); },
        "face-api's tiny 68-point landmark model (3 dense blocks, 112x112 input)");
  });
  return registry;
}

std::unique_ptr<LandmarkDetector> LandmarkDetector::create(const std::string& name, const LandmarkOptions& options) {
  return landmark_registry().create(name, options);
}

}  // namespace fer
