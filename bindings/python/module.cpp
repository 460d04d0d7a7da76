// The Python module `fer` (extension part `fer._fer`): pipeline, models and
// results over the C++ API. numpy uint8 images in, zero-copy; GIL released
// during inference and training.
#include <fer/fer.hpp>
#include <fer/train.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sstream>

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
  if (any.strides(0) <= 0 || any.strides(1) != c || (any.ndim() == 3 && any.strides(2) != 1) ||
      any.strides(0) < w * c)
    throw py::value_error("image pixels must be packed within rows (row stride may be larger); "
                          "pass numpy.ascontiguousarray(image)");
  int type = c == 1 ? CV_8UC1 : c == 3 ? CV_8UC3 : CV_8UC4;
  return cv::Mat(int(h), int(w), type, const_cast<void*>(any.data()), size_t(any.strides(0)));
}

py::array_t<float> to_numpy(const std::vector<float>& v) {
  py::array_t<float> a(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
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

py::dict info_dict(const fer::ModelInfo& i) {
  py::dict d;
  d["architecture"] = i.architecture;
  d["architecture_config"] = i.architecture_config.values();
  d["head"] = i.head;
  d["input_size"] = py::make_tuple(i.input.width, i.input.height);
  d["channels"] = i.input.channels;
  d["classes"] = i.classes;
  d["trained"] = i.trained;
  d["storage"] = i.storage;
  d["provenance"] = i.provenance;
  d["metrics"] = i.metrics;
  return d;
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
      py::object err = type(std::string(fer::status_name(e.status())) + ": " + e.what());
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
      .def("__repr__", &face_repr);

  py::class_<fer::Model, std::shared_ptr<fer::Model>>(m, "Model")
      .def_static("load", &fer::Model::load, py::arg("path"), py::call_guard<py::gil_scoped_release>(),
                  "Loads and validates a .fermodel file")
      .def_property_readonly("info", [](const fer::Model& model) { return info_dict(model.info()); })
      .def_property_readonly("classes", [](const fer::Model& model) { return model.info().classes; })
      .def("save", &fer::Model::save, py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def("__repr__", [](const fer::Model& model) {
        return "Model(architecture='" + model.info().architecture + "', classes=" +
               std::to_string(model.info().classes.size()) + ", trained=" + (model.info().trained ? "True" : "False") + ")";
      });

  py::class_<fer::Pipeline>(m, "Pipeline")
      .def(py::init([](const std::string& detector, const std::string& model, int threads, const std::string& precision,
                       float score_threshold, int min_face_size, bool return_features) {
             fer::PipelineOptions o;
             o.detector = detector;
             o.model_path = model;
             o.threads = threads;
             o.precision = precision;
             o.score_threshold = score_threshold;
             o.min_face_size = min_face_size;
             o.return_features = return_features;
             py::gil_scoped_release release;
             return std::make_unique<fer::Pipeline>(o);
           }),
           py::arg("detector") = "haar", py::arg("model") = "", py::arg("threads") = 0, py::arg("precision") = "auto",
           py::arg("score_threshold") = 0.5f, py::arg("min_face_size") = 24, py::arg("return_features") = false)
      .def("process", [](fer::Pipeline& p, const py::array& image) {
             cv::Mat mat = mat_from_array(image);
             py::gil_scoped_release release;
             return p.process(mat);
           }, py::arg("image"), "Detects and recognizes every face of a uint8 HxW / HxWx3 (BGR) / HxWx4 (BGRA) image")
      .def_property_readonly("detector", &fer::Pipeline::detector_name)
      .def_property_readonly("model", [](const fer::Pipeline& p) {
        return std::const_pointer_cast<fer::Model>(p.shared_model());
      })
      .def_property_readonly("classes", [](const fer::Pipeline& p) { return p.model().info().classes; });

  m.def("evaluate", [](const std::string& model_path, const std::string& data, const std::string& format,
                       const std::string& tta) {
        py::gil_scoped_release release;
        auto model = fer::Model::load(model_path);
        fer::DatasetSpec spec;
        spec.path = data;
        spec.format = format;
        spec.width = model->info().input.width;
        spec.height = model->info().input.height;
        spec.channels = model->info().input.channels;
        fer::EvalOptions eo;
        eo.tta = tta;
        return fer::evaluate(*model, fer::read_dataset(spec), eo).to_json();
      }, py::arg("model"), py::arg("data"), py::arg("format") = "folder", py::arg("tta") = "none",
      "Evaluates a model file on a labelled dataset; returns the report as a JSON string");

  m.def("set_num_threads", &fer::set_num_threads, py::arg("n"));
  m.def("version", &fer::version);
}
