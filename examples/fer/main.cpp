// fer: the libfer command-line program.
//
//   fer image PATH... [--json] [--out FILE|DIR] [--model FILE] [--detector NAME] [--landmarks NAME] [--threads N]
//             [--crops]
//   fer models
//   fer version
#include "commands.hpp"

#include <fer/fer.hpp>

// FLOP counter (torch-free internal header of libfer; no public API for it yet).
#include "../../src/models/flops.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace {

const char* kUsage =
    "usage: fer <command> [options]\n"
    "\n"
    "commands:\n"
    "  image PATH...   detect faces and recognize their expressions\n"
    "  train           train a recognizer model (fer train --help)\n"
    "  eval            evaluate a model on a labelled dataset (fer eval --help)\n"
    "  convert IN OUT  rewrite a model file with --storage float32|bfloat16 (weights precision)\n"
    "                  and/or --view none|center (the model's own test-time view)\n"
    "  choose-view     set a model's own test-time view by validation accuracy (fer choose-view --help)\n"
    "  quantize        calibrate a model for int8 inference (fer quantize --help)\n"
    "  teacher-targets compute offline distillation targets for fer train (fer teacher-targets --help)\n"
    "  video INPUT     track faces in a video, image sequence or camera ([--out F.mp4] [--json] [--every N] [--max-frames N] [--camera])\n"
    "  info MODEL...   what a model file holds: network, classes, input, precisions, metrics, provenance\n"
    "  models          list the registered detectors, landmark models, architectures and heads\n"
    "  version         print the library version\n"
    "\n"
    "fer image options:\n"
    "  --json            print one JSON object per image instead of text\n"
    "  --out PATH        write the annotated image (a folder when several images are given)\n"
    "  --attention       blend each face's attention map into --out and list it in --json (models with\n"
    "                    attention, e.g. acnn, vit_asf)\n"
    "  --model FILE      recognizer model file (default: the shipped default model)\n"
    "  --detector NAME   face detector (default: auto = ssd_mobilenet, else tiny_face, whichever of face-api's\n"
    "                    weights are present, else haar)\n"
    "  --landmarks NAME  68, 68_tiny, none or auto (default: auto = 68 when the model aligns faces);\n"
    "                    drawn in --out, listed in --json\n"
    "  --min-face N      smallest face side in pixels (default: 24)\n"
    "  --threads N       compute threads (default: $FER_NUM_THREADS or all cores)\n"
    "  --precision P     fp32, bf16, int8 or auto (default: auto = int8 for a model calibrated by fer quantize\n"
    "                    on CPUs with VNNI, else bf16 on CPUs with native bf16, else fp32; the detector\n"
    "                    stays in bf16/fp32 under auto, int8 runs ssd_mobilenet in int8 too)\n"
    "  --tta auto|none|center|flip|tencrop  test-time view of the recognizer (default: auto = the model's\n"
    "                    own view, fer info's \"view\"): the whole face crop (none, 1 pass), the centre crop at\n"
    "                    the training's zoom (center, 1 pass), the mean over the face and its mirror image\n"
    "                    (flip, 2 passes) or over ten crops (tencrop, 10 passes), as fer eval --tta\n"
    "  --crops           each image already is one face (e.g. FER-2013's 48x48 images, or crops cut by\n"
    "                    another program): recognized whole, resized to the model's input, no detection\n"
    "  --help            show this help\n";

using fer_cli::UsageError;

struct ImageArgs {
  std::vector<std::string> paths;
  bool json = false;
  bool attention = false;
  bool crops = false;  // each image is a face: no detection
  std::string out;
  fer::PipelineOptions options;
};

