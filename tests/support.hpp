// Helpers shared by the unit tests.
#pragma once

#include <fer/fer.hpp>

#include <opencv2/imgproc.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fer_test {

/// Where scripts/setup.sh unpacks the face-api package (sample photos, weights).
inline std::string face_api_dir() {
  if (const char* env = std::getenv("FER_FACE_API_DIR")) return env;
  return std::string(FER_TEST_ASSETS_DIR) + "/face-api";
}

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

/// A small untrained model (small_cnn, width 0.25) for fast tests.
inline std::shared_ptr<fer::Model> tiny_model(uint64_t seed = 1, const std::string& storage = "float32") {
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture_config.set("width", 0.25);
  info.storage = storage;
  info.provenance["dataset"] = "none";
  info.metrics["val_accuracy"] = 0.125;
  return fer::Model::create(info, seed);
}

/// `n` prepared inputs for `m` from smooth random 64x64 BGR images (uniform
/// noise, Gaussian-blurred by `blur` px), deterministic for `seed`: inputs
/// whose activations resemble images' more than raw noise does.
inline std::vector<cv::Mat> smooth_random_faces(const fer::Model& m, int n, uint64_t seed, int blur = 5) {
  std::vector<cv::Mat> v;
  cv::RNG rng(seed);
  for (int i = 0; i < n; ++i) {
    cv::Mat face(64, 64, CV_8UC3);
    rng.fill(face, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(face, face, cv::Size(blur, blur), 0);
    v.push_back(m.prepare(face));
  }
  return v;
}

struct SamplePhoto {
  std::string file;
  std::vector<cv::Point2f> centres;
};

/// Reads tests/data/sample_faces.txt (face centres counted by eye).
inline std::vector<SamplePhoto> sample_truth() {
  std::ifstream in(std::string(FER_TEST_DATA_DIR) + "/sample_faces.txt");
  std::vector<SamplePhoto> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    SamplePhoto p;
    ls >> p.file;
    std::string xy;
    while (ls >> xy) {
      auto comma = xy.find(',');
      p.centres.emplace_back(std::stof(xy.substr(0, comma)), std::stof(xy.substr(comma + 1)));
    }
    out.push_back(p);
  }
  return out;
}

/// Detections that contain a not-yet-matched true face centre count as hits;
/// the rest are false positives.
struct Matches {
  int hits = 0;
  int false_positives = 0;
};
inline Matches match_faces(const std::vector<cv::Point2f>& centres, const std::vector<cv::Rect2f>& boxes) {
  Matches m;
  std::vector<bool> used(centres.size(), false);
  for (const auto& box : boxes) {
    bool hit = false;
    for (size_t j = 0; j < centres.size() && !hit; ++j)
      if (!used[j] && box.contains(centres[j])) used[j] = hit = true;
    (hit ? m.hits : m.false_positives)++;
  }
  return m;
}

}  // namespace fer_test
