// Test-time augmentation: the views a recognizer averages its probabilities
// over (PipelineOptions::tta, Model::predict, fer eval --tta).
#pragma once

#include <fer/model.hpp>

#include <torch/torch.h>

#include <string>
#include <vector>

namespace fer::detail {

/// Test-time views of a batch (N x C x H x W, any affine intensity scale):
/// "none" the batch itself, "center" its centre crop covering 90% of the
/// area (the mean zoom of the training's random resized crops, which cover
/// 80-100%) resized back to H x W, "flip" the batch and its mirror image,
/// "tencrop" the four corner crops and the centre crop each covering 90% of
/// the area, resized back, and their mirror images. Throws InvalidArgument for
/// another name; "auto" must have been resolved for the model first (resolve_tta).
std::vector<torch::Tensor> test_time_views(const torch::Tensor& x, const std::string& tta);

/// Checks a test-time view name (auto, none, center, flip, tencrop).
void check_tta(const std::string& tta);
/// The view `tta` names for a model: its own view (info.view) for "auto".
std::string resolve_tta(const ModelInfo& info, const std::string& tta);

}  // namespace fer::detail
