// Subcommands of the fer program, one function each.
#pragma once

#include <fer/pipeline.hpp>
#include <fer/threads.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace fer_cli {

/// A command-line mistake: printed with a pointer to --help, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One line of JSON output. File names and paths need not be UTF-8: such bytes
/// print as U+FFFD instead of failing the command.
inline std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Parses a whole-string, finite number for `flag` that fits T, or throws UsageError.
template <class T>
T parse_number(const std::string& flag, const std::string& value) {
  try {
    size_t used = 0;
    if (std::is_integral<T>::value) {
      long long v = std::stoll(value, &used);
      if (used != value.size()) throw std::invalid_argument("");
      if (v < (long long)std::numeric_limits<T>::min() || v > (long long)std::numeric_limits<T>::max())
        throw UsageError(flag + " is out of range: " + value);
      return T(v);
    }
    double v = std::stod(value, &used);
    if (used != value.size() || !std::isfinite(v)) throw std::invalid_argument("");
    return T(v);
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception&) {
    throw UsageError(flag + " needs a " + (std::is_integral<T>::value ? "whole" : "finite") + " number, got '" +
                     value + "'");
  }
}

/// The value after `flag` (argv[i]; advances i). A missing value, or one that
/// is itself an option ("--out --json": the file name was forgotten), is a
/// usage error instead of silently eating the next flag.
inline std::string flag_value(int argc, char** argv, int& i, const std::string& flag) {
  if (i + 1 >= argc) throw UsageError(flag + " needs a value");
  const std::string v = argv[i + 1];
  if (v.rfind("--", 0) == 0)
    throw UsageError(flag + " needs a value, got the option " + v + " (a name starting with -- can be given as ./" +
                     v + ")");
  ++i;
  return v;
}

/// --threads N: 0 (all cores) to fer::kMaxThreads.
inline int parse_threads(const std::string& flag, const std::string& value) {
  const int n = parse_number<int>(flag, value);
  if (n < 0 || n > fer::kMaxThreads)
    throw UsageError(flag + " needs 0 (all cores) to " + std::to_string(fer::kMaxThreads) + ", got " + value);
  return n;
}

/// Ctrl-C and SIGTERM during a long command (train, video): the first sets
/// this flag and the command stops cleanly (files closed, checkpoints kept,
/// exit 130); a second one ends the program at once, as without a handler.
std::atomic<bool>& stop_requested();
/// Installs that handling for SIGINT and SIGTERM.
void catch_stop_signals();

/// An image file the command will write (`flag` PATH): refused up front when
/// OpenCV has no encoder for its name or its folder does not exist, instead of
/// failing after the work is done.
void check_image_output(const std::string& flag, const std::string& path);

/// The pipeline flags that fer image and fer video share (--model, --detector,
/// --min-face, --threads, --precision, --landmarks). Returns false for any other flag.
inline bool parse_pipeline_flag(const std::string& arg, const std::function<std::string()>& value,
                                fer::PipelineOptions& o) {
  if (arg == "--model") o.model_path = value();
  else if (arg == "--detector") o.detector = value();
  else if (arg == "--min-face") o.min_face_size = parse_number<int>(arg, value());
  else if (arg == "--threads") o.threads = parse_threads(arg, value());
  else if (arg == "--precision") o.precision = value();
  else if (arg == "--landmarks") o.landmarks = value();
  else if (arg == "--tta") o.tta = value();
  else return false;
  return true;
}

int run_train(int argc, char** argv);
int run_eval(int argc, char** argv);
/// fer convert IN OUT --storage float32|bfloat16
int run_convert(int argc, char** argv);
int run_choose_view(int argc, char** argv);
int run_video(int argc, char** argv);
/// fer quantize --model IN --data PATH --out OUT: int8 calibration
int run_quantize(int argc, char** argv);
/// fer teacher-targets --model FILE... --data PATH --out FILE: offline distillation targets
int run_teacher_targets(int argc, char** argv);
/// fer info MODEL... [--json]: what a model file holds (metadata, provenance)
int run_info(int argc, char** argv);

}  // namespace fer_cli
