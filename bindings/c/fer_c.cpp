// The C API shim: maps fer.h onto the C++ API. Every entry point catches
// everything and turns it into a fer_status plus a thread-local message.
#include <fer/fer.hpp>
#include <fer/train.hpp>

#include "fer/fer.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

struct fer_model {
  std::shared_ptr<const fer::Model> model;
  fer::ModelInfo info;  // owns the strings handed out
  bool borrowed = false;  // part of a pipeline or stream (fer_pipeline_model): not the caller's to destroy
};

// fer.h: a pipeline, stream or video is used by one thread at a time. A call
// that finds another thread inside the same handle fails instead of racing.
struct fer_pipeline {
  std::unique_ptr<fer::Pipeline> pipeline;
  fer_model model;
  std::string detector;
  mutable std::atomic<bool> busy{false};
};

struct fer_results {
  std::vector<fer::FaceResult> faces;
  std::vector<std::string> labels;
  std::vector<fer::Face> skipped;  // found but smaller than min_face_size
  // Only for stream frames: tracking per face (its `result` moved into `faces`).
  bool from_stream = false;
  std::vector<fer::TrackedFace> tracks;
  int64_t frame_index = 0;
  double timestamp = 0;
  bool detection_ran = false;
};

struct fer_stream {
  std::unique_ptr<fer::Stream> stream;
  fer_model model;
  mutable std::atomic<bool> busy{false};
};

struct fer_video {
  explicit fer_video(fer::VideoSource s) : source(std::move(s)) {}
  fer::VideoSource source;
  fer::VideoFrame frame;  // the last frame read: fer_video_read hands out a view of its pixels
  mutable std::atomic<bool> busy{false};
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
                  FER_UNSUPPORTED == int(fer::Status::Unsupported) && FER_INTERNAL == int(fer::Status::Internal) &&
                  FER_CANCELLED == int(fer::Status::Cancelled),
              "fer.h status codes must equal fer::Status");

namespace {

thread_local std::string last_error;
thread_local bool last_error_lost = false;  // storing the message itself ran out of memory

constexpr size_t kMaxRecognizeBoxes = 4096;  // fer_pipeline_recognize: faces a call

fer_status fail(fer_status status, const std::string& message) {
  last_error = message;
  last_error_lost = false;
  return status;
}

// guarded()'s handlers: the message is built here, where an allocation that
// fails cannot escape (guarded is noexcept); the status still comes back.
fer_status fail_noexcept(fer_status status, const char* where, const char* what) noexcept {
  try {
    last_error = where ? std::string(where) + ": " + what : std::string(what);
    last_error_lost = false;
  } catch (...) {
    last_error.clear();
    last_error_lost = true;
  }
  return status;
}

// Runs `body` and maps any exception to a status; body returns FER_OK or a failure.
template <class Body>
fer_status guarded(const char* where, Body&& body) noexcept {
  try {
    return body();
  } catch (const fer::Error& e) {
    return fail_noexcept(static_cast<fer_status>(static_cast<int>(e.status())), nullptr, e.what());
  } catch (const std::bad_alloc&) {
    return fail_noexcept(FER_OUT_OF_MEMORY, where, "out of memory");
  } catch (const std::length_error& e) {  // a container asked for more than it can ever hold
    return fail_noexcept(FER_OUT_OF_MEMORY, where, e.what());
  } catch (const cv::Exception& e) {
    // "OpenCV(4.x) ...: error: ..."; its failed allocations are StsNoMem
    return fail_noexcept(e.code == cv::Error::StsNoMem ? FER_OUT_OF_MEMORY : FER_INTERNAL, where, e.what());
  } catch (const std::exception& e) {
    // LibTorch's CPU allocator reports a failed allocation as a c10::Error
    // ("DefaultCPUAllocator: can't allocate memory: ..."), not std::bad_alloc.
    const bool allocation = std::strstr(e.what(), "can't allocate memory") != nullptr;
    return fail_noexcept(allocation ? FER_OUT_OF_MEMORY : FER_INTERNAL, where, e.what());
  } catch (...) {
    return fail_noexcept(FER_INTERNAL, where, "unknown error");
  }
}

#define FER_REQUIRE(cond, message) \
  if (!(cond)) return fail(FER_INVALID_ARGUMENT, message)

// Holds a handle's busy flag for one call, if no other thread holds it.
class ExclusiveUse {
 public:
  explicit ExclusiveUse(std::atomic<bool>& busy) : busy_(busy), owned_(!busy.exchange(true, std::memory_order_acquire)) {}
  ~ExclusiveUse() {
    if (owned_) busy_.store(false, std::memory_order_release);
  }
  ExclusiveUse(const ExclusiveUse&) = delete;
  ExclusiveUse& operator=(const ExclusiveUse&) = delete;
  bool owned() const { return owned_; }

