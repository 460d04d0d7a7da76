// Recognizer speed: the forward pass (Model::predict on prepared crops) of
// every shipped model file and every registered feature extractor (default
// options, linear head, untrained), at batch sizes 1, 8, 32, in fp32 and bf16,
// on 1 and 2 threads; preprocessing (Model::prepare of a 96x96 BGR crop) is
// timed separately, once per model. Each row reports the median time per batch
// and per face, the spread (p10-p90), FLOPs per face and the GFLOP/s reached,
// and its efficiency against this machine's reference peaks, measured in the
// same run: for fp32 the faster of a GEMM (torch::mm, OpenBLAS) and a
// channels-last 3x3 convolution (oneDNN); for bf16 the same convolution under
// the library's own bf16 mechanism (CPU autocast, channels-last).
//
//   build/benchmarks/recognizer_bench [--models all|none|A.fermodel,B.fermodel] [--archs all|none|NAME,NAME]
//                                     [--batches 1,8,32] [--precisions fp32,bf16] [--threads 1,2]
//                                     [--input-sizes 48,64,96,112]
//                                     [--min-time 1.0] [--min-reps 10] [--warmup 3] [--warmup-time 0.3]
//                                     [--no-peaks] [--json FILE] [--quick]
//
// --input-sizes: cost growth with the input. Each --archs architecture (not
// the model files: their input size is fixed) is built at each input side
// (square, InputSpec width/height, passed on as the extractor's input_size);
// every row carries its input_size. The zoo architectures switch to a
// stride-2 stem from a 96-px input (zoo_common's stem_stride), so their FLOPs
// at 96 equal those at 48: the growth is not monotonic. An architecture that
// cannot be built or run at a size is reported and skipped ("skipped" in the JSON).
//
// --quick: a smoke test of a few seconds (batch 1, 1 thread, min-time 0.05 s,
// archs small_cnn, smaller peak problems); options given explicitly win.
//
// Timing per configuration: warm-up until both --warmup runs and --warmup-time
// seconds are done, then repetitions until both --min-reps and --min-time
// seconds are reached. FLOPs = 2 x multiply-accumulates of convolutions and
// matrix products (fer::detail::count_flops on the extractor, plus the head's
// in_features x classes); element-wise work is not counted, so GFLOP/s and
// efficiency understate small, memory-bound networks.
#include <fer/expression.hpp>
#include <fer/model.hpp>
#include <fer/recognizer.hpp>
#include <fer/threads.hpp>
#include <fer/version.hpp>

// Internal headers of libfer (benchmarks see src/ like the tests): the FLOP
// counter and the bf16 autocast guard the extractors use.
#include "bench_util.hpp"
#include "models/flops.hpp"
#include "models/int8.hpp"
#include "models/torch_component.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <opencv2/core.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: recognizer_bench [options]\n"
    "  --models all|none|LIST   model files (comma-separated; names without a '/' are also looked\n"
    "                           up in the source tree's models/); default: all models/*.fermodel\n"
    "  --archs all|none|LIST    registered feature extractors, default options, linear head, untrained\n"
    "  --batches 1,8,32         batch sizes\n"
    "  --input-sizes LIST       input sides (e.g. 48,64,96,112) at which each --archs architecture is\n"
    "                           built (square, the model's InputSpec); model files keep their own;\n"
    "                           default: the architecture's default (48)\n"
    "  --precisions fp32,bf16   inference precisions (int8: models calibrated by fer quantize)\n"
    "  --threads 1,2            thread counts (fer::set_num_threads)\n"
    "  --min-time S             seconds of repetitions per configuration, at least (default 1.0)\n"
    "  --min-reps N             repetitions per configuration, at least (default 10)\n"
    "  --warmup N               warm-up runs, at least (default 3)\n"
    "  --warmup-time S          warm-up seconds, at least (default 0.3)\n"
    "  --no-peaks               skip the reference peaks (no efficiency column)\n"
    "  --json FILE              write every row, the peaks and the machine description\n"
    "  --tta NAME               test-time view of Model::predict: none (default: the network alone), auto (each\n"
    "                           model's own view), center, flip or tencrop\n"
    "  --quick                  smoke test: batch 1, 1 thread, min-time 0.05, archs small_cnn\n";

constexpr int kCropSide = 96;       // the BGR face crop handed to Model::prepare
constexpr int kPrepareFaces = 32;   // crops per timed preprocessing repetition

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Timing {
  int warmup = 3;
  double warmup_time = 0.3;
  int min_reps = 10;
  double min_time = 1.0;
};

