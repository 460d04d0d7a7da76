// The DNN face detectors built on face-api's weights (tiny_face, ssd_mobilenet)
// and "auto": decoding and NMS on synthetic data, the networks against
// face-api's own outputs (tests/data/face_api_reference.txt), and detection on
// the six sample photos against face centres counted by eye. Tests that need
// scripts/setup.sh's face-api assets say so and pass when they are absent.
#include "support.hpp"

#include "detect/face_api.hpp"
#include "detect/ssd_mobilenet_detector.hpp"
#include "detect/tfjs_weights.hpp"
#include "detect/tiny_face_detector.hpp"

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

namespace {

std::string model_dir() { return fer_test::face_api_dir() + "/model"; }

bool have(const std::string& manifest) {
  if (fer_test::file_exists(model_dir() + "/" + manifest)) return true;
  MESSAGE("SKIPPED: " << model_dir() << "/" << manifest << " not found; run scripts/setup.sh to fetch face-api");
  return false;
}

bool have_photos() {
  if (fer_test::file_exists(fer_test::face_api_dir() + "/demo/sample1.jpg")) return true;
  MESSAGE("SKIPPED: sample photos not found in " << fer_test::face_api_dir() << "/demo; run scripts/setup.sh");
  return false;
}

fer::DetectorOptions options_for(int side = 416) {
  fer::DetectorOptions o;
  o.data_path = model_dir();
  o.max_detect_side = side;
  return o;
}

// The photo scaled (INTER_AREA) so its longer side is `side`, top-left on a black square.
cv::Mat letterbox(const cv::Mat& img, int side) {
  double f = double(side) / std::max(img.cols, img.rows);
  cv::Mat small, square(side, side, CV_8UC3, cv::Scalar::all(0));
  // Python's round() (half to even) made the reference squares: nearbyint matches it.
  cv::resize(img, small, cv::Size(int(std::nearbyint(img.cols * f)), int(std::nearbyint(img.rows * f))), 0, 0,
             cv::INTER_AREA);
  small.copyTo(square(cv::Rect(0, 0, small.cols, small.rows)));
  return square;
}

struct Counts {
  int faces = 0, hits = 0, false_pos = 0;
  std::vector<int> detected;  // per photo
  std::vector<double> ms;     // per photo, median of repeats
};

// Detections count as hits when they contain an unused true face centre.
Counts score_on_samples(fer::Detector& detector, int repeats = 1) {
  Counts c;
  for (const auto& photo : fer_test::sample_truth()) {
    cv::Mat img = cv::imread(fer_test::face_api_dir() + "/demo/" + photo.file);
    REQUIRE_FALSE(img.empty());
    std::vector<fer::Face> faces;
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      faces = detector.detect(img);
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    c.ms.push_back(times[times.size() / 2]);
    std::vector<cv::Rect2f> boxes;
    for (size_t i = 0; i < faces.size(); ++i) {
      if (i > 0) CHECK(faces[i - 1].score >= faces[i].score);
      CHECK(faces[i].box.x >= 0.f);
      CHECK(faces[i].box.br().x <= float(img.cols) + 0.01f);
      boxes.push_back(faces[i].box);
    }
    fer_test::Matches m = fer_test::match_faces(photo.centres, boxes);
    c.hits += m.hits;
    c.false_pos += m.false_positives;
    c.faces += int(photo.centres.size());
    c.detected.push_back(int(faces.size()));
  }
  return c;
}

}  // namespace

TEST_CASE("face detectors: non-maximum suppression keeps the best of overlapping boxes") {
  using fer::detail::box_iou;
  CHECK(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}) == doctest::Approx(1.0));
  CHECK(box_iou({0, 0, 10, 10}, {5, 0, 10, 10}) == doctest::Approx(50.0 / 150.0));
  CHECK(box_iou({0, 0, 10, 10}, {20, 20, 5, 5}) == 0.f);
  CHECK(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}) == 0.f);
  std::vector<cv::Rect2f> boxes = {{0, 0, 10, 10}, {1, 0, 10, 10}, {50, 50, 10, 10}, {0, 1, 10, 10}};
  std::vector<float> scores = {0.6f, 0.9f, 0.7f, 0.5f};
  CHECK(fer::detail::non_max_suppression(boxes, scores, 0.4f) == std::vector<int>{1, 2});
  CHECK(fer::detail::non_max_suppression(boxes, scores, 0.95f) == std::vector<int>{1, 2, 0, 3});
  CHECK(fer::detail::non_max_suppression({}, {}, 0.5f).empty());
}

