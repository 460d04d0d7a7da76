// Every model file in models/ loads, passes its metadata checks, reproduces the
// outputs recorded for it (tests/data/shipped_models.txt), and the default
// model's FER-2013 validation accuracy matches its provenance when the data is here.
#include "shipped_inputs.hpp"
#include "support.hpp"

#include <fer/train.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace {

std::map<std::string, std::vector<std::vector<float>>> recorded_outputs() {
  std::ifstream in(std::string(FER_TEST_DATA_DIR) + "/shipped_models.txt");
  std::map<std::string, std::vector<std::vector<float>>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name;
    size_t index;
    ls >> name >> index;
    std::vector<float> probs;
    for (float p; ls >> p;) probs.push_back(p);
    out[name].push_back(probs);
  }
  return out;
}

std::vector<fs::path> shipped_models() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(FER_TEST_MODELS_DIR))
    if (e.path().extension() == ".fermodel") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// FER-2013 val: $FER_DATA_DIR/fer2013/val, /tmp/ferdata/fer2013/val, or unpacked
// here from ../shared/data/fer2013.tar.gz. Empty when none is available.
std::string fer2013_val() {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("FER_DATA_DIR")) roots.push_back(env);
  roots.push_back("/tmp/ferdata");
  roots.push_back(std::string(FER_TEST_TMP_DIR) + "/ferdata");
  for (const auto& r : roots)
    if (fs::exists(r + "/fer2013/val/happy")) return r + "/fer2013/val";
  fs::path tarball = fs::path(FER_TEST_SOURCE_DIR) / "../shared/data/fer2013.tar.gz";
  if (!fs::exists(tarball)) return {};
  std::string dest = std::string(FER_TEST_TMP_DIR) + "/ferdata";
  fs::create_directories(dest);
  std::string cmd = "tar -xzf '" + tarball.string() + "' -C '" + dest + "' fer2013/val";
  if (std::system(cmd.c_str()) != 0) return {};
  return dest + "/fer2013/val";
}

}  // namespace

