// Training losses on LibTorch tensors.
#pragma once

#include <torch/torch.h>

namespace fer::detail {

/// Cross-entropy with label smoothing and optional per-class weights (undefined = none).
torch::Tensor cross_entropy_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing,
                                 const torch::Tensor& class_weights);

/// Cross-entropy against target distributions (rows sum to 1), e.g. FERPlus votes or mixup.
/// With `class_weights` (one per class): sum of w_c t_ic (-log p_ic) over the
/// batch, divided by the sum of w_c t_ic, which for one-hot targets is
/// cross_entropy_loss's weighted mean.
torch::Tensor soft_cross_entropy_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const torch::Tensor& class_weights = {});

/// Deep locality-preserving loss (Li & Deng, CVPR 2017): half the mean squared
/// distance between each feature and the mean of its k nearest same-class
/// neighbours in the batch. Samples without a same-class neighbour add nothing.
torch::Tensor dlp_loss(const torch::Tensor& features, const torch::Tensor& labels, int64_t k);

/// Hinton's distillation term: T^2 * KL(softmax(teacher/T) || softmax(student/T)), batch mean.
torch::Tensor kd_logit_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits, double temperature);

/// An ensemble of teachers as one: logits T * log(mean_i softmax(z_i / T)),
/// whose softmax at temperature T is the mean of the members' softened
/// probabilities (what kd_logit_loss then distils).
torch::Tensor ensemble_teacher_logits(const std::vector<torch::Tensor>& teacher_logits, double temperature);

/// Attention transfer: mean squared difference of L2-normalised, flattened maps,
/// after resizing the student's maps to the teacher's size.
torch::Tensor attention_transfer_loss(const torch::Tensor& student_maps, const torch::Tensor& teacher_maps);

}  // namespace fer::detail
