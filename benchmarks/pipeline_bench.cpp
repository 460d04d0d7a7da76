// The full pipeline on a photo: Pipeline::process (detection, framing and
// cropping, recognition of every face in one batch) on the six face-api
// sample photos, per detector, precision and thread count, with the default
// model or --model FILE. Reports per configuration the faces recognized, the median time per
// photo (the mean over the photos of each photo's median), how much of it is
// detection (the same detector alone on the same photos), and the rest per
// recognized face (crop + recognition). Also the same on sample3 resized to a
// 640x480 frame.
//
//   build/benchmarks/pipeline_bench [--detectors tiny_face,ssd_mobilenet,haar]
//       [--precisions auto,int8,bf16,fp32] [--threads 1,2] [--repeats N (9)] [--model FILE] [--json FILE]
//       [--tta auto|none|center|flip|tencrop (auto: the model's own view)]
//
// Precision applies as PipelineOptions::precision does: to recognition (int8
// only for a model calibrated by fer quantize), and to the DNN detectors
// ("auto": bf16 or fp32; "int8": ssd_mobilenet in int8, tiny_face as "auto").
#include "bench_util.hpp"
#include "support.hpp"

#include <fer/model.hpp>
#include <fer/pipeline.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace {

const char* kUsage =
    "usage: pipeline_bench [--detectors tiny_face,ssd_mobilenet,haar] [--precisions auto,int8,bf16,fp32]\n"
    "                      [--threads 1,2] [--repeats N] [--model FILE (default model)] [--json FILE]\n"
    "                      [--tta auto|none|center|flip|tencrop (auto: the model's own view)]\n";

struct Result {
  int faces = 0;
  double photo_ms = 0;   // mean over photos of the median per photo
  double detect_ms = 0;  // the detector alone, same photos
};

Result measure(fer::Pipeline& pipeline, fer::Detector& detector, const std::vector<cv::Mat>& photos, int repeats) {
  Result r;
  for (const cv::Mat& photo : photos) {
    r.faces += int(pipeline.process(photo).size());
    r.photo_ms += fer_bench::time_repeats([&] { pipeline.process(photo); }, repeats).median;
    r.detect_ms += fer_bench::time_repeats([&] { detector.detect(photo); }, repeats).median;
  }
  r.photo_ms /= double(photos.size());
  r.detect_ms /= double(photos.size());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> detectors = {"tiny_face", "ssd_mobilenet", "haar"};
  std::vector<std::string> precisions = {"auto", "int8", "bf16", "fp32"};
  std::vector<std::string> threads = {"1", "2"};
  int repeats = 9;
  std::string json_path, model_path, tta = "auto";
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
    if (a == "--detectors") detectors = fer_bench::split_list(argv[++i]);
    else if (a == "--precisions") precisions = fer_bench::split_list(argv[++i]);
    else if (a == "--threads") threads = fer_bench::split_list(argv[++i]);
    else if (a == "--repeats") repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--json") json_path = argv[++i];
    else if (a == "--model") model_path = argv[++i];
    else if (a == "--tta") tta = argv[++i];
    else {
      std::fprintf(stderr, "unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (!model_path.empty()) {
    try {
      fer::Model::load(model_path);
    } catch (const fer::Error& e) {
      std::fprintf(stderr, "pipeline_bench: %s\n", e.what());
      return 1;
    }
  }
  std::vector<cv::Mat> photos;
  for (const auto& p : fer_test::sample_truth()) {
    photos.push_back(cv::imread(fer_test::face_api_dir() + "/demo/" + p.file));
    if (photos.back().empty()) {
      std::fprintf(stderr, "missing %s: run scripts/setup.sh first\n", p.file.c_str());
      return 1;
    }
  }
  std::vector<cv::Mat> frame(1);
  cv::resize(photos[2], frame[0], cv::Size(640, 480), 0, 0, cv::INTER_AREA);

  std::string cpu = fer_bench::cpuinfo_field("model name");
  const std::string model_name = model_path.empty() ? "default model " + fer::default_model_path() : model_path;
  std::printf("full pipeline (Pipeline::process, %s, tta %s) on the %zu sample photos and on sample3 as a\n"
              "640x480 frame; median of %d runs per photo; CPU %s\n",
              model_name.c_str(), tta.c_str(), photos.size(), repeats, cpu.empty() ? "unknown" : cpu.c_str());
  std::printf("%-14s %-5s %-5s %3s %6s %10s %10s %12s %10s %10s\n", "detector", "prec", "recog", "thr", "faces",
              "ms/photo", "detect ms", "ms/face rest", "640x480 ms", "detect ms");
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string& det : detectors)
    for (const std::string& precision : precisions)
      for (const std::string& t : threads) {
        fer::PipelineOptions o;
        o.detector = det;
        o.model_path = model_path;
        o.precision = precision;
        o.threads = std::atoi(t.c_str());
        o.tta = tta;
        std::unique_ptr<fer::Pipeline> pipeline;
        std::unique_ptr<fer::Detector> detector;
        try {
          pipeline = std::make_unique<fer::Pipeline>(o);
          fer::DetectorOptions d;
          d.precision = precision;
          detector = fer::Detector::create(det, d);
        } catch (const fer::Error& e) {
          std::printf("%-14s %-5s unavailable: %s\n", det.c_str(), precision.c_str(), e.what());
          continue;
        }
        const std::string recog = fer::precision_name(pipeline->model().precision());
        Result photo = measure(*pipeline, *detector, photos, repeats);
        Result f = measure(*pipeline, *detector, frame, repeats);
        double rest = photo.faces ? (photo.photo_ms - photo.detect_ms) * double(photos.size()) / photo.faces : 0;
        std::printf("%-14s %-5s %-5s %3s %6d %10.2f %10.2f %12.3f %10.2f %10.2f\n", det.c_str(), precision.c_str(),
                    recog.c_str(), t.c_str(), photo.faces, photo.photo_ms, photo.detect_ms, rest, f.photo_ms,
                    f.detect_ms);
        std::fflush(stdout);
        rows.push_back({{"detector", det}, {"precision", precision}, {"recognition_precision", recog},
                        {"threads", o.threads}, {"view", pipeline->view()}, {"photos", photos.size()}, {"faces", photo.faces},
                        {"photo_ms", photo.photo_ms}, {"photo_detect_ms", photo.detect_ms},
                        {"ms_per_face_after_detection", rest}, {"frame_640x480_faces", f.faces},
                        {"frame_640x480_ms", f.photo_ms}, {"frame_640x480_detect_ms", f.detect_ms}});
      }
  std::printf("\nms/face rest = (ms/photo - detect ms) x photos / faces: framing, cropping and recognition per face\n");
  if (!json_path.empty()) {
    nlohmann::json j = {{"tool", "benchmarks/pipeline_bench"}, {"cpu", cpu}, {"model", model_name}, {"tta", tta},
                        {"repeats", repeats}, {"rows", rows}};
    std::ofstream(json_path) << j.dump(1) << "\n";
    std::printf("wrote %s\n", json_path.c_str());
  }
  return 0;
}
