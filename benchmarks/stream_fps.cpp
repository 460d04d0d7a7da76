// End-to-end video throughput: a fer::Stream on synthesized 640x480 frames with
// 1, 4 and 8 moving faces (cut from the face-api sample photos), on 1 and 2
// threads: FPS, p50/p99 per-frame latency, detection vs tracking frames.
// --soak N runs N frames (faces leaving and coming back, so tracks start and
// end) and reports peak/current RSS and open file descriptors at start and end.
//
//   build/benchmarks/stream_fps [--frames 300] [--warmup 30] [--threads 1,2] [--faces 1,4,8]
//                               [--detector auto] [--model models/default.fermodel] [--every 5]
//                               [--precision auto] [--json FILE] [--soak N] [--save-frames DIR] [--live]
//                               [--tta auto] (the recognizer's view; auto: the model's own)
//
// Latency is the time of Stream::push only (frame synthesis is not counted).
// --live also feeds each configuration as a 30 fps camera would (frames at
// their real times) through fer::AsyncStream (drop-oldest, queue of 2) and
// reports frames recognized and dropped, and the submit-to-result latency.
#include "bench_util.hpp"
#include "support.hpp"

#include <fer/async_stream.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kWidth = 640, kHeight = 480;
constexpr double kFrameRate = 30.0;

struct Args {
  int frames = 300;
  int warmup = 30;
  std::vector<int> threads{1, 2};
  std::vector<int> faces{1, 4, 8};
  std::string detector = "auto";
  std::string model = std::string(FER_SOURCE_DIR) + "/models/default.fermodel";
  std::string precision = "auto";
  std::string tta = "auto";
  int every = fer::StreamOptions{}.detect_every;
  std::string json_path;
  std::string save_frames;  // directory: writes the first frame of each face count there
  int64_t soak = 0;
  bool live = false;        // also: a simulated 30 fps camera through fer::AsyncStream
};

std::vector<int> int_list(const std::string& s) {
  std::vector<int> out;
  for (const std::string& item : fer_bench::split_list(s)) out.push_back(std::stoi(item));
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--frames") a.frames = std::stoi(value());
    else if (arg == "--warmup") a.warmup = std::stoi(value());
    else if (arg == "--threads") a.threads = int_list(value());
    else if (arg == "--faces") a.faces = int_list(value());
    else if (arg == "--detector") a.detector = value();
    else if (arg == "--model") a.model = value();
    else if (arg == "--precision") a.precision = value();
    else if (arg == "--every") a.every = std::stoi(value());
    else if (arg == "--json") a.json_path = value();
    else if (arg == "--soak") a.soak = std::stoll(value());
    else if (arg == "--save-frames") a.save_frames = value();
    else if (arg == "--live") a.live = true;
    else if (arg == "--tta") a.tta = value();
    else throw std::runtime_error("unknown option " + arg + " (see the comment at the top of stream_fps.cpp)");
  }
  if (a.frames < 1 || a.warmup < 0 || a.every < 1) throw std::runtime_error("--frames, --every >= 1, --warmup >= 0");
  return a;
}

// ---------------------------------------------------------------------------
// The synthetic scene: face patches (a face and some context) on a smooth
// background, each drifting around its own place on a grid.
// ---------------------------------------------------------------------------

struct Patch {
  cv::Mat bgr;   // square face patch
  cv::Mat mask;  // CV_32F feathered ellipse, 1 inside
};

std::vector<Patch> detectable(std::vector<Patch> patches, fer::Detector& det);

