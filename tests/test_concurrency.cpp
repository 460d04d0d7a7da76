// Concurrency: one loaded model shared read-only by pipelines on 8 threads
// gives exactly the results of a single thread, through the C++ API and the
// C API. (LibTorch runs with 1 intra-op thread here, so every forward pass
// has the same reduction order and results must match bit for bit.)
#include "support.hpp"

#include <fer/fer.h>
#include <fer/pipeline.hpp>
#include <fer/threads.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <thread>

namespace {

// Sample photos when set-up fetched them (real faces), else synthetic images
// with face-like blobs (the Haar detector may find none: recognize() on
// explicit boxes keeps the recognizer busy either way).
std::vector<cv::Mat> test_images() {
  std::vector<cv::Mat> out;
  for (int i = 1; i <= 6; ++i) {
    cv::Mat m = cv::imread(fer_test::face_api_dir() + "/demo/sample" + std::to_string(i) + ".jpg");
    if (m.empty()) continue;
    cv::Mat small;
    cv::resize(m, small, cv::Size(), 640.0 / m.cols, 640.0 / m.cols, cv::INTER_AREA);
    out.push_back(small);
  }
  cv::RNG rng(7);
  for (int i = 0; out.size() < 6; ++i) {
    cv::Mat m(240, 320, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 255);
    cv::circle(m, cv::Point(160, 120), 60, cv::Scalar(150, 170, 200), cv::FILLED);
    out.push_back(m);
  }
  return out;
}

const std::vector<cv::Rect2f> kBoxes = {{20, 20, 96, 96}, {120, 60, 80, 80}, {200, 100, 110, 110}};

struct Outcome {
  std::vector<fer::FaceResult> detected;    // process()
  std::vector<fer::FaceResult> recognized;  // recognize() on fixed boxes
};

Outcome run(fer::Pipeline& p, const cv::Mat& image) {
  std::vector<fer::Face> faces;
  for (const auto& b : kBoxes) {
    fer::Face f;
    f.box = b;
    faces.push_back(f);
  }
  return {p.process(image), p.recognize(image, faces)};
}

bool same(const std::vector<fer::FaceResult>& a, const std::vector<fer::FaceResult>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].face.box != b[i].face.box || a[i].label_index != b[i].label_index ||
        a[i].probabilities != b[i].probabilities || a[i].features != b[i].features)
      return false;
  return true;
}

}  // namespace

TEST_CASE("concurrency: one shared model, pipelines on 8 threads, results identical to one thread") {
  fer::set_num_threads(1);
  fer::PipelineOptions o;
  o.detector = "haar";
  o.threads = 1;
  o.return_features = true;
  auto model = fer::Model::load(std::string(FER_TEST_MODELS_DIR) + "/default.fermodel");
  const auto images = test_images();

  std::vector<Outcome> reference;
  {
    fer::Pipeline p(o, model);
    for (const auto& img : images) reference.push_back(run(p, img));
  }
  size_t faces = 0;
  for (const auto& r : reference) faces += r.detected.size() + r.recognized.size();
  REQUIRE(faces >= images.size() * kBoxes.size());

  constexpr int kThreads = 8, kRounds = 3;
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        fer::Pipeline p(o, model);  // per-thread pipeline (detector state), shared weights
        for (int round = 0; round < kRounds; ++round)
          for (size_t k = 0; k < images.size(); ++k) {
            size_t i = (k + size_t(t)) % images.size();  // threads visit the images in different orders
            Outcome got = run(p, images[i]);
            if (!same(got.detected, reference[i].detected) || !same(got.recognized, reference[i].recognized))
              ++mismatches;
          }
      } catch (...) {
        ++errors;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(mismatches == 0);
  MESSAGE(kThreads << " threads x " << kRounds << " rounds x " << images.size() << " images, " << faces
                   << " faces per round: identical to one thread");
}

TEST_CASE("concurrency: C API pipelines sharing one fer_model on 8 threads") {
  fer_model* model = nullptr;
  REQUIRE(fer_model_load((std::string(FER_TEST_MODELS_DIR) + "/default.fermodel").c_str(), &model) == FER_OK);
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.detector = "haar";
  o.threads = 1;
  const auto images = test_images();

  auto probabilities_of = [&](fer_pipeline* p, const cv::Mat& img, std::vector<float>& out) {
    fer_image_view view{img.data, img.cols, img.rows, img.step[0], FER_PIXEL_BGR24};
    fer_results* r = nullptr;
    if (fer_pipeline_process(p, &view, &r) != FER_OK) return false;
    size_t n = 0;
    fer_results_count(r, &n);
    out.clear();
    for (size_t i = 0; i < n; ++i) {
      const float* probs = nullptr;
      size_t count = 0;
      fer_results_probabilities(r, i, &probs, &count);
      out.insert(out.end(), probs, probs + count);
    }
    fer_results_destroy(r);
    return true;
  };

  std::vector<std::vector<float>> reference(images.size());
  fer_pipeline* p0 = nullptr;
  REQUIRE(fer_pipeline_create_with_model(&o, model, &p0) == FER_OK);
  for (size_t i = 0; i < images.size(); ++i) REQUIRE(probabilities_of(p0, images[i], reference[i]));
  fer_pipeline_destroy(p0);

  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      fer_pipeline* p = nullptr;
      if (fer_pipeline_create_with_model(&o, model, &p) != FER_OK) {
        ++errors;
        return;
      }
      std::vector<float> got;
      for (size_t k = 0; k < 2 * images.size(); ++k) {
        size_t i = (k + size_t(t)) % images.size();
        if (!probabilities_of(p, images[i], got)) ++errors;
        else if (got != reference[i]) ++mismatches;
      }
      // Errors are per thread: a failure here must not show in another thread's message.
      fer_image_view bad{nullptr, 10, 10, 10, FER_PIXEL_GRAY8};
      fer_results* r = nullptr;
      if (fer_pipeline_process(p, &bad, &r) != FER_INVALID_ARGUMENT || std::string(fer_last_error()).empty()) ++errors;
      fer_pipeline_destroy(p);
    });
  for (auto& th : threads) th.join();
  fer_model_destroy(model);
  CHECK(errors == 0);
  CHECK(mismatches == 0);
}
