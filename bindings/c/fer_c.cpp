// The C API shim: maps fer.h onto the C++ API. Every entry point catches
// everything and turns it into a fer_status plus a thread-local message.
#include <fer/fer.hpp>

#include "fer/fer.h"

#include <opencv2/imgproc.hpp>

#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

struct fer_model {
  std::shared_ptr<const fer::Model> model;
  fer::ModelInfo info;  // owns the strings handed out
};

struct fer_pipeline {
  std::unique_ptr<fer::Pipeline> pipeline;
  fer_model model;
  std::string detector;
};

struct fer_results {
  std::vector<fer::FaceResult> faces;
  std::vector<std::string> labels;
};

static_assert(FER_C_VERSION_NUMBER == FER_VERSION_NUMBER, "fer.h and the C++ headers disagree on the version");

// The C status values are the C++ ones.
static_assert(FER_OK == int(fer::Status::Ok) && FER_INVALID_ARGUMENT == int(fer::Status::InvalidArgument) &&
                  FER_NOT_FOUND == int(fer::Status::NotFound) && FER_IO_ERROR == int(fer::Status::IoError) &&
                  FER_CORRUPT_DATA == int(fer::Status::CorruptData) &&
                  FER_UNSUPPORTED_VERSION == int(fer::Status::UnsupportedVersion) &&
                  FER_SHAPE_MISMATCH == int(fer::Status::ShapeMismatch) &&
                  FER_UNKNOWN_COMPONENT == int(fer::Status::UnknownComponent) &&
                  FER_OUT_OF_MEMORY == int(fer::Status::OutOfMemory) &&
                  FER_UNSUPPORTED == int(fer::Status::Unsupported) && FER_INTERNAL == int(fer::Status::Internal),
              "fer.h status codes must equal fer::Status");

namespace {

thread_local std::string last_error;

fer_status fail(fer_status status, const std::string& message) {
  last_error = message;
  return status;
}

// Runs `body` and maps any exception to a status; body returns FER_OK or a failure.
template <class Body>
fer_status guarded(const char* where, Body&& body) noexcept {
  try {
    return body();
  } catch (const fer::Error& e) {
    return fail(static_cast<fer_status>(static_cast<int>(e.status())), e.what());
  } catch (const std::bad_alloc&) {
    return fail(FER_OUT_OF_MEMORY, std::string(where) + ": out of memory");
  } catch (const cv::Exception& e) {
    return fail(FER_INTERNAL, std::string(where) + ": OpenCV error: " + e.what());
  } catch (const std::exception& e) {
    return fail(FER_INTERNAL, std::string(where) + ": " + e.what());
  } catch (...) {
    return fail(FER_INTERNAL, std::string(where) + ": unknown error");
  }
}

#define FER_REQUIRE(cond, message) \
  if (!(cond)) return fail(FER_INVALID_ARGUMENT, message)

int bytes_per_pixel(fer_pixel_format f) {
  switch (f) {
    case FER_PIXEL_GRAY8: return 1;
    case FER_PIXEL_BGR24:
    case FER_PIXEL_RGB24: return 3;
    case FER_PIXEL_BGRA32: return 4;
    default: return 0;
  }
}

std::vector<std::string> registry_names(fer_component_kind kind) {
  switch (kind) {
    case FER_COMPONENT_DETECTOR: return fer::detector_registry().names();
    case FER_COMPONENT_EXTRACTOR: return fer::extractor_registry().names();
    case FER_COMPONENT_CLASSIFIER: return fer::classifier_registry().names();
    default: break;
  }
  throw fer::Error(fer::Status::InvalidArgument, "unknown component kind " + std::to_string(int(kind)));
}

}  // namespace

extern "C" {

const char* fer_version(void) { return fer::version(); }
uint32_t fer_version_number(void) { return FER_VERSION_NUMBER; }

const char* fer_status_string(fer_status status) {
  if (int(status) < 0 || int(status) > int(FER_INTERNAL)) return "unknown_status";
  return fer::status_name(static_cast<fer::Status>(int(status)));
}

const char* fer_last_error(void) { return last_error.c_str(); }

fer_status fer_registry_count(fer_component_kind kind, size_t* count) {
  return guarded("fer_registry_count", [&] {
    FER_REQUIRE(count, "fer_registry_count: count is NULL");
    *count = registry_names(kind).size();
    return FER_OK;
  });
}

fer_status fer_registry_name(fer_component_kind kind, size_t index, const char** name) {
  return guarded("fer_registry_name", [&] {
    FER_REQUIRE(name, "fer_registry_name: name is NULL");
    auto names = registry_names(kind);
    FER_REQUIRE(index < names.size(), "fer_registry_name: index " + std::to_string(index) + " out of range (" +
                                          std::to_string(names.size()) + " registered)");
    // Names live for the process: keep one copy of each in a never-freed pool.
    static std::mutex mutex;
    static std::vector<std::unique_ptr<std::string>> pool;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& s : pool)
      if (*s == names[index]) {
        *name = s->c_str();
        return FER_OK;
      }
    pool.push_back(std::make_unique<std::string>(names[index]));
    *name = pool.back()->c_str();
    return FER_OK;
  });
}

