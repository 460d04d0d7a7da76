// The 68-point landmark models built on face-api's weights ("68", "68_tiny")
// and face alignment: the similarity transform on synthetic points, aligned
// crops in model files and the pipeline, the networks against face-api's own
// outputs (tests/data/face_api_landmarks.txt), landmarks on the sample photos,
// and aligned crops of a photo rotated by 20 degrees. Tests that need
// scripts/setup.sh's face-api assets say so and pass when they are absent.
#include "support.hpp"

#include "detect/face_landmarks.hpp"
#include "detect/tfjs_weights.hpp"

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace {

using fer::detail::FaceLandmark68Detector;

std::string model_dir() { return fer_test::face_api_dir() + "/model"; }

bool have(const std::string& manifest) {
  if (fer_test::file_exists(model_dir() + "/" + manifest)) return true;
  MESSAGE("SKIPPED: " << model_dir() << "/" << manifest << " not found; run scripts/setup.sh to fetch face-api");
  return false;
}

bool have_all() {
  if (!have(FaceLandmark68Detector::kManifest) || !have(FaceLandmark68Detector::kTinyManifest) ||
      !have("ssd_mobilenetv1_model-weights_manifest.json"))
    return false;
  if (fer_test::file_exists(fer_test::face_api_dir() + "/demo/sample1.jpg")) return true;
  MESSAGE("SKIPPED: sample photos not found in " << fer_test::face_api_dir() << "/demo; run scripts/setup.sh");
  return false;
}

fer::LandmarkOptions landmark_options(float upright_pass_degrees = fer::LandmarkOptions().upright_pass_degrees) {
  fer::LandmarkOptions o;
  o.data_path = model_dir();
  o.upright_pass_degrees = upright_pass_degrees;
  return o;
}

cv::Mat photo(const std::string& file) {
  cv::Mat img = cv::imread(fer_test::face_api_dir() + "/demo/" + file);
  REQUIRE_FALSE(img.empty());
  return img;
}

std::unique_ptr<fer::Detector> ssd() {
  fer::DetectorOptions o;
  o.data_path = model_dir();
  return fer::Detector::create("ssd_mobilenet", o);
}

cv::Point2f mean_point(const std::vector<cv::Point2f>& p, int first, int last) {
  cv::Point2f s(0, 0);
  for (int i = first; i <= last; ++i) s += p[size_t(i)];
  return s * (1.f / float(last - first + 1));
}

float mean_distance(const std::vector<cv::Point2f>& a, const std::vector<cv::Point2f>& b) {
  REQUIRE(a.size() == b.size());
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += cv::norm(a[i] - b[i]);
  return float(sum / double(a.size()));
}

cv::Point2f apply(const cv::Mat& m, const cv::Point2f& p) {
  return {float(m.at<double>(0, 0) * p.x + m.at<double>(0, 1) * p.y + m.at<double>(0, 2)),
          float(m.at<double>(1, 0) * p.x + m.at<double>(1, 1) * p.y + m.at<double>(1, 2))};
}

// A small model that crops by `method` (48x48 gray, like the FER-2013 models).
std::shared_ptr<fer::Model> model_cropping(const std::string& method, float margin) {
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture_config.set("width", 0.25);
  info.crop.method = method;
  info.crop.margin = margin;
  return fer::Model::create(info, 3);
}

// Mean absolute difference of two prepared crops, in 8-bit gray levels
// (the inputs are (v / 255 - 0.5) / 0.5).
double gray_difference(const cv::Mat& a, const cv::Mat& b) { return cv::mean(cv::abs(a - b))[0] * 0.5 * 255.0; }

}  // namespace

