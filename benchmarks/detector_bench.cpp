// Every registered face detector on the face-api sample photos: faces found
// against the centres counted by eye (tests/data/sample_faces.txt), false
// positives, and the median time per 1920-px photo and per 640x480 frame, for
// each precision (fp32, bf16; Haar has none) and thread count.
//   build/benchmarks/detector_bench [--threads 1,2] [--precisions fp32,bf16] [--repeats N] [--json FILE]
// (needs scripts/setup.sh's assets)
#include "support.hpp"

#include <fer/recognizer.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace {

struct Timing {
  double median = 0, p10 = 0, p90 = 0;
};

Timing time_ms(fer::Detector& d, const cv::Mat& img, int repeats) {
  std::vector<double> t;
  d.detect(img);  // warm-up
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    d.detect(img);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  auto at = [&](double q) { return t[std::min(t.size() - 1, size_t(q * double(t.size())))]; };
  return {t[t.size() / 2], at(0.1), at(0.9)};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> threads = {"1"}, precisions = {"fp32", "bf16"};
  int repeats = 9;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: detector_bench [--threads 1,2] [--precisions fp32,bf16] [--repeats N] [--json FILE]\n");
      return 2;
    }
    if (a == "--threads") threads = split(argv[++i]);
    else if (a == "--precisions") precisions = split(argv[++i]);
    else if (a == "--repeats") repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--json") json_path = argv[++i];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  auto truth = fer_test::sample_truth();
  std::vector<cv::Mat> photos;
  for (const auto& p : truth) {
    photos.push_back(cv::imread(fer_test::face_api_dir() + "/demo/" + p.file));
    if (photos.back().empty()) {
      std::fprintf(stderr, "missing %s: run scripts/setup.sh first\n", p.file.c_str());
      return 1;
    }
  }
  cv::Mat frame;
  cv::resize(photos[2], frame, cv::Size(640, 480), 0, 0, cv::INTER_AREA);

  nlohmann::json rows = nlohmann::json::array();
  std::printf("median of %d runs (p10-p90); CPU %s, native bf16: %s\n", repeats, cpu_model().c_str(),
              fer::cpu_has_native_bf16() ? "yes" : "no");
  std::printf("%-14s %-5s %3s %7s %4s %10s %20s\n", "detector", "prec", "thr", "found", "FP", "ms/1920px",
              "ms/640x480");
  for (const auto& name : fer::detector_registry().names()) {
    if (name == "auto") continue;
    for (const auto& precision : name == "haar" ? std::vector<std::string>{"-"} : precisions)
      for (const auto& t : threads) {
        fer::set_num_threads(std::atoi(t.c_str()));
        fer::DetectorOptions o;
        if (precision != "-") o.precision = precision;
        std::unique_ptr<fer::Detector> d;
        try {
          d = fer::Detector::create(name, o);
        } catch (const fer::Error& e) {
          std::printf("%-14s unavailable: %s\n", name.c_str(), e.what());
          break;
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
          photo_ms.push_back(time_ms(*d, photos[i], repeats).median);
        }
        std::sort(photo_ms.begin(), photo_ms.end());
        Timing f = time_ms(*d, frame, repeats);
        std::printf("%-14s %-5s %3s %4d/%-2d %4d %10.1f %8.1f (%.1f-%.1f)\n", name.c_str(), precision.c_str(), t.c_str(),
                    hits, total, fp, photo_ms[photo_ms.size() / 2], f.median, f.p10, f.p90);
        std::fflush(stdout);
        rows.push_back({{"detector", name}, {"precision", precision}, {"threads", std::atoi(t.c_str())},
                        {"found", hits}, {"faces", total}, {"false_positives", fp},
                        {"photo_ms_median", photo_ms[photo_ms.size() / 2]}, {"frame_640x480_ms_median", f.median},
                        {"frame_640x480_ms_p10", f.p10}, {"frame_640x480_ms_p90", f.p90}});
      }
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"cpu", cpu_model()}, {"repeats", repeats}, {"rows", rows}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