TEST_CASE("shipped models load, are trained, and reproduce their recorded outputs") {
  auto recorded = recorded_outputs();
  auto models = shipped_models();
  if (models.empty()) {
    MESSAGE("no model files in models/ yet");
    CHECK(recorded.empty());
    return;
  }
  fer::set_num_threads(1);
  for (const auto& path : models) {
    CAPTURE(path.string());
    auto model = fer::Model::load(path.string());
    const auto& info = model->info();
    CHECK(info.trained);
    CHECK(info.provenance.count("command") == 1);
    CHECK(info.provenance.count("dataset") == 1);
    CHECK(info.metrics.count("val_accuracy") == 1);
    // Saving reproduces the file byte for byte.
    std::ifstream f(path, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(model->to_bytes() == bytes);
    // Outputs on the fixed inputs match the recorded ones (tolerance 1e-4 absolute).
    std::string name = path.filename().string();
    REQUIRE_MESSAGE(recorded.count(name) == 1, "no recorded outputs for " << name
                                                  << "; run build/tests/fer_record_outputs on it");
    auto preds = model->predict(fer_test::shipped_model_inputs(*model));
    REQUIRE(preds.size() == recorded[name].size());
    for (size_t i = 0; i < preds.size(); ++i) {
      REQUIRE(preds[i].probabilities.size() == recorded[name][i].size());
      for (size_t k = 0; k < preds[i].probabilities.size(); ++k)
        CHECK(std::abs(preds[i].probabilities[k] - recorded[name][i][k]) <= 1e-4);
    }
    // A model calibrated for int8 (fer quantize) stays within 0.1 of the
    // recorded fp32 probabilities on the same inputs. These synthetic inputs
    // are far from faces, so activations leave the calibrated ranges (measured
    // 0.017 for the default model, 0.047 for the ResNet); the accuracy test
    // below is the check on real faces.
    if (!info.activation_ranges.empty()) {
      auto q = fer::Model::load(path.string());
      REQUIRE(q->extractor().supports_int8());
      q->set_precision(fer::Precision::Int8);
      auto qp = q->predict(fer_test::shipped_model_inputs(*q));
      double worst = 0;
      for (size_t i = 0; i < qp.size(); ++i)
        for (size_t k = 0; k < qp[i].probabilities.size(); ++k)
          worst = std::max(worst, double(std::abs(qp[i].probabilities[k] - recorded[name][i][k])));
      MESSAGE(name << ": int8 largest probability difference from the recorded fp32 outputs " << worst);
      CHECK(worst <= 0.1);
    }
  }
}

TEST_CASE("shipped default model: FER-2013 val accuracy matches its provenance within 0.5 points") {
  fs::path path = fs::path(FER_TEST_MODELS_DIR) / "default.fermodel";
  if (!fs::exists(path)) {
    MESSAGE("SKIPPED: no models/default.fermodel");
    return;
  }
  std::string val = fer2013_val();
  if (val.empty()) {
    MESSAGE("SKIPPED: FER-2013 not found ($FER_DATA_DIR, /tmp/ferdata or ../shared/data)");
    return;
  }
  auto model = fer::Model::load(path.string());
  if (model->info().provenance.at("format") != "folder" ||
      model->info().provenance.at("val_data").find("fer2013/val") == std::string::npos) {
    MESSAGE("SKIPPED: the default model was not selected on FER-2013 val");
    return;
  }
  fer::DatasetSpec spec;
  spec.path = val;
  spec.width = model->info().input.width;
  spec.height = model->info().input.height;
  spec.channels = model->info().input.channels;
  fer::EvalOptions eo;
  eo.precision = model->info().provenance.count("precision") ? model->info().provenance.at("precision") : "fp32";
  eo.threads = 2;
  fer::EvalReport r = fer::evaluate(*model, fer::read_dataset(spec), eo);
  double recorded = model->info().metrics.at("val_accuracy");
  MESSAGE("FER-2013 val accuracy " << r.accuracy << " (" << eo.precision << "), provenance " << recorded);
  CHECK(std::abs(r.accuracy - recorded) <= 0.005);
}

// The inference fast paths (Model::set_precision: bf16 with bf16-stored weights,
// channels-last; int8 for calibrated models) against fp32, through Model::prepare + Model::predict as the
// pipeline runs them, on FER-2013 val: accuracy within 0.5 points.
TEST_CASE("shipped models: the bf16 and int8 inference paths keep FER-2013 val accuracy within 0.5 points of fp32") {
  std::string val = fer2013_val();
  if (val.empty()) {
    MESSAGE("SKIPPED: FER-2013 not found ($FER_DATA_DIR, /tmp/ferdata or ../shared/data)");
    return;
  }
  fer::set_num_threads(2);
  for (const auto& entry : fs::directory_iterator(FER_TEST_MODELS_DIR)) {
    if (entry.path().extension() != ".fermodel") continue;
    CAPTURE(entry.path().filename().string());
    auto model = std::const_pointer_cast<fer::Model>(fer::Model::load(entry.path().string()));
    fer::DatasetSpec spec;
    spec.path = val;
    spec.width = model->info().input.width;
    spec.height = model->info().input.height;
    spec.channels = model->info().input.channels;
    const fer::Dataset data = fer::read_dataset(spec);
    std::vector<int64_t> to_model;  // dataset class -> model class, by canonical expression name
    for (const std::string& c : data.classes) {
      int64_t found = -1;
      for (size_t m = 0; m < model->info().classes.size(); ++m)
        if (fer::parse_expression(model->info().classes[m]) == fer::parse_expression(c)) found = int64_t(m);
      REQUIRE(found >= 0);
      to_model.push_back(found);
    }
    auto accuracy = [&](fer::Precision p) {
      model->set_precision(p);
      size_t correct = 0;
      const int type = data.channels == 1 ? CV_8UC1 : CV_8UC3;
      for (size_t start = 0; start < data.size(); start += 64) {
        std::vector<cv::Mat> crops;
        for (size_t i = start; i < std::min(data.size(), start + 64); ++i)
          crops.push_back(model->prepare(
              cv::Mat(data.height, data.width, type, const_cast<uint8_t*>(data.image(i)))));
        auto results = model->predict(crops, false, false);
        for (size_t k = 0; k < results.size(); ++k) {
          const auto& p = results[k].probabilities;
          const auto best = std::max_element(p.begin(), p.end()) - p.begin();
          correct += best == to_model[size_t(data.labels[start + k])];
        }
      }
      return double(correct) / double(data.size());
    };
    const double fp32 = accuracy(fer::Precision::Float32), bf16 = accuracy(fer::Precision::BFloat16);
    MESSAGE("FER-2013 val through Model::predict: fp32 " << fp32 << ", bf16 " << bf16);
    CHECK(std::abs(fp32 - bf16) <= 0.005);
    CHECK(fp32 > 0.6);
    if (!model->info().activation_ranges.empty()) {  // calibrated by fer quantize: int8 too
      const double int8 = accuracy(fer::Precision::Int8);
      MESSAGE("FER-2013 val through Model::predict: int8 " << int8);
      CHECK(std::abs(fp32 - int8) <= 0.005);
    }
  }
  fer::set_num_threads(0);
}