TEST_CASE("alignment: the similarity transform recovers a known one by least squares") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-50.f, 50.f);
  for (double angle : {0.0, 20.0, -75.0, 170.0}) {
    const double a = angle * CV_PI / 180.0, s = 1.7;
    cv::Mat truth = (cv::Mat_<double>(2, 3) << s * std::cos(a), -s * std::sin(a), 12.5, s * std::sin(a),
                     s * std::cos(a), -40.0);
    std::vector<cv::Point2f> from, to;
    for (int i = 0; i < 5; ++i) {
      from.emplace_back(u(rng), u(rng));
      to.push_back(apply(truth, from.back()));
    }
    cv::Mat m = fer::estimate_similarity(from, to);
    REQUIRE(m.rows == 2);
    REQUIRE(m.cols == 3);
    CHECK(cv::norm(m - truth, cv::NORM_INF) < 1e-4);
  }
  // A mirror image cannot be reached: the best similarity leaves a residual, no flip.
  std::vector<cv::Point2f> from = {{0, 0}, {10, 0}, {0, 5}}, mirrored = {{0, 0}, {-10, 0}, {0, 5}};
  cv::Mat m = fer::estimate_similarity(from, mirrored);
  CHECK(m.at<double>(0, 0) * m.at<double>(1, 1) - m.at<double>(0, 1) * m.at<double>(1, 0) >= 0.0);
  CHECK_THROWS_AS(fer::estimate_similarity({{1, 1}, {1, 1}}, {{0, 0}, {1, 1}}), fer::Error);
  CHECK_THROWS_AS(fer::estimate_similarity({{1, 1}}, {{0, 0}}), fer::Error);
  CHECK_THROWS_AS(fer::estimate_similarity({{1, 1}, {2, 2}}, {{0, 0}}), fer::Error);
}

TEST_CASE("alignment: five points from 68, and bad landmark counts") {
  std::vector<cv::Point2f> pts;
  for (int i = 0; i < 68; ++i) pts.emplace_back(float(i), float(2 * i));
  auto five = fer::alignment_points(pts);
  REQUIRE(five.size() == 5);
  CHECK(five[0].x == doctest::Approx(38.5));  // mean of 36..41
  CHECK(five[1].x == doctest::Approx(44.5));  // mean of 42..47
  CHECK(five[2].x == doctest::Approx(30));
  CHECK(five[3].x == doctest::Approx(48));
  CHECK(five[4].y == doctest::Approx(108));
  CHECK(fer::alignment_points(five) == five);
  CHECK_THROWS_AS(fer::alignment_points(std::vector<cv::Point2f>(7)), fer::Error);
  pts[3].x = std::nanf("");
  CHECK_THROWS_AS(fer::alignment_points(pts), fer::Error);
}

TEST_CASE("alignment: a rotated, scaled synthetic face comes back upright onto the template") {
  // Five dots at the template positions of a 64 x 64 crop (margin 0.25), drawn
  // once directly and once rotated by 35 degrees, scaled by 3 and moved; the
  // aligned crop of the second must look like the first.
  const int size = 64;
  const float margin = 0.25f;
  auto tmpl = fer::default_alignment_template();
  std::vector<cv::Point2f> in_crop;
  for (auto p : tmpl) in_crop.push_back((p + cv::Point2f(margin, margin)) * (size / (1.f + 2 * margin)));
  cv::Mat expected(size, size, CV_8UC1, cv::Scalar(40));
  for (auto p : in_crop) cv::circle(expected, p, 3, cv::Scalar(220), cv::FILLED, cv::LINE_AA);

  cv::Mat to_image = cv::getRotationMatrix2D(cv::Point2f(size / 2.f, size / 2.f), 35.0, 3.0);
  to_image.at<double>(0, 2) += 150;
  to_image.at<double>(1, 2) += 90;
  cv::Mat image;
  cv::warpAffine(expected, image, to_image, cv::Size(500, 400), cv::INTER_CUBIC, cv::BORDER_CONSTANT, cv::Scalar(40));
  std::vector<cv::Point2f> landmarks;
  for (auto p : in_crop) landmarks.push_back(apply(to_image, p));

  cv::Mat m = fer::alignment_transform(landmarks, size, margin);
  for (size_t i = 0; i < 5; ++i) CHECK(cv::norm(apply(m, landmarks[i]) - in_crop[i]) < 1e-3);
  cv::Mat aligned = fer::align_face(image, landmarks, size, margin);
  REQUIRE(aligned.size() == expected.size());
  REQUIRE(aligned.type() == expected.type());
  cv::Mat diff;
  cv::absdiff(aligned, expected, diff);
  const double mean_diff = cv::mean(diff)[0];
  MESSAGE("synthetic aligned crop vs expected: mean abs difference " << mean_diff << " gray levels");
  CHECK(mean_diff < 3.0);
  // Without alignment (the rotated dots' bounding square) the crop is far off.
  cv::Rect box = cv::boundingRect(landmarks);
  cv::Mat unaligned;
  cv::resize(image(box), unaligned, expected.size());
  cv::absdiff(unaligned, expected, diff);
  CHECK(cv::mean(diff)[0] > 3 * mean_diff);
  CHECK_THROWS_AS(fer::align_face(image, landmarks, 0, margin), fer::Error);
  CHECK_THROWS_AS(fer::align_face(image, landmarks, size, 5.f), fer::Error);
  CHECK_THROWS_AS(fer::alignment_transform(landmarks, size, margin, {{0, 0}, {1, 1}}), fer::Error);
  // Degenerate points (all in one place; a face ten million times its size) span no usable face.
  const std::vector<cv::Point2f> one_point(landmarks.size(), landmarks.front());
  CHECK_THROWS_AS(fer::align_face(image, one_point, size, margin), fer::Error);
  std::vector<cv::Point2f> vast = landmarks;
  for (auto& p : vast) p *= 1e7f;
  CHECK_THROWS_WITH_AS(fer::align_face(image, vast, size, margin), doctest::Contains("degenerate"), fer::Error);
}

