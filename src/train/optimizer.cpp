#include "train/optimizer.hpp"

#include <fer/error.hpp>

#include <stdexcept>
#include <string>

namespace fer::detail {

namespace {

std::unique_ptr<torch::optim::OptimizerOptions> group_options(const OptimizerSpec& spec, double weight_decay) {
  if (spec.name == "sgd")
    return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(spec.lr)
                                                          .momentum(spec.momentum)
                                                          .nesterov(spec.momentum > 0)
                                                          .weight_decay(weight_decay));
  if (spec.name == "adamw")
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(spec.lr).weight_decay(weight_decay));
  throw Error(Status::InvalidArgument, "unknown optimizer '" + spec.name + "' (sgd or adamw)");
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                                        const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> decayed, undecayed;
  for (const auto& p : params) (!spec.norm_bias_decay && is_norm_or_bias(p) ? undecayed : decayed).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decayed.empty()) groups.emplace_back(decayed, group_options(spec, spec.weight_decay));
  if (!undecayed.empty()) groups.emplace_back(undecayed, group_options(spec, 0.0));
  auto defaults = group_options(spec, spec.weight_decay);
  if (spec.name == "sgd")
    return std::make_unique<torch::optim::SGD>(groups, static_cast<torch::optim::SGDOptions&>(*defaults));
  return std::make_unique<torch::optim::AdamW>(groups, static_cast<torch::optim::AdamWOptions&>(*defaults));
}

void ema_step(const std::vector<torch::Tensor>& average, const std::vector<torch::Tensor>& current, double decay) {
  if (average.size() != current.size())
    throw std::logic_error("ema_step: " + std::to_string(average.size()) + " averaged tensors for " +
                           std::to_string(current.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < average.size(); ++i) {
    torch::Tensor a = average[i];
    if (a.is_floating_point())
      a.mul_(decay).add_(current[i].detach(), 1 - decay);
    else
      a.copy_(current[i]);
  }
}

}  // namespace fer::detail
