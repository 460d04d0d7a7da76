#include "core/image.hpp"
#include "models/builtin.hpp"
#include "models/torch_component.hpp"
#include "pipeline/tta.hpp"

#include <fer/error.hpp>
#include <fer/expression.hpp>
#include <fer/landmarks.hpp>
#include <fer/model.hpp>
#include <fer/pipeline.hpp>

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>

namespace fer {

namespace detail {

// Checks the fields of `info`; failures throw `invalid` (or Unsupported). io/model_file.cpp
void validate_info(const ModelInfo& info, const std::string& origin, Status invalid);

/// Builds the extractor and classifier that `info` names, with fresh weights.
std::shared_ptr<Model> build_model(const ModelInfo& info) {
  validate_info(info, "model", Status::InvalidArgument);
  // Options the model file repeats must agree with what the rest of it says.
  auto agree = [](const Config& c, const char* key, int64_t want, const std::string& source) {
    check_option_agrees(c, key, want, source, Status::ShapeMismatch);
  };
  agree(info.architecture_config, "channels", info.input.channels, "the input spec's channels");
  agree(info.architecture_config, "input_size", info.input.width, "the input spec's width");
  Config arch = info.architecture_config;
  arch.set("channels", int64_t(info.input.channels));
  arch.set("input_size", int64_t(info.input.width));
  auto extractor = FeatureExtractor::create(info.architecture, arch);

  agree(info.head_config, "in_features", extractor->feature_dim(), "the " + info.architecture + " feature size");
  agree(info.head_config, "num_classes", int64_t(info.classes.size()), "the number of class names");
  Config head = info.head_config;
  head.set("in_features", int64_t(extractor->feature_dim()));
  head.set("num_classes", int64_t(info.classes.size()));
  auto classifier = Classifier::create(info.head, head);

  ModelInfo full = info;
  full.architecture_config = arch;
  full.head_config = head;
  return std::make_shared<Model>(std::move(full), std::move(extractor), std::move(classifier));
}

}  // namespace detail

Model::Model(ModelInfo info, std::unique_ptr<FeatureExtractor> extractor, std::unique_ptr<Classifier> classifier)
    : info_(std::move(info)), extractor_(std::move(extractor)), classifier_(std::move(classifier)) {
  if (!extractor_ || !classifier_) throw Error(Status::InvalidArgument, "a model needs an extractor and a classifier");
}

std::shared_ptr<Model> Model::create(const ModelInfo& info, uint64_t seed) {
  // Torch's default generator is process-wide: serialize seeded initialisation.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  torch::manual_seed(seed);
  return detail::build_model(info);
}

void Model::set_precision(Precision precision) {
  if (precision == Precision::Int8 && extractor_->supports_int8()) {
    if (info_.activation_ranges.empty())
      throw Error(Status::InvalidArgument,
                  "this model has no int8 calibration: calibrate it on real faces first (fer quantize --model M "
                  "--data DIR --out M_int8, or Model::calibrate)");
    extractor_->set_activation_ranges(info_.activation_ranges);
  }
  extractor_->set_precision(precision);
}

Precision Model::resolve_precision(const std::string& name) const {
  if (name != "auto") return parse_precision(name);
  if (!info_.activation_ranges.empty() && extractor_->supports_int8() && cpu_has_native_int8())
    return Precision::Int8;
  Precision p = parse_precision(name);
  return p == Precision::BFloat16 && !extractor_->prefers_bf16() ? Precision::Float32 : p;
}

void Model::calibrate(const std::vector<cv::Mat>& inputs, int batch_size) {
  if (batch_size < 1) throw Error(Status::InvalidArgument, "calibration batch size must be positive");
  if (inputs.empty()) throw Error(Status::InvalidArgument, "calibration needs at least one input");
  ActivationRanges ranges;
  for (size_t start = 0; start < inputs.size(); start += size_t(batch_size)) {
    size_t end = std::min(inputs.size(), start + size_t(batch_size));
    std::vector<cv::Mat> batch(inputs.begin() + int64_t(start), inputs.begin() + int64_t(end));
    ranges = extractor_->calibrate(batch, std::move(ranges));
  }
  for (const auto& [point, range] : ranges)
    if (!std::isfinite(range.first) || !std::isfinite(range.second))
      throw Error(Status::InvalidArgument, "calibration measured a non-finite activation at '" + point +
                                               "': the model's outputs are not finite on these inputs");
  extractor_->set_activation_ranges(ranges);
  info_.activation_ranges = std::move(ranges);
}

cv::Mat Model::prepare(const cv::Mat& face) const {
  validate_image(face);
  cv::Mat src = info_.input.channels == 1 ? detail::to_gray(face) : detail::to_bgr(face);
  cv::Mat resized;
  cv::Size size(info_.input.width, info_.input.height);
  if (src.size() == size)
    resized = src;
  else
    cv::resize(src, resized, size, 0, 0, src.cols > size.width ? cv::INTER_AREA : cv::INTER_LINEAR);
  cv::Mat out;
  resized.convertTo(out, CV_32F, 1.0 / 255.0);
  cv::Scalar mean, stdv;
  for (int c = 0; c < info_.input.channels; ++c) {
    mean[c] = info_.input.mean[size_t(c)];
    stdv[c] = info_.input.std[size_t(c)];
  }
  cv::subtract(out, mean, out);
  cv::divide(out, stdv, out);
  return out;
}

cv::Mat Model::crop(const cv::Mat& image, const Face& face) const {
  if (!needs_landmarks()) return crop(image, face.box);
  validate_image(image);
  if (face.landmarks.empty())
    throw Error(Status::InvalidArgument,
                "this model crops faces aligned by their landmarks, and the face has none; enable a landmark model "
                "(PipelineOptions::landmarks, fer::LandmarkDetector)");
  return prepare(align_face(image, face.landmarks, info_.input.width, info_.crop.margin, info_.crop.template_points));
}

cv::Mat Model::crop(const cv::Mat& image, const cv::Rect2f& box) const {
  validate_image(image);
  if (needs_landmarks())
    throw Error(Status::InvalidArgument,
                "this model crops faces aligned by their landmarks, not by a box; pass a fer::Face with landmarks");
  const std::string problem = detail::face_box_problem(box, image.size());
  if (!problem.empty()) throw Error(Status::InvalidArgument, problem);
  float w = box.width, h = box.height;
  float cx = box.x + w / 2, cy = box.y + h / 2;
  if (info_.crop.square) w = h = std::max(w, h);
  w *= 1.f + 2.f * info_.crop.margin;
  h *= 1.f + 2.f * info_.crop.margin;
  cv::Rect r(int(std::lround(cx - w / 2)), int(std::lround(cy - h / 2)), std::max(1, int(std::lround(w))),
             std::max(1, int(std::lround(h))));
  cv::Rect inside = r & cv::Rect(0, 0, image.cols, image.rows);
  if (inside.empty()) throw Error(Status::InvalidArgument, "face box lies outside the image");
  cv::Mat face;
  if (inside == r) {
    face = image(r);
  } else {  // replicate the border for the part of the crop outside the image
    cv::copyMakeBorder(image(inside), face, inside.y - r.y, r.br().y - inside.br().y, inside.x - r.x,
                       r.br().x - inside.br().x, cv::BORDER_REPLICATE);
  }
  return prepare(face);
}

std::vector<Prediction> Model::predict(const std::vector<cv::Mat>& inputs, bool with_features, bool with_attention,
                                       const std::string& tta_name) const {
  const std::string tta = resolve_view(tta_name);
  if (inputs.size() > kFaceChunk) {  // bounded memory: kFaceChunk inputs (times the TTA views) a forward pass
    std::vector<Prediction> out;
    out.reserve(inputs.size());
    for (size_t begin = 0; begin < inputs.size(); begin += kFaceChunk) {
      const size_t end = std::min(inputs.size(), begin + kFaceChunk);
      std::vector<cv::Mat> chunk(inputs.begin() + std::ptrdiff_t(begin), inputs.begin() + std::ptrdiff_t(end));
      std::vector<Prediction> part = predict(chunk, with_features, with_attention, tta);
      std::move(part.begin(), part.end(), std::back_inserter(out));
    }
    return out;
  }
  if (tta != "none") return predict_views(inputs, with_features, with_attention, tta);
  std::vector<Prediction> out;
  if (inputs.empty()) return out;
  FeatureBatch fb = extractor_->extract(inputs);
  cv::Mat logits = classifier_->logits(fb.features);
  for (int i = 0; i < logits.rows; ++i) {
    Prediction p;
    const float* l = logits.ptr<float>(i);
    float mx = *std::max_element(l, l + logits.cols);
    double sum = 0;
    p.probabilities.resize(size_t(logits.cols));
    for (int k = 0; k < logits.cols; ++k) sum += (p.probabilities[size_t(k)] = std::exp(l[k] - mx));
    for (float& v : p.probabilities) v = float(v / sum);
    if (with_features) p.features.assign(fb.features.ptr<float>(i), fb.features.ptr<float>(i) + fb.features.cols);
    if (with_attention && size_t(i) < fb.attention.size()) p.attention = fb.attention[size_t(i)];
    out.push_back(std::move(p));
  }
  return out;
}

std::string Model::resolve_view(const std::string& tta) const { return detail::resolve_tta(info_, tta); }

std::vector<Prediction> Model::predict_faces(const std::vector<cv::Mat>& face_images, bool with_features,
                                             bool with_attention, const std::string& tta) const {
  return predict_faces(face_images.size(), [&](size_t i) { return face_images[i]; }, with_features, with_attention,
                       tta);
}

std::vector<Prediction> Model::predict_faces(size_t count, const std::function<cv::Mat(size_t)>& face_image,
                                             bool with_features, bool with_attention, const std::string& tta_name) const {
  const std::string tta = resolve_view(tta_name);  // before any face is fetched
  std::vector<Prediction> out;
  out.reserve(count);
  for (size_t begin = 0; begin < count; begin += kFaceChunk) {
    const size_t end = std::min(count, begin + kFaceChunk);
    std::vector<cv::Mat> inputs;
    inputs.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      cv::Mat face = face_image(i);
      try {
        inputs.push_back(prepare(face));
      } catch (const Error& e) {
        throw Error(e.status(), "faces[" + std::to_string(i) + "]: " + e.what());
      }
    }
    std::vector<Prediction> chunk = predict(inputs, with_features, with_attention, tta);
    std::move(chunk.begin(), chunk.end(), std::back_inserter(out));
  }
  return out;
}

