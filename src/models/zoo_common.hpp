// Building blocks shared by the model-zoo backbones (resnet*, ir50, vit_asf,
// acnn, mobile_fer, mini_xception): option parsing and small conv helpers.
#pragma once

#include "models/int8.hpp"
#include "models/torch_component.hpp"

#include <optional>
#include <string>

namespace fer::detail {

/// The shape options every zoo architecture takes: "channels", "input_size", "width".
struct ZooShape {
  int64_t channels = 1;
  int64_t input_size = 48;
  double width = 1.0;
};

/// Reads and validates channels, input_size and width (width in [0.125, 4]).
ZooShape zoo_shape(const Config& config, const std::string& architecture);

/// Channels of a layer: round(base * width) rounded to a multiple of `divisor`, at least `divisor`.
int64_t scaled_channels(int64_t base, double width, int64_t divisor = 1);

/// Stride of the stem: 1 below 96 px (48-64 px faces keep full resolution),
/// 2 from 96 px on (so 96/112 px end at the same 6x6/7x7 maps as 48/56 px).
int64_t stem_stride(int64_t input_size);

/// k x k convolution with "same" padding for odd k, no bias by default.
torch::nn::Conv2d conv2d(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t groups = 1,
                         bool bias = false);

/// x.mean(dims, keepdim) over spatial dims of a 4-D tensor (dims: {2, 3}, {2}
/// or {3}), the same values. A channels-last x is reduced through its
/// N x H x W x C view: LibTorch 1.13 reduces channels-last tensors over H and
/// W, and back-propagates, in a slow strided loop (measured with Debian's
/// python3-torch, the same LibTorch: forward + backward at 64 x 240 x 12 x 12
/// bf16, one thread, 5.0 ms, 1.3 ms through the view).
torch::Tensor spatial_mean(const torch::Tensor& x, std::vector<int64_t> dims = {2, 3}, bool keepdim = false);

/// Appends conv3x3(stride) [-BN] -ReLU to `seq`; without batch norm the conv has a bias.
void push_conv_bn_relu(torch::nn::Sequential& seq, int64_t in, int64_t out, int64_t stride = 1,
                       bool batch_norm = true);

/// A batch norm folded into the convolution before it, for inference: one
/// convolution instead of a convolution and a batch norm. On small networks at
/// batch 1 each op's fixed cost dominates (mobile_fer: 38 batch norms of ~10 us
/// each in a ~1.8 ms forward pass, measured with LibTorch's profiler). Empty
/// until fold(); the folded copy is used by eval-mode passes only, and must be
/// cleared or refolded whenever the weights change (BackboneImpl::fold_batch_norms).
class FoldedConvBn {
 public:
  /// Folds `bn` into `conv` (float32, in the layout of conv's weight); leaves
  /// it empty for a convolution without explicit zero padding.
  void fold(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn);
  void clear() { weight_ = bias_ = torch::Tensor(); }
  /// bn(conv(x)) (conv through depthwise_conv2d when `depthwise`), or the
  /// folded convolution when there is one and `conv` is in eval mode.
  torch::Tensor operator()(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const torch::Tensor& x,
                           bool depthwise = false) const;

 private:
  torch::Tensor weight_, bias_;
};

/// He-normal (fan-out) convolutions, unit/zero batch norms, normal(0, 0.02) linears with zero bias.
void init_zoo_weights(torch::nn::Module& module);

/// ResNet basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus a 1x1 conv-BN
/// shortcut where the shape changes, then ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  /// forward() recording the int8 quantization points "<prefix>.conv1",
  /// "<prefix>.conv2", "<prefix>.down" (with a projection shortcut) and "<prefix>.out".
  torch::Tensor forward_observed(const torch::Tensor& x, RangeRecorder& recorder, const std::string& prefix);

 private:
  friend class QBasicBlock;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, down_conv_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, down_bn_{nullptr};
};
TORCH_MODULE(BasicBlock);

/// Int8 BasicBlock: conv1-BN-ReLU and conv2-BN as int8 convolutions, the
/// shortcut's conv-BN likewise, and one quantized add + ReLU.
class QBasicBlock {
 public:
  QBasicBlock(const BasicBlockImpl& block, const ActivationRanges& ranges, const std::string& prefix);
  torch::Tensor operator()(const torch::Tensor& qx) const;

 private:
  QConv2d conv1_, conv2_;
  std::optional<QConv2d> down_;
  QParams out_;
};

/// Checks that x is N x channels x H x W (else ShapeMismatch) and returns it with
/// an unambiguous memory layout (see standard_strides).
torch::Tensor prepare_input(const torch::Tensor& x, int64_t channels, const std::string& architecture);


}  // namespace fer::detail