TEST_CASE("tiny_face: decoding places a box at its cell with its anchor's size") {
  // 13 x 13 grid on a 416 input (32 px cells); everything "off" but one prediction.
  torch::Tensor raw = torch::full({1, 25, 13, 13}, -20.f);
  const int anchor = 1, row = 4, col = 7;
  raw[0][anchor * 5 + 0][row][col] = 0.f;             // x offset sigmoid(0) = 0.5 cell
  raw[0][anchor * 5 + 1][row][col] = 0.f;             // y offset 0.5 cell
  raw[0][anchor * 5 + 2][row][col] = 0.f;             // width = anchor width
  raw[0][anchor * 5 + 3][row][col] = std::log(0.5f);  // height = half the anchor height
  raw[0][anchor * 5 + 4][row][col] = 2.f;             // score sigmoid(2) = 0.881
  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  fer::detail::TinyFaceDetector::decode(raw, 416, 0.5f, &boxes, &scores);
  REQUIRE(boxes.size() == 1);
  CHECK(scores[0] == doctest::Approx(0.8808).epsilon(1e-3));
  const float w = 6.041143f * 32, h = 7.080126f * 32 * 0.5f;
  CHECK(boxes[0].x + boxes[0].width / 2 == doctest::Approx(7.5 * 32));
  CHECK(boxes[0].y + boxes[0].height / 2 == doctest::Approx(4.5 * 32));
  CHECK(boxes[0].width == doctest::Approx(w));
  CHECK(boxes[0].height == doctest::Approx(h));
}

