// fer video: track faces and their expressions through a video, an image
// sequence or a camera; optionally writes JSON lines and an annotated video.
#include "commands.hpp"

#include <fer/async_stream.hpp>
#include <fer/error.hpp>
#include <fer/overlay.hpp>
#include <fer/stream.hpp>
#include <fer/video.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <limits>
#include <set>
#include <string>
#include <thread>

namespace fer_cli {

namespace {

const char* kVideoUsage =
    "usage: fer video INPUT [options]\n"
    "  INPUT               video file, image-sequence pattern (frames/%04d.png), or with --camera a camera index\n"
    "  --out FILE          write the annotated video (.mp4 or .avi)\n"
    "  --json              print one JSON line per frame\n"
    "  --every N           run the detector every N frames (default 5)\n"
    "  --redetect N        while nothing is tracked or a face is lost, detect at most every N frames (default 2)\n"
    "  --max-frames N      stop after N frames\n"
    "  --camera            INPUT is a camera index; frames are captured on their own thread and the\n"
    "                      oldest waiting frame is dropped when recognition falls behind (no backlog)\n"
    "  --latency-budget S  drop frames that waited more than S seconds for recognition (any INPUT;\n"
    "                      files then also run capture and recognition on separate threads)\n"
    "  --attention         blend the model's attention map over each face in --out (models with\n"
    "                      attention, e.g. acnn, vit_asf)\n"
    "  --fps F             frame rate for timestamps of files and sequences (default: the file's, else 30)\n"
    "  --smoothing S       smoothing time constant in seconds (default 0.3)\n"
    "  --model FILE, --detector NAME, --min-face N, --threads N, --precision P, --tta T: as for fer image\n"
    "Ctrl-C (or SIGTERM) stops after the current frame: --out is closed playable, the JSON lines are whole\n"
    "(exit 130); a second Ctrl-C ends the program at once.\n";

struct VideoArgs {
  std::string input;
  std::string out;
  bool json = false;
  bool camera = false;
  bool attention = false;
  int64_t max_frames = -1;
  double fps = 0;
  double latency_budget = 0;
  fer::PipelineOptions pipeline;
  fer::StreamOptions stream;
};

VideoArgs parse_video_args(int argc, char** argv) {
  VideoArgs a;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return flag_value(argc, argv, i, arg); };
    if (arg == "--json") a.json = true;
    else if (arg == "--camera") a.camera = true;
    else if (arg == "--attention") a.attention = a.pipeline.return_attention = true;
    else if (arg == "--latency-budget") a.latency_budget = parse_number<double>(arg, value());
    else if (arg == "--out") a.out = value();
    else if (arg == "--every") a.stream.detect_every = parse_number<int>(arg, value());
    else if (arg == "--redetect") a.stream.redetect_every = parse_number<int>(arg, value());
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
  if (a.max_frames == 0 || a.max_frames < -1) throw UsageError("--max-frames needs N >= 1");
  if (a.stream.redetect_every < 1) throw UsageError("--redetect needs N >= 1");
  if (!(a.latency_budget >= 0) || !std::isfinite(a.latency_budget))
    throw UsageError("--latency-budget needs seconds >= 0 (0 = no budget)");
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


// Everything done with a processed frame: JSON line, overlay, annotated video.
struct FrameOutput {
  const VideoArgs& args;
  const fer::ModelInfo& info;
  double source_fps;
  int fourcc;
  cv::VideoWriter writer;
  cv::Size writer_size;  // frames of another size are resized to it (a video file has one frame size)
  // The annotated video keeps the source's timing: frame k of it shows time
  // origin + k / writer_fps. A frame the stream dropped (a camera, a latency
  // budget) leaves its slot to the last annotated frame, repeated, so the
  // video plays at the speed it was filmed.
  double writer_fps = 0;
  double origin = std::numeric_limits<double>::quiet_NaN();  // timestamp of the first frame read
  int64_t written = 0;
  cv::Mat last_canvas;
  fer::OverlayOptions overlay;
  std::set<int64_t> tracks;
  bool attention_seen = false;