ImageArgs parse_image_args(int argc, char** argv) {
  ImageArgs a;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return fer_cli::flag_value(argc, argv, i, arg); };
    if (arg == "--json") a.json = true;
    else if (arg == "--attention") a.attention = a.options.return_attention = true;
    else if (arg == "--out") a.out = value();
    else if (arg == "--crops") a.crops = true;
    else if (fer_cli::parse_pipeline_flag(arg, value, a.options)) continue;
    else if (arg.rfind("--", 0) == 0) throw UsageError("unknown option " + arg);
    else a.paths.push_back(arg);
  }
  if (a.paths.empty()) throw UsageError("fer image needs at least one image path");
  // One image: --out is the annotated image's file name, checked before any
  // work (OpenCV picks the encoder by extension); several: a folder.
  if (!a.out.empty() && a.paths.size() == 1) fer_cli::check_image_output("--out", a.out);
  return a;
}

// Where the annotated copy of `image` goes. With several images, one file per
// image in the --out folder, named after the image; names that would collide
// (cam1/001.jpg and cam2/001.jpg) get _2, _3, ...
std::string out_path(const ImageArgs& a, const std::string& image, std::set<std::string>& used) {
  if (a.paths.size() == 1) return a.out;
  std::filesystem::create_directories(a.out);
  const std::string stem = std::filesystem::path(image).stem().string() + "_annotated";
  std::string name = stem + ".png";
  for (int k = 2; !used.insert(name).second; ++k) name = stem + "_" + std::to_string(k) + ".png";
  return (std::filesystem::path(a.out) / name).string();
}

nlohmann::json face_json(const fer::FaceResult& r, const std::vector<std::string>& classes) {
  nlohmann::json probs = nlohmann::json::object();
  for (size_t k = 0; k < classes.size(); ++k) probs[classes[k]] = r.probabilities[k];
  const cv::Rect2f& b = r.face.box;
  nlohmann::json j = {{"box", {{"x", b.x}, {"y", b.y}, {"width", b.width}, {"height", b.height}}},
                      {"score", r.face.score},
                      {"label", r.label},
                      {"probabilities", probs}};
  if (!r.face.landmarks.empty()) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : r.face.landmarks) pts.push_back({p.x, p.y});
    j["landmarks"] = pts;  // [x, y] in image pixels, iBUG 68-point order
  }
  if (!r.attention.empty()) {  // rows of the map, over the face crop, top to bottom
    nlohmann::json rows = nlohmann::json::array();
    for (int y = 0; y < r.attention.rows; ++y) {
      nlohmann::json row = nlohmann::json::array();
      for (int x = 0; x < r.attention.cols; ++x) row.push_back(std::round(r.attention.at<float>(y, x) * 1e4) / 1e4);
      rows.push_back(row);
    }
    j["attention"] = rows;
  }
  return j;
}

