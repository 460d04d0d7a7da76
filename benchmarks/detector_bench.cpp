// Every registered face detector on the face-api sample photos: faces found
// against the centres counted by eye (tests/data/sample_faces.txt), false
// positives, and the median time per 1920-px photo and per 640x480 frame, for
// each precision (fp32, bf16; Haar has none) and thread count; then the
// 68-point landmark models per face on the faces ssd_mobilenet finds.
//   build/benchmarks/detector_bench [--threads 1,2] [--precisions fp32,bf16] [--repeats N] [--json FILE]
//                                   [--frame-sizes 320x240,640x480,1280x720,1920x1080]
// (needs scripts/setup.sh's assets)
//
// --frame-sizes: cost growth with the frame size. The same photo (sample3) is
// resized to each WxH and timed per detector, precision and thread count; a
// second table and JSON rows' "frame_sizes" list hold the times. Without it
// only the 640x480 frame is timed, as before. Every detector works on a frame
// bounded by DetectorOptions::max_detect_side (default 480), so the growth is
// not proportional to the pixels:
//   haar           frames whose longer side is above 480 are downscaled to 480
//                  first: the cascade's cost grows with the pixels up to that
//                  size, and beyond it only the downscale (linear in pixels) grows;
//   tiny_face      every frame is letterboxed to a canvas of longer side 480
//                  (smaller frames are upscaled), as tall as the aspect needs
//                  (rounded up to 32: 480x384 for 4:3, 480x288 for 16:9), so the
//                  network's cost depends on the aspect ratio, not the size;
//                  only the resize grows with the pixels;
//   ssd_mobilenet  always a 512x512 letterbox (max_detect_side does not apply):
//                  constant network cost plus the resize.
#include "bench_util.hpp"
#include "support.hpp"

#include <fer/landmarks.hpp>
#include <fer/recognizer.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

