// Every registered face detector on the face-api sample photos: faces found
// against the centres counted by eye (tests/data/sample_faces.txt), false
// positives, and the median time per 1920-px photo and per 640x480 frame.
//   build/benchmarks/detector_bench [--threads N] [--repeats N]   (needs scripts/setup.sh's assets)
#include "support.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace {

double median_ms(fer::Detector& d, const cv::Mat& img, int repeats) {
  std::vector<double> t;
  d.detect(img);  // warm-up
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    d.detect(img);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, repeats = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::max(1, std::atoi(argv[i + 1]));
  }
  fer::set_num_threads(threads);
  auto truth = fer_test::sample_truth();
  std::vector<cv::Mat> photos;
  for (const auto& p : truth) {
    photos.push_back(cv::imread(fer_test::face_api_dir() + "/demo/" + p.file));
    if (photos.back().empty()) {
      std::fprintf(stderr, "missing %s: run scripts/setup.sh first\n", p.file.c_str());
      return 1;
    }
  }
  std::printf("%d thread(s), median of %d runs\n", threads, repeats);
  std::printf("%-14s %8s %4s %14s %14s\n", "detector", "found", "FP", "ms/1920px", "ms/640x480");
  for (const auto& name : fer::detector_registry().names()) {
    if (name == "auto") continue;
    std::unique_ptr<fer::Detector> d;
    try {
      d = fer::Detector::create(name);
    } catch (const fer::Error& e) {
      std::printf("%-14s unavailable: %s\n", name.c_str(), e.what());
      continue;
    }
    int hits = 0, fp = 0, total = 0;
    std::vector<double> photo_ms;
    for (size_t i = 0; i < photos.size(); ++i) {
      std::vector<cv::Rect2f> boxes;
      for (const auto& f : d->detect(photos[i])) boxes.push_back(f.box);
      auto m = fer_test::match_faces(truth[i].centres, boxes);
      hits += m.hits;
      fp += m.false_positives;
      total += int(truth[i].centres.size());
      photo_ms.push_back(median_ms(*d, photos[i], repeats));
    }
    std::sort(photo_ms.begin(), photo_ms.end());
    cv::Mat frame;
    cv::resize(photos[2], frame, cv::Size(640, 480), 0, 0, cv::INTER_AREA);
    std::printf("%-14s %5d/%-2d %4d %14.1f %14.1f\n", name.c_str(), hits, total, fp, photo_ms[photo_ms.size() / 2],
                median_ms(*d, frame, repeats));
  }
  return 0;
}