TEST_CASE("face detectors: registered, and \"auto\" picks the best one present") {
  auto names = fer::detector_registry().names();
  for (const char* n : {"haar", "tiny_face", "ssd_mobilenet", "auto"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  // With no face-api weights in data_path, "auto" falls back to Haar.
  std::string empty = std::string(FER_TEST_TMP_DIR) + "/no_face_api";
  std::filesystem::create_directories(empty);
  fer::DetectorOptions o;
  o.data_path = empty;
  CHECK(fer::Detector::create("auto", o)->name() == "haar");
  CHECK_THROWS_AS(fer::Detector::create("tiny_face", o), fer::Error);
  if (!have(fer::detail::SsdMobilenetDetector::kManifest)) return;
  CHECK(fer::Detector::create("auto", options_for())->name() == "ssd_mobilenet");
  fer::PipelineOptions po;
  po.detector = "auto";
  CHECK(fer::Pipeline(po, fer_test::tiny_model()).detector_name() == "ssd_mobilenet");
}

TEST_CASE("face detectors: damaged or mismatched weight files name the file and the tensor") {
  if (!have(fer::detail::TinyFaceDetector::kManifest)) return;
  std::string dir = std::string(FER_TEST_TMP_DIR) + "/face_api_bad";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string manifest = fer::detail::TinyFaceDetector::kManifest;
  // Truncated shard.
  std::filesystem::copy_file(model_dir() + "/" + manifest, dir + "/" + manifest);
  std::filesystem::copy_file(model_dir() + "/tiny_face_detector_model.bin", dir + "/tiny_face_detector_model.bin");
  std::filesystem::resize_file(dir + "/tiny_face_detector_model.bin", 100000);
  fer::DetectorOptions o = options_for();
  o.data_path = dir;
  try {
    fer::Detector::create("tiny_face", o);
    FAIL("a truncated shard was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::CorruptData);
    std::string m = e.what();
    CHECK_MESSAGE(m.find("tiny_face_detector_model.bin") != std::string::npos, m);
    CHECK_MESSAGE(m.find("weight 'conv") != std::string::npos, m);
  }
  // The SSD's weights under the tiny detector's name.
  if (!have(fer::detail::SsdMobilenetDetector::kManifest)) return;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(model_dir() + "/ssd_mobilenetv1_model-weights_manifest.json", dir + "/" + manifest);
  std::filesystem::copy_file(model_dir() + "/ssd_mobilenetv1_model.bin", dir + "/ssd_mobilenetv1_model.bin");
  try {
    fer::Detector::create("tiny_face", o);
    FAIL("mismatched weights were accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::NotFound);
    CHECK_MESSAGE(std::string(e.what()).find("'conv0/filters'") != std::string::npos, e.what());
  }
}

TEST_CASE("face detectors: network output shapes follow the input size") {
  if (!have(fer::detail::TinyFaceDetector::kManifest) || !have(fer::detail::SsdMobilenetDetector::kManifest)) return;
  torch::NoGradGuard no_grad;
  auto tiny = fer::detail::TinyFaceNet::from_weights(
      fer::detail::read_tfjs_weights(model_dir() + "/" + fer::detail::TinyFaceDetector::kManifest));
  CHECK(tiny.forward(torch::zeros({1, 3, 416, 416})).sizes() == torch::IntArrayRef({1, 25, 13, 13}));
  CHECK(tiny.forward(torch::zeros({1, 3, 320, 320})).sizes() == torch::IntArrayRef({1, 25, 10, 10}));
  CHECK(tiny.forward(torch::zeros({1, 3, 608, 608})).sizes() == torch::IntArrayRef({1, 25, 19, 19}));
  auto ssd = fer::detail::SsdMobilenetNet::from_weights(
      fer::detail::read_tfjs_weights(model_dir() + "/" + fer::detail::SsdMobilenetDetector::kManifest));
  auto [boxes, scores] = ssd.forward(torch::zeros({1, 3, 512, 512}));
  CHECK(boxes.sizes() == torch::IntArrayRef({5118, 4}));
  CHECK(scores.sizes() == torch::IntArrayRef({5118}));
  CHECK_THROWS_AS(ssd.forward(torch::zeros({1, 3, 480, 480})), fer::Error);
}

// face-api's own results on identical inputs (squares, so both sides see the same pixels).
TEST_CASE("face detectors: boxes and scores match face-api's on the same inputs") {
  if (!have_photos() || !have(fer::detail::TinyFaceDetector::kManifest) ||
      !have(fer::detail::SsdMobilenetDetector::kManifest))
    return;
  struct Ref {
    float score;
    cv::Rect2f box;
  };
  std::map<std::string, std::map<std::string, std::vector<Ref>>> refs;  // detector -> photo -> faces
  std::ifstream in(std::string(FER_TEST_DATA_DIR) + "/face_api_reference.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string det, photo;
    Ref r;
    ls >> det >> photo >> r.score >> r.box.x >> r.box.y >> r.box.width >> r.box.height;
    refs[det][photo].push_back(r);
  }
  REQUIRE(refs.size() == 2);
  for (const auto& entry : refs)
   for (std::string precision : {"fp32", "bf16", "int8"}) {
    CAPTURE(precision);
    const std::string& det = entry.first;
    const auto& photos = entry.second;
    const int side = det == "tiny_face" ? 416 : 512;
    fer::DetectorOptions options = options_for(side);
    options.precision = precision;
    auto detector = fer::Detector::create(det, options);
    double worst_iou = 1, worst_score = 0;
    for (int i = 1; i <= 6; ++i) {
      std::string photo = "sample" + std::to_string(i) + ".jpg";
      cv::Mat square = letterbox(cv::imread(fer_test::face_api_dir() + "/demo/" + photo), side);
      auto faces = detector->detect(square);
      auto it = photos.find(photo);
      const std::vector<Ref> none;
      const std::vector<Ref>& want = it == photos.end() ? none : it->second;
      CHECK_MESSAGE(faces.size() == want.size(), det << " " << photo);
      for (const Ref& r : want) {
        float best = 0.f, score_diff = 1.f;
        for (const auto& f : faces) {
          float iou = fer::detail::box_iou(f.box, r.box & cv::Rect2f(0, 0, float(side), float(side)));
          if (iou > best) best = iou, score_diff = std::abs(f.score - r.score);
        }
        worst_iou = std::min<double>(worst_iou, best);
        worst_score = std::max<double>(worst_score, score_diff);
      }
    }
    MESSAGE(det << " " << precision << ": worst IoU with face-api's boxes " << worst_iou
                << ", worst score difference " << worst_score);
    if (precision == "fp32") {
      // Measured 2026-11-28: IoU >= 0.9996, scores within 5e-5 (float rounding only).
      CHECK(worst_iou >= 0.99);
      CHECK(worst_score <= 0.001);
    } else if (precision == "int8" && det == "ssd_mobilenet") {
      // int8 backbone (uint8 activations in [0, 6], per-channel int8 weights),
      // fp32 heads. Measured 2026-11-29: IoU >= 0.923, scores within 0.094; the same faces found.
      CHECK(worst_iou >= 0.9);
      CHECK(worst_score <= 0.12);
    } else {  // bf16 (tiny_face has no int8 path: "int8" runs it as "auto", bf16 here)
      // bf16 weights and activations (8-bit mantissa). Measured 2026-11-29: tiny_face
      // IoU >= 0.991, scores within 0.0041; ssd_mobilenet IoU >= 0.987, scores within
      // 0.015; the same faces found.
      CHECK(worst_iou >= 0.97);
      CHECK(worst_score <= 0.02);
    }
  }
}

TEST_CASE("face detectors: the sample photos, against faces counted by eye") {
  if (!have_photos() || !have(fer::detail::TinyFaceDetector::kManifest) ||
      !have(fer::detail::SsdMobilenetDetector::kManifest))
    return;
  const int previous_threads = fer::num_threads();
  struct Expect {
    std::string name;
    int hits, false_pos;  // measured
  };
  // Measured 2026-11-28 with default options (tiny_face's input 480, from
  // max_detect_side; ssd_mobilenet's 512): tiny_face 21 of 22 faces, 0 false
  // positives; ssd_mobilenet 22 of 22, 0. Haar: 16 of 22, 1 (test_sample_photos).
  // Allowed: one hit fewer and one false positive more; per photo within 1.
  std::map<std::string, std::vector<std::vector<fer::Face>>> found;
  for (const Expect& e : {Expect{"tiny_face", 21, 0}, Expect{"ssd_mobilenet", 22, 0}}) {
    fer::DetectorOptions o;
    o.data_path = model_dir();
    auto detector = fer::Detector::create(e.name, o);
    fer::set_num_threads(1);
    detector->detect(cv::Mat(480, 640, CV_8UC3, cv::Scalar::all(90)));  // warm-up
    Counts c = score_on_samples(*detector);
    fer::set_num_threads(previous_threads);
    std::string per_photo, times;
    for (size_t i = 0; i < c.detected.size(); ++i) {
      per_photo += std::to_string(c.detected[i]) + " ";
      times += std::to_string(int(std::lround(c.ms[i]))) + " ";
    }
    MESSAGE(e.name << ": " << c.hits << " of " << c.faces << " faces, " << c.false_pos
                   << " false positives; per photo detected " << per_photo << "; ms (1 thread, informative) " << times);
    CHECK(c.faces == 22);
    CHECK(c.hits >= e.hits - 1);
    CHECK(c.false_pos <= e.false_pos + 1);
    auto truth = fer_test::sample_truth();
    for (size_t i = 0; i < truth.size(); ++i) {
      CHECK_MESSAGE(std::abs(c.detected[i] - int(truth[i].centres.size())) <= 1, e.name << " " << truth[i].file);
      found[e.name].push_back(detector->detect(cv::imread(fer_test::face_api_dir() + "/demo/" + truth[i].file)));
    }
  }

  // Where both find a face (the same true centre inside both boxes), how well do their boxes agree?
  // Raw boxes: not well by design: face-api's own outputs (tests/data/face_api_reference.txt)
  // show tiny_face boxes 1.6x as wide as ssd_mobilenet's, as tall, centred 0.14 heights lower;
  // measured IoU mean 0.50, worst 0.42 on 21 shared faces.
  // What the pipeline crops: each detector's box mapped by its measured framing onto the
  // FER-2013 reference box (BoxFraming::to_reference). There the two detectors must agree
  // (IoU >= 0.5 on every shared face; measured mean 0.75, worst 0.53).
  const fer::BoxFraming tiny = fer::detail::kTinyFaceFraming, ssd = fer::detail::kSsdMobilenetFraming;
  auto truth = fer_test::sample_truth();
  struct Agreement {
    double worst = 1, sum = 0;
    void add(double iou) {
      worst = std::min(worst, iou);
      sum += iou;
    }
  } raw, framed;
  int pairs = 0;
  for (size_t p = 0; p < truth.size(); ++p)
    for (const auto& centre : truth[p].centres)
      for (const auto& a : found["tiny_face"][p])
        for (const auto& b : found["ssd_mobilenet"][p])
          if (a.box.contains(centre) && b.box.contains(centre)) {
            raw.add(fer::detail::box_iou(a.box, b.box));
            framed.add(fer::detail::box_iou(tiny.to_reference(a.box), ssd.to_reference(b.box)));
            ++pairs;
          }
  const double n = std::max(pairs, 1);
  MESSAGE("tiny_face vs ssd_mobilenet on " << pairs << " shared faces: raw boxes IoU mean " << raw.sum / n
                                           << ", worst " << raw.worst << "; framed boxes IoU mean " << framed.sum / n
                                           << ", worst " << framed.worst);
  CHECK(pairs >= 20);
  CHECK(raw.sum / n >= 0.45);
  CHECK(raw.worst >= 0.35);
  CHECK(framed.worst >= 0.5);
}