int run_image(int argc, char** argv) {
  ImageArgs a = parse_image_args(argc, argv);
  fer::Pipeline pipeline(a.options);
  const fer::ModelInfo& info = pipeline.model().info();
  std::string model_name = pipeline.model_path().empty() ? info.architecture + " (untrained)" : pipeline.model_path();
  if (!info.trained)
    std::fprintf(stderr,
                 "warning: model %s is untrained (random weights): its labels are NOT expression recognition.\n"
                 "         Pass --model FILE with a trained model.\n",
                 model_name.c_str());
  int failures = 0;
  bool attention_seen = false;
  std::set<std::string> used_names;
  for (const std::string& path : a.paths) {
    cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
    if (image.empty()) {
      std::fprintf(stderr, "fer: cannot read image %s (missing, unreadable or not an image)\n", path.c_str());
      ++failures;
      continue;
    }
    std::vector<fer::Face> skipped;
    std::vector<fer::FaceResult> results =
        a.crops ? pipeline.recognize_crops({image}) : pipeline.process(image, skipped);
    for (const auto& r : results) attention_seen = attention_seen || !r.attention.empty();
    if (a.json) {
      nlohmann::json j = {{"image", path}, {"detector", a.crops ? "none" : pipeline.detector_name()}, {"model", model_name},
                          {"model_trained", info.trained}, {"faces", nlohmann::json::array()},
                          {"skipped", nlohmann::json::array()}};
      if (!a.crops && !pipeline.landmarks_name().empty()) j["landmarks"] = pipeline.landmarks_name();
      for (const auto& r : results) j["faces"].push_back(face_json(r, info.classes));
      for (const auto& f : skipped)  // found, but smaller than --min-face: not recognized
        j["skipped"].push_back({{"box", {{"x", f.box.x}, {"y", f.box.y}, {"width", f.box.width}, {"height", f.box.height}}},
                                {"score", f.score},
                                {"reason", "smaller than min_face_size"}});
      std::cout << fer_cli::json_line(j) << "\n";
    } else {
      std::string lm = a.crops || pipeline.landmarks_name().empty() ? "" : ", landmarks " + pipeline.landmarks_name();
      std::string skip = skipped.empty() ? "" : ", " + std::to_string(skipped.size()) + " smaller than --min-face skipped";
      std::printf("%s: %zu face(s)%s [detector %s%s, model %s]\n", path.c_str(), results.size(), skip.c_str(),
                  a.crops ? "none (--crops)" : pipeline.detector_name().c_str(), lm.c_str(), model_name.c_str());
      for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        std::printf("  face %zu: box x=%.0f y=%.0f w=%.0f h=%.0f score=%.2f -> %s\n    ", i, r.face.box.x,
                    r.face.box.y, r.face.box.width, r.face.box.height, r.face.score, r.label.c_str());
        for (size_t k = 0; k < info.classes.size(); ++k)
          std::printf("%s=%.3f%s", info.classes[k].c_str(), r.probabilities[k], k + 1 < info.classes.size() ? " " : "\n");
      }
    }
    if (!a.out.empty()) {
      fer::DrawOptions d;
      d.class_names = info.classes;
      if (a.attention)  // under the boxes and labels
        for (const auto& r : results) fer::blend_attention(image, r.face.box, r.attention);
      fer::draw_results(image, results, d);
      std::string out = out_path(a, path, used_names);
      bool written = false;
      std::string why = "unwritable";
      try {
        written = cv::imwrite(out, image);
      } catch (const cv::Exception& e) {  // e.g. no encoder for the name: this image fails, the others go on
        why = e.err;
      }
      if (!written) {
        std::fprintf(stderr, "fer: cannot write %s (%s)\n", out.c_str(), why.c_str());
        ++failures;
      } else if (!a.json) {
        std::printf("  annotated image: %s\n", out.c_str());
      }
    }
  }
  if (a.attention && !attention_seen)
    std::fprintf(stderr, "warning: --attention: model '%s' gives no attention map (try acnn or vit_asf)\n",
                 info.architecture.c_str());
  return failures ? 1 : 0;
}

