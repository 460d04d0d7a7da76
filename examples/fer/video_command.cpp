// fer video: track faces and their expressions through a video, an image
// sequence or a camera; optionally writes JSON lines and an annotated video.
#include "commands.hpp"

#include <fer/error.hpp>
#include <fer/overlay.hpp>
#include <fer/stream.hpp>
#include <fer/video.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/videoio.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

namespace fer_cli {

namespace {

const char* kVideoUsage =
    "usage: fer video INPUT [options]\n"
    "  INPUT               video file, image-sequence pattern (frames/%04d.png), or with --camera a camera index\n"
    "  --out FILE          write the annotated video (.mp4 or .avi)\n"
    "  --json              print one JSON line per frame\n"
    "  --every N           run the detector every N frames (default 5)\n"
    "  --max-frames N      stop after N frames\n"
    "  --camera            INPUT is a camera index\n"
    "  --fps F             frame rate for timestamps of files and sequences (default: the file's, else 30)\n"
    "  --smoothing S       smoothing time constant in seconds (default 0.3)\n"
    "  --model FILE, --detector NAME, --min-face N, --threads N, --precision P: as for fer image\n";

struct VideoArgs {
  std::string input;
  std::string out;
  bool json = false;
  bool camera = false;
  int64_t max_frames = -1;
  double fps = 0;
  fer::PipelineOptions pipeline;
  fer::StreamOptions stream;
};

VideoArgs parse_video_args(int argc, char** argv) {
  VideoArgs a;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--json") a.json = true;
    else if (arg == "--camera") a.camera = true;
    else if (arg == "--out") a.out = value();
    else if (arg == "--every") a.stream.detect_every = parse_number<int>(arg, value());
    else if (arg == "--max-frames") a.max_frames = parse_number<int64_t>(arg, value());
    else if (arg == "--fps") a.fps = parse_number<double>(arg, value());
    else if (arg == "--smoothing") a.stream.smoothing_seconds = parse_number<double>(arg, value());
    else if (parse_pipeline_flag(arg, value, a.pipeline)) continue;
    else if (arg.rfind("--", 0) == 0) throw UsageError("unknown option " + arg + "\n" + kVideoUsage);
    else if (a.input.empty()) a.input = arg;
    else throw UsageError("fer video takes one INPUT, got '" + a.input + "' and '" + arg + "'");
  }
  if (a.input.empty()) throw UsageError(std::string("fer video needs an INPUT\n") + kVideoUsage);
  if (a.stream.detect_every < 1) throw UsageError("--every needs N >= 1");
  if (a.camera && (a.input.empty() || a.input.find_first_not_of("0123456789") != std::string::npos))
    throw UsageError("--camera needs a camera index as INPUT (0 = the default camera), got '" + a.input + "'");
  return a;
}

nlohmann::ordered_json box_json(const cv::Rect2f& b) {
  return {{"x", b.x}, {"y", b.y}, {"width", b.width}, {"height", b.height}};
}

nlohmann::ordered_json probs_json(const std::vector<float>& p, const std::vector<std::string>& classes) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (size_t k = 0; k < classes.size() && k < p.size(); ++k) j[classes[k]] = p[k];
  return j;
}

int fourcc_for(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return cv::VideoWriter::fourcc('m', 'p', '4', 'v');
  if (ext == ".avi") return cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
  throw UsageError("--out must end in .mp4 or .avi, got '" + path + "'");
}

}  // namespace

int run_video(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kVideoUsage, stdout);
      return 0;
    }
  VideoArgs a = parse_video_args(argc, argv);
  int fourcc = a.out.empty() ? 0 : fourcc_for(a.out);
  fer::VideoSource source = a.camera ? fer::VideoSource::camera(std::stoi(a.input)) : fer::VideoSource(a.input, a.fps);
  fer::Stream stream(a.pipeline, a.stream);
  const fer::ModelInfo& info = stream.pipeline().model().info();
  if (!info.trained)
    std::fprintf(stderr,
                 "warning: the model is untrained (random weights): its labels are NOT expression recognition.\n"
                 "         Pass --model FILE with a trained model.\n");

  cv::VideoWriter writer;
  fer::OverlayOptions overlay;
  overlay.class_names = info.classes;
  double fps_ema = 0;  // displayed processing rate
  std::set<int64_t> tracks;
  fer::VideoFrame frame;
  int64_t n = 0;
  auto start = std::chrono::steady_clock::now();
  while ((a.max_frames < 0 || n < a.max_frames) && source.read(frame)) {
    auto t0 = std::chrono::steady_clock::now();
    fer::StreamFrame result = stream.push(frame.image, frame.timestamp);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fps_ema = fps_ema == 0 ? 1.0 / std::max(dt, 1e-6) : 0.9 * fps_ema + 0.1 / std::max(dt, 1e-6);
    ++n;
    for (const auto& f : result.faces) tracks.insert(f.track_id);

    if (a.json) {
      nlohmann::ordered_json j = {{"frame", result.index}, {"time", result.timestamp}, {"detected", result.detection_ran},
                          {"faces", nlohmann::ordered_json::array()}};
      for (const auto& f : result.faces)
        j["faces"].push_back({{"track", f.track_id},
                              {"box", box_json(f.result.face.box)},
                              {"detected", f.detected},
                              {"label", f.smoothed_label},
                              {"raw_label", f.result.label},
                              {"probabilities", probs_json(f.result.probabilities, info.classes)},
                              {"smoothed", probs_json(f.smoothed, info.classes)},
                              {"age", f.age_seconds},
                              {"frames_missed", f.frames_missed}});
      std::cout << j.dump() << "\n";
    }
    if (!a.out.empty()) {
      if (!writer.isOpened()) {
        double out_fps = source.fps() > 0 ? source.fps() : 30.0;
        if (!writer.open(a.out, fourcc, out_fps, frame.image.size()))
          throw fer::Error(fer::Status::IoError, "cannot write video " + a.out +
                                                     " (no OpenCV encoder for this container in this build?)");
      }
      cv::Mat canvas = frame.image.clone();
      overlay.fps = fps_ema;
      fer::draw_overlay(canvas, result.faces, overlay);
      writer.write(canvas);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (n == 0) throw fer::Error(fer::Status::CorruptData, "no frame could be read from " + source.description());
  std::fprintf(a.json ? stderr : stdout, "%s: %lld frames in %.2f s (%.1f FPS incl. decoding), %zu track(s)%s%s\n",
               source.description().c_str(), (long long)n, seconds, double(n) / std::max(seconds, 1e-9), tracks.size(),
               a.out.empty() ? "" : ", annotated video: ", a.out.c_str());
  return 0;
}

}  // namespace fer_cli
