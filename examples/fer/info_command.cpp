// fer info MODEL... [--json]: what a model file is, without running it: the
// network and its options, classes, input and crop conventions, weight
// storage, which precisions it can run in (int8 needs a calibration), its
// metrics and provenance (data, command, teachers, date, machine).
#include "commands.hpp"

#include <fer/model.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace fer_cli {

namespace {

const char* kInfoUsage =
    "usage: fer info MODEL.fermodel... [--json]\n"
    "Prints what each model file holds without running it: architecture and options, parameters,\n"
    "head, classes, input size and normalisation, crop convention, test-time view, weight storage, the precisions it\n"
    "can run in (int8 needs an architecture with an int8 path and a calibration: fer quantize),\n"
    "metrics and provenance. A file that does not load is reported and the others still printed\n"
    "(exit status 1).\n"
    "  --json   one JSON object per model, one per line\n";

std::string options_text(const fer::Config& c) {
  std::string s;
  for (const auto& [k, v] : c.values()) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return s;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string floats_text(const std::vector<float>& v) {
  std::string s;
  char buf[32];
  for (float x : v) {
    std::snprintf(buf, sizeof buf, "%g", double(x));
    s += (s.empty() ? "" : " ") + std::string(buf);
  }
  return s;
}

// A float as the decimal it was written as (0.1f prints 0.1 in JSON, not 0.10000000149011612).
double shortest(float x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", double(x));
  return std::strtod(buf, nullptr);
}

std::vector<double> shortest(const std::vector<float>& v) {
  std::vector<double> out;
  for (float x : v) out.push_back(shortest(x));
  return out;
}

struct Summary {
  std::string path;
  uintmax_t file_bytes = 0;
  std::shared_ptr<fer::Model> model;
  int64_t extractor_parameters = 0;
  int64_t head_parameters = 0;
  bool int8_path = false;
};

Summary summarize(const std::string& path) {
  Summary s;
  s.path = path;
  s.model = fer::Model::load(path);
  std::error_code ec;
  s.file_bytes = std::filesystem::file_size(path, ec);
  s.extractor_parameters = s.model->extractor().parameter_count();
  for (const auto& t : s.model->classifier().state()) s.head_parameters += int64_t(t.data.size());
  s.int8_path = s.model->extractor().supports_int8();
  return s;
}

std::string precisions_text(const Summary& s) {
  const fer::ModelInfo& info = s.model->info();
  std::string int8 = !s.int8_path ? "no int8 path for " + info.architecture
                     : info.activation_ranges.empty()
                         ? "int8 possible after calibration (fer quantize)"
                         : "int8 (calibrated: " + std::to_string(info.activation_ranges.size()) + " quantization points)";
  return "fp32, bf16; " + int8;
}

nlohmann::json summary_json(const Summary& s) {
  const fer::ModelInfo& info = s.model->info();
  nlohmann::json crop = {{"method", info.crop.method}, {"margin", shortest(info.crop.margin)}, {"square", info.crop.square}};
  return {{"path", s.path},
          {"file_bytes", s.file_bytes},
          {"architecture", {{"name", info.architecture}, {"config", info.architecture_config.values()}}},
          {"head", {{"name", info.head}, {"config", info.head_config.values()}}},
          {"parameters", s.extractor_parameters + s.head_parameters},
          {"feature_dim", s.model->extractor().feature_dim()},
          {"classes", info.classes},
          {"input",
           {{"width", info.input.width},
            {"height", info.input.height},
            {"channels", info.input.channels},
            {"mean", shortest(info.input.mean)},
            {"std", shortest(info.input.std)}}},
          {"crop", crop},
          {"view", info.view},
          {"trained", info.trained},
          {"storage", info.storage},
          {"int8", {{"supported", s.int8_path}, {"calibrated", !info.activation_ranges.empty()}}},
          {"metrics", info.metrics},
          {"provenance", info.provenance}};
}

void print_text(const Summary& s) {
  const fer::ModelInfo& info = s.model->info();
  std::printf("%s (%.1f MB)\n", s.path.c_str(), double(s.file_bytes) / 1e6);
  std::printf("  architecture  %s (%s)\n", info.architecture.c_str(), options_text(info.architecture_config).c_str());
  std::printf("  parameters    %lld (extractor %lld, head %lld); %d features\n",
              (long long)(s.extractor_parameters + s.head_parameters), (long long)s.extractor_parameters,
              (long long)s.head_parameters, s.model->extractor().feature_dim());
  std::printf("  head          %s (%s)\n", info.head.c_str(), options_text(info.head_config).c_str());
  std::printf("  classes       %zu: %s\n", info.classes.size(), join(info.classes, ", ").c_str());
  std::printf("  input         %dx%d, %d channel%s (%s), mean %s, std %s (of pixel/255)\n", info.input.width,
              info.input.height, info.input.channels, info.input.channels == 1 ? "" : "s",
              info.input.channels == 1 ? "gray" : "BGR", floats_text(info.input.mean).c_str(),
              floats_text(info.input.std).c_str());
  std::printf("  crop          %s, margin %.2f%s\n", info.crop.method.c_str(), double(info.crop.margin),
              info.crop.method == "box" && info.crop.square ? ", square" : "");
  std::printf("  view          %s%s\n", info.view.c_str(),
              info.view == "center" ? " (centre crop of 90% of the area, one pass: what --tta auto runs)"
                                    : " (the whole face crop: what --tta auto runs)");
  std::printf("  weights       %s%s\n", info.storage.c_str(),
              info.trained ? "" : ", NOT TRAINED (random weights: its output is not recognition)");
  std::printf("  precisions    %s\n", precisions_text(s).c_str());
  if (!info.metrics.empty()) {
    std::printf("  metrics\n");
    for (const auto& [k, v] : info.metrics) std::printf("    %-24s %g\n", k.c_str(), v);
  }
  if (!info.provenance.empty()) {
    std::printf("  provenance\n");
    for (const auto& [k, v] : info.provenance) std::printf("    %-24s %s\n", k.c_str(), v.c_str());
  }
}

}  // namespace

int run_info(int argc, char** argv) {
  std::vector<std::string> paths;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kInfoUsage, stdout);
      return 0;
    }
    if (arg == "--json") json = true;
    else if (arg.rfind("--", 0) == 0) throw UsageError("fer info: unknown option " + arg);
    else paths.push_back(arg);
  }
  if (paths.empty()) throw UsageError("fer info needs at least one model file");
  int rc = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    try {
      Summary s = summarize(paths[i]);
      if (json) {
        std::printf("%s\n", json_line(summary_json(s)).c_str());
      } else {
        if (i > 0) std::printf("\n");
        print_text(s);
      }
    } catch (const fer::Error& e) {
      std::fprintf(stderr, "fer: error [%s]: %s\n", fer::status_name(e.status()), e.what());
      rc = 1;
    } catch (const std::exception& e) {  // e.g. out of memory building the network: still the next file
      std::fprintf(stderr, "fer: error: %s: %s\n", paths[i].c_str(), e.what());
      rc = 1;
    }
    std::fflush(stdout);
  }
  return rc;
}

}  // namespace fer_cli