std::vector<Prediction> Model::predict_views(const std::vector<cv::Mat>& inputs, bool with_features,
                                             bool with_attention, const std::string& tta) const {
  if (inputs.empty()) return {};
  const size_t n = inputs.size();
  // The views of fer eval --tta (detail::test_time_views on the normalized
  // batch), all of them in one batch: view v of input i at v * n + i.
  std::vector<torch::Tensor> views;
  {
    c10::InferenceMode guard;
    views = detail::test_time_views(detail::images_to_tensor(inputs), tta);
  }
  // Flip's first view is the input itself and center's one pass is the
  // model's view of it (one pass in all); ten-crop's are all crops, so there
  // the features and attention maps come from one more pass over the inputs.
  const bool own_pass = tta == "tencrop" && (with_features || with_attention);
  std::vector<cv::Mat> batch;
  batch.reserve(views.size() * n + (own_pass ? n : 0));
  for (const torch::Tensor& v : views) {
    torch::Tensor hwc = v.permute({0, 2, 3, 1}).contiguous();
    const int h = int(hwc.size(1)), w = int(hwc.size(2)), c = int(hwc.size(3));
    for (int64_t i = 0; i < int64_t(n); ++i)
      batch.push_back(cv::Mat(h, w, CV_32FC(c), hwc[i].data_ptr<float>()).clone());
  }
  if (own_pass) batch.insert(batch.end(), inputs.begin(), inputs.end());
  std::vector<Prediction> all = predict(batch, with_features, with_attention, "none");
  std::vector<Prediction> out(all.begin() + int64_t(own_pass ? views.size() * n : 0),
                              all.begin() + int64_t(own_pass ? views.size() * n + n : n));
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> sum(out[i].probabilities.size(), 0.0);
    for (size_t v = 0; v < views.size(); ++v)
      for (size_t k = 0; k < sum.size(); ++k) sum[k] += all[v * n + i].probabilities[k];
    for (size_t k = 0; k < sum.size(); ++k) out[i].probabilities[k] = float(sum[k] / double(views.size()));
  }
  return out;
}

std::string default_model_path() {
  auto exists = [](const std::string& p) { return std::ifstream(p).good(); };
  if (const char* env = std::getenv("FER_MODEL")) {
    if (!exists(env)) throw Error(Status::NotFound, std::string("$FER_MODEL names a missing file: ") + env);
    return env;
  }
  for (const char* dir : {FER_SOURCE_MODELS_DIR, FER_INSTALL_MODELS_DIR}) {
    std::string p = std::string(dir) + "/default.fermodel";
    if (exists(p)) return p;
  }
  return {};
}

ModelInfo untrained_default_info() {
  ModelInfo info;
  info.architecture = "small_cnn";
  info.head = "linear";
  info.classes = fer2013_classes();
  info.trained = false;
  info.provenance["note"] = "untrained: random weights; output is not recognition";
  return info;
}

}  // namespace fer