struct Args {
  std::optional<std::string> models, archs;
  std::optional<std::vector<int>> batches, threads, input_sizes;
  std::optional<std::vector<fer::Precision>> precisions;
  std::optional<double> min_time, warmup_time;
  std::optional<int> min_reps, warmup;
  bool peaks = true, quick = false;
  std::string json_path;
  std::string tta = "none";
};

// The options with --quick's defaults applied under the explicit ones.
struct Settings {
  std::string models = "all", archs = "all";
  std::vector<int> batches{1, 8, 32}, threads{1, 2};
  std::vector<int> input_sizes;  // architectures only; empty: each architecture's default
  std::vector<fer::Precision> precisions{fer::Precision::Float32, fer::Precision::BFloat16};
  Timing timing;
  bool peaks = true, quick = false;
  int gemm_size = 2048;  // fp32 peak: n x n times n x n
  int conv_batch = 32;   // convolution peaks: batch x c x hw x hw, c -> c channels, 3x3
  std::string tta = "none";  // Model::predict's view: "none" times the network alone
  std::string json_path;
};

int positive_int(const std::string& opt, const std::string& v) {
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < 1) throw UsageError(opt + " needs positive integers, got '" + v + "'");
  return n;
}

double seconds(const std::string& opt, const std::string& v) {
  size_t used = 0;
  double s = -1;
  try {
    s = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || !(s >= 0) || !std::isfinite(s)) throw UsageError(opt + " needs seconds >= 0, got '" + v + "'");
  return s;
}

std::vector<int> int_list(const std::string& opt, const std::string& v) {
  std::vector<int> out;
  for (const std::string& item : fer_bench::split_list(v)) out.push_back(positive_int(opt, item));
  if (out.empty()) throw UsageError(opt + " needs a list such as 1,2");
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--models") a.models = value();
    else if (arg == "--archs") a.archs = value();
    else if (arg == "--batches") a.batches = int_list(arg, value());
    else if (arg == "--threads") a.threads = int_list(arg, value());
    else if (arg == "--input-sizes" || arg == "--input-size") {
      std::vector<int> sizes = int_list(arg, value());
      for (int n : sizes)  // the range the extractors accept (config_input_size)
        if (n < 16 || n > 512) throw UsageError(arg + ": input sides must be in [16, 512], got " + std::to_string(n));
      // Sorted, without repeats: rows come out in order of growing input.
      std::sort(sizes.begin(), sizes.end());
      sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
      a.input_sizes = sizes;
    }
    else if (arg == "--precisions" || arg == "--precision") {
      std::vector<fer::Precision> p;
      for (const std::string& name : fer_bench::split_list(value())) {
        if (name != "fp32" && name != "bf16" && name != "int8")
          throw UsageError(arg + ": fp32, bf16 or int8, got '" + name + "'");
        p.push_back(fer::parse_precision(name));
      }
      if (p.empty()) throw UsageError(arg + " needs fp32, bf16 and/or int8");
      a.precisions = p;
    } else if (arg == "--min-time") a.min_time = seconds(arg, value());
    else if (arg == "--warmup-time") a.warmup_time = seconds(arg, value());
    else if (arg == "--min-reps") a.min_reps = positive_int(arg, value());
    else if (arg == "--warmup") {
      std::string v = value();
      a.warmup = v == "0" ? 0 : positive_int(arg, v);
    } else if (arg == "--no-peaks") a.peaks = false;
    else if (arg == "--json") a.json_path = value();
    else if (arg == "--quick") a.quick = true;
    else if (arg == "--tta") {
      a.tta = value();
      if (a.tta != "none" && a.tta != "auto" && a.tta != "center" && a.tta != "flip" && a.tta != "tencrop")
        throw UsageError("--tta: none, auto, center, flip or tencrop, got '" + a.tta + "'");
    }
    else throw UsageError("unknown option " + arg);
  }
  return a;
}

