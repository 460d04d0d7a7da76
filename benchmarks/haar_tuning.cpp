// Sweeps OpenCV cascade detector settings on the face-api sample photos and
// scores each against the face centres counted by eye in
// tests/data/sample_faces.txt: true positives (a box containing an unmatched
// centre), false positives and detection time. The settings in
// src/detect/haar_detector.cpp were chosen from this table.
//
//   build/benchmarks/haar_tuning [--threads N]   (needs scripts/setup.sh's assets)
#include "support.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

struct Photo {
  cv::Mat gray;
  std::vector<cv::Point2f> centres;
};

int main(int argc, char** argv) {
  int threads = 1;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  cv::setNumThreads(threads);

  std::vector<Photo> photos;
  int total = 0;
  for (const auto& truth : fer_test::sample_truth()) {
    Photo p;
    cv::Mat img = cv::imread(fer_test::face_api_dir() + "/demo/" + truth.file);
    if (img.empty()) {
      std::fprintf(stderr, "missing %s: run scripts/setup.sh first\n", truth.file.c_str());
      return 1;
    }
    cv::cvtColor(img, p.gray, cv::COLOR_BGR2GRAY);
    p.centres = truth.centres;
    total += int(p.centres.size());
    photos.push_back(std::move(p));
  }

  std::printf("%-34s %5s %5s %3s %3s %6s %3s %9s\n", "cascade", "side", "scale", "nb", "eq", "TP", "FP", "ms/photo");
  for (const char* name : {"haarcascades/haarcascade_frontalface_default.xml",
                           "haarcascades/haarcascade_frontalface_alt.xml",
                           "haarcascades/haarcascade_frontalface_alt2.xml",
                           "lbpcascades/lbpcascade_frontalface_improved.xml"}) {
    cv::CascadeClassifier cascade(std::string("/usr/share/opencv4/") + name);
    if (cascade.empty()) continue;
    for (int side : {480, 640, 800})
      for (double scale : {1.05, 1.1, 1.2})
        for (int neighbours : {3, 4, 5, 6})
          for (int eq : {0, 1}) {
            int tp = 0, fp = 0;
            double ms = 0;
            for (const Photo& p : photos) {
              double s = std::min(1.0, double(side) / std::max(p.gray.cols, p.gray.rows));
              cv::Mat small;
              cv::resize(p.gray, small, cv::Size(), s, s, cv::INTER_AREA);
              if (eq) cv::equalizeHist(small, small);
              std::vector<cv::Rect> boxes;
              auto t0 = std::chrono::steady_clock::now();
              cascade.detectMultiScale(small, boxes, scale, neighbours, 0, cv::Size(24, 24));
              ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
              std::vector<cv::Rect2f> scaled;
              for (const cv::Rect& b : boxes)
                scaled.emplace_back(float(b.x / s), float(b.y / s), float(b.width / s), float(b.height / s));
              auto m = fer_test::match_faces(p.centres, scaled);
              tp += m.hits;
              fp += m.false_positives;
            }
            const char* shortname = std::strrchr(name, '/') + 1;
            std::printf("%-34.34s %5d %5.2f %3d %3d %3d/%-2d %3d %9.1f\n", shortname, side, scale, neighbours, eq, tp,
                        total, fp, ms / double(photos.size()));
          }
  }
  return 0;
}
