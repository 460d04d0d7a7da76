#include "models/builtin.hpp"

#include <fer/recognizer.hpp>

#include <mutex>

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
}  // namespace detail

namespace {
void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
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

std::unique_ptr<Classifier> Classifier::create(const std::string& name, const Config& config) {
  return classifier_registry().create(name, config);
}

}  // namespace fer