// Median single-face fp32 latency of `e` in milliseconds (a few runs after warm-up).
double median_latency_ms(const fer::FeatureExtractor& e) {
  int size = int(e.config().get_int("input_size", 48)), channels = int(e.config().get_int("channels", 1));
  std::vector<cv::Mat> crop{cv::Mat(size, size, CV_32FC(channels), cv::Scalar::all(0.1))};
  for (int i = 0; i < 2; ++i) e.extract(crop);
  std::vector<double> ms;
  for (int i = 0; i < 7; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    e.extract(crop);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

int run_models() {
  std::printf("detectors:\n");
  for (const auto& n : fer::detector_registry().names())
    std::printf("  %-16s %s\n", n.c_str(), fer::detector_registry().description(n).c_str());
  std::printf("landmark models (--landmarks):\n");
  for (const auto& n : fer::landmark_registry().names())
    std::printf("  %-16s %s\n", n.c_str(), fer::landmark_registry().description(n).c_str());
  // Latency: one face, fp32, 1 thread, median of 7 runs after 2 warm-up runs.
  // FLOPs = 2 x multiply-accumulates of convolutions and matrix products (fer::detail::count_flops).
  fer::set_num_threads(1);
  std::printf("feature extractors (default options: 48x48 gray, width 1.0; latency: 1 face, 1 thread):\n");
  std::printf("  %-16s %11s %9s %5s %9s %9s %9s  %s\n", "name", "parameters", "GFLOPs", "dim", "fp32 ms", "bf16 ms",
              "int8 ms", "description");
  for (const auto& n : fer::extractor_registry().names()) {
    auto e = fer::FeatureExtractor::create(n, fer::Config{});
    double gflops = double(fer::detail::count_flops(*e).flops()) * 1e-9;
    double fp32_ms = median_latency_ms(*e);
    // int8 (architectures with an int8 path): ranges from the timing input
    // itself, enough for timing; real models are calibrated on faces (fer quantize).
    char int8_ms[16] = "-";
    if (e->supports_int8()) {
      int size = int(e->config().get_int("input_size", 48)), channels = int(e->config().get_int("channels", 1));
      e->set_activation_ranges(e->calibrate({cv::Mat(size, size, CV_32FC(channels), cv::Scalar::all(0.1))}, {}));
      e->set_precision(fer::Precision::Int8);
      std::snprintf(int8_ms, sizeof int8_ms, "%.2f", median_latency_ms(*e));
    }
    e->set_precision(fer::Precision::BFloat16);
    double bf16_ms = median_latency_ms(*e);
    std::printf("  %-16s %11lld %9.3f %5d %9.2f %9.2f %9s  %s\n", n.c_str(), (long long)e->parameter_count(), gflops,
                e->feature_dim(), fp32_ms, bf16_ms, int8_ms, fer::extractor_registry().description(n).c_str());
  }
  std::printf("classifier heads:\n");
  for (const auto& n : fer::classifier_registry().names())
    std::printf("  %-16s %s\n", n.c_str(), fer::classifier_registry().description(n).c_str());
  return 0;
}

}  // namespace

namespace fer_cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int sig) {
  if (g_stop.exchange(true)) {  // the second: end now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}
}  // namespace

std::atomic<bool>& stop_requested() { return g_stop; }

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

void check_image_output(const std::string& flag, const std::string& path) {
  const std::filesystem::path p(path);
  if (!cv::haveImageWriter(path))
    throw UsageError(flag + " " + path + ": no image encoder for this name (end it in .png, .jpg, ...)");
  const std::filesystem::path parent = p.parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    throw UsageError(flag + " " + path + ": the folder " + parent.string() + " does not exist");
}

}  // namespace fer_cli

namespace {

int run_command(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  // These commands print their own help.
  bool own_help = !std::strcmp(argv[1], "train") || !std::strcmp(argv[1], "eval") || !std::strcmp(argv[1], "video") ||
                  !std::strcmp(argv[1], "quantize") || !std::strcmp(argv[1], "teacher-targets") ||
                  !std::strcmp(argv[1], "info") || !std::strcmp(argv[1], "choose-view");
  for (int i = 2; i < argc && !own_help; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
  std::string cmd = argv[1];
  try {
    if (cmd == "image") return run_image(argc, argv);
    if (cmd == "models") return run_models();
    if (cmd == "train") return fer_cli::run_train(argc, argv);
    if (cmd == "eval") return fer_cli::run_eval(argc, argv);
    if (cmd == "convert") return fer_cli::run_convert(argc, argv);
    if (cmd == "choose-view") return fer_cli::run_choose_view(argc, argv);
    if (cmd == "video") return fer_cli::run_video(argc, argv);
    if (cmd == "quantize") return fer_cli::run_quantize(argc, argv);
    if (cmd == "teacher-targets") return fer_cli::run_teacher_targets(argc, argv);
    if (cmd == "info") return fer_cli::run_info(argc, argv);
    if (cmd == "version") {
      std::printf("libfer %s\n", fer::version());
      return 0;
    }
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "fer: %s (see fer --help)\n", e.what());
    return 2;
  } catch (const fer::Error& e) {
    std::fprintf(stderr, "fer: error [%s]: %s\n", fer::status_name(e.status()), e.what());
    return e.status() == fer::Status::Cancelled ? 130 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fer: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rc = run_command(argc, argv);
  // Output that could not be written (a full disk, a closed pipe) is a failure,
  // not a truncated report with exit 0.
  std::cout.flush();
  const bool cout_failed = !std::cout;
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || cout_failed) {
    std::fprintf(stderr, "fer: error writing the output: %s\n", std::strerror(errno ? errno : EIO));
    return rc ? rc : 1;
  }
  return rc;
}
