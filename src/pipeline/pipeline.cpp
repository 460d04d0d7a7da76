#include "pipeline/tta.hpp"

#include <fer/error.hpp>
#include <fer/landmarks.hpp>
#include <fer/pipeline.hpp>
#include <fer/threads.hpp>

#include <algorithm>
#include <cmath>

namespace fer {

struct Pipeline::Impl {
  PipelineOptions options;
  std::unique_ptr<Detector> detector;
  std::unique_ptr<LandmarkDetector> landmarks;  // null: none
  std::shared_ptr<const Model> model;
  std::string model_path;
};

namespace {
std::shared_ptr<Model> load_model(const PipelineOptions& options, std::string& path) {
  path = options.model_path.empty() ? default_model_path() : options.model_path;
  if (path.empty()) return Model::create(untrained_default_info(), 0);
  return Model::load(path);
}

void validate_box(const cv::Rect2f& box) {
  if (!(box.width > 0.f && box.height > 0.f) || !std::isfinite(box.x) || !std::isfinite(box.y) ||
      !std::isfinite(box.width) || !std::isfinite(box.height))
    throw Error(Status::InvalidArgument, "face box must have a positive, finite size");
}
}  // namespace

Pipeline::Pipeline(const PipelineOptions& options) : Pipeline(options, nullptr) {}

Pipeline::Pipeline(const PipelineOptions& options, std::shared_ptr<const Model> model)
    : impl_(std::make_unique<Impl>()) {
  if (options.threads < 0) throw Error(Status::InvalidArgument, "threads must be >= 0 (0 = all cores)");
  if (options.max_image_pixels <= 0) throw Error(Status::InvalidArgument, "max_image_pixels must be positive");
  impl_->options = options;
  set_num_threads(options.threads);
  DetectorOptions d;
  d.score_threshold = options.score_threshold;
  d.min_face_size = options.min_face_size;
  d.max_detect_side = options.max_detect_side;
  d.precision = options.precision;
  impl_->detector = Detector::create(options.detector, d);
  parse_precision(options.precision);  // rejects an unknown name before the model is loaded
  detail::check_tta(options.tta);
  if (model) {
    impl_->model = std::move(model);
  } else {
    auto own = load_model(options, impl_->model_path);
    own->set_precision(own->resolve_precision(options.precision));
    impl_->model = std::move(own);
  }
  std::string lm = options.landmarks;
  if (lm.empty() || lm == "auto") lm = impl_->model->needs_landmarks() ? "68" : "none";
  if (lm == "none" && impl_->model->needs_landmarks())
    throw Error(Status::InvalidArgument,
                "the model crops faces aligned by their landmarks (crop method \"aligned\"); landmarks \"none\" "
                "cannot serve it: use \"68\", \"68_tiny\" or \"auto\"");
  if (lm != "none") impl_->landmarks = LandmarkDetector::create(lm);
}

Pipeline::~Pipeline() = default;
Pipeline::Pipeline(Pipeline&&) noexcept = default;
Pipeline& Pipeline::operator=(Pipeline&&) noexcept = default;

std::vector<FaceResult> Pipeline::process(const cv::Mat& image) {
  std::vector<Face> skipped;
  return process(image, skipped);
}

std::vector<FaceResult> Pipeline::process(const cv::Mat& image, std::vector<Face>& skipped) {
  validate_image(image, impl_->options.max_image_pixels);
  return recognize(image, impl_->detector->detect_with_skipped(image, skipped));
}

std::vector<FaceResult> Pipeline::recognize(const cv::Mat& image, const std::vector<Face>& faces) const {
  validate_image(image, impl_->options.max_image_pixels);
  const Model& model = *impl_->model;
  std::vector<Face> annotated;
  const std::vector<Face>* with_landmarks = &faces;
  if (impl_->landmarks) {
    annotated = faces;
    impl_->landmarks->annotate(image, annotated);  // one batch for the faces that have none
    with_landmarks = &annotated;
  }
  std::vector<cv::Mat> inputs;
  inputs.reserve(faces.size());
  if (model.needs_landmarks()) {
    for (const Face& f : *with_landmarks) inputs.push_back(model.crop(image, f));
  } else {  // box crops: the detector's box mapped onto the reference box, so every detector crops alike
    const BoxFraming framing = impl_->detector->framing();
    for (const Face& f : *with_landmarks) {
      validate_box(f.box);
      inputs.push_back(model.crop(image, framing.to_reference(f.box)));
    }
  }
  // All faces of the image go through the network as one batch.
  std::vector<Prediction> preds =
      model.predict(inputs, impl_->options.return_features, impl_->options.return_attention, impl_->options.tta);
  std::vector<FaceResult> out;
  out.reserve(faces.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    FaceResult r;
    r.face = (*with_landmarks)[i];
    r.probabilities = std::move(preds[i].probabilities);
    auto best = std::max_element(r.probabilities.begin(), r.probabilities.end());
    r.label_index = int(best - r.probabilities.begin());
    r.label = model.info().classes[size_t(r.label_index)];
    r.features = std::move(preds[i].features);
    r.attention = preds[i].attention;
    out.push_back(std::move(r));
  }
  return out;
}

const Model& Pipeline::model() const { return *impl_->model; }
std::shared_ptr<const Model> Pipeline::shared_model() const { return impl_->model; }
std::string Pipeline::detector_name() const { return impl_->detector->name(); }
BoxFraming Pipeline::detector_framing() const { return impl_->detector->framing(); }
std::string Pipeline::landmarks_name() const { return impl_->landmarks ? impl_->landmarks->name() : std::string(); }
const std::string& Pipeline::model_path() const { return impl_->model_path; }
const PipelineOptions& Pipeline::options() const { return impl_->options; }

}  // namespace fer
