// The training optimiser: SGD (momentum, Nesterov) or AdamW, with weight decay
// on the weights of convolutions and linear layers and, unless asked, also on
// normalisation parameters and biases.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace fer::detail {

struct OptimizerSpec {
  std::string name = "sgd";    ///< "sgd" or "adamw"
  double lr = 0.01;
  double momentum = 0.9;       ///< sgd only; Nesterov when > 0
  double weight_decay = 5e-4;
  /// false: parameters with at most one dimension (batch-norm scales and
  /// shifts, biases, PReLU slopes) get no weight decay; they are put in a
  /// second parameter group (the first keeps the multi-dimensional weights).
  bool norm_bias_decay = true;
};

/// True for the parameters weight decay skips when norm_bias_decay is false.
inline bool is_norm_or_bias(const torch::Tensor& p) { return p.dim() <= 1; }

/// The optimiser over `params`: one parameter group, or two (decayed weights,
/// then undecayed 1-D parameters) when spec.norm_bias_decay is false and both
/// kinds are present. Group order is fixed by `params`' order, so a checkpoint
/// of the optimiser state resumes into the same groups.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                                        const std::vector<torch::Tensor>& params);

/// One step of an exponential moving average of weights (TrainOptions::ema_decay):
/// every floating-point tensor of `average` (parameters, and buffers such as
/// batch-norm's running mean and variance) becomes decay x itself + (1 - decay)
/// x its counterpart in `current`; other tensors (batch-norm's step counters)
/// are copied. The averaged weights thus come with averaged statistics, not
/// with the statistics of the current weights. Same order and shapes in both.
void ema_step(const std::vector<torch::Tensor>& average, const std::vector<torch::Tensor>& current, double decay);

}  // namespace fer::detail