  FrameOutput(const VideoArgs& a, const fer::ModelInfo& i, double fps, int cc)
      : args(a), info(i), source_fps(fps), fourcc(cc) {
    overlay.class_names = info.classes;
    overlay.attention = a.attention;
  }

  void emit(const fer::StreamFrame& result, int64_t frame_number, const cv::Mat& image, double display_fps) {
    for (const auto& f : result.faces) {
      tracks.insert(f.track_id);
      attention_seen = attention_seen || !f.result.attention.empty();
    }
    if (args.json) {
      nlohmann::ordered_json j = {{"frame", frame_number}, {"time", result.timestamp}, {"detected", result.detection_ran},
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
      std::cout << json_line(j) << "\n" << std::flush;  // whole lines, as they come (live consumers)
    }
    if (!args.out.empty()) {
      if (!writer.isOpened()) {
        writer_fps = source_fps > 0 ? source_fps : 30.0;
        if (!writer.open(args.out, fourcc, writer_fps, image.size()))
          throw fer::Error(fer::Status::IoError, "cannot write video " + args.out +
                                                     " (no OpenCV encoder for this container in this build?)");
        writer_size = image.size();
      }
      if (std::isnan(origin)) origin = result.timestamp;
      fill_until(result.timestamp);
      cv::Mat canvas = image.clone();
      overlay.fps = display_fps;
      fer::draw_overlay(canvas, result.faces, overlay);
      if (canvas.size() != writer_size) cv::resize(canvas, canvas, writer_size, 0, 0, cv::INTER_AREA);
      writer.write(canvas);
      ++written;
      last_canvas = std::move(canvas);
    }
  }

  // Repeats the last annotated frame into the slots before `timestamp` (those
  // of frames that were dropped). A gap of more than 10 minutes (a camera
  // that stalled) is cut to 10 minutes of video.
  void fill_until(double timestamp) {
    if (!writer.isOpened() || last_canvas.empty() || std::isnan(origin)) return;
    const double slots = std::floor((timestamp - origin) * writer_fps + 0.5);
    if (!(slots > double(written))) return;
    const int64_t target = slots > 9e15 ? INT64_MAX : int64_t(slots);
    const int64_t repeats = std::min<int64_t>(target - written, int64_t(600 * writer_fps));
    for (int64_t k = 0; k < repeats; ++k) writer.write(last_canvas);
    written = target;
  }
  // After the last frame read (at `timestamp`): its slot and those before it are filled.
  void finish(double timestamp) {
    if (!std::isnan(timestamp) && writer_fps > 0) fill_until(timestamp + 1.0 / writer_fps);
    writer.release();  // finishes the file (an .mp4 is unplayable until then)
  }
};

double ema_rate(double ema, double dt) {
  double rate = 1.0 / std::max(dt, 1e-6);
  return ema == 0 ? rate : 0.9 * ema + 0.1 * rate;
}

// Capture on this thread's helper, recognition on the AsyncStream's worker,
// output here: a slow recognizer drops frames instead of queueing them.
void run_async(const VideoArgs& a, fer::VideoSource& source, fer::Stream stream, FrameOutput& out, int64_t& read,
               fer::AsyncStreamStats& stats, double& last_read_time) {
  // When the first and the last frame were read: the annotated video spans
  // them even where the stream dropped frames (the first and last included).
  std::atomic<double> first_read{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<double> last_read{std::numeric_limits<double>::quiet_NaN()};
  fer::AsyncStreamOptions o;
  o.policy = source.is_live() ? fer::QueuePolicy::DropOldest : fer::QueuePolicy::Block;
  o.latency_budget = a.latency_budget;
  fer::AsyncStream async(std::move(stream), o);
  std::exception_ptr capture_error;
  std::thread capture([&] {
    try {
      fer::VideoFrame frame;
      while ((a.max_frames < 0 || read < a.max_frames) && !stop_requested() && source.read(frame)) {
        ++read;
        if (read == 1) first_read = frame.timestamp;
        last_read = frame.timestamp;
        if (!async.submit(frame.image, frame.timestamp)) break;
      }
    } catch (...) {
      capture_error = std::current_exception();
    }
    async.close();
  });
  struct Joiner {  // on any exit: stop the worker, which unblocks submit(), then join the capture thread
    fer::AsyncStream& s;
    std::thread& t;
    ~Joiner() {
      s.stop();
      if (t.joinable()) t.join();
    }
  } joiner{async, capture};

  double fps_ema = 0;
  auto last = std::chrono::steady_clock::now();
  fer::AsyncResult r;
  while (async.next(r) == fer::AsyncStream::Next::Ready) {
    auto now = std::chrono::steady_clock::now();
    fps_ema = ema_rate(fps_ema, std::chrono::duration<double>(now - last).count());
    last = now;
    if (std::isnan(out.origin)) out.origin = first_read;  // read before it was submitted
    out.emit(r.frame, r.submit_index, r.image, fps_ema);
  }
  async.stop();
  capture.join();
  last_read_time = last_read;
  stats = async.stats();
  if (capture_error) std::rethrow_exception(capture_error);
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
  catch_stop_signals();  // from here Ctrl-C ends the run cleanly (exit 130), also while the model loads
  fer::VideoSource source = a.camera ? fer::VideoSource::camera(parse_number<int>("--camera", a.input)) : fer::VideoSource(a.input, a.fps);
  fer::Stream stream(a.pipeline, a.stream);
  std::shared_ptr<const fer::Model> model = stream.pipeline().shared_model();  // outlives a moved stream
  const fer::ModelInfo& info = model->info();
  if (!info.trained)
    std::fprintf(stderr,
                 "warning: the model is untrained (random weights): its labels are NOT expression recognition.\n"
                 "         Pass --model FILE with a trained model.\n");

  FrameOutput out(a, info, source.fps(), fourcc);
  int64_t n = 0;  // frames read
  bool async = source.is_live() || a.latency_budget > 0;
  fer::AsyncStreamStats stats;
  auto start = std::chrono::steady_clock::now();
  double last_time = std::numeric_limits<double>::quiet_NaN();  // of the last frame read
  if (async) {
    run_async(a, source, std::move(stream), out, n, stats, last_time);
  } else {
    double fps_ema = 0;  // displayed processing rate
    fer::VideoFrame frame;
    while ((a.max_frames < 0 || n < a.max_frames) && !stop_requested() && source.read(frame)) {
      auto t0 = std::chrono::steady_clock::now();
      fer::StreamFrame result = stream.push(frame.image, frame.timestamp);
      fps_ema = ema_rate(fps_ema, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      ++n;
      out.emit(result, result.index, frame.image, fps_ema);
      last_time = frame.timestamp;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.finish(last_time);
  const bool interrupted = stop_requested();
  if (n == 0 && !interrupted)
    throw fer::Error(fer::Status::CorruptData, "no frame could be read from " + source.description());
  FILE* report = a.json ? stderr : stdout;
  std::fprintf(report, "%s: %lld frames in %.2f s (%.1f FPS incl. decoding), %zu track(s)%s%s\n",
               source.description().c_str(), (long long)n, seconds, double(n) / std::max(seconds, 1e-9),
               out.tracks.size(), a.out.empty() ? "" : ", annotated video: ", a.out.c_str());
  if (async)
    std::fprintf(report, "  recognized %lld, dropped %lld (queue full %lld, over the %.3g s budget %lld)\n",
                 (long long)stats.processed, (long long)stats.dropped(), (long long)stats.dropped_full,
                 a.latency_budget, (long long)stats.dropped_late);
  if (a.attention && !out.attention_seen && !out.tracks.empty())
    std::fprintf(stderr, "warning: --attention: model '%s' gives no attention map (try acnn or vit_asf)\n",
                 info.architecture.c_str());
  if (interrupted) {
    std::fprintf(stderr, "fer video: interrupted after %lld frames%s\n", (long long)n,
                 a.out.empty() ? "" : " (the annotated video is complete up to there)");
    return 130;
  }
  return 0;
}

}  // namespace fer_cli
