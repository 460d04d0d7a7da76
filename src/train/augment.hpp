// Batched, seeded image augmentation on tensors (images in [0, 1], N x C x H x W).
#pragma once

#include <fer/train.hpp>

#include <torch/torch.h>

namespace fer::detail {

struct Batch {
  torch::Tensor images;  // N x C x H x W float
  torch::Tensor labels;  // N int64
  torch::Tensor soft;    // N x K float target distributions, or undefined
};

/// Random resized crop, flip, rotation/translation (one affine warp per
/// sample, all in one grid_sample), brightness/contrast, random erasing, then
/// optional mixup/cutmix (which fills batch.soft). Deterministic for a generator state.
void augment_batch(Batch& batch, const AugmentOptions& options, int64_t num_classes, at::Generator& gen);

/// Erases one rectangle per sample inside the given normalised region
/// (x0, y0, x1, y1 in [0, 1]) with the fill value; used for occlusion tests too.
void erase_region(torch::Tensor& images, float x0, float y0, float x1, float y1, float fill);

}  // namespace fer::detail
