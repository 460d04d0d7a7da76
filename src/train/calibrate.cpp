// Int8 calibration on a dataset: draws images, prepares them as the pipeline
// does (Model::prepare), and measures the activation ranges (Model::calibrate).
#include <fer/error.hpp>
#include <fer/threads.hpp>
#include <fer/train.hpp>

#include <algorithm>
#include <numeric>
#include <random>

namespace fer {

void calibrate(Model& model, const Dataset& data, const CalibrationOptions& options) {
  data.validate();
  if (data.size() == 0) throw Error(Status::InvalidArgument, "cannot calibrate on an empty dataset");
  if (options.images < 1) throw Error(Status::InvalidArgument, "calibration needs at least one image");
  if (options.batch_size < 1) throw Error(Status::InvalidArgument, "calibration batch size must be positive");
  if (!model.extractor().supports_int8())
    throw Error(Status::Unsupported, "architecture '" + model.info().architecture + "' has no int8 path");
  set_num_threads(options.threads);
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937_64 rng{options.seed};
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min(order.size(), size_t(options.images)));
  const int type = CV_8UC(data.channels);
  std::vector<cv::Mat> inputs;
  inputs.reserve(order.size());
  for (size_t i : order)
    inputs.push_back(model.prepare(cv::Mat(data.height, data.width, type, const_cast<uint8_t*>(data.image(i)))));
  model.calibrate(inputs, options.batch_size);
  model.info().provenance["int8_calibration"] =
      std::to_string(inputs.size()) + " images drawn with seed " + std::to_string(options.seed) + " from " +
      (options.source.empty() ? "a dataset of " + std::to_string(data.size()) + " images" : options.source);
}

namespace {

// calibrate() on a spec whose split has been checked.
void calibrate_checked(Model& model, DatasetSpec spec, CalibrationOptions options) {
  if (spec.threads == 0) spec.threads = options.threads;
  if (options.source.empty())
    options.source = spec.path + " (" + spec.format + (spec.split.empty() ? "" : ", split " + spec.split) + ")";
  calibrate(model, read_dataset_for(model, std::move(spec)), options);
}

}  // namespace

void calibrate(Model& model, DatasetSpec spec, CalibrationOptions options) {
  refuse_test_split(spec, "int8 calibration");
  calibrate_checked(model, std::move(spec), std::move(options));
}

ModelInfo quantize_file(const std::string& model_path, const DatasetSpec& spec, const std::string& out_path,
                        const CalibrationOptions& options, const std::string& purpose) {
  refuse_test_split(spec, purpose);  // before the model is read
  auto model = Model::load(model_path);
  calibrate_checked(*model, spec, options);
  model->save(out_path);
  return model->info();
}

}  // namespace fer