void fer_pipeline_options_init(fer_pipeline_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  fer::PipelineOptions d;
  o->struct_size = sizeof *o;
  o->score_threshold = d.score_threshold;
  o->min_face_size = d.min_face_size;
  o->max_detect_side = d.max_detect_side;
  o->threads = d.threads;
}

fer_status fer_pipeline_create(const fer_pipeline_options* options, fer_pipeline** pipeline) {
  return guarded("fer_pipeline_create", [&] {
    FER_REQUIRE(pipeline, "fer_pipeline_create: pipeline is NULL");
    fer::PipelineOptions o;
    if (options) {
      FER_REQUIRE(options->struct_size >= sizeof(fer_pipeline_options) && options->struct_size < (1u << 16),
                  "fer_pipeline_create: options->struct_size is not set; call fer_pipeline_options_init first");
      if (options->detector) o.detector = options->detector;
      if (options->model_path) o.model_path = options->model_path;
      if (options->precision) o.precision = options->precision;
      o.score_threshold = options->score_threshold;
      o.min_face_size = options->min_face_size;
      o.max_detect_side = options->max_detect_side;
      o.threads = options->threads;
      o.return_features = options->return_features != 0;
    }
    auto p = std::make_unique<fer_pipeline>();
    p->pipeline = std::make_unique<fer::Pipeline>(o);
    p->model.model = p->pipeline->shared_model();
    p->model.info = p->model.model->info();
    p->detector = p->pipeline->detector_name();
    *pipeline = p.release();
    return FER_OK;
  });
}

void fer_pipeline_destroy(fer_pipeline* pipeline) { delete pipeline; }

fer_status fer_pipeline_process(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results) {
  return guarded("fer_pipeline_process", [&] {
    FER_REQUIRE(pipeline && image && results, "fer_pipeline_process: pipeline, image and results must be non-NULL");
    int bpp = bytes_per_pixel(image->format);
    FER_REQUIRE(bpp > 0, "fer_pipeline_process: unknown pixel format " + std::to_string(int(image->format)));
    FER_REQUIRE(image->data, "fer_pipeline_process: image data is NULL");
    FER_REQUIRE(image->width > 0 && image->height > 0, "fer_pipeline_process: image width and height must be positive");
    FER_REQUIRE(image->stride >= size_t(image->width) * size_t(bpp),
                "fer_pipeline_process: stride " + std::to_string(image->stride) + " is smaller than a row (" +
                    std::to_string(size_t(image->width) * size_t(bpp)) + " bytes)");
    int64_t pixels = int64_t(image->width) * int64_t(image->height);
    FER_REQUIRE(pixels <= pipeline->pipeline->options().max_image_pixels,
                "fer_pipeline_process: image of " + std::to_string(image->width) + "x" + std::to_string(image->height) +
                    " exceeds the pixel limit");
    int type = bpp == 1 ? CV_8UC1 : bpp == 3 ? CV_8UC3 : CV_8UC4;
    cv::Mat view(image->height, image->width, type, const_cast<uint8_t*>(image->data), image->stride);
    cv::Mat input = view;
    if (image->format == FER_PIXEL_RGB24) cv::cvtColor(view, input, cv::COLOR_RGB2BGR);
    auto r = std::make_unique<fer_results>();
    r->faces = pipeline->pipeline->process(input);
    for (const auto& f : r->faces) r->labels.push_back(f.label);
    *results = r.release();
    return FER_OK;
  });
}

fer_status fer_pipeline_model(const fer_pipeline* pipeline, const fer_model** model) {
  return guarded("fer_pipeline_model", [&] {
    FER_REQUIRE(pipeline && model, "fer_pipeline_model: NULL argument");
    *model = &pipeline->model;
    return FER_OK;
  });
}

fer_status fer_pipeline_detector_name(const fer_pipeline* pipeline, const char** name) {
  return guarded("fer_pipeline_detector_name", [&] {
    FER_REQUIRE(pipeline && name, "fer_pipeline_detector_name: NULL argument");
    *name = pipeline->detector.c_str();
    return FER_OK;
  });
}

void fer_results_destroy(fer_results* results) { delete results; }

fer_status fer_results_count(const fer_results* results, size_t* count) {
  return guarded("fer_results_count", [&] {
    FER_REQUIRE(results && count, "fer_results_count: NULL argument");
    *count = results->faces.size();
    return FER_OK;
  });
}

