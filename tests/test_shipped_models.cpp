// Every model file in models/ loads, passes its metadata checks, reproduces the
// outputs recorded for it (tests/data/shipped_models.txt), and, when the data
// is here, its accuracy on the validation split it was selected on (FER-2013
// val or FERPlus valid) matches its provenance, in every inference precision.
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

// The data root holding `member` (fer2013/val or ferplus/FER2013Valid):
// $FER_DATA_DIR, /tmp/ferdata, or unpacked here from ../shared/data/<archive>.
// Empty when none is available.
std::string data_root(const std::string& member, const std::string& archive) {
  std::vector<std::string> roots;
  if (const char* env = std::getenv("FER_DATA_DIR")) roots.push_back(env);
  roots.push_back("/tmp/ferdata");
  roots.push_back(std::string(FER_TEST_TMP_DIR) + "/ferdata");
  for (const auto& r : roots)
    if (fs::exists(r + "/" + member)) return r;
  fs::path tarball = fs::path(FER_TEST_SOURCE_DIR) / "../shared/data" / archive;
  if (!fs::exists(tarball)) return {};
  std::string dest = std::string(FER_TEST_TMP_DIR) + "/ferdata";
  fs::create_directories(dest);
  std::string cmd = "tar -xzf '" + tarball.string() + "' -C '" + dest + "' '" + member + "'";
  if (std::system(cmd.c_str()) != 0) return {};
  return fs::exists(dest + "/" + member) ? dest : std::string();
}

// The validation split a shipped model was selected on, by its provenance:
// FERPlus's FER2013Valid (8 classes, majority vote) for models trained on
// FERPlus, else FER-2013 val. `found` is false when the data is not here.
struct ValSplit {
  fer::DatasetSpec spec;
  std::string name;
  double floor = 0;  // an accuracy any trained model of ours beats there
  bool found = false;
};

ValSplit validation_split(const fer::Model& model) {
  ValSplit v;
  const auto& info = model.info();
  const auto format = info.provenance.find("format");
  const bool ferplus = format != info.provenance.end() && format->second == "ferplus";
  const std::string root =
      ferplus ? data_root("ferplus/FER2013Valid", "ferplus.tar.gz") : data_root("fer2013/val", "fer2013.tar.gz");
  v.found = !root.empty();
  v.name = ferplus ? "FERPlus valid" : "FER-2013 val";
  v.floor = ferplus ? 0.8 : 0.6;
  v.spec.path = ferplus ? root + "/ferplus" : root + "/fer2013/val";
  v.spec.format = ferplus ? "ferplus" : "folder";
  v.spec.split = ferplus ? "valid" : "";
  v.spec.width = info.input.width;
  v.spec.height = info.input.height;
  v.spec.channels = info.input.channels;
  return v;
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
    // In the plain view: these outputs check the weights (the model's own view is checked on val below).
    auto preds = model->predict(fer_test::shipped_model_inputs(*model), false, false, "none");
    REQUIRE(preds.size() == recorded[name].size());
    for (size_t i = 0; i < preds.size(); ++i) {
      REQUIRE(preds[i].probabilities.size() == recorded[name][i].size());
      for (size_t k = 0; k < preds[i].probabilities.size(); ++k)
        CHECK(std::abs(preds[i].probabilities[k] - recorded[name][i][k]) <= 1e-4);
    }
    // A model calibrated for int8 (fer quantize) stays within 0.1 of the
    // recorded fp32 probabilities on the same inputs. These synthetic inputs
    // are far from faces, so activations leave the calibrated ranges (measured
    // 0.017 for the small_cnn default of 2026-11-29, 0.047 for the ResNet); the accuracy test
    // below is the check on real faces.
    if (!info.activation_ranges.empty()) {
      auto q = fer::Model::load(path.string());
      REQUIRE(q->extractor().supports_int8());
      q->set_precision(fer::Precision::Int8);
      auto qp = q->predict(fer_test::shipped_model_inputs(*q), false, false, "none");
      double worst = 0;
      for (size_t i = 0; i < qp.size(); ++i)
        for (size_t k = 0; k < qp[i].probabilities.size(); ++k)
          worst = std::max(worst, double(std::abs(qp[i].probabilities[k] - recorded[name][i][k])));
      MESSAGE(name << ": int8 largest probability difference from the recorded fp32 outputs " << worst);
      CHECK(worst <= 0.1);
    }
  }
}