// Face patches from the sample photos: the detector's box around each by-eye
// centre (else a 240 px square), widened by half for context.
std::vector<Patch> face_patches(const std::string& detector, bool& real) {
  std::vector<Patch> out;
  std::unique_ptr<fer::Detector> det;
  try {
    det = fer::Detector::create(detector);
  } catch (const std::exception&) {
    det = fer::Detector::create("haar");
  }
  for (const fer_test::SamplePhoto& p : fer_test::sample_truth()) {
    cv::Mat photo = cv::imread(fer_test::face_api_dir() + "/demo/" + p.file, cv::IMREAD_COLOR);
    if (photo.empty()) continue;
    std::vector<fer::Face> found = det->detect(photo);
    for (const cv::Point2f& c : p.centres) {
      float side = 240.f;
      for (const fer::Face& f : found)
        if (f.box.contains(c)) side = std::max(f.box.width, f.box.height);
      int s = int(side * 1.5f);
      cv::Rect r = cv::Rect(int(c.x) - s / 2, int(c.y) - s / 2, s, s) & cv::Rect(0, 0, photo.cols, photo.rows);
      if (r.width < s * 3 / 4 || r.height < s * 3 / 4) continue;
      Patch patch;
      cv::resize(photo(r), patch.bgr, cv::Size(s, s), 0, 0, cv::INTER_AREA);
      out.push_back(patch);
    }
  }
  real = !out.empty();
  if (!real) {  // no photos: a synthetic face-like pattern (only Haar-free detectors may find it)
    for (int k = 0; k < 8; ++k) {
      Patch p;
      p.bgr = cv::Mat(240, 240, CV_8UC3, cv::Scalar(120, 150, 200 - 10 * k));
      cv::ellipse(p.bgr, {120, 120}, {80, 100}, 0, 0, 360, cv::Scalar(150, 180, 225), cv::FILLED);
      cv::circle(p.bgr, {90, 100}, 12, cv::Scalar(40, 40, 40), cv::FILLED);
      cv::circle(p.bgr, {150, 100}, 12, cv::Scalar(40, 40, 40), cv::FILLED);
      cv::ellipse(p.bgr, {120, 165}, {30, 10}, 0, 0, 360, cv::Scalar(60, 60, 150), cv::FILLED);
      out.push_back(p);
    }
  }
  for (Patch& p : out) {
    p.mask = cv::Mat::zeros(p.bgr.size(), CV_32F);
    cv::ellipse(p.mask, cv::Point(p.bgr.cols / 2, p.bgr.rows / 2), cv::Size(p.bgr.cols * 9 / 20, p.bgr.rows * 9 / 20), 0,
                0, 360, cv::Scalar(1.0), cv::FILLED);
    cv::GaussianBlur(p.mask, p.mask, cv::Size(0, 0), p.bgr.cols / 30.0);
  }
  return real ? detectable(std::move(out), *det) : out;
}

cv::Mat background() {
  cv::Mat b(kHeight, kWidth, CV_8UC3);
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
      b.at<cv::Vec3b>(y, x) =
          cv::Vec3b(uchar(70 + 40 * std::sin(x / 90.0)), uchar(90 + 30 * std::cos(y / 70.0)), uchar(110 + x / 16));
  return b;
}

void paste(cv::Mat& out, const Patch& p, const cv::Rect& where) {
  cv::Mat img, mask;
  cv::resize(p.bgr, img, where.size(), 0, 0, cv::INTER_AREA);
  cv::resize(p.mask, mask, where.size());
  cv::Rect clipped = where & cv::Rect(0, 0, out.cols, out.rows);
  for (int y = clipped.y; y < clipped.y + clipped.height; ++y)
    for (int x = clipped.x; x < clipped.x + clipped.width; ++x) {
      float a = mask.at<float>(y - where.y, x - where.x);
      const cv::Vec3b& s = img.at<cv::Vec3b>(y - where.y, x - where.x);
      cv::Vec3b& d = out.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) d[c] = uchar(a * s[c] + (1 - a) * d[c] + 0.5f);
    }
}

// The smallest patch side the scene uses (8 faces on a 4x2 grid).
constexpr int kSmallestPatch = 144;

// Keeps the patches the detector finds when pasted alone at the smallest size,
// so that "N faces" means N faces the stream can track (all, when fewer than
// 8 pass).
std::vector<Patch> detectable(std::vector<Patch> patches, fer::Detector& det) {
  std::vector<Patch> kept;
  cv::Mat bg = background();
  for (Patch& p : patches) {
    cv::Mat frame = bg.clone();
    cv::Rect where((kWidth - kSmallestPatch) / 2, (kHeight - kSmallestPatch) / 2, kSmallestPatch, kSmallestPatch);
    paste(frame, p, where);
    cv::Point2f centre(float(kWidth) / 2, float(kHeight) / 2);
    for (const fer::Face& f : det.detect(frame))
      if (f.box.contains(centre) && f.box.width < kSmallestPatch) {
        kept.push_back(p);
        break;
      }
  }
  return kept.size() >= 8 ? kept : patches;
}

class Scene {
 public:
  Scene(std::vector<Patch> patches, int faces, bool leave_and_return)
      : patches_(std::move(patches)), faces_(faces), leave_(leave_and_return), background_(background()) {}

