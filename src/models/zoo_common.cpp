#include "models/zoo_common.hpp"

#include "models/depthwise.hpp"

#include <fer/error.hpp>

#include <algorithm>
#include <cmath>

namespace fer::detail {

ZooShape zoo_shape(const Config& config, const std::string& architecture) {
  ZooShape s;
  s.channels = config_channels(config);
  s.input_size = config_input_size(config);
  s.width = config.get_double("width", 1.0);
  if (!(s.width >= 0.125 && s.width <= 4.0))
    throw Error(Status::InvalidArgument,
                architecture + " width must be in [0.125, 4], got " + config.get_string("width", ""));
  return s;
}

int64_t scaled_channels(int64_t base, double width, int64_t divisor) {
  auto n = int64_t(std::lround(double(base) * width / double(divisor))) * divisor;
  return std::max(n, divisor);
}

int64_t stem_stride(int64_t input_size) { return input_size >= 96 ? 2 : 1; }

torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, bool bias) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).groups(groups).bias(bias));
}

torch::Tensor spatial_mean(const torch::Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  TORCH_CHECK(x.dim() == 4 && !dims.empty(), "spatial_mean: a 4-D tensor and some of the dims 2, 3");
  for (int64_t d : dims) TORCH_CHECK(d == 2 || d == 3, "spatial_mean: dims must be 2 and/or 3");
  if (x.is_contiguous() || !x.is_contiguous(at::MemoryFormat::ChannelsLast)) return x.mean(dims, keepdim);
  std::vector<int64_t> nhwc;  // H, W are dims 1, 2 of the N x H x W x C view
  for (int64_t d : dims) nhwc.push_back(d - 1);
  torch::Tensor m = x.permute({0, 2, 3, 1}).mean(nhwc, /*keepdim=*/true).permute({0, 3, 1, 2});
  if (keepdim) return m;
  std::sort(dims.rbegin(), dims.rend());
  for (int64_t d : dims) m = m.squeeze(d);
  return m;
}

void FoldedConvBn::fold(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn) {
  clear();
  const auto& o = conv->options;
  if (!c10::holds_alternative<torch::ExpandingArray<2>>(o.padding()) ||
      !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    return;
  auto [w, b] = fold_batch_norm(conv->weight, conv->bias, bn.get());
  weight_ = w.contiguous(conv->weight.suggest_memory_format());
  bias_ = b;
}

torch::Tensor FoldedConvBn::operator()(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const torch::Tensor& x,
                                       bool depthwise) const {
  if (weight_.defined() && !conv->is_training()) {
    const auto& o = conv->options;
    return torch::conv2d(x, weight_, bias_, *o.stride(), *c10::get<torch::ExpandingArray<2>>(o.padding()),
                         *o.dilation(), o.groups());
  }
  return bn(depthwise ? depthwise_conv2d(conv, x) : conv(x));
}

void push_conv_bn_relu(torch::nn::Sequential& seq, int64_t in, int64_t out, int64_t stride, bool batch_norm) {
  seq->push_back(conv2d(in, out, 3, stride, 1, !batch_norm));
  if (batch_norm) seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
}

void init_zoo_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
      b->weight.fill_(1.0);
      b->bias.zero_();
    } else if (auto* b1 = m->as<torch::nn::BatchNorm1d>()) {
      b1->weight.fill_(1.0);
      b1->bias.zero_();
    } else if (auto* l = m->as<torch::nn::Linear>()) {
      l->weight.normal_(0.0, 0.02);
      if (l->bias.defined()) l->bias.zero_();
    }
  }
}

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
  conv1_ = register_module("conv1", conv2d(in, out, 3, stride));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2_ = register_module("conv2", conv2d(out, out, 3));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (stride != 1 || in != out) {
    down_conv_ = register_module("down_conv", conv2d(in, out, 1, stride));
    down_bn_ = register_module("down_bn", torch::nn::BatchNorm2d(out));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::relu(bn1_(conv1_(x)));
  y = bn2_(conv2_(y));
  torch::Tensor s = down_conv_ ? down_bn_(down_conv_(x)) : x;
  return torch::relu(y + s);
}

torch::Tensor BasicBlockImpl::forward_observed(const torch::Tensor& x, RangeRecorder& recorder,
                                               const std::string& prefix) {
  torch::Tensor y = recorder.record(prefix + ".conv1", torch::relu(bn1_(conv1_(x))));
  y = recorder.record(prefix + ".conv2", bn2_(conv2_(y)));
  torch::Tensor s = down_conv_ ? recorder.record(prefix + ".down", down_bn_(down_conv_(x))) : x;
  return recorder.record(prefix + ".out", torch::relu(y + s));
}

QBasicBlock::QBasicBlock(const BasicBlockImpl& b, const ActivationRanges& ranges, const std::string& prefix)
    : conv1_(*b.conv1_, b.bn1_.get(), true, activation_qparams(ranges, prefix + ".conv1")),
      conv2_(*b.conv2_, b.bn2_.get(), false, activation_qparams(ranges, prefix + ".conv2")),
      out_(activation_qparams(ranges, prefix + ".out")) {
  if (b.down_conv_) down_.emplace(*b.down_conv_, b.down_bn_.get(), false, activation_qparams(ranges, prefix + ".down"));
}

torch::Tensor QBasicBlock::operator()(const torch::Tensor& qx) const {
  torch::Tensor y = conv2_(conv1_(qx));
  return quantized_add_relu(y, down_ ? (*down_)(qx) : qx, out_);
}

torch::Tensor prepare_input(const torch::Tensor& x, int64_t channels, const std::string& architecture) {
  if (x.dim() != 4 || x.size(1) != channels)
    throw Error(Status::ShapeMismatch, architecture + " expects an N x " + std::to_string(channels) +
                                           " x H x W input, got " + std::to_string(x.dim()) + " dimensions" +
                                           (x.dim() >= 2 ? " with " + std::to_string(x.size(1)) + " channels" : ""));
  return standard_strides(x);
}

}  // namespace fer::detail