 private:
  std::atomic<bool>& busy_;
  bool owned_;
};

// In an entry point on `handle` (not NULL): fails when another thread is in a call on it.
#define FER_EXCLUSIVE(handle, where)                                                                   \
  ExclusiveUse exclusive_use((handle)->busy);                                                          \
  if (!exclusive_use.owned())                                                                          \
  return fail(FER_INVALID_ARGUMENT, std::string(where) +                                               \
                                        ": another thread is in a call on this handle (a pipeline, " \
                                        "stream or video is used by one thread at a time)")

// The int a C caller stored in an enum parameter or field. C allows any value
// of the underlying type there (e.g. -1); in C++ loading an out-of-range value
// as the enum type is undefined, so the bytes are read as an integer instead.
template <class Enum>
int32_t enum_value(const Enum& e) {
  static_assert(sizeof(Enum) == sizeof(int32_t), "C API enums are int-sized");
  int32_t v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

int bytes_per_pixel(int32_t f) {
  switch (f) {
    case FER_PIXEL_GRAY8: return 1;
    case FER_PIXEL_BGR24:
    case FER_PIXEL_RGB24: return 3;
    case FER_PIXEL_BGRA32: return 4;
    default: return 0;
  }
}

// Checks a borrowed image view and wraps it (RGB is converted to BGR in a copy:
// the caller's pixels are never written; the rest is not copied).
fer_status view_to_mat(const fer_image_view* image, int64_t max_pixels, const char* where, cv::Mat& out) {
  const std::string w(where);
  FER_REQUIRE(image, w + ": image is NULL");
  const int32_t format = enum_value(image->format);
  int bpp = bytes_per_pixel(format);
  FER_REQUIRE(bpp > 0, w + ": unknown pixel format " + std::to_string(format));
  FER_REQUIRE(image->data, w + ": image data is NULL");
  FER_REQUIRE(image->width > 0 && image->height > 0, w + ": image width and height must be positive");
  FER_REQUIRE(image->stride >= size_t(image->width) * size_t(bpp),
              w + ": stride " + std::to_string(image->stride) + " is smaller than a row (" +
                  std::to_string(size_t(image->width) * size_t(bpp)) + " bytes)");
  // A stride that is negative (a bottom-up buffer's pitch cast to size_t) or so
  // large that the rows' span overflows is refused: the rows would be read
  // from outside any buffer.
  FER_REQUIRE(image->stride <= size_t(PTRDIFF_MAX) / size_t(image->height),
              w + ": stride " + std::to_string(image->stride) + " is negative or absurd for " +
                  std::to_string(image->height) + " rows");
  int64_t pixels = int64_t(image->width) * int64_t(image->height);
  FER_REQUIRE(pixels <= max_pixels, w + ": image of " + std::to_string(image->width) + "x" +
                                        std::to_string(image->height) + " exceeds the pixel limit");
  int type = bpp == 1 ? CV_8UC1 : bpp == 3 ? CV_8UC3 : CV_8UC4;
  cv::Mat view(image->height, image->width, type, const_cast<uint8_t*>(image->data), image->stride);
  if (format == FER_PIXEL_RGB24) {
    cv::Mat bgr;  // a new buffer: converting into `out` = view would swap the caller's channels in place
    cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
    out = bgr;
  } else {
    out = view;
  }
  return FER_OK;
}

// fer_results_attention hands out one block of rows: a map that is a view
// into a larger buffer is copied into its own.
void make_attention_continuous(fer_results& r) {
  for (auto& f : r.faces)
    if (!f.attention.empty() && !f.attention.isContinuous()) f.attention = f.attention.clone();
}

fer::PipelineOptions pipeline_options_of(const fer_pipeline_options* options, const char* where) {
  fer::PipelineOptions o;
  if (!options) return o;
  // Fields were only ever appended: a struct_size that ends after return_features
  // is a valid older layout; fields beyond it keep their defaults.
  constexpr size_t kFirstLayout = offsetof(fer_pipeline_options, return_features) + sizeof(int32_t);
  auto has = [&](size_t offset, size_t size) { return options->struct_size >= offset + size; };
  if (options->struct_size < kFirstLayout || options->struct_size >= (1u << 16))
    throw fer::Error(fer::Status::InvalidArgument, std::string(where) +
                                                       ": options->struct_size is not set; call "
                                                       "fer_pipeline_options_init first");
  if (options->detector) o.detector = options->detector;
  if (options->model_path) o.model_path = options->model_path;
  if (options->precision) o.precision = options->precision;
  o.score_threshold = options->score_threshold;
  o.min_face_size = options->min_face_size;
  o.max_detect_side = options->max_detect_side;
  o.threads = options->threads;
  o.return_features = options->return_features != 0;
  if (has(offsetof(fer_pipeline_options, landmarks), sizeof(const char*)) && options->landmarks)
    o.landmarks = options->landmarks;
  if (has(offsetof(fer_pipeline_options, return_attention), sizeof(int32_t)))
    o.return_attention = options->return_attention != 0;
  if (has(offsetof(fer_pipeline_options, tta), sizeof(const char*)) && options->tta) o.tta = options->tta;
  return o;
}

fer::StreamOptions stream_options_of(const fer_stream_options* options, const char* where) {
  fer::StreamOptions o;
  if (!options) return o;
  // The first layout ends at min_visible_fraction (redetect_every went into its
  // tail padding); a struct_size ending there, as fer_stream_options_init_size
  // writes for such a struct, is valid and keeps redetect_every's default.
  constexpr size_t kFirstLayout = offsetof(fer_stream_options, min_visible_fraction) + sizeof(float);
  auto has = [&](size_t offset, size_t size) { return options->struct_size >= offset + size; };
  if (options->struct_size < kFirstLayout || options->struct_size >= (1u << 16))
    throw fer::Error(fer::Status::InvalidArgument, std::string(where) +
                                                       ": stream options->struct_size is " +
                                                       std::to_string(options->struct_size) +
                                                       " (not set, or too small); call fer_stream_options_init "
                                                       "first");
  o.detect_every = options->detect_every;
  o.min_track_confidence = options->min_track_confidence;
  o.smoothing_seconds = options->smoothing_seconds;
  o.label_margin = options->label_margin;
  o.max_missed_seconds = options->max_missed_seconds;
  o.iou_threshold = options->iou_threshold;
  o.min_visible_fraction = options->min_visible_fraction;
  if (has(offsetof(fer_stream_options, redetect_every), sizeof(int32_t)) && options->redetect_every != 0)
    o.redetect_every = options->redetect_every;  // 0: zeroed older structs
  return o;
}

// The *_init_size functions: writes the first `size` bytes of `full` (a
// struct of this build's layout, filled with the defaults) to `out`, so that a
// caller's older, shorter struct gets only its own bytes, and sets its
// struct_size (the first field of every option struct) to what was written.
template <class T>
void init_prefix(T* out, size_t size, T full) {
  static_assert(offsetof(T, struct_size) == 0, "option structs start with struct_size");
  if (!out || size < sizeof(size_t)) return;
  size = std::min(size, sizeof(T));
  full.struct_size = size;
  std::memcpy(static_cast<void*>(out), &full, size);
}

// Output structs (fer_track_info, fer_model_info, fer_eval_report) grow by
// appending fields, like the option structs. The caller's struct_size says
// which layout it was compiled with: at least the first (0.1) layout, and
// only that many bytes are written, so a program built against this header
// keeps working with a later library whose struct is longer.
template <class T>
bool output_size_ok(const T* out, size_t first_layout) {
  return out->struct_size >= first_layout && out->struct_size < (1u << 16);
}
template <class T>
void write_output(T* out, T full) {
  const size_t size = std::min(out->struct_size, sizeof(T));
  full.struct_size = size;
  std::memcpy(static_cast<void*>(out), &full, size);
}
constexpr size_t kTrackInfoFirstLayout = 64, kModelInfoFirstLayout = 48, kEvalReportFirstLayout = 48;
static_assert(sizeof(fer_track_info) >= kTrackInfoFirstLayout && sizeof(fer_model_info) >= kModelInfoFirstLayout &&
                  sizeof(fer_eval_report) >= kEvalReportFirstLayout,
              "output structs only grow");

void set_model(fer_model& m, std::shared_ptr<const fer::Model> model) {
  m.model = std::move(model);
  m.info = m.model->info();
}

std::vector<std::string> registry_names(int32_t kind) {
  switch (kind) {
    case FER_COMPONENT_DETECTOR: return fer::detector_registry().names();
    case FER_COMPONENT_EXTRACTOR: return fer::extractor_registry().names();
    case FER_COMPONENT_CLASSIFIER: return fer::classifier_registry().names();
    default: break;
  }
  throw fer::Error(fer::Status::InvalidArgument, "unknown component kind " + std::to_string(kind));
}

}  // namespace

extern "C" {

const char* fer_version(void) { return fer::version(); }
uint32_t fer_version_number(void) { return FER_VERSION_NUMBER; }

const char* fer_status_string(fer_status status) {
  const int32_t value = enum_value(status);
  if (value < 0 || value > int32_t(FER_CANCELLED)) return "unknown_status";
  return fer::status_name(static_cast<fer::Status>(value));
}

const char* fer_last_error(void) {
  return last_error_lost ? "out of memory (the error message could not be stored)" : last_error.c_str();
}

fer_status fer_registry_count(fer_component_kind kind, size_t* count) {
  return guarded("fer_registry_count", [&] {
    FER_REQUIRE(count, "fer_registry_count: count is NULL");
    *count = registry_names(enum_value(kind)).size();
    return FER_OK;
  });
}

fer_status fer_registry_name(fer_component_kind kind, size_t index, const char** name) {
  return guarded("fer_registry_name", [&] {
    FER_REQUIRE(name, "fer_registry_name: name is NULL");
    auto names = registry_names(enum_value(kind));
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

void fer_pipeline_options_init(fer_pipeline_options* o) { fer_pipeline_options_init_size(o, sizeof *o); }

void fer_pipeline_options_init_size(fer_pipeline_options* options, size_t size) {
  fer_pipeline_options o;
  std::memset(&o, 0, sizeof o);
  fer::PipelineOptions d;
  o.score_threshold = d.score_threshold;
  o.min_face_size = d.min_face_size;
  o.max_detect_side = d.max_detect_side;
  o.threads = d.threads;
  init_prefix(options, size, o);
}

fer_status fer_pipeline_create(const fer_pipeline_options* options, fer_pipeline** pipeline) {
  return guarded("fer_pipeline_create", [&] {
    FER_REQUIRE(pipeline, "fer_pipeline_create: pipeline is NULL");
    fer::PipelineOptions o = pipeline_options_of(options, "fer_pipeline_create");
    auto p = std::make_unique<fer_pipeline>();
    p->pipeline = std::make_unique<fer::Pipeline>(o);
    set_model(p->model, p->pipeline->shared_model());
    p->model.borrowed = true;
    p->detector = p->pipeline->detector_name();
    *pipeline = p.release();
    return FER_OK;
  });
}

fer_status fer_pipeline_create_with_model(const fer_pipeline_options* options, const fer_model* model,
                                          fer_pipeline** pipeline) {
  return guarded("fer_pipeline_create_with_model", [&] {
    FER_REQUIRE(pipeline && model, "fer_pipeline_create_with_model: model and pipeline must be non-NULL");
    fer::PipelineOptions o = pipeline_options_of(options, "fer_pipeline_create_with_model");
    auto p = std::make_unique<fer_pipeline>();
    p->pipeline = std::make_unique<fer::Pipeline>(o, model->model);
    set_model(p->model, p->pipeline->shared_model());
    p->model.borrowed = true;
    p->detector = p->pipeline->detector_name();
    *pipeline = p.release();
    return FER_OK;
  });
}

void fer_pipeline_destroy(fer_pipeline* pipeline) { delete pipeline; }

fer_status fer_pipeline_process(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results) {
  return guarded("fer_pipeline_process", [&] {
    FER_REQUIRE(pipeline && image && results, "fer_pipeline_process: pipeline, image and results must be non-NULL");
    FER_EXCLUSIVE(pipeline, "fer_pipeline_process");
    cv::Mat input;
    if (fer_status s = view_to_mat(image, pipeline->pipeline->options().max_image_pixels, "fer_pipeline_process", input))
      return s;
    auto r = std::make_unique<fer_results>();
    r->faces = pipeline->pipeline->process(input, r->skipped);
    for (const auto& f : r->faces) r->labels.push_back(f.label);
    make_attention_continuous(*r);
    *results = r.release();
    return FER_OK;
  });
}

fer_status fer_pipeline_detect(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results) {
  return guarded("fer_pipeline_detect", [&] {
    FER_REQUIRE(pipeline && image && results, "fer_pipeline_detect: pipeline, image and results must be non-NULL");
    FER_EXCLUSIVE(pipeline, "fer_pipeline_detect");
    cv::Mat input;
    if (fer_status s = view_to_mat(image, pipeline->pipeline->options().max_image_pixels, "fer_pipeline_detect", input))
      return s;
    auto r = std::make_unique<fer_results>();
    for (fer::Face& f : pipeline->pipeline->detect(input, r->skipped)) {
      fer::FaceResult fr;
      fr.face = std::move(f);
      r->faces.push_back(std::move(fr));
      r->labels.emplace_back();
    }
    *results = r.release();
    return FER_OK;
  });
}

fer_status fer_pipeline_recognize(fer_pipeline* pipeline, const fer_image_view* image, const fer_box* boxes,
                                  size_t count, fer_results** results) {
  return guarded("fer_pipeline_recognize", [&] {
    FER_REQUIRE(pipeline && image && results, "fer_pipeline_recognize: pipeline, image and results must be non-NULL");
    FER_EXCLUSIVE(pipeline, "fer_pipeline_recognize");
    FER_REQUIRE(boxes || count == 0, "fer_pipeline_recognize: boxes is NULL");
    FER_REQUIRE(count <= kMaxRecognizeBoxes, "fer_pipeline_recognize: " + std::to_string(count) +
                                                 " boxes; at most " + std::to_string(kMaxRecognizeBoxes) + " a call");
    cv::Mat input;
    if (fer_status s =
            view_to_mat(image, pipeline->pipeline->options().max_image_pixels, "fer_pipeline_recognize", input))
      return s;
    std::vector<fer::Face> faces(count);
    for (size_t i = 0; i < count; ++i) faces[i].box = {boxes[i].x, boxes[i].y, boxes[i].width, boxes[i].height};
    auto r = std::make_unique<fer_results>();
    r->faces = pipeline->pipeline->recognize(input, faces);
    for (const auto& f : r->faces) r->labels.push_back(f.label);
    make_attention_continuous(*r);
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
    // Detection-only results (fer_pipeline_detect) have no label: confidence 0.
    out.confidence = r.label_index >= 0 && size_t(r.label_index) < r.probabilities.size()
                         ? r.probabilities[size_t(r.label_index)]
                         : 0.f;
    *face = out;
    return FER_OK;
  });
}

fer_status fer_results_skipped_count(const fer_results* results, size_t* count) {
  return guarded("fer_results_skipped_count", [&] {
    FER_REQUIRE(results && count, "fer_results_skipped_count: NULL argument");
    *count = results->skipped.size();
    return FER_OK;
  });
}

fer_status fer_results_skipped_face(const fer_results* results, size_t index, fer_box* box, float* score) {
  return guarded("fer_results_skipped_face", [&] {
    FER_REQUIRE(results, "fer_results_skipped_face: results is NULL");
    FER_REQUIRE(index < results->skipped.size(), "fer_results_skipped_face: index " + std::to_string(index) +
                                                     " is out of range (" + std::to_string(results->skipped.size()) +
                                                     " skipped faces)");
    const fer::Face& f = results->skipped[index];
    if (box) *box = {f.box.x, f.box.y, f.box.width, f.box.height};
    if (score) *score = f.score;
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

fer_status fer_results_attention(const fer_results* results, size_t index, const float** map, int32_t* width,
                                 int32_t* height) {
  return guarded("fer_results_attention", [&] {
    if (fer_status s = check_face(results, index, "fer_results_attention")) return s;
    FER_REQUIRE(map && width && height, "fer_results_attention: NULL out-parameter");
    const cv::Mat& a = results->faces[index].attention;
    if (a.empty()) {
      *map = nullptr;
      *width = *height = 0;
      return FER_OK;
    }
    FER_REQUIRE(a.type() == CV_32FC1 && a.isContinuous(), "fer_results_attention: unexpected map layout");
    *map = a.ptr<float>(0);
    *width = a.cols;
    *height = a.rows;
    return FER_OK;
  });
}

fer_status fer_results_landmarks(const fer_results* results, size_t index, const float** xy, size_t* count) {
  return guarded("fer_results_landmarks", [&] {
    if (fer_status s = check_face(results, index, "fer_results_landmarks")) return s;
    FER_REQUIRE(xy && count, "fer_results_landmarks: NULL out-parameter");
    static_assert(sizeof(cv::Point2f) == 2 * sizeof(float), "landmarks are returned as packed x, y floats");
    const auto& points = results->faces[index].face.landmarks;
    *xy = points.empty() ? nullptr : &points.front().x;
    *count = points.size();
    return FER_OK;
  });
}

fer_status fer_results_track(const fer_results* results, size_t index, fer_track_info* track) {
  return guarded("fer_results_track", [&] {
    if (fer_status s = check_face(results, index, "fer_results_track")) return s;
    FER_REQUIRE(results->from_stream, "fer_results_track: these results come from fer_pipeline_process, "
                                      "not from a stream: they have no tracking");
    FER_REQUIRE(track, "fer_results_track: track is NULL");
    FER_REQUIRE(output_size_ok(track, kTrackInfoFirstLayout),
                "fer_results_track: set track->struct_size = sizeof(fer_track_info) first");
    const fer::TrackedFace& t = results->tracks[index];
    fer_track_info out;
    out.struct_size = sizeof out;
    out.track_id = t.track_id;
    out.smoothed_label = t.smoothed_label.c_str();
    out.age_seconds = t.age_seconds;
    out.frames_tracked = t.frames_tracked;
    out.frames_missed = t.frames_missed;
    out.smoothed_label_index = t.smoothed_label_index;
    out.smoothed_confidence =
        t.smoothed_label_index >= 0 && size_t(t.smoothed_label_index) < t.smoothed.size()
            ? t.smoothed[size_t(t.smoothed_label_index)]
            : 0.f;
    out.detected = t.detected ? 1 : 0;
    out.tracking_confidence = t.confidence;
    write_output(track, out);
    return FER_OK;
  });
}

fer_status fer_results_smoothed_probabilities(const fer_results* results, size_t index, const float** probabilities,
                                              size_t* count) {
  return guarded("fer_results_smoothed_probabilities", [&] {
    if (fer_status s = check_face(results, index, "fer_results_smoothed_probabilities")) return s;
    FER_REQUIRE(results->from_stream, "fer_results_smoothed_probabilities: these results come from "
                                      "fer_pipeline_process, not from a stream: they have no smoothing");
    FER_REQUIRE(probabilities && count, "fer_results_smoothed_probabilities: NULL out-parameter");
    *probabilities = results->tracks[index].smoothed.data();
    *count = results->tracks[index].smoothed.size();
    return FER_OK;
  });
}

fer_status fer_results_frame(const fer_results* results, int64_t* index, double* timestamp, int32_t* detection_ran) {
  return guarded("fer_results_frame", [&] {
    FER_REQUIRE(results, "fer_results_frame: results is NULL");
    FER_REQUIRE(results->from_stream, "fer_results_frame: these results come from fer_pipeline_process, "
                                      "not from a stream");
    if (index) *index = results->frame_index;
    if (timestamp) *timestamp = results->timestamp;
    if (detection_ran) *detection_ran = results->detection_ran ? 1 : 0;
    return FER_OK;
  });
}

void fer_stream_options_init(fer_stream_options* o) { fer_stream_options_init_size(o, sizeof *o); }

void fer_stream_options_init_size(fer_stream_options* options, size_t size) {
  fer_stream_options o;
  std::memset(&o, 0, sizeof o);
  fer::StreamOptions d;
  o.smoothing_seconds = d.smoothing_seconds;
  o.max_missed_seconds = d.max_missed_seconds;
  o.detect_every = d.detect_every;
  o.min_track_confidence = d.min_track_confidence;
  o.label_margin = d.label_margin;
  o.iou_threshold = d.iou_threshold;
  o.min_visible_fraction = d.min_visible_fraction;
  o.redetect_every = d.redetect_every;
  init_prefix(options, size, o);
}

fer_status fer_stream_create(const fer_pipeline_options* pipeline_options, const fer_stream_options* stream_options,
                             fer_stream** stream) {
  return guarded("fer_stream_create", [&] {
    FER_REQUIRE(stream, "fer_stream_create: stream is NULL");
    fer::PipelineOptions po = pipeline_options_of(pipeline_options, "fer_stream_create");
    fer::StreamOptions so = stream_options_of(stream_options, "fer_stream_create");
    auto s = std::make_unique<fer_stream>();
    s->stream = std::make_unique<fer::Stream>(po, so);
    set_model(s->model, s->stream->pipeline().shared_model());
    s->model.borrowed = true;
    *stream = s.release();
    return FER_OK;
  });
}

fer_status fer_stream_create_with_model(const fer_pipeline_options* pipeline_options, const fer_model* model,
                                        const fer_stream_options* stream_options, fer_stream** stream) {
  return guarded("fer_stream_create_with_model", [&] {
    FER_REQUIRE(stream && model, "fer_stream_create_with_model: model and stream must be non-NULL");
    fer::PipelineOptions po = pipeline_options_of(pipeline_options, "fer_stream_create_with_model");
    fer::StreamOptions so = stream_options_of(stream_options, "fer_stream_create_with_model");
    auto s = std::make_unique<fer_stream>();
    s->stream = std::make_unique<fer::Stream>(po, model->model, so);
    set_model(s->model, s->stream->pipeline().shared_model());
    s->model.borrowed = true;
    *stream = s.release();
    return FER_OK;
  });
}

void fer_stream_destroy(fer_stream* stream) { delete stream; }

fer_status fer_stream_push(fer_stream* stream, const fer_image_view* image, double timestamp_seconds,
                           fer_results** results) {
  return guarded("fer_stream_push", [&] {
    FER_REQUIRE(stream && image && results, "fer_stream_push: stream, image and results must be non-NULL");
    FER_EXCLUSIVE(stream, "fer_stream_push");
    cv::Mat input;
    if (fer_status s = view_to_mat(image, stream->stream->pipeline().options().max_image_pixels, "fer_stream_push",
                                   input))
      return s;
    fer::StreamFrame frame = stream->stream->push(input, timestamp_seconds);
    auto r = std::make_unique<fer_results>();
    r->from_stream = true;
    r->frame_index = frame.index;
    r->timestamp = frame.timestamp;
    r->detection_ran = frame.detection_ran;
    r->skipped = std::move(frame.skipped);
    r->tracks = std::move(frame.faces);
    for (auto& t : r->tracks) {
      r->labels.push_back(t.result.label);
      r->faces.push_back(std::move(t.result));
    }
    make_attention_continuous(*r);
    *results = r.release();
    return FER_OK;
  });
}

fer_status fer_stream_reset(fer_stream* stream) {
  return guarded("fer_stream_reset", [&] {
    FER_REQUIRE(stream, "fer_stream_reset: stream is NULL");
    FER_EXCLUSIVE(stream, "fer_stream_reset");
    stream->stream->reset();
    return FER_OK;
  });
}

fer_status fer_stream_frame_count(const fer_stream* stream, int64_t* count) {
  return guarded("fer_stream_frame_count", [&] {
    FER_REQUIRE(stream && count, "fer_stream_frame_count: NULL argument");
    FER_EXCLUSIVE(stream, "fer_stream_frame_count");
    *count = stream->stream->frame_count();
    return FER_OK;
  });
}

fer_status fer_stream_model(const fer_stream* stream, const fer_model** model) {
  return guarded("fer_stream_model", [&] {
    FER_REQUIRE(stream && model, "fer_stream_model: NULL argument");
    *model = &stream->model;
    return FER_OK;
  });
}

fer_status fer_video_open(const char* path, double fps, fer_video** video) {
  return guarded("fer_video_open", [&] {
    FER_REQUIRE(path && video, "fer_video_open: path and video must be non-NULL");
    FER_REQUIRE(fps >= 0 && fps <= 1000, "fer_video_open: fps must be 0 (the file's own) to 1000, got " + std::to_string(fps));
    *video = new fer_video(fer::VideoSource(path, fps));
    return FER_OK;
  });
}

fer_status fer_video_open_camera(int32_t index, fer_video** video) {
  return guarded("fer_video_open_camera", [&] {
    FER_REQUIRE(video, "fer_video_open_camera: video must be non-NULL");
    FER_REQUIRE(index >= 0, "fer_video_open_camera: index must be >= 0");
    *video = new fer_video(fer::VideoSource::camera(index));
    return FER_OK;
  });
}

void fer_video_destroy(fer_video* video) { delete video; }

fer_status fer_video_read(fer_video* video, fer_image_view* frame, double* timestamp, int64_t* index,
                          int32_t* got_frame) {
  return guarded("fer_video_read", [&] {
    FER_REQUIRE(video && frame && got_frame, "fer_video_read: video, frame and got_frame must be non-NULL");
    FER_EXCLUSIVE(video, "fer_video_read");
    fer::VideoFrame next;
    if (!video->source.read(next)) {
      *got_frame = 0;
      return FER_OK;
    }
    FER_REQUIRE(next.image.type() == CV_8UC3 && !next.image.empty(), "fer_video_read: the decoder gave a frame "
                                                                    "that is not 8-bit BGR");
    video->frame = std::move(next);
    const cv::Mat& m = video->frame.image;
    fer_image_view v;
    v.data = m.data;
    v.width = m.cols;
    v.height = m.rows;
    v.stride = m.step[0];
    v.format = FER_PIXEL_BGR24;
    *frame = v;
    if (timestamp) *timestamp = video->frame.timestamp;
    if (index) *index = video->frame.index;
    *got_frame = 1;
    return FER_OK;
  });
}

fer_status fer_video_info(const fer_video* video, double* fps, int32_t* width, int32_t* height, int64_t* frame_count,
                          int32_t* is_live) {
  return guarded("fer_video_info", [&] {
    FER_REQUIRE(video, "fer_video_info: video is NULL");
    FER_EXCLUSIVE(video, "fer_video_info");
    const cv::Size size = video->source.frame_size();
    if (fps) *fps = video->source.fps();
    if (width) *width = size.width;
    if (height) *height = size.height;
    if (frame_count) *frame_count = video->source.frame_count();
    if (is_live) *is_live = video->source.is_live() ? 1 : 0;
    return FER_OK;
  });
}

fer_status fer_model_load(const char* path, fer_model** model) {
  return guarded("fer_model_load", [&] {
    FER_REQUIRE(path && model, "fer_model_load: path and model must be non-NULL");
    auto m = std::make_unique<fer_model>();
    set_model(*m, fer::Model::load(path));
    *model = m.release();
    return FER_OK;
  });
}

fer_status fer_model_load_with_precision(const char* path, const char* precision, fer_model** model) {
  return guarded("fer_model_load_with_precision", [&] {
    FER_REQUIRE(path && model, "fer_model_load_with_precision: path and model must be non-NULL");
    auto loaded = fer::Model::load(path);
    loaded->set_precision(loaded->resolve_precision(precision ? precision : "auto"));
    auto m = std::make_unique<fer_model>();
    set_model(*m, std::move(loaded));
    *model = m.release();
    return FER_OK;
  });
}

void fer_model_destroy(fer_model* model) {
  if (model && model->borrowed) {  // from fer_pipeline_model / fer_stream_model: it goes with its owner
    fail_noexcept(FER_INVALID_ARGUMENT, "fer_model_destroy",
                  "this model belongs to a pipeline or stream (fer_pipeline_model, fer_stream_model) and is "
                  "destroyed with it; not destroyed now");
    return;
  }
  delete model;
}

fer_status fer_model_get_info(const fer_model* model, fer_model_info* info) {
  return guarded("fer_model_get_info", [&] {
    FER_REQUIRE(model && info, "fer_model_get_info: NULL argument");
    FER_REQUIRE(output_size_ok(info, kModelInfoFirstLayout),
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
    out.view = model->info.view.c_str();
    write_output(info, out);
    return FER_OK;
  });
}

fer_status fer_model_predict(const fer_model* model, const fer_image_view* faces, size_t count, const char* tta,
                             float* probabilities, size_t capacity) {
  return guarded("fer_model_predict", [&] {
    FER_REQUIRE(model, "fer_model_predict: model is NULL");
    if (count == 0) return FER_OK;
    FER_REQUIRE(faces && probabilities, "fer_model_predict: faces and probabilities must be non-NULL");
    FER_REQUIRE(count <= size_t(PTRDIFF_MAX) / sizeof(fer_image_view),
                "fer_model_predict: count " + std::to_string(count) + " is more faces than memory can hold");
    const size_t classes = model->info.classes.size();
    FER_REQUIRE(classes > 0 && count <= capacity / classes,
                "fer_model_predict: capacity " + std::to_string(capacity) + " cannot hold " + std::to_string(count) +
                    " x " + std::to_string(classes) + " probabilities");
    // Views are wrapped (RGB converted) one at a time as the model asks for
    // them, so a whole dataset in one call holds no more than a chunk.
    std::vector<fer::Prediction> predictions = model->model->predict_faces(
        count,
        [&](size_t i) {
          const std::string where = "fer_model_predict: faces[" + std::to_string(i) + "]";
          cv::Mat face;
          if (fer_status s = view_to_mat(&faces[i], fer::kDefaultMaxImagePixels, where.c_str(), face))
            throw fer::Error(static_cast<fer::Status>(static_cast<int>(s)), last_error);
          return face;
        },
        false, false, tta ? tta : "auto");
    std::vector<float> out;
    out.reserve(count * classes);
    for (const fer::Prediction& p : predictions) out.insert(out.end(), p.probabilities.begin(), p.probabilities.end());
    std::copy(out.begin(), out.end(), probabilities);
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

fer_status fer_model_precision(const fer_model* model, const char** name, int32_t* int8_calibrated) {
  return guarded("fer_model_precision", [&] {
    FER_REQUIRE(model && name, "fer_model_precision: model and name must be non-NULL");
    *name = fer::precision_name(model->model->precision());  // a static string
    if (int8_calibrated) *int8_calibrated = model->info.activation_ranges.empty() ? 0 : 1;
    return FER_OK;
  });
}

void fer_train_options_init(fer_train_options* o) { fer_train_options_init_size(o, sizeof *o); }

void fer_train_options_init_size(fer_train_options* options, size_t size) {
  fer_train_options o;
  std::memset(&o, 0, sizeof o);
  fer::TrainOptions d;
  o.lr = d.lr;
  o.epochs = d.epochs;
  o.batch_size = d.batch_size;
  o.input_size = d.input_size;
  o.channels = d.channels;
  o.resume = d.resume ? 1 : 0;
  o.kd_weight = d.kd_weight;
  o.kd_temperature = d.kd_temperature;
  o.label_smoothing = d.label_smoothing;
  init_prefix(options, size, o);
}

fer_status fer_train(const fer_train_options* options, fer_model** model) {
  return guarded("fer_train", [&] {
    FER_REQUIRE(options, "fer_train: options is NULL");
    // Fields were only ever appended: a struct_size that ends after user_data is
    // a valid older layout; fields beyond it keep their defaults.
    constexpr size_t kFirstLayout = offsetof(fer_train_options, user_data) + sizeof(void*);
    FER_REQUIRE(options->struct_size >= kFirstLayout && options->struct_size < (1u << 16),
                "fer_train: options->struct_size is not set; call fer_train_options_init first");
    // Every layout ends on a field boundary that is a multiple of size_t's
    // alignment; another size would copy part of a pointer below.
    static_assert(kFirstLayout % alignof(size_t) == 0 && sizeof(fer_train_options) % alignof(size_t) == 0 &&
                      offsetof(fer_train_options, teacher_precision) % alignof(size_t) == 0 &&
                      offsetof(fer_train_options, options_json) % alignof(size_t) == 0,
                  "fer_train_options layouts end on size_t boundaries");
    FER_REQUIRE(options->struct_size % alignof(size_t) == 0,
                "fer_train: options->struct_size " + std::to_string(options->struct_size) +
                    " ends inside a field; call fer_train_options_init_size with the struct's size");
    FER_REQUIRE(options->data_path, "fer_train: options->data_path is NULL");
    // The appended fields, or their defaults for an older, shorter struct.
    fer_train_options ext;
    fer_train_options_init(&ext);
    std::memcpy(&ext, options, std::min<size_t>(options->struct_size, sizeof ext));
    FER_REQUIRE(ext.teacher_count == 0 || ext.teachers, "fer_train: options->teachers is NULL but teacher_count is " +
                                                            std::to_string(ext.teacher_count));
    FER_REQUIRE(ext.teacher_count <= 64, "fer_train: teacher_count " + std::to_string(ext.teacher_count) +
                                             " is absurd (at most 64 teachers)");
    fer::TrainOptions o;
    o.train_data.path = options->data_path;
    if (options->format) o.train_data.format = o.val_data.format = options->format;
    if (options->val_path) o.val_data.path = options->val_path;
    o.train_data.resize = o.val_data.resize = options->resize != 0;
    if (options->architecture) o.architecture = options->architecture;
    if (options->head) o.head = options->head;
    if (options->out_dir) o.out_dir = options->out_dir;
    if (options->precision) o.precision = options->precision;
    o.lr = options->lr;
    o.max_steps_per_epoch = options->max_steps_per_epoch;
    o.seed = options->seed;
    o.epochs = options->epochs;
    o.batch_size = options->batch_size;
    o.input_size = options->input_size;
    o.channels = options->channels;
    o.threads = options->threads;
    o.resume = options->resume != 0;
    o.progress = options->progress != 0;
    if (ext.split) o.train_data.split = ext.split;
    if (ext.val_split) o.val_data.split = ext.val_split;
    for (size_t i = 0; i < ext.teacher_count; ++i) {
      FER_REQUIRE(ext.teachers[i], "fer_train: options->teachers[" + std::to_string(i) + "] is NULL");
      o.teacher_models.push_back(ext.teachers[i]);
    }
    o.kd_weight = ext.kd_weight;
    o.kd_temperature = ext.kd_temperature;
    o.label_smoothing = ext.label_smoothing;
    o.soft_targets = ext.soft_targets != 0;
    if (ext.teacher_precision) o.teacher_precision = ext.teacher_precision;
    if (ext.options_json) fer::apply_train_flags(o, fer::train_flags_from_json(ext.options_json));
    o.command_line = "fer_train (C API)";
    // A non-zero return from on_epoch stops training at its next step (or, after
    // the last epoch, turns the finished run into FER_CANCELLED too).
    std::atomic<bool> stop{false};
    o.stop = &stop;
    std::function<void(const fer::EpochReport&)> cb;
    if (options->on_epoch)
      cb = [&](const fer::EpochReport& e) {
        fer_epoch_report r;
        std::memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        r.epoch = e.epoch;
        r.train_loss = e.train_loss;
        r.train_accuracy = e.train_accuracy;
        r.val_accuracy = e.val_accuracy;
        r.val_macro_f1 = e.val_macro_f1;
        r.seconds = e.seconds;
        if (options->on_epoch(options->user_data, &r) != 0) stop = true;
      };
    fer::TrainResult result = fer::train(o, cb);
    if (stop)
      return fail(FER_CANCELLED, "fer_train: stopped by on_epoch after the last epoch; the model is in " +
                                     result.best_path);
    if (model) {
      auto m = std::make_unique<fer_model>();
      set_model(*m, result.best);
      *model = m.release();
    }
    return FER_OK;
  });
}

void fer_eval_options_init(fer_eval_options* o) { fer_eval_options_init_size(o, sizeof *o); }

void fer_eval_options_init_size(fer_eval_options* options, size_t size) {
  fer_eval_options o;
  std::memset(&o, 0, sizeof o);
  o.occlusion_seed = fer::EvalOptions().occlusion_seed;
  init_prefix(options, size, o);
}

namespace {

// The caller's evaluation options with the appended fields at their defaults
// for an older, shorter struct (one ending at `threads` is the first layout).
fer_eval_options eval_options_of(const fer_eval_options* options, const std::string& where) {
  fer_eval_options o;
  fer_eval_options_init(&o);
  if (!options) return o;
  constexpr size_t kFirstLayout = offsetof(fer_eval_options, threads) + sizeof(int32_t);
  if (options->struct_size < kFirstLayout || options->struct_size >= (1u << 16))
    throw fer::Error(fer::Status::InvalidArgument,
                     where + ": options->struct_size is not set; call fer_eval_options_init first");
  // Every layout ends on a multiple of size_t's alignment; another size would
  // copy part of a pointer below.
  static_assert(kFirstLayout % alignof(size_t) == 0 && sizeof(fer_eval_options) % alignof(size_t) == 0,
                "fer_eval_options layouts end on size_t boundaries");
  if (options->struct_size % alignof(size_t) != 0)
    throw fer::Error(fer::Status::InvalidArgument, where + ": options->struct_size " +
                                                       std::to_string(options->struct_size) +
                                                       " ends inside a field; call fer_eval_options_init_size "
                                                       "with the struct's size");
  std::memcpy(&o, options, std::min<size_t>(options->struct_size, sizeof o));
  return o;
}

// Evaluates the ensemble models[0..count) (one model: itself) into `out`.
fer_status evaluate_models(const std::string& w, const fer_model* const* models, size_t count, const char* data_path,
                           const fer_eval_options* options, fer::EvalReport& out) {
  FER_REQUIRE(models && data_path, w + ": models and data_path must be non-NULL");
  FER_REQUIRE(count >= 1 && count <= 64, w + ": an ensemble has 1 to 64 models, not " + std::to_string(count));
  for (size_t i = 0; i < count; ++i) FER_REQUIRE(models[i], w + ": model " + std::to_string(i) + " is NULL");
  const fer_eval_options opts = eval_options_of(options, w);
  std::vector<const fer::Model*> members;
  for (size_t i = 0; i < count; ++i) members.push_back(models[i]->model.get());
  // The data is read at the first model's input size; evaluate() adapts it to the others'.
  const fer::ModelInfo& info = members.front()->info();
  fer::DatasetSpec spec;
  spec.path = data_path;
  spec.width = info.input.width;
  spec.height = info.input.height;
  spec.channels = info.input.channels;
  fer::EvalOptions eo;
  eo.precision = fer::precision_name(members.front()->precision());  // a pipeline's model may run in bf16
  if (opts.format) spec.format = opts.format;
  if (opts.split) spec.split = opts.split;
  if (opts.tta) eo.tta = opts.tta;
  if (opts.occlusion) eo.occlusion = opts.occlusion;
  eo.occlusion_seed = opts.occlusion_seed;
  spec.resize = opts.resize != 0;
  spec.threads = opts.threads;
  eo.threads = opts.threads;
  out = fer::evaluate(members, fer::read_dataset(spec), eo);
  return FER_OK;
}

// evaluate_models into the summary struct, which stays untouched on failure.
fer_status evaluate_summary(const std::string& w, const fer_model* const* models, size_t count, const char* data_path,
                            const fer_eval_options* options, fer_eval_report* report) {
  FER_REQUIRE(report, w + ": report must be non-NULL");
  FER_REQUIRE(output_size_ok(report, kEvalReportFirstLayout),
              w + ": set report->struct_size = sizeof(fer_eval_report) first");
  fer::EvalReport r;
  if (fer_status s = evaluate_models(w, models, count, data_path, options, r)) return s;
  fer_eval_report out;
  out.struct_size = sizeof out;
  out.count = r.count;
  out.accuracy = r.accuracy;
  out.macro_f1 = r.macro_f1;
  out.ece = r.ece;
  out.loss = r.loss;
  write_output(report, out);
  return FER_OK;
}

}  // namespace

fer_status fer_evaluate(const fer_model* model, const char* data_path, const fer_eval_options* options,
                        fer_eval_report* report) {
  return guarded("fer_evaluate", [&] {
    FER_REQUIRE(model, "fer_evaluate: model must be non-NULL");
    return evaluate_summary("fer_evaluate", &model, 1, data_path, options, report);
  });
}

fer_status fer_evaluate_ensemble(const fer_model* const* models, size_t count, const char* data_path,
                                 const fer_eval_options* options, fer_eval_report* report) {
  return guarded("fer_evaluate_ensemble",
                 [&] { return evaluate_summary("fer_evaluate_ensemble", models, count, data_path, options, report); });
}

fer_status fer_evaluate_json(const fer_model* const* models, size_t count, const char* data_path,
                             const fer_eval_options* options, int32_t per_image, char** json) {
  return guarded("fer_evaluate_json", [&] {
    FER_REQUIRE(json, "fer_evaluate_json: json must be non-NULL");
    fer::EvalReport r;
    if (fer_status s = evaluate_models("fer_evaluate_json", models, count, data_path, options, r)) return s;
    const std::string text = r.to_json(per_image != 0);
    char* copy = static_cast<char*>(std::malloc(text.size() + 1));
    if (!copy) throw std::bad_alloc();
    std::memcpy(copy, text.c_str(), text.size() + 1);
    *json = copy;
    return FER_OK;
  });
}

void fer_string_free(char* text) { std::free(text); }

fer_status fer_quantize(const char* model_path, const char* data_path, const fer_eval_options* data_options,
                        int32_t images, uint64_t seed, const char* out_path) {
  return guarded("fer_quantize", [&] {
    FER_REQUIRE(model_path && data_path && out_path, "fer_quantize: model_path, data_path and out_path must be non-NULL");
    FER_REQUIRE(images >= 0, "fer_quantize: images must be >= 0 (0 = 2000)");
    const fer_eval_options data = eval_options_of(data_options, "fer_quantize");
    fer::DatasetSpec spec;
    spec.path = data_path;
    if (data.format) spec.format = data.format;
    if (data.split) spec.split = data.split;
    spec.resize = data.resize != 0;
    fer::CalibrationOptions co;
    if (images > 0) co.images = images;
    co.seed = seed;
    co.threads = data.threads;
    fer::quantize_file(model_path, spec, out_path, co, "fer_quantize");
    return FER_OK;
  });
}

}  // extern "C"