  // Face i sits in a cell of a grid (1: centre; 4: 2x2; 8: 4x2), patch side
  // 0.9 of the cell's smaller side (faces of about 60% of that), and drifts
  // around it; with leave_and_return, every face leaves for 1.6 s of each 8 s (its track ends).
  cv::Mat frame(double t) const {
    cv::Mat out = background_.clone();
    int cols = faces_ == 1 ? 1 : (faces_ <= 4 ? 2 : 4), rows = (faces_ + cols - 1) / cols;
    double cw = double(kWidth) / cols, ch = double(kHeight) / rows;
    for (int i = 0; i < faces_; ++i) {
      if (leave_ && std::fmod(t + i * 1.7, 8.0) < 1.6) continue;
      const Patch& p = patches_[size_t(i) % patches_.size()];
      double base = std::min(std::min(cw, ch) * 0.9, 200.0);
      double side = base * (1.0 + 0.08 * std::sin(0.7 * t + i));
      double cx = (i % cols + 0.5) * cw + 0.12 * cw * std::sin(1.3 * t + 2.1 * i);
      double cy = (i / cols + 0.5) * ch + 0.08 * ch * std::cos(0.9 * t + 1.7 * i);
      paste(out, p, cv::Rect(int(cx - side / 2), int(cy - side / 2), int(side), int(side)));
    }
    return out;
  }

 private:
  std::vector<Patch> patches_;
  int faces_;
  bool leave_;
  cv::Mat background_;
};

// ---------------------------------------------------------------------------

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  size_t i = size_t(std::min<double>(double(v.size() - 1), std::ceil(q * double(v.size())) - 1));
  return v[i];
}

struct Run {
  int faces = 0, threads = 0;
  double fps = 0, p50 = 0, p99 = 0, det_p50 = 0, det_p99 = 0, track_p50 = 0, track_p99 = 0;
  int detection_frames = 0, frames = 0;
  double faces_per_frame = 0;
};

// The stream every mode measures: the chosen detector, detection every N frames.
fer::Stream make_stream(const Args& a, const std::shared_ptr<const fer::Model>& model, int threads) {
  fer::PipelineOptions po;
  po.detector = a.detector;
  po.threads = threads;
  po.tta = a.tta;
  fer::StreamOptions so;
  so.detect_every = a.every;
  return fer::Stream(po, model, so);
}

Run measure(const Args& a, const std::shared_ptr<const fer::Model>& model, const std::vector<Patch>& patches, int faces,
            int threads) {
  fer::Stream stream = make_stream(a, model, threads);
  Scene scene(patches, faces, false);
  if (!a.save_frames.empty())
    cv::imwrite(a.save_frames + "/stream_fps_" + std::to_string(faces) + "_faces.png", scene.frame(0));
  std::vector<double> all, det, track;
  size_t reported = 0;
  for (int i = 0; i < a.warmup + a.frames; ++i) {
    double t = i / kFrameRate;
    cv::Mat frame = scene.frame(t);
    auto t0 = std::chrono::steady_clock::now();
    fer::StreamFrame r = stream.push(frame, t);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i < a.warmup) continue;
    all.push_back(ms);
    (r.detection_ran ? det : track).push_back(ms);
    reported += r.faces.size();
  }
  Run run;
  run.faces = faces;
  run.threads = threads;
  double total = 0;
  for (double v : all) total += v;
  run.fps = 1000.0 * double(all.size()) / total;
  run.p50 = percentile(all, 0.5);
  run.p99 = percentile(all, 0.99);
  run.det_p50 = percentile(det, 0.5);
  run.det_p99 = percentile(det, 0.99);
  run.track_p50 = percentile(track, 0.5);
  run.track_p99 = percentile(track, 0.99);
  run.detection_frames = int(det.size());
  run.frames = int(all.size());
  run.faces_per_frame = double(reported) / double(all.size());
  return run;
}

struct LiveRun {
  int faces = 0, threads = 0;
  int64_t submitted = 0, processed = 0, dropped = 0;
  double fps = 0, p50 = 0, p99 = 0, max = 0;
};

