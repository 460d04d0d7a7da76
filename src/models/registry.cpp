#include "models/builtin.hpp"

#include <fer/recognizer.hpp>
#include <fer/threads.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

namespace fer {

// Both registries are filled together, once, the first time either is used.
namespace detail {
ExtractorRegistry& raw_extractor_registry() {
  static ExtractorRegistry r("feature extractor");
  return r;
}
ClassifierRegistry& raw_classifier_registry() {
  static ClassifierRegistry r("classifier");
  return r;
}
// Parameters of each built-in extractor at width 1, 1 channel, 48 px and default
// depth (as `fer models` lists them). Halved and scaled by width^2 (and by depth
// for vit_asf) they bound a configuration's count from below: the counts grow
// about with width^2 and never fall below half of that (tests/test_model_file).
int64_t minimum_parameter_count(const std::string& architecture, const Config& config) {
  static const std::map<std::string, int64_t> at_width_1 = {
      {"acnn", 1180080},      {"ir50", 30738880},   {"mini_xception", 48880}, {"mobile_fer", 691744},
      {"resnet18", 11167680}, {"resnet34", 21275840}, {"resnet50", 23499200}, {"small_cnn", 286880},
      {"vit_asf", 5716096}};
  auto it = at_width_1.find(architecture);
  if (it == at_width_1.end()) return 0;  // a user-registered extractor: no bound known
  const double width = config.get_double("width", 1.0);
  if (!(width > 0 && width <= 64)) return 0;  // out of range: the factory rejects it with a clear message
  double factor = 0.5 * width * width;
  if (architecture == "vit_asf") factor *= std::min(1.0, double(config.get_int("depth", 4)) / 4.0);
  return int64_t(factor * double(it->second));
}

namespace {
// `implied`: the keys build_model sets on every component of the kind, accepted
// whether declared or not (a user's declaration may leave them out).
template <class R>
void check_options(const R& registry, const std::string& kind, const std::string& name, const Config& config,
                   std::vector<std::string> implied) {
  const std::vector<std::string> declared = registry.options(name);
  if (declared.empty()) return;  // nothing declared (e.g. a user-registered component): nothing to check
  std::vector<std::string> known = std::move(implied);
  for (const auto& k : declared)
    if (std::find(known.begin(), known.end(), k) == known.end()) known.push_back(k);
  for (const auto& kv : config.values()) {
    if (std::find(known.begin(), known.end(), kv.first) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(Status::InvalidArgument,
                kind + " " + name + " has no option '" + kv.first + "' (its options: " + list + ")");
  }
}
}  // namespace

void check_extractor_options(const std::string& architecture, const Config& config) {
  check_options(extractor_registry(), "architecture", architecture, config, {"channels", "input_size"});
}

void check_classifier_options(const std::string& head, const Config& config) {
  check_options(classifier_registry(), "head", head, config, {"in_features", "num_classes"});
}

void check_option_agrees(const Config& config, const std::string& key, int64_t want, const std::string& source,
                         Status status) {
  if (config.has(key) && config.get_int(key, want) != want)
    throw Error(status, "option " + key + "=" + config.get_string(key, "") + " disagrees with " + source + " " +
                            std::to_string(want));
}
}  // namespace detail

namespace {
void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    tune_heap();  // every model and extractor is made through this registry
    detail::register_small_cnn();
    detail::register_resnets();
    detail::register_vit_asf();
    detail::register_acnn();
    detail::register_mobile_fer();
    detail::register_mini_xception();
    detail::register_heads();
  });
}
}  // namespace

ExtractorRegistry& extractor_registry() {
  register_builtins();
  return detail::raw_extractor_registry();
}

ClassifierRegistry& classifier_registry() {
  register_builtins();
  return detail::raw_classifier_registry();
}

std::unique_ptr<FeatureExtractor> FeatureExtractor::create(const std::string& architecture, const Config& config) {
  return extractor_registry().create(architecture, config);
}

ActivationRanges FeatureExtractor::calibrate(const std::vector<cv::Mat>&, ActivationRanges) const {
  throw Error(Status::Unsupported, "architecture '" + architecture() + "' has no int8 path");
}

void FeatureExtractor::set_activation_ranges(const ActivationRanges&) {
  throw Error(Status::Unsupported, "architecture '" + architecture() + "' has no int8 path");
}

std::unique_ptr<Classifier> Classifier::create(const std::string& name, const Config& config) {
  return classifier_registry().create(name, config);
}

}  // namespace fer