Settings settings(const Args& a) {
  Settings s;
  s.quick = a.quick;
  if (a.quick) {
    s.archs = "small_cnn";
    s.batches = {1};
    s.threads = {1};
    s.timing.min_time = 0.05;
    s.timing.warmup_time = 0.05;
    s.gemm_size = 1024;
    s.conv_batch = 8;
  }
  if (a.models) s.models = *a.models;
  if (a.archs) s.archs = *a.archs;
  if (a.batches) s.batches = *a.batches;
  if (a.threads) s.threads = *a.threads;
  if (a.input_sizes) s.input_sizes = *a.input_sizes;
  if (a.precisions) s.precisions = *a.precisions;
  if (a.min_time) s.timing.min_time = *a.min_time;
  if (a.warmup_time) s.timing.warmup_time = *a.warmup_time;
  if (a.min_reps) s.timing.min_reps = *a.min_reps;
  if (a.warmup) s.timing.warmup = *a.warmup;
  s.peaks = a.peaks;
  s.json_path = a.json_path;
  s.tta = a.tta;
  return s;
}

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

volatile double g_sink = 0;  // keeps results observable

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Stats {
  int reps = 0;
  double median = 0, p10 = 0, p90 = 0, min = 0, max = 0;  // ms per repetition
  // p10-p90 with 10 or more repetitions, else min-max.
  bool percentile_spread() const { return reps >= 10; }
  double lo() const { return percentile_spread() ? p10 : min; }
  double hi() const { return percentile_spread() ? p90 : max; }
};