// A camera at kFrameRate: frames are submitted at their real times (synthesis
// included in the frame interval), results read on another thread.
LiveRun measure_live(const Args& a, const std::shared_ptr<const fer::Model>& model, const std::vector<Patch>& patches,
                     int faces, int threads) {
  Scene scene(patches, faces, false);
  fer::AsyncStream async(make_stream(a, model, threads));  // defaults: drop oldest, queue of 2
  std::vector<double> latency;
  int64_t results = 0;
  std::thread consumer([&] {
    fer::AsyncResult r;
    while (async.next(r) == fer::AsyncStream::Next::Ready) {
      if (r.submit_index >= a.warmup) latency.push_back(1000.0 * r.latency_seconds);
      ++results;
    }
  });
  auto start = std::chrono::steady_clock::now();
  auto measured_from = start;
  int64_t processed_at_warmup = 0;
  for (int i = 0; i < a.warmup + a.frames; ++i) {
    double t = i / kFrameRate;
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              std::chrono::duration<double>(t)));
    if (i == a.warmup) {
      measured_from = std::chrono::steady_clock::now();
      processed_at_warmup = async.stats().processed;
    }
    async.submit(scene.frame(t), t);
  }
  async.close();
  consumer.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - measured_from).count();
  fer::AsyncStreamStats st = async.stats();
  LiveRun run;
  run.faces = faces;
  run.threads = threads;
  run.submitted = st.submitted;
  run.processed = st.processed;
  run.dropped = st.dropped();
  run.fps = double(st.processed - processed_at_warmup) / seconds;
  run.p50 = percentile(latency, 0.5);
  run.p99 = percentile(latency, 0.99);
  run.max = latency.empty() ? 0 : *std::max_element(latency.begin(), latency.end());
  return run;
}

