#include "detect/face_api.hpp"

#include "core/image.hpp"

#include <fer/error.hpp>
#include <fer/recognizer.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>

namespace fer::detail {

namespace {

bool readable(const std::string& path) { return std::ifstream(path).good(); }

// The installed share/fer folder: the models folder's parent.
std::string installed_face_api_dir() {
  std::string models = FER_INSTALL_MODELS_DIR;
  auto slash = models.find_last_of('/');
  return (slash == std::string::npos ? std::string(".") : models.substr(0, slash)) + "/face-api/model";
}

std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("FER_FACE_API_DIR")) {
    if (*env) {
      dirs.push_back(std::string(env) + "/model");
      dirs.push_back(env);
    }
  }
  dirs.push_back(std::string(FER_SOURCE_ASSETS_DIR) + "/face-api/model");
  dirs.push_back(installed_face_api_dir());
  return dirs;
}

}  // namespace

std::string find_face_api_manifest(const std::string& explicit_path, const std::string& manifest_name) {
  if (!explicit_path.empty()) {
    if (readable(explicit_path + "/" + manifest_name)) return explicit_path + "/" + manifest_name;
    if (explicit_path.size() >= 5 && explicit_path.compare(explicit_path.size() - 5, 5, ".json") == 0 &&
        readable(explicit_path))
      return explicit_path;
    throw Error(Status::NotFound, "face-api weights not found: " + explicit_path + " is neither " + manifest_name +
                                      " nor a folder holding it");
  }
  std::string tried;
  for (const std::string& dir : search_dirs()) {
    std::string path = dir + "/" + manifest_name;
    if (readable(path)) return path;
    tried += (tried.empty() ? "" : ", ") + dir;
  }
  throw Error(Status::NotFound, "cannot find " + manifest_name + " (looked in " + tried +
                                    "); run scripts/setup.sh to fetch face-api's weights or set $FER_FACE_API_DIR");
}

bool face_api_manifest_available(const std::string& manifest_name) {
  for (const std::string& dir : search_dirs())
    if (readable(dir + "/" + manifest_name)) return true;
  return false;
}

cv::Mat letterbox_rgb(const cv::Mat& image, int side, const cv::Scalar& mean_rgb, float scale, double* factor,
                      int multiple) {
  cv::Mat bgr = to_bgr(image);
  double f = double(side) / std::max(bgr.cols, bgr.rows);
  int w = std::clamp(int(std::lround(bgr.cols * f)), 1, side);
  int h = std::clamp(int(std::lround(bgr.rows * f)), 1, side);
  cv::Mat resized;
  if (w == bgr.cols && h == bgr.rows)
    resized = bgr;
  else
    cv::resize(bgr, resized, cv::Size(w, h), 0, 0, f < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
  cv::Mat rgb;
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  auto canvas_side = [&](int n) { return multiple > 0 ? std::min(side, (n + multiple - 1) / multiple * multiple) : side; };
  cv::Mat canvas(canvas_side(h), canvas_side(w), CV_32FC3, -mean_rgb * double(scale));
  cv::Mat roi = canvas(cv::Rect(0, 0, w, h));
  rgb.convertTo(roi, CV_32FC3, scale);
  roi -= mean_rgb * double(scale);
  if (factor) *factor = f;
  return canvas;
}

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

std::vector<int> non_max_suppression(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                                     float iou_threshold) {
  std::vector<int> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  std::vector<int> kept;
  for (int i : order) {
    bool keep = true;
    for (int k : kept)
      if (box_iou(boxes[i], boxes[k]) > iou_threshold) {
        keep = false;
        break;
      }
    if (keep) kept.push_back(i);
  }
  return kept;
}

torch::Tensor run_format(const torch::Tensor& t, bool bf16) {
  if (!t.defined()) return t;
  torch::Tensor out = t.dim() == 4 ? t.contiguous(torch::MemoryFormat::ChannelsLast) : t.contiguous();
  return bf16 ? out.to(torch::kBFloat16) : out;
}

Precision detector_precision(const std::string& precision, bool int8_path) {
  Precision p = parse_precision(precision);
  if (p == Precision::Int8 && !int8_path) p = parse_precision("auto");
  return p;
}

torch::Tensor conv2d_same(const torch::Tensor& x, const torch::Tensor& filter, const torch::Tensor& bias,
                          int64_t stride, int64_t groups) {
  auto pads = [&](int64_t n, int64_t k) {
    int64_t out = (n + stride - 1) / stride;
    int64_t total = std::max<int64_t>((out - 1) * stride + k - n, 0);
    return std::make_pair(total / 2, total - total / 2);
  };
  auto [top, bottom] = pads(x.size(2), filter.size(2));
  auto [left, right] = pads(x.size(3), filter.size(3));
  const std::vector<int64_t> strides{stride, stride}, dilation{1, 1};
  if (top == bottom && left == right)
    return torch::conv2d(x, filter, bias, strides, std::vector<int64_t>{top, left}, dilation, groups);
  return torch::conv2d(torch::constant_pad_nd(x, {left, right, top, bottom}, 0.0), filter, bias, strides,
                       std::vector<int64_t>{0, 0}, dilation, groups);
}

}  // namespace fer::detail