// Linear interpolation between closest ranks; `sorted` ascending, non-empty.
double percentile(const std::vector<double>& sorted, double q) {
  double pos = q * double(sorted.size() - 1);
  size_t i = size_t(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (pos - double(i)) * (sorted[i + 1] - sorted[i]);
}

// Warm-up (>= t.warmup runs and >= t.warmup_time s), then repetitions until
// both t.min_reps and t.min_time are reached; each repetition timed alone.
Stats time_runs(const std::function<void()>& run, const Timing& t) {
  auto start = Clock::now();
  for (int n = 0; n < t.warmup || since(start) < t.warmup_time; ++n) run();
  std::vector<double> ms;
  start = Clock::now();
  while (int(ms.size()) < t.min_reps || since(start) < t.min_time) {
    auto t0 = Clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  Stats s;
  s.reps = int(ms.size());
  s.median = percentile(ms, 0.5);
  s.p10 = percentile(ms, 0.1);
  s.p90 = percentile(ms, 0.9);
  s.min = ms.front();
  s.max = ms.back();
  return s;
}

// ---------------------------------------------------------------------------
// Reference peaks
// ---------------------------------------------------------------------------

struct Peak {
  std::string what;  // "fp32 GEMM 2048x2048x2048" ...
  fer::Precision precision = fer::Precision::Float32;
  int threads = 1;
  double flops = 0;  // per run
  Stats stats;
  double gflops() const { return flops / (stats.median * 1e-3) * 1e-9; }
  double best_gflops() const { return flops / (stats.min * 1e-3) * 1e-9; }
};

// torch::mm of two n x n float matrices into a preallocated result.
Peak peak_gemm(int n, int threads, const Timing& t) {
  c10::InferenceMode guard;
  torch::manual_seed(1);
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  Peak p;
  p.what = "fp32 GEMM torch::mm " + std::to_string(n) + "x" + std::to_string(n) + " * " + std::to_string(n) + "x" +
           std::to_string(n);
  p.precision = fer::Precision::Float32;
  p.threads = threads;
  p.flops = 2.0 * double(n) * double(n) * double(n);
  p.stats = time_runs(
      [&] {
        torch::mm_out(c, a, b);
        g_sink = g_sink + double(c.size(0));
      },
      t);
  return p;
}

// A 3x3 convolution, 64 -> 64 channels on 56x56, padding 1, run the way the
// extractors run (models/torch_component.cpp): float32 weights and input stored
// channels-last (oneDNN's path), with bf16 CPU autocast for the call, inference mode.
// fp32 convolutions go through oneDNN while the fp32 GEMM goes through OpenBLAS,
// so the fp32 peak is the faster of the two. Like the int8 one below, measured
// at three shapes of equal cost (c -> c channels on hw x hw: 64 @ 56, 128 @ 28,
// 256 @ 14); a precision's peak is its fastest kernel.
Peak peak_conv(int batch, int threads, const Timing& t, bool bf16, int64_t c, int64_t hw) {
  const int64_t k = 3;
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({batch, c, hw, hw}).contiguous(at::MemoryFormat::ChannelsLast);
  torch::Tensor w = (torch::randn({c, c, k, k}) * 0.05).contiguous(at::MemoryFormat::ChannelsLast);
  Peak p;
  p.what = std::string(bf16 ? "bf16" : "fp32") + " conv 3x3 " + std::to_string(c) + "->" + std::to_string(c) +
           " on " + std::to_string(batch) + "x" + std::to_string(hw) + "x" + std::to_string(hw) +
           (bf16 ? " (autocast, channels-last)" : " (channels-last)");
  p.precision = bf16 ? fer::Precision::BFloat16 : fer::Precision::Float32;
  p.threads = threads;
  p.flops = 2.0 * double(batch) * double(hw * hw) * double(c) * double(c * k * k);
  p.stats = time_runs(
      [&] {
        c10::InferenceMode guard;
        fer::detail::AutocastGuard autocast(bf16);
        torch::Tensor y = torch::conv2d(x, w, {}, 1, 1);
        g_sink = g_sink + double(y.size(0));
      },
      t);
  return p;
}

// A 3x3 convolution in int8 as the int8 path runs it (models/int8.hpp):
// uint8 input, prepacked per-channel int8 weights, oneDNN quantized engine.
Peak peak_conv_int8(int batch, int threads, const Timing& t, int64_t c, int64_t hw) {
  const int64_t k = 3;
  torch::manual_seed(3);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(c, c, k).padding(1).bias(false));
  fer::detail::QConv2d qconv(*conv, nullptr, false, {0.05, 128});
  torch::Tensor qx = fer::detail::quantize_activation(torch::randn({batch, c, hw, hw}), {0.02, 128});
  Peak p;
  p.what = "int8 conv 3x3 " + std::to_string(c) + "->" + std::to_string(c) + " on " + std::to_string(batch) + "x" +
           std::to_string(hw) + "x" + std::to_string(hw) + " (oneDNN quantized)";
  p.precision = fer::Precision::Int8;
  p.threads = threads;
  p.flops = 2.0 * double(batch) * double(hw * hw) * double(c) * double(c * k * k);
  p.stats = time_runs(
      [&] {
        c10::InferenceMode guard;
        torch::Tensor y = qconv(qx);
        g_sink = g_sink + double(y.size(0));
      },
      t);
  return p;
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

struct Subject {
  std::string label;  // file name or architecture name
  std::string kind;   // "file" or "architecture"
  std::string path;   // files only
  std::function<std::shared_ptr<fer::Model>()> make;  // a fresh instance (fp32)
  int input_size = 0;    // architectures built at an --input-sizes side; 0: the file's or the default
};

// An untrained model of a registered architecture: default options, linear
// head, input side `size` (0: the extractor's own default, 48x48 unless it says otherwise).
std::shared_ptr<fer::Model> architecture_model(const std::string& arch, int size) {
  auto probe = fer::FeatureExtractor::create(arch, fer::Config{});
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture = arch;
  info.architecture_config = fer::Config{};
  info.head = "linear";
  info.head_config = fer::Config{};
  int channels = int(probe->config().get_int("channels", 1));
  if (size == 0) size = int(probe->config().get_int("input_size", 48));
  info.input.width = info.input.height = size;  // Model::create passes it on as the extractor's input_size
  info.input.channels = channels;
  info.input.mean.assign(size_t(channels), 0.5f);
  info.input.std.assign(size_t(channels), 0.5f);
  return fer::Model::create(info, 0);
}

std::string source_models_dir() { return std::string(FER_SOURCE_DIR) + "/models"; }

std::vector<Subject> subjects(const Settings& s) {
  namespace fs = std::filesystem;
  std::vector<Subject> out;
  std::vector<std::string> paths;
  if (s.models == "all") {
    std::error_code ec;
    for (fs::directory_iterator it(source_models_dir(), ec), end; !ec && it != end; it.increment(ec))
      if (it->path().extension() == ".fermodel") paths.push_back(it->path().string());
    std::sort(paths.begin(), paths.end());
    if (paths.empty()) std::fprintf(stderr, "warning: no model files in %s\n", source_models_dir().c_str());
  } else if (s.models != "none") {
    for (const std::string& name : fer_bench::split_list(s.models)) {
      std::string p = name;
      if (!fs::exists(p) && name.find('/') == std::string::npos && fs::exists(source_models_dir() + "/" + name))
        p = source_models_dir() + "/" + name;
      if (!fs::exists(p)) throw UsageError("model file not found: " + name);
      paths.push_back(p);
    }
  }
  for (const std::string& p : paths)
    out.push_back({fs::path(p).filename().string(), "file", p, [p] { return fer::Model::load(p); }});

  std::vector<std::string> archs;
  if (s.archs == "all") archs = fer::extractor_registry().names();
  else if (s.archs != "none") archs = fer_bench::split_list(s.archs);
  for (const std::string& arch : archs) {
    if (!fer::extractor_registry().contains(arch)) {
      std::string known;
      for (const auto& n : fer::extractor_registry().names()) known += (known.empty() ? "" : ", ") + n;
      throw UsageError("unknown architecture '" + arch + "'; registered: " + known);
    }
    if (s.input_sizes.empty()) {
      out.push_back({arch, "architecture", "", [arch] { return architecture_model(arch, 0); }});
    } else {
      for (int size : s.input_sizes)
        out.push_back({arch, "architecture", "", [arch, size] { return architecture_model(arch, size); }, size});
    }
  }
  return out;
}

int64_t parameter_count(const fer::Model& m) {
  int64_t n = m.extractor().parameter_count();
  for (const fer::NamedTensor& t : m.classifier().state()) n += int64_t(t.data.size());
  return n;
}

// FLOPs of one face: the extractor's forward pass, counted, plus the head's matrix product.
double flops_per_face(const fer::Model& m) {
  double extractor = double(fer::detail::count_flops(m.extractor(), 1).flops());
  return extractor + 2.0 * double(m.extractor().feature_dim()) * double(m.classifier().num_classes());
}

// Deterministic random BGR crops (the content does not change the work).
std::vector<cv::Mat> random_crops(int n) {
  cv::RNG rng(12345);
  std::vector<cv::Mat> out;
  for (int i = 0; i < n; ++i) {
    cv::Mat m(kCropSide, kCropSide, CV_8UC3);
    rng.fill(m, cv::RNG::UNIFORM, 0, 256);
    out.push_back(m);
  }
  return out;
}

struct Row {
  std::string model, kind, architecture;
  std::string tta = "none";  // the view run ("auto" resolved)
  bool trained = false;
  int64_t params = 0;
  double flops = 0;  // per face
  int batch = 1, threads = 1;
  int input_size = 0;  // the model's input side (InputSpec width; inputs are square)
  fer::Precision precision = fer::Precision::Float32;
  Stats stats;
  std::optional<double> peak_gflops;
  double ms_per_face() const { return stats.median / batch; }
  double gflops() const { return flops * batch / (stats.median * 1e-3) * 1e-9; }
  std::optional<double> efficiency() const {
    if (!peak_gflops || !(*peak_gflops > 0)) return std::nullopt;
    return gflops() / *peak_gflops;
  }
};

struct PrepareRow {
  std::string model;
  int width = 0, height = 0, channels = 0, threads = 1;
  Stats stats;  // per repetition of kPrepareFaces crops
  double ms_per_face() const { return stats.median / kPrepareFaces; }
};

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

std::string fmt_ms(double v) {
  char b[32];
  std::snprintf(b, sizeof b, v < 10 ? "%.3f" : v < 100 ? "%.2f" : "%.1f", v);
  return b;
}

std::string spread(const Stats& s) {
  return fmt_ms(s.lo()) + "-" + fmt_ms(s.hi()) + (s.percentile_spread() ? "" : " mm");
}

void print_header() {
  std::printf("%-30s %5s %7s %9s %4s %3s %5s %5s %10s %18s %9s %8s %6s\n", "model", "input", "params", "MFLOP/fc",
              "prec", "thr", "batch", "reps", "ms/batch", "p10-p90 ms", "ms/face", "GFLOP/s", "eff%");
}

void print_row(const Row& r) {
  char eff[16] = "-";
  if (auto e = r.efficiency()) std::snprintf(eff, sizeof eff, "%.1f", 100.0 * *e);
  std::printf("%-30s %5d %6.2fM %9.1f %4s %3d %5d %5d %10s %18s %9s %8.2f %6s\n", r.model.c_str(), r.input_size,
              double(r.params) * 1e-6, r.flops * 1e-6, fer::precision_name(r.precision), r.threads, r.batch,
              r.stats.reps, fmt_ms(r.stats.median).c_str(), spread(r.stats).c_str(), fmt_ms(r.ms_per_face()).c_str(),
              r.gflops(), eff);
  std::fflush(stdout);
}

json stats_json(const Stats& s) {
  return {{"reps", s.reps}, {"median_ms", s.median}, {"p10_ms", s.p10}, {"p90_ms", s.p90},
          {"min_ms", s.min}, {"max_ms", s.max}};
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(); }

// ---------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? std::string() : a + " " + b + " " + c;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

json machine_json() {
  std::vector<std::string> flags;
  std::set<std::string> have;
  {
    std::istringstream words(fer_bench::cpuinfo_field("flags"));
    for (std::string w; words >> w;) have.insert(w);
  }
  for (const char* f : {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"})
    if (have.count(f)) flags.push_back(f);
  std::string backend;
  {
    std::istringstream info(at::get_parallel_info());
    for (std::string line; std::getline(info, line);)
      if (line.rfind("ATen parallel backend", 0) == 0) backend = line.substr(line.find(':') + 1);
    if (!backend.empty() && backend[0] == ' ') backend.erase(0, 1);
  }
  return {{"cpu", fer_bench::cpuinfo_field("model name")},
          {"logical_cpus", std::thread::hardware_concurrency()},
          {"cpu_flags", flags},
          {"native_bf16", fer::cpu_has_native_bf16()},
          {"libtorch", TORCH_VERSION},
          {"aten_parallel_backend", backend},
          {"opencv", CV_VERSION},
          {"libfer", fer::version()},
          {"date", utc_now()},
          {"load_average_start", load_average()}};
}

int run(const Settings& s) {
  std::vector<Subject> subs = subjects(s);
  json report;
  report["machine"] = machine_json();
  const json m = report["machine"];
  std::printf("recognizer_bench: %s, %u logical CPUs, native bf16 %s, libtorch %s (%s), load %s\n",
              m["cpu"].get<std::string>().c_str(), std::thread::hardware_concurrency(),
              fer::cpu_has_native_bf16() ? "yes" : "no (bf16 rows measure emulation)", TORCH_VERSION,
              m["aten_parallel_backend"].get<std::string>().c_str(), m["load_average_start"].get<std::string>().c_str());
  // Other work on the machine (its 1-minute load average, before this run loads it) skews every number.
  double load1 = std::atof(m["load_average_start"].get<std::string>().c_str());
  report["machine"]["busy"] = load1 >= 0.5;
  if (load1 >= 0.5)
    std::printf("warning: load average %.2f on %u logical CPUs before the run: other work is running, and the "
                "timings (multi-threaded ones most) are not reliable\n",
                load1, std::thread::hardware_concurrency());
  std::printf("timing: warm-up >= %d runs and >= %.2f s, then >= %d reps and >= %.2f s; median and p10-p90 "
              "(\"mm\": min-max, under 10 reps)\n",
              s.timing.warmup, s.timing.warmup_time, s.timing.min_reps, s.timing.min_time);
  report["settings"] = {{"quick", s.quick},
                        {"batches", s.batches},
                        {"input_sizes", s.input_sizes.empty() ? json("default") : json(s.input_sizes)},
                        {"threads", s.threads},
                        {"precisions", [&] {
                           std::vector<std::string> p;
                           for (fer::Precision x : s.precisions) p.push_back(fer::precision_name(x));
                           return p;
                         }()},
                        {"warmup_runs", s.timing.warmup},
                        {"warmup_time_s", s.timing.warmup_time},
                        {"min_reps", s.timing.min_reps},
                        {"min_time_s", s.timing.min_time},
                        {"prepare_crop", std::to_string(kCropSide) + "x" + std::to_string(kCropSide) + " BGR"},
                        {"flops_convention", "2 x MACs of convolutions and matrix products (extractor + head)"}};

  // Reference peaks, per thread count and precision.
  std::map<std::pair<int, int>, double> peak;  // (threads, precision) -> GFLOP/s (median)
  json peaks = json::array();
  if (s.peaks) {
    std::printf("\nreference peaks\n%-62s %3s %5s %10s %18s %9s %9s\n", "kernel", "thr", "reps", "ms/run",
                "p10-p90 ms", "GFLOP/s", "best");
    for (int threads : s.threads) {
      fer::set_num_threads(threads);
      std::vector<Peak> ps;
      bool want_fp32 = std::count(s.precisions.begin(), s.precisions.end(), fer::Precision::Float32) > 0;
      bool want_bf16 = std::count(s.precisions.begin(), s.precisions.end(), fer::Precision::BFloat16) > 0;
      if (want_fp32) ps.push_back(peak_gemm(s.gemm_size, threads, s.timing));
      const bool want_int8 = std::count(s.precisions.begin(), s.precisions.end(), fer::Precision::Int8) > 0;
      for (int64_t c : {64, 128, 256}) {  // equal cost: hw = 56 * 64 / c
        if (want_fp32) ps.push_back(peak_conv(s.conv_batch, threads, s.timing, false, c, 56 * 64 / c));
        if (want_bf16) ps.push_back(peak_conv(s.conv_batch, threads, s.timing, true, c, 56 * 64 / c));
        if (want_int8) ps.push_back(peak_conv_int8(s.conv_batch, threads, s.timing, c, 56 * 64 / c));
      }
      for (const Peak& p : ps) {
        std::printf("%-62s %3d %5d %10s %18s %9.1f %9.1f\n", p.what.c_str(), p.threads, p.stats.reps,
                    fmt_ms(p.stats.median).c_str(), spread(p.stats).c_str(), p.gflops(), p.best_gflops());
        std::fflush(stdout);
        double& best = peak[{threads, int(p.precision)}];  // the precision's peak: its fastest kernel
        best = std::max(best, p.gflops());
        json j = {{"kernel", p.what}, {"precision", fer::precision_name(p.precision)}, {"threads", p.threads},
                  {"flops", p.flops}, {"gflops", p.gflops()}, {"best_gflops", p.best_gflops()}};
        j.update(stats_json(p.stats));
        peaks.push_back(j);
      }
    }
  }
  report["peaks"] = peaks;

  const int max_batch = *std::max_element(s.batches.begin(), s.batches.end());
  const std::vector<cv::Mat> crops = random_crops(std::max(max_batch, kPrepareFaces));
  std::vector<Row> rows;
  std::vector<PrepareRow> prepares;
  std::printf("\nforward pass (Model::predict on prepared crops, test-time view %s; preprocessing excluded)\n",
              s.tta.c_str());
  print_header();
  json skipped = json::array();
  for (const Subject& sub : subs) {
    const size_t rows_before = rows.size(), prepares_before = prepares.size();
    try {
      int64_t params = 0;
      double flops = 0;
      bool first_precision = true;
      for (fer::Precision precision : s.precisions) {
        // A fresh instance per precision: bf16 stores the weights channels-last for good.
        std::shared_ptr<fer::Model> model = sub.make();
        if (first_precision) {
          first_precision = false;
          params = parameter_count(*model);
          fer::set_num_threads(1);
          flops = flops_per_face(*model);
          // Preprocessing, once per model, at the first thread count.
          fer::set_num_threads(s.threads.front());
          PrepareRow pr;
          pr.model = sub.label;
          pr.width = model->info().input.width;
          pr.height = model->info().input.height;
          pr.channels = model->info().input.channels;
          pr.threads = s.threads.front();
          pr.stats = time_runs(
              [&] {
                for (int i = 0; i < kPrepareFaces; ++i) g_sink = g_sink + double(model->prepare(crops[size_t(i)]).rows);
              },
              s.timing);
          prepares.push_back(pr);
        }
        if (precision == fer::Precision::Int8) {
          // Model files run in int8 when calibrated (fer quantize); untrained
          // --archs networks with an int8 path are calibrated here on the
          // benchmark's own crops, which is enough for timing. The others are
          // listed as skipped.
          if (sub.kind == "architecture" && model->extractor().supports_int8() &&
              model->info().activation_ranges.empty()) {
            std::vector<cv::Mat> calibration;
            for (int i = 0; i < max_batch; ++i) calibration.push_back(model->prepare(crops[size_t(i)]));
            model->set_precision(fer::Precision::Float32);
            model->calibrate(calibration);
          }
          try {
            model->set_precision(precision);
          } catch (const fer::Error& e) {
            std::printf("%-30s int8 skipped: %s\n", sub.label.c_str(), e.what());
            skipped.push_back({{"model", sub.label}, {"precision", "int8"}, {"error", e.what()}});
            continue;
          }
        }
        model->set_precision(precision);
        std::vector<cv::Mat> prepared;
        for (int i = 0; i < max_batch; ++i) prepared.push_back(model->prepare(crops[size_t(i)]));
        for (int threads : s.threads) {
          fer::set_num_threads(threads);
          for (int batch : s.batches) {
            std::vector<cv::Mat> inputs(prepared.begin(), prepared.begin() + batch);
            Row r;
            r.model = sub.label;
            r.kind = sub.kind;
            r.architecture = model->info().architecture;
            r.trained = model->info().trained;
            r.params = params;
            r.tta = model->resolve_view(s.tta);
            r.flops = flops * (r.tta == "tencrop" ? 10 : r.tta == "flip" ? 2 : 1);  // network passes per face
            r.batch = batch;
            r.threads = threads;
            r.input_size = model->info().input.width;
            r.precision = precision;

            r.stats = time_runs(
                [&] {
                  std::vector<fer::Prediction> p = model->predict(inputs, false, false, s.tta);
                  g_sink = g_sink + double(p.front().probabilities.front());
                },
                s.timing);
            auto it = peak.find({threads, int(precision)});
            if (it != peak.end()) r.peak_gflops = it->second;
            print_row(r);
            rows.push_back(r);
          }
        }
      }
    } catch (const std::exception& e) {
      // An architecture at an --input-sizes side it cannot take: noted (its
      // partial rows dropped), and the sweep goes on. Without --input-sizes
      // every failure still ends the run, as before.
      if (sub.input_size == 0) throw;
      rows.resize(rows_before);
      prepares.resize(prepares_before);
      std::printf("%-30s %5d skipped: %s\n", sub.label.c_str(), sub.input_size, e.what());
      std::fflush(stdout);
      skipped.push_back({{"model", sub.label}, {"input_size", sub.input_size}, {"error", e.what()}});
    }
  }

  std::printf("\npreprocessing (Model::prepare of a %dx%d BGR crop: resize, gray/BGR, normalize; per face)\n", kCropSide,
              kCropSide);
  std::printf("%-30s %9s %3s %5s %10s %18s\n", "model", "input", "thr", "reps", "us/face", "p10-p90 us");
  json prep = json::array();
  for (const PrepareRow& p : prepares) {
    char input[32];
    std::snprintf(input, sizeof input, "%dx%dx%d", p.width, p.height, p.channels);
    double k = 1000.0 / kPrepareFaces;  // ms per repetition -> us per face
    char sp[48];
    std::snprintf(sp, sizeof sp, "%.2f-%.2f%s", p.stats.lo() * k, p.stats.hi() * k,
                  p.stats.percentile_spread() ? "" : " mm");
    std::printf("%-30s %9s %3d %5d %10.2f %18s\n", p.model.c_str(), input, p.threads, p.stats.reps,
                p.stats.median * k, sp);
    prep.push_back({{"model", p.model},
                    {"input", {p.width, p.height, p.channels}},
                    {"crop", std::to_string(kCropSide) + "x" + std::to_string(kCropSide) + " BGR"},
                    {"threads", p.threads},
                    {"faces_per_rep", kPrepareFaces},
                    {"reps", p.stats.reps},
                    {"median_ms_per_face", p.ms_per_face()},
                    {"p10_ms_per_face", p.stats.p10 / kPrepareFaces},
                    {"p90_ms_per_face", p.stats.p90 / kPrepareFaces}});
  }

  json jrows = json::array();
  for (const Row& r : rows) {
    json j = {{"model", r.model},
              {"kind", r.kind},
              {"architecture", r.architecture},
              {"trained", r.trained},
              {"params", r.params},
              {"flops_per_face", r.flops},
              {"input_size", r.input_size},
              {"batch", r.batch},
              {"precision", fer::precision_name(r.precision)},
              {"tta", r.tta},
              {"threads", r.threads}};
    j.update(stats_json(r.stats));
    j["ms_per_face"] = r.ms_per_face();
    j["gflops"] = r.gflops();
    j["peak_gflops"] = optional_json(r.peak_gflops);
    j["efficiency"] = optional_json(r.efficiency());
    jrows.push_back(j);
  }
  report["rows"] = jrows;
  if (!s.input_sizes.empty()) report["skipped"] = skipped;
  report["preprocessing"] = prep;
  report["machine"]["load_average_end"] = load_average();
  std::printf("\nload average at start %s, at end %s\n", report["machine"]["load_average_start"].get<std::string>().c_str(),
              load_average().c_str());
  if (!s.json_path.empty()) {
    std::ofstream out(s.json_path);
    out << report.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "recognizer_bench: cannot write %s\n", s.json_path.c_str());
      return 1;
    }
    std::printf("JSON written to %s\n", s.json_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  try {
    for (int i = 1; i < argc; ++i)
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
    s = settings(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recognizer_bench: %s\n%s", e.what(), kUsage);
    return 2;
  }
  try {
    return run(s);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "recognizer_bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recognizer_bench: %s\n", e.what());
    return 1;
  }
}
