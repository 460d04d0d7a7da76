#include "detect/framing.hpp"
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

// A face's recognition: its prediction labelled with the most probable class.
FaceResult to_result(Face face, Prediction&& prediction, const std::vector<std::string>& classes) {
  FaceResult r;
  r.face = std::move(face);
  r.probabilities = std::move(prediction.probabilities);
  auto best = std::max_element(r.probabilities.begin(), r.probabilities.end());
  r.label_index = int(best - r.probabilities.begin());
  r.label = classes.at(size_t(r.label_index));
  r.features = std::move(prediction.features);
  r.attention = prediction.attention;
  return r;
}
}  // namespace

Pipeline::Pipeline(const PipelineOptions& options) : Pipeline(options, nullptr) {}

Pipeline::Pipeline(const PipelineOptions& options, std::shared_ptr<const Model> model)
    : impl_(std::make_unique<Impl>()) {
  if (options.threads < 0 || options.threads > kMaxThreads)
    throw Error(Status::InvalidArgument, "threads must be in [0, " + std::to_string(kMaxThreads) + "] (0 = all cores), got " +
                                             std::to_string(options.threads));
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
  impl_->model->resolve_view(options.tta);  // a model whose own view is unknown fails here, not at the first face
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
  return recognize(image, detect(image, skipped));
}

std::vector<Face> Pipeline::detect(const cv::Mat& image) {
  std::vector<Face> skipped;
  return detect(image, skipped);
}

std::vector<Face> Pipeline::detect(const cv::Mat& image, std::vector<Face>& skipped) {
  validate_image(image, impl_->options.max_image_pixels);
  return impl_->detector->detect_with_skipped(image, skipped);
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
    for (size_t i = 0; i < with_landmarks->size(); ++i) {
      const cv::Rect2f& box = (*with_landmarks)[i].box;
      const std::string problem = detail::box_crop_problem(framing, box, image.size());
      if (!problem.empty()) throw Error(Status::InvalidArgument, "faces[" + std::to_string(i) + "]: " + problem);
      inputs.push_back(model.crop(image, framing.to_reference(box)));
    }
  }
  // All faces of the image go through the network as one batch.
  std::vector<Prediction> preds =
      model.predict(inputs, impl_->options.return_features, impl_->options.return_attention, impl_->options.tta);
  std::vector<FaceResult> out;
  out.reserve(faces.size());
  for (size_t i = 0; i < faces.size(); ++i)
    out.push_back(to_result((*with_landmarks)[i], std::move(preds[i]), model.info().classes));
  return out;
}

std::vector<FaceResult> Pipeline::recognize_crops(const std::vector<cv::Mat>& face_images) const {
  const Model& model = *impl_->model;
  const PipelineOptions& o = impl_->options;
  std::vector<Prediction> preds = model.predict_faces(
      face_images.size(),
      [&](size_t i) {
        try {
          validate_image(face_images[i], o.max_image_pixels);
        } catch (const Error& e) {
          throw Error(e.status(), "faces[" + std::to_string(i) + "]: " + e.what());
        }
        return face_images[i];
      },
      o.return_features, o.return_attention, o.tta);
  std::vector<FaceResult> out;
  out.reserve(face_images.size());
  for (size_t i = 0; i < face_images.size(); ++i) {
    Face face;
    face.box = cv::Rect2f(0.f, 0.f, float(face_images[i].cols), float(face_images[i].rows));
    out.push_back(to_result(std::move(face), std::move(preds[i]), model.info().classes));
  }
  return out;
}

const Model& Pipeline::model() const { return *impl_->model; }
std::shared_ptr<const Model> Pipeline::shared_model() const { return impl_->model; }
std::string Pipeline::view() const { return impl_->model->resolve_view(impl_->options.tta); }
std::string Pipeline::detector_name() const { return impl_->detector->name(); }
BoxFraming Pipeline::detector_framing() const { return impl_->detector->framing(); }
std::string Pipeline::landmarks_name() const { return impl_->landmarks ? impl_->landmarks->name() : std::string(); }
const std::string& Pipeline::model_path() const { return impl_->model_path; }
const PipelineOptions& Pipeline::options() const { return impl_->options; }

}  // namespace fer
