#include "detect/haar_detector.hpp"

#include "core/image.hpp"

#include <fer/error.hpp>
#include <fer/image.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

namespace fer::detail {

// Settings chosen by benchmarks/haar_tuning.cpp on the six face-api sample
// photos (22 faces counted by eye), sweeping cascade x detection side x
// scale factor x min neighbours x histogram equalisation. Best trade-off:
// frontalface_alt2 at 480 px, scale 1.1, 4 neighbours, no equalisation:
// 16/22 faces, 1 false positive, 74 ms per 1920-px photo on 1 thread, 41 ms
// on 2 (2026-11-28, 2-core AMD EPYC). frontalface_alt at 640 px found 17/22
// but took 2.2x as long; "default" gave more false positives at equal recall.
// Profile and turned faces are what it misses (issue 8 brings DNN detectors).
namespace {
constexpr const char* kCascadeFile = "haarcascade_frontalface_alt2.xml";
constexpr double kScaleFactor = 1.1;
constexpr int kMinNeighbors = 4;
constexpr int kCascadeWindow = 20;  // the cascade's training window, the smallest it can find

bool readable(const std::string& path) { return std::ifstream(path).good(); }
}  // namespace

std::string HaarDetector::find_cascade(const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    if (!readable(explicit_path)) throw Error(Status::NotFound, "Haar cascade file not found: " + explicit_path);
    return explicit_path;
  }
  if (const char* env = std::getenv("FER_HAAR_CASCADE")) {
    if (!readable(env)) throw Error(Status::NotFound, std::string("$FER_HAAR_CASCADE names a missing file: ") + env);
    return env;
  }
  for (const char* dir : {"/usr/share/opencv4/haarcascades/", "/usr/local/share/opencv4/haarcascades/",
                          "/usr/share/opencv/haarcascades/"}) {
    std::string path = std::string(dir) + kCascadeFile;
    if (readable(path)) return path;
  }
  throw Error(Status::NotFound, std::string("cannot find ") + kCascadeFile +
                                    "; install Debian's opencv-data (scripts/setup.sh does) or set $FER_HAAR_CASCADE");
}

HaarDetector::HaarDetector(const DetectorOptions& options) : options_(options) {
  if (options_.max_detect_side < 64)
    throw Error(Status::InvalidArgument, "max_detect_side must be at least 64, got " +
                                             std::to_string(options_.max_detect_side));
  if (options_.min_face_size < 1)
    throw Error(Status::InvalidArgument, "min_face_size must be positive");
  std::string path = find_cascade(options_.data_path);
  if (!cascade_.load(path)) throw Error(Status::CorruptData, "cannot parse Haar cascade file " + path);
}

std::vector<Face> HaarDetector::detect_with_skipped(const cv::Mat& image, std::vector<Face>& skipped) {
  validate_image(image);
  skipped.clear();
  cv::Mat gray = to_gray(image);
  double scale = std::min(1.0, double(options_.max_detect_side) / std::max(gray.cols, gray.rows));
  cv::Mat small;
  if (scale < 1.0)
    cv::resize(gray, small, cv::Size(), scale, scale, cv::INTER_AREA);
  else
    small = gray;

  // Searched down to the cascade's own limit so that faces below min_face_size
  // are reported as skipped rather than never seen (costs little: the smallest
  // scales are the cheapest).
  const int min_side = kCascadeWindow;
  std::vector<cv::Rect> boxes;
  std::vector<int> neighbours;
  cascade_.detectMultiScale(small, boxes, neighbours, kScaleFactor, kMinNeighbors, 0, cv::Size(min_side, min_side));

  std::vector<Face> faces;
  for (size_t i = 0; i < boxes.size(); ++i) {
    // Score from the number of raw detections merged into this box: n/(n+k)
    // is 0.5 at the acceptance threshold k and grows towards 1.
    float n = float(i < neighbours.size() ? neighbours[i] : kMinNeighbors);
    float score = n / (n + float(kMinNeighbors));
    if (score < options_.score_threshold) continue;
    const cv::Rect& b = boxes[i];
    Face f;
    f.box = cv::Rect2f(float(b.x / scale), float(b.y / scale), float(b.width / scale), float(b.height / scale));
    f.score = score;
    (f.box.width < options_.min_face_size ? skipped : faces).push_back(std::move(f));
  }
  auto by_score = [](const Face& a, const Face& b) { return a.score > b.score; };
  std::sort(faces.begin(), faces.end(), by_score);
  std::sort(skipped.begin(), skipped.end(), by_score);
  return faces;
}

}  // namespace fer::detail