int soak(const Args& a, const std::shared_ptr<const fer::Model>& model, const std::vector<Patch>& patches,
         nlohmann::ordered_json& report) {
  const int faces = 4, threads = a.threads.empty() ? 1 : a.threads.front();
  fer::Stream stream = make_stream(a, model, threads);
  Scene scene(patches, faces, true);
  std::printf("soak: %lld frames, %d faces leaving and returning, %d thread(s)\n", (long long)a.soak, faces, threads);
  std::printf("%10s %10s %14s %9s %9s %8s\n", "frame", "RSS MiB", "peak RSS MiB", "open fds", "max id", "ms/frame");
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  // The first sample is taken inside the run, so even a run shorter than the warm-up has one.
  int64_t warm = std::min<int64_t>(a.soak - 1, std::max(a.warmup, 1));
  int64_t step = std::max<int64_t>(1, (a.soak - warm) / 10);
  int64_t max_id = 0;
  double ms_sum = 0;
  int64_t ms_count = 0;
  auto sample = [&](int64_t i) {
    nlohmann::ordered_json m = fer_bench::memory_json("frame", i);
    m["max_track_id"] = max_id;
    m["ms_per_frame"] = ms_count ? ms_sum / double(ms_count) : 0.0;
    std::printf("%10lld %10.1f %14.1f %9d %9lld %8.2f\n", (long long)i, m["rss_mib"].get<double>(),
                m["peak_rss_mib"].get<double>(), m["open_fds"].get<int>(), (long long)max_id,
                m["ms_per_frame"].get<double>());
    std::fflush(stdout);
    samples.push_back(m);
    ms_sum = 0;
    ms_count = 0;
  };
  for (int64_t i = 0; i < a.soak; ++i) {
    if (i == warm) sample(i);
    double t = double(i) / kFrameRate;
    cv::Mat frame = scene.frame(t);
    auto t0 = std::chrono::steady_clock::now();
    fer::StreamFrame r = stream.push(frame, t);
    ms_sum += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ++ms_count;
    for (const auto& f : r.faces) max_id = std::max(max_id, f.track_id);
    if (i > warm && ((i - warm) % step == 0 || i + 1 == a.soak)) sample(i + 1);
  }
  const auto& first = samples.front();
  const auto& last = samples.back();
  std::printf("start (after %lld warm-up frames): RSS %.1f MiB, peak %.1f MiB, %d fds; end: RSS %.1f MiB, peak %.1f MiB, "
              "%d fds; %lld tracks started\n",
              (long long)warm, first["rss_mib"].get<double>(), first["peak_rss_mib"].get<double>(),
              first["open_fds"].get<int>(), last["rss_mib"].get<double>(), last["peak_rss_mib"].get<double>(),
              last["open_fds"].get<int>(), (long long)max_id);
  report["soak"] = {{"frames", a.soak}, {"faces", faces}, {"threads", threads}, {"samples", samples}};
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stream_fps: %s\n", e.what());
    return 2;
  }
  nlohmann::ordered_json report;
  report["start"] = fer_bench::memory_json("frame", 0);

  fer::PipelineOptions po;
  po.detector = a.detector;
  po.model_path = a.model;
  po.precision = a.precision;
  po.tta = a.tta;
  po.threads = a.threads.empty() ? 1 : a.threads.front();
  if (!std::filesystem::exists(a.model))
    std::fprintf(stderr, "warning: %s not found; the untrained fallback model is used\n", a.model.c_str());
  fer::Pipeline loader(po);  // loads the model once, with the precision the pipeline picks
  std::shared_ptr<const fer::Model> model = loader.shared_model();
  const fer::ModelInfo& info = model->info();
  bool real = false;
  std::vector<Patch> patches = face_patches(a.detector, real);
  std::printf("model %s (%s%s, view %s), detector %s (asked: %s), detect every %d frames, %dx%d, faces %s\n",
              loader.model_path().empty() ? "untrained fallback" : loader.model_path().c_str(),
              info.architecture.c_str(), info.trained ? "" : ", untrained", loader.view().c_str(),
              loader.detector_name().c_str(),
              a.detector.c_str(), a.every, kWidth, kHeight,
              real ? "cut from the face-api sample photos" : "SYNTHETIC (sample photos missing)");
  std::printf("%zu distinct face patches (those the detector finds at the 8-face size)\n", patches.size());
  report["model"] = {{"path", loader.model_path()}, {"architecture", info.architecture}, {"trained", info.trained},
                     {"view", loader.view()}};
  report["detector"] = loader.detector_name();
  report["detect_every"] = a.every;
  report["frame_size"] = {kWidth, kHeight};
  report["real_faces"] = real;
  report["face_patches"] = patches.size();

  if (a.soak > 0) {
    soak(a, model, patches, report);
  } else {
    std::printf("%d frames after %d warm-up frames; latency = Stream::push in ms\n", a.frames, a.warmup);
    std::printf("%5s %7s %8s %8s %8s %9s %9s %9s %9s %7s %10s\n", "faces", "threads", "FPS", "p50", "p99",
                "det p50", "det p99", "trk p50", "trk p99", "det n", "faces/frm");
    nlohmann::ordered_json runs = nlohmann::ordered_json::array();
    for (int threads : a.threads)
      for (int faces : a.faces) {
        Run r = measure(a, model, patches, faces, threads);
        std::printf("%5d %7d %8.1f %8.2f %8.2f %9.2f %9.2f %9.2f %9.2f %7d %10.2f\n", r.faces, r.threads, r.fps, r.p50,
                    r.p99, r.det_p50, r.det_p99, r.track_p50, r.track_p99, r.detection_frames, r.faces_per_frame);
        std::fflush(stdout);
        auto num = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); };
        runs.push_back({{"faces", r.faces},
                        {"threads", r.threads},
                        {"fps", num(r.fps)},
                        {"p50_ms", num(r.p50)},
                        {"p99_ms", num(r.p99)},
                        {"detection_p50_ms", num(r.det_p50)},
                        {"detection_p99_ms", num(r.det_p99)},
                        {"tracking_p50_ms", num(r.track_p50)},
                        {"tracking_p99_ms", num(r.track_p99)},
                        {"detection_frames", r.detection_frames},
                        {"frames", r.frames},
                        {"faces_per_frame", r.faces_per_frame}});
      }
    report["runs"] = runs;
    if (a.live) {
      std::printf("\nlive: frames arrive at %.0f fps through fer::AsyncStream (drop oldest, queue 2); latency = "
                  "submit to result, ms\n", kFrameRate);
      std::printf("%5s %7s %9s %9s %9s %10s %8s %8s %8s\n", "faces", "threads", "submitted", "processed", "dropped",
                  "result FPS", "p50", "p99", "max");
      nlohmann::ordered_json live = nlohmann::ordered_json::array();
      for (int threads : a.threads)
        for (int faces : a.faces) {
          LiveRun r = measure_live(a, model, patches, faces, threads);
          std::printf("%5d %7d %9lld %9lld %9lld %10.1f %8.1f %8.1f %8.1f\n", r.faces, r.threads,
                      (long long)r.submitted, (long long)r.processed, (long long)r.dropped, r.fps, r.p50, r.p99, r.max);
          std::fflush(stdout);
          live.push_back({{"faces", r.faces}, {"threads", r.threads}, {"submitted", r.submitted},
                          {"processed", r.processed}, {"dropped", r.dropped}, {"result_fps", r.fps},
                          {"latency_p50_ms", r.p50}, {"latency_p99_ms", r.p99}, {"latency_max_ms", r.max}});
        }
      report["live"] = live;
    }
  }
  report["end"] = fer_bench::memory_json("frame", 0);
  std::string text = report.dump();
  std::printf("JSON %s\n", text.c_str());
  if (!a.json_path.empty()) std::ofstream(a.json_path) << report.dump(2) << "\n";
  return 0;
}
