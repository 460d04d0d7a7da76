// The Python module `fer` (extension part `fer._fer`): pipeline, models and
// results over the C++ API. numpy uint8 images in, zero-copy; GIL released
// during inference and training.
#include <fer/fer.hpp>
#include <fer/train.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace py = pybind11;

namespace {

// A zero-copy cv::Mat over a numpy uint8 image (HxW, HxWx3 or HxWx4) whose
// pixels are packed within each row; rows may be strided.
cv::Mat mat_from_array(const py::array& any) {
  if (!py::isinstance<py::array_t<uint8_t>>(any) || any.dtype().kind() != 'u' || any.itemsize() != 1)
    throw py::type_error("expected a numpy uint8 image, got dtype " + std::string(py::str(any.dtype())) +
                         " (convert with image.astype(numpy.uint8))");
  if (any.ndim() != 2 && any.ndim() != 3)
    throw py::value_error("expected an image of shape HxW, HxWx3 or HxWx4, got " + std::to_string(any.ndim()) +
                          " dimensions");
  int64_t h = any.shape(0), w = any.shape(1), c = any.ndim() == 3 ? any.shape(2) : 1;
  if (c != 1 && c != 3 && c != 4)
    throw py::value_error("expected 1, 3 (BGR) or 4 (BGRA) channels, got " + std::to_string(c));
  if (h <= 0 || w <= 0) throw py::value_error("image is empty");
  if (h > INT_MAX || w > INT_MAX)  // OpenCV's sizes are int: a larger side would wrap
    throw py::value_error("image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is absurdly large");
  // The stride of an axis of length 1 means nothing (numpy gives a new axis,
  // as in gray[:, :, None] or np.atleast_3d, a stride of 0): such an axis is
  // packed whatever its stride says.
  const int64_t row_stride = h == 1 ? w * c : any.strides(0);
  const int64_t pixel_stride = w == 1 ? c : any.strides(1);
  const int64_t channel_stride = any.ndim() == 2 || c == 1 ? 1 : any.strides(2);
  if (row_stride <= 0 || pixel_stride != c || channel_stride != 1 || row_stride < w * c)
    throw py::value_error("image pixels must be packed within rows (row stride may be larger); "
                          "pass numpy.ascontiguousarray(image)");
  int type = c == 1 ? CV_8UC1 : c == 3 ? CV_8UC3 : CV_8UC4;
  return cv::Mat(int(h), int(w), type, const_cast<void*>(any.data()), size_t(row_stride));
}

// A writable view for drawing: same rules as mat_from_array, and the array must be writeable.
cv::Mat writable_mat_from_array(const py::array& any) {
  cv::Mat m = mat_from_array(any);
  if (!any.writeable()) throw py::value_error("the image is read-only; pass a writeable copy (image.copy())");
  return m;
}

// A numpy array over a cv::Mat's pixels without copying: the array keeps the
// Mat (and so its buffer) alive.
py::array mat_to_numpy(const cv::Mat& mat) {
  auto* keep = new cv::Mat(mat);
  py::capsule owner(keep, [](void* p) { delete static_cast<cv::Mat*>(p); });
  std::vector<py::ssize_t> shape{keep->rows, keep->cols};
  std::vector<py::ssize_t> strides{py::ssize_t(keep->step[0]), py::ssize_t(keep->elemSize())};
  if (keep->channels() > 1) {
    shape.push_back(keep->channels());
    strides.push_back(py::ssize_t(keep->elemSize1()));
  }
  return py::array(py::dtype::of<uint8_t>(), shape, strides, keep->data, owner);
}

// One tracked face of a stream frame, with the model's class names for the dicts.
struct PyTrackedFace {
  fer::TrackedFace face;
  std::shared_ptr<const std::vector<std::string>> classes;
};

py::dict by_class(const std::vector<float>& p, const std::vector<std::string>& classes) {
  py::dict d;
  for (size_t k = 0; k < p.size() && k < classes.size(); ++k) d[py::str(classes[k])] = p[k];
  return d;
}

std::string tracked_repr(const PyTrackedFace& t) {
  const fer::TrackedFace& f = t.face;
  std::ostringstream os;
  os.precision(3);
  os << "TrackedFace(track_id=" << f.track_id << ", box=(" << f.result.face.box.x << ", " << f.result.face.box.y
     << ", " << f.result.face.box.width << ", " << f.result.face.box.height << "), smoothed_label='"
     << f.smoothed_label << "', smoothed_confidence="
     << (f.smoothed_label_index >= 0 && size_t(f.smoothed_label_index) < f.smoothed.size()
             ? f.smoothed[size_t(f.smoothed_label_index)]
             : 0.f)
     << ", label='" << f.result.label << "', detected=" << (f.detected ? "True" : "False") << ")";
  return os.str();
}

// A path argument: str, bytes or os.PathLike, as the bytes the OS uses
// (os.fsencode: a str decoded from a non-UTF-8 file name gets its bytes back).
std::string path_string(const py::handle& path) {
  py::object encoded = py::module_::import("os").attr("fsencode")(path);  // TypeError for anything else
  return py::cast<std::string>(py::bytes(encoded));
}

// One model file path, or a list of them (an ensemble); each as path_string takes it.
std::vector<std::string> model_paths(const py::handle& model) {
  if (py::isinstance<py::str>(model) || py::isinstance<py::bytes>(model) || py::hasattr(model, "__fspath__"))
    return {path_string(model)};
  std::vector<std::string> out;
  for (py::handle m : py::iter(model)) out.push_back(path_string(m));
  return out;
}

// fer.train(augment=...): True / False (on with the defaults / off), or a dict
// of AugmentOptions fields (on, with those changed), rejecting unknown keys.
void augment_options_from(const std::string& option, py::handle v, fer::AugmentOptions& a) {
  if (py::isinstance<py::bool_>(v)) {
    a.enabled = py::cast<bool>(v);
    return;
  }
  if (!py::isinstance<py::dict>(v))
    throw py::type_error("fer.train(): option '" + option + "' must be True, False or a dict of augmentation settings");
  a.enabled = true;
  for (const auto& kv : py::cast<py::dict>(v)) {
    const std::string k = py::cast<std::string>(kv.first);
    py::handle x = kv.second;
    auto real = [&] {
      if (py::isinstance<py::bool_>(x)) throw py::type_error("fer.train(): augment['" + k + "'] must be a number");
      return py::cast<float>(x);
    };
    try {
      if (k == "enabled") a.enabled = py::cast<bool>(x);
      else if (k == "crop_scale_min") a.crop_scale_min = real();
      else if (k == "crop_ratio") a.crop_ratio = real();
      else if (k == "hflip") a.hflip = py::cast<bool>(x);
      else if (k == "rotate_degrees") a.rotate_degrees = real();
      else if (k == "translate") a.translate = real();
      else if (k == "brightness") a.brightness = real();
      else if (k == "contrast") a.contrast = real();
      else if (k == "erase_prob") a.erase_prob = real();
      else if (k == "erase_max_area") a.erase_max_area = real();
      else if (k == "mixup_alpha") a.mixup_alpha = real();
      else if (k == "cutmix_prob") a.cutmix_prob = real();
      else if (k == "jpeg_prob") a.jpeg_prob = real();
      else if (k == "jpeg_quality_min") {
        if (py::isinstance<py::bool_>(x) || !PyIndex_Check(x.ptr()))
          throw py::type_error("fer.train(): augment['jpeg_quality_min'] must be an int");
        const int64_t q = py::cast<int64_t>(py::int_(py::reinterpret_borrow<py::object>(x)));
        if (q < 1 || q > 100) throw py::value_error("fer.train(): augment['jpeg_quality_min'] must be 1 to 100");
        a.jpeg_quality_min = int(q);
      } else {
        throw py::type_error("fer.train(): augment has no setting '" + k +
                             "' (crop_scale_min, crop_ratio, hflip, rotate_degrees, translate, brightness, contrast, "
                             "erase_prob, erase_max_area, mixup_alpha, cutmix_prob, jpeg_prob, jpeg_quality_min, "
                             "enabled)");
      }
    } catch (const py::cast_error&) {
      throw py::type_error("fer.train(): augment['" + k + "'] has the wrong type (" +
                           std::string(py::str(py::type::of(x).attr("__name__"))) + ")");
    }
  }
}

// TrainOptions from a dict of keyword arguments (fer.train's), rejecting unknown keys.
fer::TrainOptions train_options_from(const py::dict& kw) {
  fer::TrainOptions o;
  o.progress = false;
  std::string val_format;
  for (const auto& item : kw) {
    std::string k = py::cast<std::string>(item.first);
    py::handle v = item.second;
    if (v.is_none()) continue;  // an option given as None keeps its default (e.g. teacher_model=args.teacher)
    try {
      auto str = [&] { return py::cast<std::string>(v); };
      auto path = [&] { return path_string(v); };
      auto num = [&] { return py::cast<double>(v); };
      auto integer = [&] {  // a Python int or anything with __index__ (numpy integers), not a bool
        if (py::isinstance<py::bool_>(v) || !PyIndex_Check(v.ptr()))
          throw py::type_error("fer.train(): option '" + k + "' must be an int");
        return py::cast<int64_t>(py::int_(py::reinterpret_borrow<py::object>(v)));  // beyond 64 bits: cast error
      };
      auto small_int = [&] {  // an int option: out of range is an error, not a wrapped value
        int64_t x = integer();
        if (x < INT_MIN || x > INT_MAX)
          throw py::value_error("fer.train(): option '" + k + "' is out of range: " + std::to_string(x));
        return int(x);
      };
      auto config = [&] {
        fer::Config c;
        for (const auto& kv : py::cast<py::dict>(v)) c.set(py::cast<std::string>(kv.first), py::str(kv.second));
        return c;
      };
      if (k == "data") o.train_data.path = path();
      else if (k == "format") o.train_data.format = o.val_data.format = str();
      else if (k == "split") o.train_data.split = str();
      else if (k == "val") o.val_data.path = path();
      else if (k == "val_split") o.val_data.split = str();
      else if (k == "image_root") o.train_data.image_root = o.val_data.image_root = path();
      else if (k == "cache_dir") o.cache_dir = path();
      else if (k == "soft_targets") o.soft_targets = py::cast<bool>(v);
      else if (k == "architecture") o.architecture = str();
      else if (k == "architecture_options") o.architecture_config = config();
      else if (k == "head") o.head = str();
      else if (k == "head_options") o.head_config = config();
      else if (k == "input_size") o.input_size = small_int();
      else if (k == "channels") o.channels = small_int();
      else if (k == "init_model") o.init_model = path();
      else if (k == "epochs") o.epochs = small_int();
      else if (k == "batch_size") o.batch_size = small_int();
      else if (k == "optimizer") o.optimizer = str();
      else if (k == "lr") o.lr = num();
      else if (k == "weight_decay") o.weight_decay = num();
      else if (k == "norm_bias_decay") o.norm_bias_decay = py::cast<bool>(v);
      else if (k == "label_smoothing") o.label_smoothing = num();
      else if (k == "momentum") o.momentum = num();
      else if (k == "warmup_epochs") o.warmup_epochs = num();
      else if (k == "min_lr_ratio") o.min_lr_ratio = num();
      else if (k == "grad_clip") o.grad_clip = num();
      else if (k == "ema_decay") o.ema_decay = num();
      else if (k == "class_weights") o.class_weights = py::cast<bool>(v);
      else if (k == "crop_margin") o.crop_margin = float(num());
      else if (k == "val_format") val_format = str();  // applied after format, whatever the order
      else if (k == "augment") augment_options_from(k, v, o.augment);
      else if (k == "dlp_weight") o.dlp_weight = num();
      else if (k == "dlp_k") o.dlp_k = small_int();
      else if (k == "kd_feature_weight") o.kd_feature_weight = num();
      else if (k == "kd_attention_weight") o.kd_attention_weight = num();
      else if (k == "calibration_images") o.calibration_images = small_int();
      else if (k == "world_size") o.world_size = small_int();
      else if (k == "rank") o.rank = small_int();
      else if (k == "master") o.master = str();
      else if (k == "provenance") {
        for (const auto& kv : py::cast<py::dict>(v))
          o.provenance[py::cast<std::string>(kv.first)] = py::cast<std::string>(kv.second);
      }
      else if (k == "teacher_model") o.teacher_models = model_paths(v);  // one path or an ensemble's list
      else if (k == "kd_weight") o.kd_weight = num();
      else if (k == "kd_temperature") o.kd_temperature = num();
      else if (k == "teacher_precision") o.teacher_precision = str();
      else if (k == "teacher_targets") o.teacher_targets = path();
      else if (k == "precision") o.precision = str();
      else if (k == "threads") o.threads = small_int();
      else if (k == "out_dir") o.out_dir = path();
      else if (k == "resume") o.resume = py::cast<bool>(v);
      else if (k == "seed") {
        int64_t seed = integer();
        if (seed < 0) throw py::value_error("fer.train(): option 'seed' must be >= 0");
        o.seed = uint64_t(seed);
      }
      else if (k == "max_steps_per_epoch") o.max_steps_per_epoch = integer();
      else if (k == "progress") o.progress = py::cast<bool>(v);
      else throw py::type_error("fer.train() got an unexpected keyword argument '" + k + "'");
    } catch (const py::cast_error&) {
      throw py::type_error("fer.train(): option '" + k + "' has the wrong type (" +
                           std::string(py::str(py::type::of(v).attr("__name__"))) + ")");
    }
  }
  if (!val_format.empty()) o.val_data.format = val_format;
  if (o.train_data.path.empty()) throw py::value_error("fer.train() needs data=PATH (a labelled dataset)");
  o.command_line = "fer.train (Python)";
  return o;
}

py::dict epoch_dict(const fer::EpochReport& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["train_loss"] = e.train_loss;
  d["train_accuracy"] = e.train_accuracy;
  d["val_accuracy"] = e.val_accuracy;
  d["val_macro_f1"] = e.val_macro_f1;
  d["val_loss"] = e.val_loss;
  d["lr"] = e.lr;
  d["seconds"] = e.seconds;
  d["images_per_second"] = e.images_per_second;
  return d;
}

py::array_t<float> to_numpy(const std::vector<float>& v) {
  py::array_t<float> a(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

// The `model` argument of Pipeline and Stream: a loaded fer.Model (returned, to
// share), a path (str, bytes or os.PathLike, set in `o`), or None / "" (the default model).
std::shared_ptr<const fer::Model> model_argument(const py::object& model, fer::PipelineOptions& o) {
  if (py::isinstance<fer::Model>(model)) return py::cast<std::shared_ptr<fer::Model>>(model);
  if (model.is_none()) return nullptr;
  if (py::isinstance<py::str>(model) || py::isinstance<py::bytes>(model) || py::hasattr(model, "__fspath__"))
    o.model_path = path_string(model);
  else
    throw py::type_error("model must be a path (str, bytes or os.PathLike), a fer.Model or None, got " +
                         std::string(py::str(py::type::of(model).attr("__name__"))));
  return nullptr;
}

// The pipeline options that fer.Pipeline and fer.Stream take as keywords.
fer::PipelineOptions pipeline_options(const std::string& detector, int threads, const std::string& precision,
                                      float score_threshold, int min_face_size, bool return_features,
                                      const std::string& landmarks, bool return_attention, const std::string& tta) {
  fer::PipelineOptions o;
  o.detector = detector;
  o.threads = threads;
  o.precision = precision;
  o.score_threshold = score_threshold;
  o.min_face_size = min_face_size;
  o.return_features = return_features;
  o.landmarks = landmarks;
  o.return_attention = return_attention;
  o.tta = tta;
  return o;
}

// Landmark points as an N x 2 float32 array (x, y).
py::array_t<float> landmarks_to_numpy(const std::vector<cv::Point2f>& points) {
  py::array_t<float> a({py::ssize_t(points.size()), py::ssize_t(2)});
  for (size_t i = 0; i < points.size(); ++i) {
    a.mutable_at(py::ssize_t(i), 0) = points[i].x;
    a.mutable_at(py::ssize_t(i), 1) = points[i].y;
  }
  return a;
}

// An attention map (CV_32F, rows x cols over the face crop) as a float32 array
// of its own; 0 x 0 when the face has none.
py::array_t<float> attention_to_numpy(const cv::Mat& map) {
  py::array_t<float> a({py::ssize_t(map.rows), py::ssize_t(map.cols)});
  for (int y = 0; y < map.rows; ++y)
    std::copy(map.ptr<float>(y), map.ptr<float>(y) + map.cols, a.mutable_data(y, 0));
  return a;
}

std::string face_repr(const fer::FaceResult& r) {
  std::ostringstream os;
  os.precision(3);
  os << "FaceResult(box=(" << r.face.box.x << ", " << r.face.box.y << ", " << r.face.box.width << ", "
     << r.face.box.height << "), label='" << r.label << "', confidence="
     << (r.label_index >= 0 ? r.probabilities[size_t(r.label_index)] : 0.f) << ")";
  return os.str();
}

/// A Python str of bytes that need not be UTF-8 (messages and paths can quote
/// file names, which on Linux are any bytes): invalid bytes become U+FFFD
/// instead of raising UnicodeDecodeError in place of the real result or error.
py::str text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "replace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// Strings of a model's header as Python str, bytes that are not UTF-8 (a
// dataset path in the provenance of a model just trained) as U+FFFD.
py::list text_list(const std::vector<std::string>& v) {
  py::list out;
  for (const std::string& s : v) out.append(text(s));
  return out;
}
template <class Map>
py::dict text_keys(const Map& m) {  // string values as text too
  py::dict out;
  for (const auto& kv : m) {
    if constexpr (std::is_same_v<typename Map::mapped_type, std::string>)
      out[text(kv.first)] = text(kv.second);
    else
      out[text(kv.first)] = kv.second;
  }
  return out;
}

py::dict info_dict(const fer::ModelInfo& i) {
  py::dict d;
  d["architecture"] = text(i.architecture);
  d["architecture_config"] = text_keys(i.architecture_config.values());
  d["head"] = text(i.head);
  d["input_size"] = py::make_tuple(i.input.width, i.input.height);
  d["channels"] = i.input.channels;
  d["classes"] = text_list(i.classes);
  d["trained"] = i.trained;
  d["storage"] = text(i.storage);
  d["provenance"] = text_keys(i.provenance);
  d["metrics"] = text_keys(i.metrics);
  d["int8_calibrated"] = !i.activation_ranges.empty();  // can run in int8 (fer quantize)
  d["view"] = text(i.view);  // the model's own test-time view: what tta="auto" runs
  return d;
}

/// ((x, y, w, h), score) per face.
py::list box_score_list(const std::vector<fer::Face>& faces) {
  py::list out;
  for (const fer::Face& f : faces)
    out.append(py::make_tuple(py::make_tuple(f.box.x, f.box.y, f.box.width, f.box.height), f.score));
  return out;
}

/// Pipeline, Stream and VideoSource are not thread-safe, and their work runs
/// without the GIL, so Python threads sharing one object would race (a
/// ThreadPoolExecutor mapping pipeline.process over frames). Each bound object
/// carries a lock that those calls take once the GIL is released: calls on one
/// object from several threads run one after the other; other objects run in parallel.
template <class T>
struct Serialized : T {
  using T::T;
  explicit Serialized(T&& t) : T(std::move(t)) {}
  std::mutex busy;
};
using PyPipeline = Serialized<fer::Pipeline>;
using PyStream = Serialized<fer::Stream>;
using PyVideoSource = Serialized<fer::VideoSource>;

/// f() without the GIL, holding `s`'s lock (released before the GIL is taken back).
template <class S, class F>
auto exclusive(S& s, F&& f) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(s.busy);
  return f();
}

/// Stream::push without the GIL: (tracked faces, skipped faces as box_score_list).
std::pair<py::list, py::list> push_frame(PyStream& s, const py::array& image, double timestamp) {
  cv::Mat mat = mat_from_array(image);
  fer::StreamFrame frame = exclusive(s, [&] { return s.push(mat, timestamp); });
  auto classes = std::make_shared<const std::vector<std::string>>(s.pipeline().model().info().classes);
  py::list faces;
  for (auto& f : frame.faces) faces.append(PyTrackedFace{std::move(f), classes});
  return {faces, box_score_list(frame.skipped)};
}

// The dataset that evaluate(), teacher_targets() and quantize() name by keywords.
fer::DatasetSpec dataset_spec(const std::string& data, const std::string& format, const std::string& split, bool resize,
                              int threads) {
  fer::DatasetSpec spec;
  spec.path = data;
  spec.format = format;
  spec.split = split;
  spec.resize = resize;
  spec.threads = threads;
  return spec;
}

// Whether a numpy array holds several images: N x H x W x C, or N x H x W
// (gray) when its last axis is too long to be a channel axis (more than 4).
bool is_image_batch(const py::array& a) { return a.ndim() == 4 || (a.ndim() == 3 && a.shape(2) > 4); }

// Model.predict: one face image (a numpy array) -> (K,), a sequence or batch array of them -> (N, K).
py::array_t<float> predict_faces(const fer::Model& model, const py::object& faces, const std::string& tta) {
  const bool single = py::isinstance<py::array>(faces) && !is_image_batch(py::reinterpret_borrow<py::array>(faces));
  if (!single && (!py::isinstance<py::sequence>(faces) || py::isinstance<py::str>(faces)))
    throw py::type_error("faces must be a numpy uint8 image, a batch array or a sequence of images");
  std::vector<py::array> arrays;  // keeps converted items alive: the Mats view their pixels
  if (single) {
    arrays.push_back(py::reinterpret_borrow<py::array>(faces));
  } else {
    for (py::handle item : faces) {
      if (!py::isinstance<py::array>(item))
        throw py::type_error("faces[" + std::to_string(arrays.size()) + "] is not a numpy array");
      arrays.push_back(py::reinterpret_borrow<py::array>(item));
    }
  }
  std::vector<cv::Mat> mats;
  mats.reserve(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    try {
      mats.push_back(mat_from_array(arrays[i]));
    } catch (const py::type_error& e) {
      if (single) throw;
      throw py::type_error("faces[" + std::to_string(i) + "]: " + e.what());
    } catch (const py::value_error& e) {
      if (single) throw;
      throw py::value_error("faces[" + std::to_string(i) + "]: " + e.what());
    }
  }
  const size_t classes = model.info().classes.size();
  std::vector<float> probabilities;
  {
    py::gil_scoped_release release;
    probabilities.reserve(mats.size() * classes);
    for (const fer::Prediction& p : model.predict_faces(mats, false, false, tta))
      probabilities.insert(probabilities.end(), p.probabilities.begin(), p.probabilities.end());
  }
  std::vector<py::ssize_t> shape{py::ssize_t(classes)};
  if (!single) shape.insert(shape.begin(), py::ssize_t(mats.size()));
  py::array_t<float> out(shape);
  std::copy(probabilities.begin(), probabilities.end(), out.mutable_data());
  return out;
}

// Pipeline.recognize's boxes: (x, y, width, height) items, as fer::Face with score 0.
std::vector<fer::Face> faces_from_boxes(const py::object& boxes) {
  if (!py::isinstance<py::sequence>(boxes) && !py::isinstance<py::array>(boxes))
    throw py::type_error("boxes must be a sequence of (x, y, width, height)");
  std::vector<fer::Face> faces;
  for (py::handle item : boxes) {
    const std::string where = "boxes[" + std::to_string(faces.size()) + "]";
    std::vector<float> v;
    try {
      v = py::cast<std::vector<float>>(item);
    } catch (const py::cast_error&) {
      throw py::type_error(where + " must be (x, y, width, height), numbers");
    }
    if (v.size() != 4) throw py::value_error(where + " must be (x, y, width, height), got " + std::to_string(v.size()) + " numbers");
    fer::Face f;
    f.box = {v[0], v[1], v[2], v[3]};
    faces.push_back(f);
  }
  return faces;
}

}  // namespace

PYBIND11_MODULE(_fer, m) {
  m.doc() = "libfer: real-time facial expression recognition";
  static py::exception<fer::Error> error(m, "Error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fer::Error& e) {
      py::object type = py::reinterpret_borrow<py::object>(error.ptr());
      py::object err = type(text(std::string(fer::status_name(e.status())) + ": " + e.what()));
      err.attr("status") = fer::status_name(e.status());
      PyErr_SetObject(error.ptr(), err.ptr());
    }
  });
  m.attr("__version__") = fer::version();

  py::class_<fer::FaceResult>(m, "FaceResult")
      .def_property_readonly("box", [](const fer::FaceResult& r) {
        return py::make_tuple(r.face.box.x, r.face.box.y, r.face.box.width, r.face.box.height);
      }, "(x, y, width, height) in image pixels")
      .def_property_readonly("score", [](const fer::FaceResult& r) { return r.face.score; })
      .def_readonly("label", &fer::FaceResult::label)
      .def_readonly("label_index", &fer::FaceResult::label_index)
      .def_property_readonly("probabilities", [](const fer::FaceResult& r) { return to_numpy(r.probabilities); })
      .def_property_readonly("features", [](const fer::FaceResult& r) { return to_numpy(r.features); })
      .def_property_readonly("landmarks", [](const fer::FaceResult& r) { return landmarks_to_numpy(r.face.landmarks); },
                             "N x 2 float32 array of landmark points (x, y) in image pixels; 0 x 2 without a landmark model")
      .def_property_readonly("attention", [](const fer::FaceResult& r) { return attention_to_numpy(r.attention); },
                             "H x W float32 attention map over the face crop (top row first), when the pipeline "
                             "was made with return_attention=True and the model has attention (acnn, vit_asf); "
                             "0 x 0 otherwise")
      .def("__repr__", &face_repr);

  py::class_<fer::Model, std::shared_ptr<fer::Model>>(m, "Model")
      .def_static("load", [](const py::object& path, const std::string& precision) {
                    const std::string file = path_string(path);
                    py::gil_scoped_release release;
                    auto m = fer::Model::load(file);
                    m->set_precision(m->resolve_precision(precision));
                    return m;
                  }, py::arg("path"), py::arg("precision") = "fp32",
                  "Loads and validates a .fermodel file. precision: what its recognizer runs in when a "
                  "Pipeline or Stream shares it ('fp32', 'bf16', 'int8' or 'auto', as for Pipeline)")
      .def_property_readonly("precision", [](const fer::Model& m) { return std::string(fer::precision_name(m.precision())); },
                             "the precision the recognizer runs in: 'fp32', 'bf16' or 'int8'")
      .def_property_readonly("info", [](const fer::Model& model) { return info_dict(model.info()); })
      .def_property_readonly("classes", [](const fer::Model& model) { return model.info().classes; })
      .def("save", [](const fer::Model& m, const py::object& path) {
             const std::string file = path_string(path);
             py::gil_scoped_release release;
             m.save(file);
           }, py::arg("path"), "Writes the model file (atomically: the old file stays whole until the new one is)")
      .def("predict", &predict_faces, py::arg("faces"), py::arg("tta") = "auto",
           "Recognizes images that already are faces (FER-2013's 48x48 images, crops of your own): each is "
           "converted to the model's channels and resized to its input, without detection. faces: one uint8 "
           "HxW / HxWx3 (BGR) / HxWx4 (BGRA) image, a sequence of them, or a batch array NxHxWxC or NxHxW "
           "(gray; a 3-D array whose last axis is at most 4 long is one HxWxC image). Returns float32 probabilities in "
           "the model's class order (model.classes): shape (classes,) for one image, (N, classes) for a "
           "sequence. tta: 'auto' (the model's own view, info['view']), 'none', 'center', 'flip' or 'tencrop', "
           "as for Pipeline")
      .def("__repr__", [](const fer::Model& model) {
        return "Model(architecture='" + model.info().architecture + "', classes=" +
               std::to_string(model.info().classes.size()) + ", trained=" + (model.info().trained ? "True" : "False") + ")";
      });

  py::class_<PyPipeline>(m, "Pipeline")
      .def(py::init([](const std::string& detector, const py::object& model, int threads, const std::string& precision,
                       float score_threshold, int min_face_size, bool return_features, const std::string& landmarks,
                       bool return_attention, const std::string& tta) {
             fer::PipelineOptions o = pipeline_options(detector, threads, precision, score_threshold, min_face_size,
                                                       return_features, landmarks, return_attention, tta);
             std::shared_ptr<const fer::Model> shared = model_argument(model, o);
             py::gil_scoped_release release;
             return shared ? std::make_unique<PyPipeline>(o, shared) : std::make_unique<PyPipeline>(o);
           }),
           py::arg("detector") = "auto", py::arg("model") = "", py::arg("threads") = 0, py::arg("precision") = "auto",
           py::arg("score_threshold") = 0.5f, py::arg("min_face_size") = 24, py::arg("return_features") = false,
           py::arg("landmarks") = "auto", py::arg("return_attention") = false, py::arg("tta") = "auto",
           "model: a model file path ('' or None: the default model) or a loaded fer.Model (shared read-only); "
           "tta: the recognizer's test-time view: 'auto' (the model's own view, model.info['view']), 'none' "
           "(the whole face crop), 'center' (its centre crop of 90% of the area, one pass), 'flip' or 'tencrop' "
           "(the mean over 2 or 10 views of each face), as fer eval --tta")
      .def("process", [](PyPipeline& p, const py::array& image) {
             cv::Mat mat = mat_from_array(image);
             return exclusive(p, [&] { return p.process(mat); });
           }, py::arg("image"), "Detects and recognizes every face of a uint8 HxW / HxWx3 (BGR) / HxWx4 (BGRA) image")
      .def("process_with_skipped", [](PyPipeline& p, const py::array& image) {
             cv::Mat mat = mat_from_array(image);
             std::vector<fer::Face> skipped;
             std::vector<fer::FaceResult> results = exclusive(p, [&] { return p.process(mat, skipped); });
             return py::make_tuple(results, box_score_list(skipped));
           }, py::arg("image"),
           "Like process(); returns (faces, skipped): skipped lists ((x, y, w, h), score) of the faces found but "
           "smaller than min_face_size, which are not recognized")
      .def("detect", [](PyPipeline& p, const py::array& image) {
             cv::Mat mat = mat_from_array(image);
             std::vector<fer::Face> skipped;
             std::vector<fer::Face> found = exclusive(p, [&] { return p.detect(mat, skipped); });
             return py::make_tuple(box_score_list(found), box_score_list(skipped));
           }, py::arg("image"),
           "Detects faces without recognizing them (the pipeline's detector): returns (faces, skipped), each a list "
           "of ((x, y, w, h), score) in image pixels, framed as recognize() expects; skipped: faces smaller than "
           "min_face_size")
      .def("recognize", [](PyPipeline& p, const py::array& image, const py::object& boxes) {
             cv::Mat mat = mat_from_array(image);
             std::vector<fer::Face> faces = faces_from_boxes(boxes);
             return exclusive(p, [&] { return p.recognize(mat, faces); });
           }, py::arg("image"), py::arg("boxes"),
           "Recognizes the faces at boxes you found (your own detector, or boxes kept from an earlier frame) "
           "without detecting: boxes is a sequence of (x, y, width, height) in image pixels (or an N x 4 array), "
           "framed as the pipeline's detector frames faces; returns one FaceResult per box, in order, with "
           "score 0 and, with a landmark model, landmarks")
      .def_property_readonly("detector", &fer::Pipeline::detector_name)
      .def_property_readonly("view", &fer::Pipeline::view, "The recognizer's test-time view in use (tta, 'auto' resolved)")
      .def_property_readonly("model", [](const PyPipeline& p) {
        return std::const_pointer_cast<fer::Model>(p.shared_model());
      })
      .def_property_readonly("classes", [](const PyPipeline& p) { return p.model().info().classes; })
      .def_property_readonly(
          "precision", [](const PyPipeline& p) { return std::string(fer::precision_name(p.model().precision())); },
          "The precision the recognizer runs in: 'fp32', 'bf16' or 'int8' ('auto' resolved)");

  m.def("evaluate", [](const py::object& model, const std::string& data, const std::string& format,
                       const std::string& tta, bool per_image, const std::string& split, const std::string& occlusion,
                       uint64_t occlusion_seed, const std::string& precision, bool resize, int threads) {
        std::vector<std::string> paths = model_paths(model);
        py::gil_scoped_release release;
        fer::EvalOptions eo;
        eo.tta = tta;
        eo.occlusion = occlusion;
        eo.occlusion_seed = occlusion_seed;
        eo.precision = precision;
        eo.threads = threads;
        const fer::EvalSet e = fer::load_eval_set(paths, precision, dataset_spec(data, format, split, resize, threads));
        return fer::evaluate(e.members(), e.data, eo).to_json(per_image);
      }, py::arg("model"), py::arg("data"), py::arg("format") = "folder", py::arg("tta") = "auto",
      py::arg("per_image") = false, py::arg("split") = "", py::arg("occlusion") = "none", py::arg("occlusion_seed") = 1,
      py::arg("precision") = "fp32", py::arg("resize") = false, py::arg("threads") = 0,
      "Evaluates a model file (or a list of model files: their ensemble, the mean of their "
      "probabilities) on a labelled dataset; returns the report as a JSON string. "
      "tta: 'auto' (each model's own view), 'none', 'center', 'flip' or 'tencrop'; per_image: also 'correct', one character per image in "
      "dataset order ('1' right, '0' wrong); split: the format's subset (FERPlus: 'train', 'valid', "
      "'test'); occlusion: 'none', 'eye', 'mouth' or 'eye_or_mouth' (seeded per image); precision: "
      "'fp32', 'bf16' or 'int8' (a calibrated model); resize: resize images of another size; threads: "
      "0 = all cores");

  m.def("_teacher_targets", [](const py::object& model, const std::string& data, const std::string& out,
                               const std::string& format, const std::string& split, const std::string& tta,
                               const std::string& precision, bool resize, int threads) {
        std::vector<std::string> paths = model_paths(model);
        py::gil_scoped_release release;
        const fer::DatasetSpec spec = dataset_spec(data, format, split, resize, threads);
        fer::EvalOptions eo;
        eo.tta = tta;
        eo.precision = precision;
        eo.threads = threads;
        const fer::EvalSet e = fer::load_tuning_set(paths, precision, spec, "teacher_targets");
        fer::TeacherTargets t = fer::compute_teacher_targets(e.members(), e.data, eo, e.source);
        fer::save_teacher_targets(t, out);
        return t.provenance;
      }, py::arg("model"), py::arg("data"), py::arg("out"), py::arg("format") = "folder", py::arg("split") = "",
      py::arg("tta") = "auto", py::arg("precision") = "fp32", py::arg("resize") = false, py::arg("threads") = 0);

  m.def("_choose_view", [](const py::object& model, const py::object& data, const py::object& out,
                           const std::string& format, const std::string& split, const std::string& precision,
                           bool resize, int threads) {
        const std::string model_path = path_string(model), data_path = path_string(data), out_path = path_string(out);
        py::gil_scoped_release release;
        const fer::DatasetSpec spec = dataset_spec(data_path, format, split, resize, threads);
        fer::EvalOptions eo;
        eo.precision = precision;
        eo.threads = threads;
        fer::EvalSet e = fer::load_tuning_set({model_path}, precision, spec, "choose_view");
        const fer::ViewChoice c = fer::choose_view(*e.models.front(), e.data, eo, e.source);
        e.models.front()->save(out_path);
        return std::make_pair(c.view, c.accuracy);
      }, py::arg("model"), py::arg("data"), py::arg("out"), py::arg("format") = "folder", py::arg("split") = "",
      py::arg("precision") = "fp32", py::arg("resize") = false, py::arg("threads") = 0);

  m.def("quantize", [](const py::object& model_arg, const py::object& data_arg, const py::object& out_arg,
                       const std::string& format, const std::string& split, int images, uint64_t seed, bool resize,
                       int threads) {
        const std::string model_path = path_string(model_arg), data = path_string(data_arg), out = path_string(out_arg);
        py::gil_scoped_release release;
        const fer::DatasetSpec spec = dataset_spec(data, format, split, resize, threads);
        fer::CalibrationOptions co;
        co.images = images;
        co.seed = seed;
        co.threads = threads;
        fer::quantize_file(model_path, spec, out, co, "quantize");
      }, py::arg("model"), py::arg("data"), py::arg("out"), py::arg("format") = "folder", py::arg("split") = "",
      py::arg("images") = 2000, py::arg("seed") = 0, py::arg("resize") = false, py::arg("threads") = 0,
      "Calibrates a model file for int8 inference on `images` images drawn from a labelled dataset (training "
      "images; a test split raises fer.Error, status invalid_argument) and writes the calibrated copy to `out` (as `fer quantize`)");

  py::class_<PyTrackedFace>(m, "TrackedFace", "One face on one frame of a Stream")
      .def_property_readonly("track_id", [](const PyTrackedFace& t) { return t.face.track_id; },
                             "stable while the face is tracked; never reused within a stream")
      .def_property_readonly("box", [](const PyTrackedFace& t) {
        const cv::Rect2f& b = t.face.result.face.box;
        return py::make_tuple(b.x, b.y, b.width, b.height);
      }, "(x, y, width, height) in image pixels (tracked box)")
      .def_property_readonly("score", [](const PyTrackedFace& t) { return t.face.result.face.score; })
      .def_property_readonly("label", [](const PyTrackedFace& t) { return t.face.result.label; },
                             "this frame's raw label")
      .def_property_readonly("label_index", [](const PyTrackedFace& t) { return t.face.result.label_index; })
      .def_property_readonly("smoothed_label", [](const PyTrackedFace& t) { return t.face.smoothed_label; },
                             "label to show: smoothed over time, with hysteresis")
      .def_property_readonly("smoothed_label_index", [](const PyTrackedFace& t) { return t.face.smoothed_label_index; })
      .def_property_readonly("probabilities", [](const PyTrackedFace& t) { return by_class(t.face.smoothed, *t.classes); },
                             "{class name: smoothed probability}")
      .def_property_readonly("raw_probabilities", [](const PyTrackedFace& t) {
        return by_class(t.face.result.probabilities, *t.classes);
      }, "{class name: this frame's probability}")
      .def_property_readonly("smoothed_array", [](const PyTrackedFace& t) { return to_numpy(t.face.smoothed); },
                             "smoothed probabilities as a numpy array in the model's class order")
      .def_property_readonly("raw_array", [](const PyTrackedFace& t) { return to_numpy(t.face.result.probabilities); },
                             "this frame's probabilities as a numpy array in the model's class order")
      .def_property_readonly("features", [](const PyTrackedFace& t) { return to_numpy(t.face.result.features); })
      .def_property_readonly("landmarks", [](const PyTrackedFace& t) { return landmarks_to_numpy(t.face.result.face.landmarks); },
                             "N x 2 float32 array of landmark points (x, y) in image pixels; 0 x 2 without a landmark model")
      .def_property_readonly("attention", [](const PyTrackedFace& t) { return attention_to_numpy(t.face.result.attention); },
                             "H x W float32 attention map over the face crop (see FaceResult.attention); 0 x 0 without one")
      .def_property_readonly("detected", [](const PyTrackedFace& t) { return t.face.detected; },
                             "the box comes from a detection on this frame (else predicted)")
      .def_property_readonly("confidence", [](const PyTrackedFace& t) { return t.face.confidence; },
                             "tracking confidence in [0, 1]")
      .def_property_readonly("age_seconds", [](const PyTrackedFace& t) { return t.face.age_seconds; })
      .def_property_readonly("frames_tracked", [](const PyTrackedFace& t) { return t.face.frames_tracked; })
      .def_property_readonly("frames_missed", [](const PyTrackedFace& t) { return t.face.frames_missed; })
      .def("__repr__", &tracked_repr);

  py::class_<PyStream>(m, "Stream", "Tracks and recognizes faces across the frames of one video (calls from "
                                    "several threads run one at a time)")
      .def(py::init([](const std::string& detector, py::object model, int threads, const std::string& precision,
                       float score_threshold, int min_face_size, bool return_features, int detect_every,
                       double smoothing_seconds, float label_margin, double max_missed_seconds, float iou_threshold,
                       float min_track_confidence, float min_visible_fraction, int redetect_every,
                       const std::string& landmarks, bool return_attention, const std::string& tta) {
             fer::PipelineOptions o = pipeline_options(detector, threads, precision, score_threshold, min_face_size,
                                                       return_features, landmarks, return_attention, tta);
             fer::StreamOptions so;
             so.detect_every = detect_every;
             so.smoothing_seconds = smoothing_seconds;
             so.label_margin = label_margin;
             so.max_missed_seconds = max_missed_seconds;
             so.iou_threshold = iou_threshold;
             so.min_track_confidence = min_track_confidence;
             so.min_visible_fraction = min_visible_fraction;
             so.redetect_every = redetect_every;
             std::shared_ptr<const fer::Model> shared = model_argument(model, o);
             py::gil_scoped_release release;
             return shared ? std::make_unique<PyStream>(o, shared, so) : std::make_unique<PyStream>(o, so);
           }),
           py::arg("detector") = "auto", py::arg("model") = py::none(), py::arg("threads") = 0,
           py::arg("precision") = "auto", py::arg("score_threshold") = 0.5f, py::arg("min_face_size") = 24,
           py::arg("return_features") = false, py::arg("detect_every") = 5, py::arg("smoothing_seconds") = 0.3,
           py::arg("label_margin") = 0.1f, py::arg("max_missed_seconds") = 1.0, py::arg("iou_threshold") = 0.3f,
           py::arg("min_track_confidence") = 0.5f, py::arg("min_visible_fraction") = 0.5f,
           py::arg("redetect_every") = 2, py::arg("landmarks") = "auto", py::arg("return_attention") = false,
           py::arg("tta") = "auto",
           "model: a model file path, a loaded fer.Model (shared read-only), or None for the default model; "
           "tta as for Pipeline")
      .def("push", [](PyStream& s, const py::array& image, double timestamp) {
             return push_frame(s, image, timestamp).first;
           }, py::arg("image"), py::arg("timestamp"),
           "Processes the next frame (uint8 HxW / HxWx3 BGR / HxWx4 BGRA) at `timestamp` seconds (never "
           "earlier than the previous frame's); returns the tracked faces ordered by track id")
      .def("push_with_skipped", [](PyStream& s, const py::array& image, double timestamp) {
             auto [faces, skipped] = push_frame(s, image, timestamp);
             return py::make_tuple(faces, skipped);
           }, py::arg("image"), py::arg("timestamp"),
           "Like push(); returns (faces, skipped): skipped lists ((x, y, w, h), score) of the faces the detector "
           "found on this frame but smaller than min_face_size, which are neither tracked nor recognized")
      .def("reset", [](PyStream& s) { exclusive(s, [&] { s.reset(); }); },
           "Forgets every track (e.g. after a scene cut); ids keep counting up")
      .def_property_readonly("frame_count", [](PyStream& s) { return exclusive(s, [&] { return s.frame_count(); }); })
      .def_property_readonly("classes", [](const PyStream& s) { return s.pipeline().model().info().classes; })
      .def_property_readonly("detector", [](const PyStream& s) { return s.pipeline().detector_name(); })
      .def_property_readonly("view", [](const PyStream& s) { return s.pipeline().view(); },
                             "The recognizer's test-time view in use (tta, 'auto' resolved)")
      .def_property_readonly("model", [](const PyStream& s) {
        return std::const_pointer_cast<fer::Model>(s.pipeline().shared_model());
      })
      .def("__repr__", [](PyStream& s) {
        int64_t frames = exclusive(s, [&] { return s.frame_count(); });
        return "Stream(detector='" + s.pipeline().detector_name() + "', frames=" + std::to_string(frames) + ")";
      });

  py::class_<fer::VideoFrame>(m, "VideoFrame")
      .def_property_readonly("image", [](const fer::VideoFrame& f) { return mat_to_numpy(f.image); },
                             "uint8 HxWx3 BGR (no copy)")
      .def_readonly("timestamp", &fer::VideoFrame::timestamp)
      .def_readonly("index", &fer::VideoFrame::index)
      .def("__repr__", [](const fer::VideoFrame& f) {
        std::ostringstream os;
        os << "VideoFrame(index=" << f.index << ", timestamp=" << f.timestamp << ", size=" << f.image.cols << "x"
           << f.image.rows << ")";
        return os.str();
      });

  py::class_<PyVideoSource>(m, "VideoSource", "Frames of a video file, an image sequence or a camera; iterable")
      .def(py::init([](const py::object& path, double fps) {
             const std::string file = path_string(path);
             py::gil_scoped_release release;
             return std::make_unique<PyVideoSource>(file, fps);
           }), py::arg("path"), py::arg("fps") = 0.0,
           "Opens a video file or an image-sequence pattern ('frames/img_%04d.png'); fps > 0 overrides the "
           "frame rate used for timestamps")
      .def_static("camera", [](int index) {
        py::gil_scoped_release release;
        return std::make_unique<PyVideoSource>(fer::VideoSource::camera(index));
      }, py::arg("index") = 0)
      .def("read", [](PyVideoSource& v) -> py::object {
        auto f = std::make_unique<fer::VideoFrame>();
        if (!exclusive(v, [&] { return v.read(*f); })) return py::none();
        return py::cast(std::move(f));
      }, "The next VideoFrame, or None at the end")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", [](PyVideoSource& v) {
        auto f = std::make_unique<fer::VideoFrame>();
        if (!exclusive(v, [&] { return v.read(*f); })) throw py::stop_iteration();
        return f;
      })
      .def_property_readonly("fps", &fer::VideoSource::fps)
      .def_property_readonly("frame_size", [](PyVideoSource& v) {
        cv::Size s = exclusive(v, [&] { return v.frame_size(); });  // asks the decoder: not while another thread reads
        return py::make_tuple(s.width, s.height);
      }, "(width, height)")
      .def_property_readonly("frame_count", [](PyVideoSource& v) { return exclusive(v, [&] { return v.frame_count(); }); },
                             "-1 when unknown")
      .def_property_readonly("is_live", &fer::VideoSource::is_live)
      .def_property_readonly("description", [](const PyVideoSource& v) { return text(v.description()); })
      .def("__repr__", [](const PyVideoSource& v) { return text("VideoSource('" + v.description() + "')"); });

  m.def("draw", [](py::array image, py::list faces, std::vector<std::string> classes, bool probability_bars,
                   double font_scale) {
        cv::Mat mat = writable_mat_from_array(image);
        std::vector<fer::FaceResult> plain;
        std::vector<fer::TrackedFace> tracked;
        for (py::handle h : faces) {
          if (py::isinstance<fer::FaceResult>(h)) plain.push_back(py::cast<fer::FaceResult>(h));
          else if (py::isinstance<PyTrackedFace>(h)) {
            const auto& t = py::cast<const PyTrackedFace&>(h);
            tracked.push_back(t.face);
            if (classes.empty()) classes = *t.classes;
          } else {
            throw py::type_error("fer.draw: faces must be FaceResult or TrackedFace objects, got " +
                                 std::string(py::str(py::type::of(h))));
          }
        }
        if (!plain.empty() && !tracked.empty())
          throw py::value_error("fer.draw: pass either FaceResult objects (Pipeline) or TrackedFace objects "
                                "(Stream), not both");
        {
          py::gil_scoped_release release;
          if (!tracked.empty()) {
            fer::OverlayOptions o;
            o.class_names = classes;
            o.probability_bars = probability_bars;
            o.font_scale = font_scale;
            fer::draw_overlay(mat, tracked, o);
          } else {
            fer::DrawOptions o;
            o.class_names = classes;
            o.probability_bars = probability_bars;
            o.font_scale = font_scale;
            fer::draw_results(mat, plain, o);
          }
        }
        return image;
      }, py::arg("image"), py::arg("faces"), py::arg("classes") = std::vector<std::string>{},
      py::arg("probability_bars") = true, py::arg("font_scale") = 0.0,
      "Draws faces (from Pipeline.process or Stream.push) on a writeable uint8 image, in place; returns the image");

  m.def("_train", [](py::dict kw, py::object on_epoch) {
        fer::TrainOptions o = train_options_from(kw);
        // Ctrl-C (or an exception from on_epoch) stops training after the current step.
        if (!on_epoch.is_none() && !PyCallable_Check(on_epoch.ptr()))
          throw py::type_error("fer.train(): on_epoch must be callable or None");
        std::atomic<bool> stop{false};
        o.stop = &stop;
        std::exception_ptr callback_error;
        std::function<void(const fer::EpochReport&)> cb = [&](const fer::EpochReport& e) {
          py::gil_scoped_acquire acquire;
          if (PyErr_CheckSignals() != 0) {
            callback_error = std::make_exception_ptr(py::error_already_set());
            stop = true;
            return;
          }
          if (on_epoch.is_none() || callback_error) return;
          try {
            on_epoch(epoch_dict(e));
          } catch (py::error_already_set&) {
            callback_error = std::current_exception();
            stop = true;
          }
        };
        // Training runs on a thread of its own while this one, the caller's,
        // looks for Ctrl-C every 100 ms: Python only sees signals on the main
        // thread, and an epoch can take minutes.
        fer::TrainResult r;
        std::exception_ptr train_error;
        {
          std::mutex m;
          std::condition_variable cv;
          bool done = false;
          py::gil_scoped_release release;
          std::thread worker([&] {
            try {
              r = fer::train(o, cb);
            } catch (...) {
              train_error = std::current_exception();
            }
            std::lock_guard<std::mutex> lock(m);
            done = true;
            cv.notify_all();
          });
          std::unique_lock<std::mutex> lock(m);
          while (!cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return done; })) {
            lock.unlock();
            {
              py::gil_scoped_acquire acquire;  // callback_error is only touched under the GIL
              if (PyErr_CheckSignals() != 0) {
                if (!callback_error) callback_error = std::make_exception_ptr(py::error_already_set());
                else PyErr_Clear();
                stop = true;
              }
            }
            lock.lock();
          }
          lock.unlock();
          worker.join();
        }
        if (train_error) {
          try {
            std::rethrow_exception(train_error);
          } catch (const fer::Error& e) {
            if (callback_error && e.status() == fer::Status::Cancelled) std::rethrow_exception(callback_error);
            throw;
          }
        }
        if (callback_error) std::rethrow_exception(callback_error);
        py::dict out;
        out["model"] = r.best;
        out["best_epoch"] = r.best_epoch;
        out["best_path"] = text(r.best_path);
        py::list history;
        for (const auto& e : r.history) history.append(epoch_dict(e));
        out["history"] = history;
        return out;
      }, py::arg("options"), py::arg("on_epoch") = py::none());

  m.def("models", [] {
        py::dict d;
        d["detectors"] = fer::detector_registry().names();
        d["extractors"] = fer::extractor_registry().names();
        d["classifiers"] = fer::classifier_registry().names();
        d["landmarks"] = fer::landmark_registry().names();
        d["default_model"] = text(fer::default_model_path());
        return d;
      }, "Registered components by kind, and the default model file ('' when none)");

  m.def("set_num_threads", &fer::set_num_threads, py::arg("n"));
  m.def("version", &fer::version);
}
