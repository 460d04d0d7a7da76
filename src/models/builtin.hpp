// Registration functions of the built-in components, called once by the registries.
#pragma once

#include <fer/recognizer.hpp>

namespace fer::detail {
void register_small_cnn();
void register_resnets();  // resnet18, resnet34, resnet50, ir50
void register_vit_asf();
void register_acnn();
void register_mobile_fer();
void register_mini_xception();
void register_heads();

/// A lower bound on the parameters of built-in extractor `architecture` under
/// `config` (0 for other names), so that loaders can refuse before allocating.
int64_t minimum_parameter_count(const std::string& architecture, const Config& config);

/// Refuses (InvalidArgument) an option that extractor `architecture` (or head
/// `head`) does not read, naming the ones it does, as declared when it was
/// registered (Registry::add), besides the keys build_model sets (channels and
/// input_size of an extractor, in_features and num_classes of a head): a typo
/// such as "widht=0.5" would otherwise build the default network without a
/// word. Components that declared no options are not checked. Used by
/// training; loading a model file does not check, so files written with such
/// a key still load.
void check_extractor_options(const std::string& architecture, const Config& config);
void check_classifier_options(const std::string& head, const Config& config);

/// Throws `status` when `config` holds `key` with a value other than `want`, the
/// value `source` gives it ("option channels=3 disagrees with --channels 1"):
/// options such as channels and input_size are also set from elsewhere.
void check_option_agrees(const Config& config, const std::string& key, int64_t want, const std::string& source,
                         Status status);

// The registries without the built-in registration step (for use by that step).
ExtractorRegistry& raw_extractor_registry();
ClassifierRegistry& raw_classifier_registry();
}  // namespace fer::detail