TEST_CASE("shipped models: the validation accuracy matches the provenance within 0.5 points") {
  // The issue asks it of the default model; every shipped model is held to it.
  REQUIRE(fs::exists(fs::path(FER_TEST_MODELS_DIR) / "default.fermodel"));
  for (const auto& path : shipped_models()) {
    CAPTURE(path.filename().string());
    auto model = fer::Model::load(path.string());
    ValSplit val = validation_split(*model);
    if (!val.found) {
      MESSAGE("SKIPPED: " << val.name << " not found ($FER_DATA_DIR, /tmp/ferdata or ../shared/data)");
      continue;
    }
    fer::EvalOptions eo;
    eo.tta = "none";  // the view training selected the model in
    eo.precision = model->info().provenance.count("precision") ? model->info().provenance.at("precision") : "fp32";
    eo.threads = 2;
    const fer::Dataset data = fer::read_dataset(val.spec);
    fer::EvalReport r = fer::evaluate(*model, data, eo);
    double recorded = model->info().metrics.at("val_accuracy");
    MESSAGE(path.filename().string() << ": " << val.name << " accuracy " << r.accuracy << " (" << eo.precision
                                     << "), provenance " << recorded);
    CHECK(std::abs(r.accuracy - recorded) <= 0.005);
    // A model whose own view was chosen on this split (fer choose-view) reproduces the accuracy it was chosen by.
    const auto& info = model->info();
    const auto chosen = info.metrics.find("view_accuracy_" + info.view);
    if (info.view != "none") REQUIRE_MESSAGE(chosen != info.metrics.end(), "view " << info.view << " without its accuracy");
    if (chosen != info.metrics.end() && info.view != "none") {
      CHECK(info.provenance.at("view_chosen_on").find(val.spec.format == "ferplus" ? "split valid" : "/val") !=
            std::string::npos);
      eo.tta = "auto";
      const double in_view = fer::evaluate(*model, data, eo).accuracy;
      MESSAGE(path.filename().string() << ": in its view (" << info.view << ") " << in_view << ", chosen by "
                                       << chosen->second);
      CHECK(std::abs(in_view - chosen->second) <= 0.005);
      CHECK(chosen->second > info.metrics.at("view_accuracy_none"));
    }
  }
}

// The inference fast paths (Model::set_precision: bf16 with bf16-stored weights,
// channels-last; int8 for calibrated models) against fp32, through Model::prepare + Model::predict as the
// pipeline runs them, on each model's validation split: accuracy within 0.5 points.
TEST_CASE("shipped models: the bf16 and int8 inference paths keep validation accuracy within 0.5 points of fp32") {
  fer::set_num_threads(2);
  for (const auto& path : shipped_models()) {
    CAPTURE(path.filename().string());
    auto model = std::const_pointer_cast<fer::Model>(fer::Model::load(path.string()));
    ValSplit val = validation_split(*model);
    if (!val.found) {
      MESSAGE("SKIPPED: " << val.name << " not found ($FER_DATA_DIR, /tmp/ferdata or ../shared/data)");
      continue;
    }
    const fer::Dataset data = fer::read_dataset(val.spec);
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
    MESSAGE(val.name << " through Model::predict: fp32 " << fp32 << ", bf16 " << bf16);
    CHECK(std::abs(fp32 - bf16) <= 0.005);
    CHECK(fp32 > val.floor);
    if (!model->info().activation_ranges.empty()) {  // calibrated by fer quantize: int8 too
      const double int8 = accuracy(fer::Precision::Int8);
      MESSAGE(val.name << " through Model::predict: int8 " << int8);
      CHECK(std::abs(fp32 - int8) <= 0.005);
    }
  }
  fer::set_num_threads(0);
}