TEST_CASE("alignment: the crop convention is stored in the model file") {
  auto box_model = model_cropping("box", 0.1f);
  auto aligned = model_cropping("aligned", 0.2f);
  auto back = fer::Model::from_bytes(aligned->to_bytes().data(), aligned->to_bytes().size());
  CHECK(back->info().crop.method == "aligned");
  CHECK(back->info().crop.margin == doctest::Approx(0.2));
  CHECK(back->needs_landmarks());
  // The template travels in the file, written out even when the model used the default.
  auto written = back->info().crop.template_points;
  REQUIRE(written.size() == 5);
  for (size_t i = 0; i < 5; ++i) CHECK(cv::norm(written[i] - fer::default_alignment_template()[i]) < 1e-6);
  // A template of its own comes back as it was.
  fer::ModelInfo own = aligned->info();
  own.crop.template_points = {{0.3f, 0.4f}, {0.7f, 0.4f}, {0.5f, 0.6f}, {0.36f, 0.8f}, {0.64f, 0.8f}};
  auto custom = fer::Model::create(own, 1);
  auto custom_back = fer::Model::from_bytes(custom->to_bytes().data(), custom->to_bytes().size());
  CHECK(custom_back->info().crop.template_points[3].x == doctest::Approx(0.36));
  // Box models write no template, so files stay as older builds wrote them.
  auto box_back = fer::Model::from_bytes(box_model->to_bytes().data(), box_model->to_bytes().size());
  CHECK(box_back->info().crop.template_points.empty());
  CHECK_FALSE(box_back->needs_landmarks());

  fer::ModelInfo bad = aligned->info();
  bad.crop.template_points = {{0.3f, 0.4f}, {0.7f, 0.4f}};
  CHECK_THROWS_AS(fer::Model::create(bad), fer::Error);
  bad.crop.template_points.clear();
  bad.crop.method = "sideways";
  try {
    fer::Model::create(bad);
    FAIL("an unknown crop method was accepted");
  } catch (const fer::Error& e) {
    CHECK_MESSAGE(std::string(e.what()).find("aligned") != std::string::npos, e.what());
  }

  // Cropping: an aligned model needs landmarks; a box model ignores them.
  cv::Mat image(120, 160, CV_8UC3, cv::Scalar(90, 120, 150));
  fer::Face face;
  face.box = {40, 30, 60, 60};
  CHECK_THROWS_AS(aligned->crop(image, face), fer::Error);
  CHECK_THROWS_AS(aligned->crop(image, face.box), fer::Error);
  face.landmarks = {{58, 50}, {82, 50}, {70, 65}, {60, 78}, {80, 78}};
  CHECK(aligned->crop(image, face).size() == cv::Size(48, 48));
  CHECK(box_model->crop(image, face).size() == cv::Size(48, 48));
  CHECK(cv::norm(box_model->crop(image, face), box_model->crop(image, face.box), cv::NORM_INF) == 0.0);
}

