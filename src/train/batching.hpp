// Turning Dataset images into model-ready tensors, and running a model's torch modules.
#pragma once

#include "models/torch_component.hpp"

#include <fer/dataset.hpp>
#include <fer/model.hpp>

#include <torch/torch.h>

#include <vector>

namespace fer::detail {

/// Images `indices` of `data` as N x C x H x W float in [0, 1], converted to the
/// model's channels (gray <-> BGR) and size (resized when they differ).
torch::Tensor dataset_images(const Dataset& data, const std::vector<int64_t>& indices, const InputSpec& input);

/// (x - mean) / std per channel, as the model's input spec says.
torch::Tensor normalize_images(const torch::Tensor& images01, const InputSpec& input);

/// Hard labels of `indices` remapped through `label_map` (dataset -> model class index).
torch::Tensor dataset_labels(const Dataset& data, const std::vector<int64_t>& indices);
torch::Tensor dataset_soft_labels(const Dataset& data, const std::vector<int64_t>& indices);

struct ForwardOutput {
  torch::Tensor logits;
  torch::Tensor features;
  torch::Tensor attention;
};

/// Runs extractor + head on a normalized batch. precision "bf16" uses CPU
/// autocast to bfloat16 with channels-last inputs; outputs are float32.
ForwardOutput forward_model(BackboneImpl& backbone, HeadImpl& head, const torch::Tensor& x, const std::string& precision);

/// The torch modules of a model; throws Unsupported for non-torch components.
/// `for_training` false: for eval-mode forward passes only (torch_backbone).
std::pair<std::shared_ptr<BackboneImpl>, std::shared_ptr<HeadImpl>> torch_modules(const Model& model,
                                                                                  bool for_training = true);

/// Checks a precision name ("fp32" or "bf16").
void check_precision(const std::string& precision);

}  // namespace fer::detail
