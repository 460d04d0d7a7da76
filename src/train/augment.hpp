// Batched, seeded image augmentation on tensors (images in [0, 1], N x C x H x W).
#pragma once

#include <fer/train.hpp>

#include <torch/torch.h>

namespace fer::detail {

struct Batch {
  torch::Tensor images;  // N x C x H x W float
  torch::Tensor labels;  // N int64
  torch::Tensor soft;    // N x K float target distributions, or undefined
  torch::Tensor teacher; // N x K teacher probabilities (offline distillation targets), or undefined
};

/// Random resized crop, flip, rotation/translation (one affine warp per
/// sample, all in one grid_sample), brightness/contrast, JPEG re-encoding, random erasing, then
/// optional mixup/cutmix (which fills batch.soft and mixes batch.teacher alike). Deterministic for a generator state.
void augment_batch(Batch& batch, const AugmentOptions& options, int64_t num_classes, at::Generator& gen);

/// Compresses each image i with JPEG at qualities[i] (1-100; 0 = leave it
/// alone) and decodes it again, in place (1 or 3 channels, BGR as the training
/// tensors hold them; values in [0, 1]).
void jpeg_recompress(torch::Tensor& images, const std::vector<int>& qualities);

/// Erases one rectangle per sample inside the given normalised region
/// (x0, y0, x1, y1 in [0, 1]) with the fill value; used for occlusion tests too.
void erase_region(torch::Tensor& images, float x0, float y0, float x1, float y1, float fill);

/// Synthetic occlusion for robustness evaluation: per image, a black rectangle
/// over one facial region of a FER-2013-framed crop. mode "eye" (the left or the
/// right eye), "mouth", or "eye_or_mouth" (one of the three); "none" does nothing.
/// The region and a jitter of up to 3% of the side are drawn from a generator
/// seeded by (seed, indices[i]), so an image is occluded alike in any batch.
void occlude_face_regions(torch::Tensor& images, const std::vector<int64_t>& indices, const std::string& mode,
                          uint64_t seed);

/// Checks an occlusion mode name.
void check_occlusion_mode(const std::string& mode);

}  // namespace fer::detail