TEST_CASE("landmarks: registry, and damaged or mismatched weight files name the file and the tensor") {
  auto names = fer::landmark_registry().names();
  for (const char* n : {"68", "68_tiny"}) CHECK(std::find(names.begin(), names.end(), n) != names.end());
  try {
    fer::LandmarkDetector::create("5_point");
    FAIL("an unknown landmark model was created");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::UnknownComponent);
    CHECK_MESSAGE(std::string(e.what()).find("68_tiny") != std::string::npos, e.what());
  }
  std::string dir = std::string(FER_TEST_TMP_DIR) + "/landmarks_bad";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  fer::LandmarkOptions o;
  o.data_path = dir;
  try {
    fer::LandmarkDetector::create("68", o);
    FAIL("a folder without weights was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::NotFound);
    CHECK_MESSAGE(std::string(e.what()).find(FaceLandmark68Detector::kManifest) != std::string::npos, e.what());
  }
  if (!have(FaceLandmark68Detector::kManifest) || !have(FaceLandmark68Detector::kTinyManifest)) return;

  // A copy of the manifest with one tensor renamed, and one with a shape
  // transposed (same number of values, so the shard still matches).
  std::ifstream in(model_dir() + "/" + FaceLandmark68Detector::kManifest);
  std::stringstream text;
  text << in.rdbuf();
  const std::string manifest = text.str();
  std::filesystem::copy_file(model_dir() + "/face_landmark_68_model.bin", dir + "/face_landmark_68_model.bin");
  auto write_manifest = [&](const std::string& from, const std::string& to) {
    std::string m = manifest;
    auto at = m.find(from);
    REQUIRE(at != std::string::npos);
    m.replace(at, from.size(), to);
    std::ofstream(dir + "/" + FaceLandmark68Detector::kManifest) << m;
  };
  write_manifest("\"dense2/conv1/bias\"", "\"dense2/conv1/bias_renamed\"");
  try {
    fer::LandmarkDetector::create("68", o);
    FAIL("a manifest without dense2/conv1/bias was accepted");
  } catch (const fer::Error& e) {
    std::string m = e.what();
    CHECK(e.status() == fer::Status::NotFound);
    CHECK_MESSAGE(m.find("dense2/conv1/bias") != std::string::npos, m);
    CHECK_MESSAGE(m.find(dir) != std::string::npos, m);
  }
  write_manifest("[256,136]", "[136,256]");
  try {
    fer::LandmarkDetector::create("68", o);
    FAIL("a transposed fc/weights was accepted");
  } catch (const fer::Error& e) {
    std::string m = e.what();
    CHECK(e.status() == fer::Status::ShapeMismatch);
    CHECK_MESSAGE(m.find("fc/weights") != std::string::npos, m);
    CHECK_MESSAGE(m.find(dir) != std::string::npos, m);
  }
  // The tiny model's weights under the full model's name: its fc is 128 wide, dense3 is missing.
  std::filesystem::copy_file(model_dir() + "/" + FaceLandmark68Detector::kTinyManifest,
                             dir + "/" + FaceLandmark68Detector::kManifest,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(model_dir() + "/face_landmark_68_tiny_model.bin",
                             dir + "/face_landmark_68_tiny_model.bin");
  try {
    fer::LandmarkDetector::create("68", o);
    FAIL("the tiny model's weights were accepted as the full model's");
  } catch (const fer::Error& e) {
    CHECK_MESSAGE(std::string(e.what()).find("dense0/conv3") != std::string::npos, e.what());
  }
}

TEST_CASE("landmarks: network input and output shapes") {
  if (!have(FaceLandmark68Detector::kManifest) || !have(FaceLandmark68Detector::kTinyManifest)) return;
  torch::NoGradGuard no_grad;
  for (bool tiny : {false, true}) {
    auto net = fer::detail::FaceLandmarkNet::from_weights(
        fer::detail::read_tfjs_weights(model_dir() + "/" +
                                       (tiny ? FaceLandmark68Detector::kTinyManifest : FaceLandmark68Detector::kManifest)),
        tiny);
    CHECK(net.blocks.size() == (tiny ? 3u : 4u));
    CHECK(net.forward(torch::zeros({2, 3, 112, 112})).sizes() == torch::IntArrayRef({2, 136}));
  }
  // A box 60 wide and 100 tall: padded by 20 on the left (and right) to a 100-px square.
  cv::Mat image(200, 300, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::Point2f origin;
  float side = 0;
  cv::Mat in = FaceLandmark68Detector::face_input(image, {50.4f, 40.9f, 60.f, 100.f}, &origin, &side);
  CHECK(in.size() == cv::Size(112, 112));
  CHECK(in.type() == CV_32FC3);
  CHECK(side == 100.f);
  CHECK(origin.x == 30.f);
  CHECK(origin.y == 40.f);
  // Padding is black (0 - mean) / 255; the face is the image's colour (RGB order).
  cv::Vec3f pad = in.at<cv::Vec3f>(56, 2), face = in.at<cv::Vec3f>(56, 56);
  CHECK(pad[0] == doctest::Approx(-122.782 / 255).epsilon(1e-4));
  CHECK(face[0] == doctest::Approx((30 - 122.782) / 255).epsilon(1e-4));
  CHECK(face[2] == doctest::Approx((10 - 104.298) / 255).epsilon(1e-4));
  // A box hanging over the border is clipped to the image; one outside fails.
  FaceLandmark68Detector::face_input(image, {-20.f, -20.f, 80.f, 50.f}, &origin, &side);
  CHECK(side == 60.f);
  CHECK_THROWS_AS(FaceLandmark68Detector::face_input(image, {400.f, 10.f, 50.f, 50.f}, &origin, &side), fer::Error);
  CHECK_THROWS_AS(FaceLandmark68Detector::face_input(image, {10.f, 10.f, 0.f, 50.f}, &origin, &side), fer::Error);
}

// face-api's own landmarks (its TF.js code run in node) for fixed boxes of the
// sample photos, fed the same RGB pixels.
TEST_CASE("landmarks: points match face-api's on the same face crops") {
  if (!have_all()) return;
  std::ifstream in(std::string(FER_TEST_DATA_DIR) + "/face_api_landmarks.txt");
  REQUIRE(in.good());
  // One pass, as face-api does.
  auto full = fer::LandmarkDetector::create("68", landmark_options(0.f));
  auto tiny = fer::LandmarkDetector::create("68_tiny", landmark_options(0.f));
  std::map<std::string, cv::Mat> photos;
  std::string line;
  int compared = 0;
  double worst = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string model, file;
    cv::Rect box;
    ls >> model >> file >> box.x >> box.y >> box.width >> box.height;
    std::vector<cv::Point2f> expected;
    std::string xy;
    while (ls >> xy) {
      auto comma = xy.find(',');
      expected.emplace_back(std::stof(xy.substr(0, comma)) + box.x, std::stof(xy.substr(comma + 1)) + box.y);
    }
    REQUIRE(expected.size() == 68);
    // face-api maps points back as if the padding were (long - short) / 2 on
    // each side; it pads the odd pixel after, so its points sit half a pixel
    // before ours along the padded axis when the difference is odd.
    const int odd = std::abs(box.width - box.height) % 2;
    for (auto& p : expected) (box.width < box.height ? p.x : p.y) += 0.5f * float(odd);
    if (!photos.count(file)) photos[file] = photo(file);
    auto got = (model == "68" ? *full : *tiny).detect(photos[file], {cv::Rect2f(box)});
    REQUIRE(got.size() == 1);
    // Allowed: 0.5% of the box side on average (OpenCV's bilinear warp uses
    // 1/32-pixel steps; TF's resize is exact).
    const float d = mean_distance(got[0], expected);
    worst = std::max(worst, double(d / box.width));
    CHECK_MESSAGE(d < 0.005f * box.width, model << " " << file << " mean distance " << d);
    ++compared;
  }
  CHECK(compared >= 8);
  MESSAGE("landmarks vs face-api on " << compared << " crops: worst mean distance " << worst * 100
                                      << "% of the box side");
}

TEST_CASE("landmarks: on every face of the sample photos, in place, and the two models agree") {
  if (!have_all()) return;
  const int previous_threads = fer::num_threads();
  fer::set_num_threads(1);
  auto detector = ssd();
  auto full = fer::LandmarkDetector::create("68", landmark_options());
  auto tiny = fer::LandmarkDetector::create("68_tiny", landmark_options());
  CHECK(full->num_points() == 68);
  int faces = 0;
  double worst_agreement = 0, worst_outside = 0, max_roll = 0, ms_full = 0, ms_tiny = 0;
  std::vector<cv::Point2f> template_sum(5, cv::Point2f(0, 0));
  for (const auto& sample : fer_test::sample_truth()) {
    cv::Mat img = photo(sample.file);
    std::vector<cv::Rect2f> boxes;
    for (const fer::Face& f : detector->detect(img)) boxes.push_back(f.box);
    auto t0 = std::chrono::steady_clock::now();
    auto points = full->detect(img, boxes);
    auto t1 = std::chrono::steady_clock::now();
    auto points_tiny = tiny->detect(img, boxes);
    auto t2 = std::chrono::steady_clock::now();
    ms_full += std::chrono::duration<double, std::milli>(t1 - t0).count();
    ms_tiny += std::chrono::duration<double, std::milli>(t2 - t1).count();
    REQUIRE(points.size() == boxes.size());
    for (size_t i = 0; i < boxes.size(); ++i, ++faces) {
      const cv::Rect2f& b = boxes[i];
      const float side = std::max(b.width, b.height);
      for (const auto* pts : {&points[i], &points_tiny[i]}) {
        REQUIRE(pts->size() == 68);
        // How far the points reach out of the box, in fractions of its side.
        float out = 0;
        for (const auto& p : *pts)
          out = std::max({out, (b.x - p.x) / side, (p.x - b.br().x) / side, (b.y - p.y) / side, (p.y - b.br().y) / side});
        worst_outside = std::max(worst_outside, double(out));
        CHECK_MESSAGE(out < 0.12f, sample.file << " face " << i << ": points " << out * 100
                                               << "% of the box side outside it");
        // Eyes above mouth: every eye point above every mouth point, measured
        // across the eye line (the head may be tilted), and on average in the image.
        cv::Point2f eyes = mean_point(*pts, 42, 47) - mean_point(*pts, 36, 41);
        const cv::Point2f down = cv::Point2f(-eyes.y, eyes.x) * (1.f / float(cv::norm(eyes)));
        float lowest_eye = -1e9f, highest_mouth = 1e9f;
        for (int k = 36; k <= 47; ++k) lowest_eye = std::max(lowest_eye, (*pts)[size_t(k)].dot(down));
        for (int k = 48; k <= 67; ++k) highest_mouth = std::min(highest_mouth, (*pts)[size_t(k)].dot(down));
        CHECK_MESSAGE(lowest_eye < highest_mouth, sample.file << " face " << i);
        CHECK(mean_point(*pts, 36, 47).y < mean_point(*pts, 48, 67).y);
        max_roll = std::max(max_roll, std::abs(std::atan2(eyes.y, eyes.x) * 180.0 / CV_PI));
        CHECK(mean_point(*pts, 36, 41).x < mean_point(*pts, 42, 47).x);  // image-left eye first
        CHECK((*pts)[48].x < (*pts)[54].x);
        CHECK(mean_point(*pts, 36, 47).y < (*pts)[30].y);  // nose tip below the eyes
        CHECK((*pts)[30].y < mean_point(*pts, 48, 67).y);  // and above the mouth
      }
      // The five alignment points in the bounding square of the face's own 68 points.
      float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
      for (const auto& p : points[i]) x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
      const cv::Rect2f bound(x0, y0, x1 - x0, y1 - y0);
      const float bside = std::max(bound.width, bound.height);
      const cv::Point2f corner(bound.x + bound.width / 2 - bside / 2, bound.y + bound.height / 2 - bside / 2);
      auto five = fer::alignment_points(points[i]);
      for (size_t k = 0; k < 5; ++k) template_sum[k] += (five[k] - corner) * (1.f / bside);
      const float agreement = mean_distance(points[i], points_tiny[i]) / side;
      worst_agreement = std::max(worst_agreement, double(agreement));
      CHECK_MESSAGE(agreement < 0.1f, sample.file << " face " << i << ": models differ by " << agreement * 100
                                                   << "% of the box side");
    }
  }
  fer::set_num_threads(previous_threads);
  CHECK(faces >= 20);
  // The built-in template is this mean, made symmetric and rounded: it must stay close.
  std::vector<cv::Point2f> m;
  std::string measured;
  for (const auto& p : template_sum) {
    m.push_back(p * (1.f / float(faces)));
    measured += " (" + std::to_string(m.back().x) + ", " + std::to_string(m.back().y) + ")";
  }
  auto mirrored_pair = [](cv::Point2f l, cv::Point2f r) {
    return std::make_pair(cv::Point2f((l.x + 1 - r.x) / 2, (l.y + r.y) / 2), cv::Point2f((r.x + 1 - l.x) / 2, (l.y + r.y) / 2));
  };
  auto [eye_l, eye_r] = mirrored_pair(m[0], m[1]);
  auto [mouth_l, mouth_r] = mirrored_pair(m[3], m[4]);
  const std::vector<cv::Point2f> symmetric = {eye_l, eye_r, {0.5f, m[2].y}, mouth_l, mouth_r};
  auto tmpl = fer::default_alignment_template();
  for (size_t k = 0; k < 5; ++k)
    CHECK_MESSAGE(cv::norm(symmetric[k] - tmpl[k]) < 0.02, "template point " << k << "; measured" << measured);
  MESSAGE("mean alignment points in the faces' landmark squares:" << measured);
  MESSAGE(faces << " faces; worst mean distance between 68 and 68_tiny: " << worst_agreement * 100
                << "% of the box side; points at most " << worst_outside * 100 << "% of the box side out of it; "
                << "largest head roll " << max_roll << " degrees; ms per face (1 thread, fp32, batched per photo): 68 " << ms_full / faces
                << ", 68_tiny " << ms_tiny / faces);
}

TEST_CASE("landmarks: aligned crops of a photo rotated by 20 degrees match the upright ones") {
  if (!have_all()) return;
  auto detector = ssd();
  auto landmarks = fer::LandmarkDetector::create("68", landmark_options());
  auto aligned = model_cropping("aligned", 0.1f);
  auto boxed = model_cropping("box", 0.1f);
  int compared = 0;
  double worst_aligned = 0, best_ratio = 1e9, sum_aligned = 0, sum_box = 0, worst_follow = 0, sum_follow = 0;
  for (const std::string file : {"sample1.jpg", "sample4.jpg", "sample6.jpg"}) {
    cv::Mat img = photo(file);
    std::vector<fer::Face> upright = detector->detect(img);
    landmarks->annotate(img, upright);
    REQUIRE_FALSE(upright.empty());
    for (const fer::Face& face : upright) {
      const cv::Point2f centre(face.box.x + face.box.width / 2, face.box.y + face.box.height / 2);
      for (double angle : {20.0, -20.0}) {
        cv::Mat rot = cv::getRotationMatrix2D(centre, angle, 1.0), rotated;
        cv::warpAffine(img, rotated, rot, img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
        // The same face in the rotated photo: the detection nearest to the (fixed) centre.
        std::vector<fer::Face> found = detector->detect(rotated);
        auto nearest = std::min_element(found.begin(), found.end(), [&](const fer::Face& a, const fer::Face& b) {
          auto d = [&](const fer::Face& f) {
            return cv::norm(cv::Point2f(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2) - centre);
          };
          return d(a) < d(b);
        });
        REQUIRE(nearest != found.end());
        fer::Face turned = *nearest;
        REQUIRE(turned.box.contains(centre));
        turned.landmarks = landmarks->detect(rotated, {turned.box})[0];
        // The landmarks follow the rotation (within 4% of the face side on average).
        std::vector<cv::Point2f> moved;
        for (const auto& p : face.landmarks) moved.push_back(apply(rot, p));
        const double follow = mean_distance(turned.landmarks, moved) / face.box.height;
        worst_follow = std::max(worst_follow, follow);
        sum_follow += follow;
        CHECK(follow < 0.07);

        const double d_aligned = gray_difference(aligned->crop(img, face), aligned->crop(rotated, turned));
        const double d_box = gray_difference(boxed->crop(img, face), boxed->crop(rotated, turned));
        worst_aligned = std::max(worst_aligned, d_aligned);
        best_ratio = std::min(best_ratio, d_box / d_aligned);
        sum_aligned += d_aligned;
        sum_box += d_box;
        ++compared;
        CHECK_MESSAGE(d_aligned < 25.0, file << " angle " << angle << ": aligned crops differ by " << d_aligned);
        CHECK_MESSAGE(d_box > d_aligned, file << " angle " << angle << ": box crops " << d_box << " vs aligned "
                                              << d_aligned);
      }
    }
  }
  CHECK(compared >= 16);
  // Measured 2026-11-29 on 22 rotated faces: aligned 8.2 gray levels on average
  // (worst 20.9), box crops 32.2 (each face's box crops differ 1.33x or more
  // than its aligned ones); landmarks follow the rotation within 2% of the face
  // height on average (worst 5.5%).
  CHECK(sum_aligned / compared < 12.0);
  CHECK(sum_box / sum_aligned > 2.5);
  CHECK(sum_follow / compared < 0.03);
  MESSAGE("landmarks follow the rotation within " << 100 * sum_follow / compared << "% of the face height on average (worst "
                                                  << 100 * worst_follow << "%)");
  MESSAGE(compared << " rotated faces: aligned crops differ from the upright ones by " << sum_aligned / compared
                   << " gray levels on average (worst " << worst_aligned << "), box crops by " << sum_box / compared
                   << " (smallest box/aligned ratio " << best_ratio << ")");
}

TEST_CASE("landmarks: the pipeline attaches them, and aligned models get them automatically") {
  if (!have_all()) return;
  cv::Mat img = photo("sample2.jpg");
  fer::PipelineOptions o;
  o.detector = "ssd_mobilenet";
  o.threads = 1;
  // "auto" with a box model: no landmark model.
  fer::Pipeline plain(o, model_cropping("box", 0.1f));
  CHECK(plain.landmarks_name().empty());
  auto results = plain.process(img);
  REQUIRE_FALSE(results.empty());
  for (const auto& r : results) CHECK(r.face.landmarks.empty());

  o.landmarks = "68_tiny";
  fer::Pipeline with(o, model_cropping("box", 0.1f));
  CHECK(with.landmarks_name() == "68_tiny");
  results = with.process(img);
  REQUIRE_FALSE(results.empty());
  for (const auto& r : results) {
    REQUIRE(r.face.landmarks.size() == 68);
    CHECK(r.face.box.contains(mean_point(r.face.landmarks, 27, 35)));  // the nose is in the box
  }
  // Faces passed in keep the landmarks they have.
  fer::Face given = results[0].face;
  given.landmarks.assign(68, cv::Point2f(1, 2));
  CHECK(with.recognize(img, {given})[0].face.landmarks[5] == cv::Point2f(1, 2));

  // An aligned model: "auto" brings the 68-point model; "none" cannot serve it.
  o.landmarks = "auto";
  fer::Pipeline aligned(o, model_cropping("aligned", 0.1f));
  CHECK(aligned.landmarks_name() == "68");
  results = aligned.process(img);
  REQUIRE_FALSE(results.empty());
  CHECK(results[0].face.landmarks.size() == 68);
  o.landmarks = "none";
  CHECK_THROWS_AS(fer::Pipeline(o, model_cropping("aligned", 0.1f)), fer::Error);
  o.landmarks = "98";
  CHECK_THROWS_AS(fer::Pipeline(o, model_cropping("box", 0.1f)), fer::Error);
}