namespace {
fer_status check_face(const fer_results* results, size_t index, const char* where) {
  if (!results) return fail(FER_INVALID_ARGUMENT, std::string(where) + ": results is NULL");
  if (index >= results->faces.size())
    return fail(FER_INVALID_ARGUMENT, std::string(where) + ": face index " + std::to_string(index) +
                                          " out of range (" + std::to_string(results->faces.size()) + " faces)");
  return FER_OK;
}
}  // namespace

fer_status fer_results_face(const fer_results* results, size_t index, fer_face* face) {
  return guarded("fer_results_face", [&] {
    if (fer_status s = check_face(results, index, "fer_results_face")) return s;
    FER_REQUIRE(face, "fer_results_face: face is NULL");
    const fer::FaceResult& r = results->faces[index];
    fer_face out;
    out.box = {r.face.box.x, r.face.box.y, r.face.box.width, r.face.box.height};
    out.score = r.face.score;
    out.label_index = r.label_index;
    out.label = results->labels[index].c_str();
    out.confidence = r.probabilities[size_t(r.label_index)];
    *face = out;
    return FER_OK;
  });
}

fer_status fer_results_probabilities(const fer_results* results, size_t index, const float** probabilities,
                                     size_t* count) {
  return guarded("fer_results_probabilities", [&] {
    if (fer_status s = check_face(results, index, "fer_results_probabilities")) return s;
    FER_REQUIRE(probabilities && count, "fer_results_probabilities: NULL out-parameter");
    *probabilities = results->faces[index].probabilities.data();
    *count = results->faces[index].probabilities.size();
    return FER_OK;
  });
}

fer_status fer_results_features(const fer_results* results, size_t index, const float** features, size_t* count) {
  return guarded("fer_results_features", [&] {
    if (fer_status s = check_face(results, index, "fer_results_features")) return s;
    FER_REQUIRE(features && count, "fer_results_features: NULL out-parameter");
    *features = results->faces[index].features.data();
    *count = results->faces[index].features.size();
    return FER_OK;
  });
}

fer_status fer_model_load(const char* path, fer_model** model) {
  return guarded("fer_model_load", [&] {
    FER_REQUIRE(path && model, "fer_model_load: path and model must be non-NULL");
    auto m = std::make_unique<fer_model>();
    m->model = fer::Model::load(path);
    m->info = m->model->info();
    *model = m.release();
    return FER_OK;
  });
}

void fer_model_destroy(fer_model* model) { delete model; }

fer_status fer_model_get_info(const fer_model* model, fer_model_info* info) {
  return guarded("fer_model_get_info", [&] {
    FER_REQUIRE(model && info, "fer_model_get_info: NULL argument");
    FER_REQUIRE(info->struct_size >= sizeof(fer_model_info) && info->struct_size < (1u << 16),
                "fer_model_get_info: set info->struct_size = sizeof(fer_model_info) first");
    fer_model_info out;
    out.struct_size = sizeof out;
    out.architecture = model->info.architecture.c_str();
    out.head = model->info.head.c_str();
    out.input_width = model->info.input.width;
    out.input_height = model->info.input.height;
    out.input_channels = model->info.input.channels;
    out.num_classes = int32_t(model->info.classes.size());
    out.trained = model->info.trained ? 1 : 0;
    *info = out;
    return FER_OK;
  });
}

fer_status fer_model_class_name(const fer_model* model, size_t index, const char** name) {
  return guarded("fer_model_class_name", [&] {
    FER_REQUIRE(model && name, "fer_model_class_name: NULL argument");
    FER_REQUIRE(index < model->info.classes.size(), "fer_model_class_name: index out of range");
    *name = model->info.classes[index].c_str();
    return FER_OK;
  });
}

fer_status fer_model_provenance(const fer_model* model, const char* key, const char** value) {
  return guarded("fer_model_provenance", [&] {
    FER_REQUIRE(model && key && value, "fer_model_provenance: NULL argument");
    auto it = model->info.provenance.find(key);
    if (it == model->info.provenance.end())
      return fail(FER_NOT_FOUND, std::string("fer_model_provenance: no entry '") + key + "'");
    *value = it->second.c_str();
    return FER_OK;
  });
}

fer_status fer_model_metric(const fer_model* model, const char* key, double* value) {
  return guarded("fer_model_metric", [&] {
    FER_REQUIRE(model && key && value, "fer_model_metric: NULL argument");
    auto it = model->info.metrics.find(key);
    if (it == model->info.metrics.end()) return fail(FER_NOT_FOUND, std::string("fer_model_metric: no metric '") + key + "'");
    *value = it->second;
    return FER_OK;
  });
}

}  // extern "C"