namespace {

using fer_bench::Timing;

const char* kUsage =
    "usage: detector_bench [--threads 1,2] [--precisions fp32,bf16] [--repeats N] [--json FILE]\n"
    "                      [--frame-sizes 320x240,640x480,1280x720,1920x1080]\n";

Timing time_ms(fer::Detector& d, const cv::Mat& img, int repeats) {
  return fer_bench::time_repeats([&] { d.detect(img); }, repeats);
}

// "640x480" -> {640, 480}; false unless both sides are in [16, 8192].
bool parse_size(const std::string& s, cv::Size& out) {
  size_t x = s.find_first_of("xX");
  if (x == std::string::npos) return false;
  try {
    size_t used_w = 0, used_h = 0;
    int w = std::stoi(s.substr(0, x), &used_w), h = std::stoi(s.substr(x + 1), &used_h);
    if (used_w != x || used_h != s.size() - x - 1 || w < 16 || h < 16 || w > 8192 || h > 8192) return false;
    out = cv::Size(w, h);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string size_name(const cv::Size& s) { return std::to_string(s.width) + "x" + std::to_string(s.height); }

std::string cpu_model() {
  std::string m = fer_bench::cpuinfo_field("model name");
  return m.empty() ? "unknown" : m;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> threads = {"1"}, precisions = {"fp32", "bf16"};
  int repeats = 9;
  std::string json_path;
  std::vector<cv::Size> frame_sizes;  // --frame-sizes; empty: the 640x480 frame only
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    if (a == "--threads") threads = fer_bench::split_list(argv[++i]);
    else if (a == "--precisions") precisions = fer_bench::split_list(argv[++i]);
    else if (a == "--repeats") repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--json") json_path = argv[++i];
    else if (a == "--frame-sizes") {
      frame_sizes.clear();
      for (const std::string& item : fer_bench::split_list(argv[++i])) {
        cv::Size size;
        if (!parse_size(item, size)) {
          std::fprintf(stderr, "--frame-sizes: WxH with sides in [16, 8192], got '%s'\n%s", item.c_str(), kUsage);
          return 2;
        }
        frame_sizes.push_back(size);
      }
      if (frame_sizes.empty()) {
        std::fprintf(stderr, "--frame-sizes needs a list such as 320x240,640x480\n%s", kUsage);
        return 2;
      }
      // In order of growing pixels (then width), without repeats.
      auto less = [](const cv::Size& a, const cv::Size& b) {
        return std::make_pair(a.area(), a.width) < std::make_pair(b.area(), b.width);
      };
      std::sort(frame_sizes.begin(), frame_sizes.end(), less);
      frame_sizes.erase(std::unique(frame_sizes.begin(), frame_sizes.end()), frame_sizes.end());
    } else {
      std::fprintf(stderr, "unknown option %s\n%s", a.c_str(), kUsage);
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
  // The same photo at each --frame-sizes size (shrunk with INTER_AREA, enlarged bilinearly).
  std::vector<cv::Mat> sized_frames;
  for (const cv::Size& size : frame_sizes) {
    const cv::Mat& src = photos[2];
    bool shrink = size.width <= src.cols && size.height <= src.rows;
    sized_frames.emplace_back();
    cv::resize(src, sized_frames.back(), size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  struct Growth {
    std::string detector, precision, threads;
    std::vector<Timing> times;  // per frame size
  };
  std::vector<Growth> growth;

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
        if (!frame_sizes.empty()) {
          Growth g{name, precision, t, {}};
          nlohmann::json sizes = nlohmann::json::array();
          for (size_t k = 0; k < frame_sizes.size(); ++k) {
            // 640x480 was just timed on this very frame: reuse it.
            Timing ft = frame_sizes[k] == frame.size() ? f : time_ms(*d, sized_frames[k], repeats);
            g.times.push_back(ft);
            sizes.push_back({{"width", frame_sizes[k].width}, {"height", frame_sizes[k].height},
                             {"ms_median", ft.median}, {"ms_p10", ft.p10}, {"ms_p90", ft.p90},
                             {"detections", d->detect(sized_frames[k]).size()}});
          }
          rows.back()["frame_sizes"] = sizes;
          growth.push_back(std::move(g));
        }
      }
  }
  if (!frame_sizes.empty()) {
    // Compact: median ms (p10-p90) per frame size, the same photo resized.
    fer::DetectorOptions defaults;
    std::printf("\ncost growth with the frame size (%s resized; median ms, p10-p90; detection runs on the frame\n"
                "downscaled to max_detect_side %d: haar's cascade stops growing above it, tiny_face and\n"
                "ssd_mobilenet always run a fixed-size letterbox, so beyond it only the resize grows)\n",
                truth[2].file.c_str(), defaults.max_detect_side);
    std::printf("%-14s %-5s %3s", "detector", "prec", "thr");
    for (const cv::Size& size : frame_sizes) std::printf(" %20s", size_name(size).c_str());
    std::printf("\n");
    for (const Growth& g : growth) {
      std::printf("%-14s %-5s %3s", g.detector.c_str(), g.precision.c_str(), g.threads.c_str());
      for (const Timing& ft : g.times) {
        char cell[48];
        std::snprintf(cell, sizeof cell, "%.1f (%.1f-%.1f)", ft.median, ft.p10, ft.p90);
        std::printf(" %20s", cell);
      }
      std::printf("\n");
    }
  }
  // Landmarks: the 68-point models on the faces ssd_mobilenet finds in each
  // sample photo (all faces of a photo in one batch), per face.
  nlohmann::json landmark_rows = nlohmann::json::array();
  std::unique_ptr<fer::Detector> boxes_from;
  try {
    boxes_from = fer::Detector::create("ssd_mobilenet");
  } catch (const fer::Error& e) {
    std::printf("\nlandmarks: skipped (%s)\n", e.what());
  }
  if (boxes_from) {
    std::vector<std::vector<cv::Rect2f>> boxes;
    size_t faces = 0;
    for (const cv::Mat& photo : photos) {
      boxes.emplace_back();
      for (const fer::Face& f : boxes_from->detect(photo)) boxes.back().push_back(f.box);
      faces += boxes.back().size();
    }
    std::printf("\nlandmarks on the %zu faces ssd_mobilenet finds in the sample photos (one batch per photo; fp32\n"
                "channels-last; ms per face, median of %d runs over all photos, p10-p90)\n", faces, repeats);
    std::printf("%-10s %3s %20s\n", "model", "thr", "ms/face");
    for (const std::string& name : {"68", "68_tiny"})
      for (const auto& t : threads) {
        fer::set_num_threads(std::atoi(t.c_str()));
        auto lm = fer::LandmarkDetector::create(name);
        auto all = [&] {
          for (size_t i = 0; i < photos.size(); ++i) lm->detect(photos[i], boxes[i]);
        };
        const Timing ms = fer_bench::time_repeats(all, repeats, double(std::max<size_t>(faces, 1)));
        std::printf("%-10s %3s %8.2f (%.2f-%.2f)\n", name.c_str(), t.c_str(), ms.median, ms.p10, ms.p90);
        landmark_rows.push_back({{"model", name}, {"threads", std::atoi(t.c_str())}, {"faces", faces},
                                 {"ms_per_face_median", ms.median}, {"ms_per_face_p10", ms.p10},
                                 {"ms_per_face_p90", ms.p90}});
      }
  }
  if (!json_path.empty()) {
    nlohmann::json j = {{"cpu", cpu_model()}, {"repeats", repeats}, {"rows", rows}, {"landmarks", landmark_rows}};
    if (!frame_sizes.empty()) {
      j["max_detect_side"] = fer::DetectorOptions{}.max_detect_side;
      j["frame_source"] = truth[2].file;
    }
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
