// mobile_fer: a lightweight student for real-time use, meant to be distilled
// from a large teacher (vit_asf, ir50). MobileNetV3-small-style inverted
// residuals (1x1 expand, depthwise k x k, attention, 1x1 project) with
// squeeze-excitation (hard-sigmoid gate) in some blocks and coordinate
// attention (Hou et al. 2021: pooling along rows and columns, so the gates
// keep position) in others; hard-swish in the deeper blocks.
// 3x3 stem (stride 1 below 96 px, 2 from 96 px on), three stride-2 blocks:
// 48 px -> 6x6, 64 px -> 8x8, 112 px -> 7x7. Features: 1x1 conv to 576
// channels (width 1.0), hard-swish, global average pool. No attention map.
//
// At the default config (1 channel, 48 px, width 1.0), measured: 691,744
// parameters, 0.073 GFLOPs (fer::detail::count_flops, FLOPs = 2 x MACs).
#include "models/builtin.hpp"
#include "models/depthwise.hpp"
#include "models/zoo_common.hpp"

#include <tuple>

namespace fer::detail {

namespace {

enum class Gate { None, Se, Coord };

// Channel gate from the pooled map: 1x1 reduce-ReLU-1x1 expand, hard-sigmoid.
class SqueezeExciteImpl : public torch::nn::Module {
 public:
  SqueezeExciteImpl(int64_t c, int64_t reduced) {
    reduce_ = register_module("reduce", conv2d(c, reduced, 1, 1, 1, true));
    expand_ = register_module("expand", conv2d(reduced, c, 1, 1, 1, true));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return x * torch::hardsigmoid(expand_(torch::relu(reduce_(spatial_mean(x, {2, 3}, true)))));
  }

 private:
  torch::nn::Conv2d reduce_{nullptr}, expand_{nullptr};
};
TORCH_MODULE(SqueezeExcite);

// Coordinate attention: pool along W and along H, a shared 1x1 conv-BN-hswish,
// then one sigmoid gate per row and one per column.
class CoordAttentionImpl : public torch::nn::Module {
 public:
  CoordAttentionImpl(int64_t c, int64_t reduced) {
    shared_ = register_module("shared", conv2d(c, reduced, 1));
    bn_ = register_module("bn", torch::nn::BatchNorm2d(reduced));
    gate_h_ = register_module("gate_h", conv2d(reduced, c, 1, 1, 1, true));
    gate_w_ = register_module("gate_w", conv2d(reduced, c, 1, 1, 1, true));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    int64_t h = x.size(2), w = x.size(3);
    torch::Tensor rows = spatial_mean(x, {3}, true);                  // N x C x H x 1
    torch::Tensor cols = spatial_mean(x, {2}, true).transpose(2, 3);  // N x C x W x 1
    torch::Tensor y = torch::hardswish(shared_bn_(shared_, bn_, torch::cat({rows, cols}, 2)));
    auto parts = y.split_with_sizes({h, w}, 2);
    torch::Tensor a_h = torch::sigmoid(gate_h_(parts[0]));                  // N x C x H x 1
    torch::Tensor a_w = torch::sigmoid(gate_w_(parts[1].transpose(2, 3)));  // N x C x 1 x W
    return x * a_h * a_w;
  }
  void fold(bool on) {
    if (on) shared_bn_.fold(shared_, bn_);
    else shared_bn_.clear();
  }

 private:
  torch::nn::Conv2d shared_{nullptr}, gate_h_{nullptr}, gate_w_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  FoldedConvBn shared_bn_;
};
TORCH_MODULE(CoordAttention);

struct BlockSpec {
  int64_t expand, out, kernel, stride;
  Gate gate;
  bool hswish;
};

class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t hidden, int64_t out, const BlockSpec& b)
      : residual_(b.stride == 1 && in == out), hswish_(b.hswish) {
    if (hidden != in) {
      expand_ = register_module("expand", conv2d(in, hidden, 1));
      expand_bn_ = register_module("expand_bn", torch::nn::BatchNorm2d(hidden));
    }
    depthwise_ = register_module("depthwise", conv2d(hidden, hidden, b.kernel, b.stride, hidden));
    depthwise_bn_ = register_module("depthwise_bn", torch::nn::BatchNorm2d(hidden));
    if (b.gate == Gate::Se) se_ = register_module("se", SqueezeExcite(hidden, scaled_channels(hidden, 0.25, 8)));
    if (b.gate == Gate::Coord)
      coord_ = register_module("coord", CoordAttention(hidden, std::max<int64_t>(8, hidden / 16)));
    project_ = register_module("project", conv2d(hidden, out, 1));
    project_bn_ = register_module("project_bn", torch::nn::BatchNorm2d(out));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = x;
    if (expand_) y = act(expand_f_(expand_, expand_bn_, y));
    y = act(depthwise_f_(depthwise_, depthwise_bn_, y, /*depthwise=*/true));
    if (se_) y = se_(y);
    if (coord_) y = coord_(y);
    y = project_f_(project_, project_bn_, y);
    return residual_ ? x + y : y;
  }
  void fold(bool on) {
    for (auto [f, conv, bn] : {std::tuple{&expand_f_, &expand_, &expand_bn_}, {&depthwise_f_, &depthwise_, &depthwise_bn_},
                               {&project_f_, &project_, &project_bn_}}) {
      if (on && *conv) f->fold(*conv, *bn);
      else f->clear();
    }
    if (coord_) coord_->fold(on);
  }

 private:
  torch::Tensor act(const torch::Tensor& x) const { return hswish_ ? torch::hardswish(x) : torch::relu(x); }
  bool residual_, hswish_;
  torch::nn::Conv2d expand_{nullptr}, depthwise_{nullptr}, project_{nullptr};
  torch::nn::BatchNorm2d expand_bn_{nullptr}, depthwise_bn_{nullptr}, project_bn_{nullptr};
  SqueezeExcite se_{nullptr};
  CoordAttention coord_{nullptr};
  FoldedConvBn expand_f_, depthwise_f_, project_f_;  // fp32 inference (fold_batch_norms)
};
TORCH_MODULE(InvertedResidual);

// Hidden width, output channels, kernel, stride, gate, hard-swish (at width 1.0).
const BlockSpec kBlocks[] = {
    {16, 16, 3, 1, Gate::Se, false},     // 48x48
    {64, 24, 3, 2, Gate::None, false},   // 24x24
    {72, 24, 3, 1, Gate::None, false},
    {96, 40, 5, 2, Gate::Se, true},      // 12x12
    {240, 40, 5, 1, Gate::Se, true},
    {240, 40, 5, 1, Gate::Coord, true},
    {120, 48, 5, 1, Gate::Se, true},
    {144, 48, 5, 1, Gate::Coord, true},
    {288, 96, 5, 2, Gate::Se, true},     // 6x6
    {576, 96, 5, 1, Gate::Coord, true},
    {576, 96, 5, 1, Gate::Coord, true},
};

class MobileFerImpl : public BackboneImpl {
 public:
  explicit MobileFerImpl(const Config& config) {
    ZooShape s = zoo_shape(config, "mobile_fer");
    channels_ = s.channels;
    int64_t stem = scaled_channels(16, s.width, 8);
    stem_ = register_module("stem", conv2d(s.channels, stem, 3, stem_stride(s.input_size)));
    stem_bn_ = register_module("stem_bn", torch::nn::BatchNorm2d(stem));
    torch::nn::Sequential blocks;
    int64_t in = stem;
    for (const BlockSpec& b : kBlocks) {
      int64_t out = scaled_channels(b.out, s.width, 8);
      blocks->push_back(InvertedResidual(in, scaled_channels(b.expand, s.width, 8), out, b));
      in = out;
    }
    blocks_ = register_module("blocks", blocks);
    dim_ = scaled_channels(576, s.width, 8);
    head_ = register_module("head", conv2d(in, dim_, 1));
    head_bn_ = register_module("head_bn", torch::nn::BatchNorm2d(dim_));
    init_zoo_weights(*this);
  }

  BackboneOutput forward_features(const torch::Tensor& input) override {
    torch::Tensor x = prepare_input(input, channels_, "mobile_fer");
    // (Eval-mode batch norms are elementwise: the layout change may come after them.)
    torch::Tensor y = is_training() ? stem_bn_(network_layout(stem_(x)))
                                    : network_layout(stem_folded_(stem_, stem_bn_, x));
    y = torch::hardswish(y);
    y = torch::hardswish(head_folded_(head_, head_bn_, blocks_->forward(y)));
    return {spatial_mean(y), {}};
  }
  void fold_batch_norms(bool on) override {
    if (on) {
      stem_folded_.fold(stem_, stem_bn_);
      head_folded_.fold(head_, head_bn_);
    } else {
      stem_folded_.clear();
      head_folded_.clear();
    }
    for (size_t i = 0; i < blocks_->size(); ++i) blocks_->ptr<InvertedResidualImpl>(i)->fold(on);
  }
  int64_t feature_dim() const override { return dim_; }
  // Measured (README, Speed): at batch 1, bf16 is slower than fp32 here, its
  // many small depthwise convolutions paying the conversions.
  bool prefers_bf16() const override { return false; }

 private:
  int64_t channels_ = 1, dim_ = 0;
  torch::nn::Conv2d stem_{nullptr}, head_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr}, head_bn_{nullptr};
  torch::nn::Sequential blocks_{nullptr};
  FoldedConvBn stem_folded_, head_folded_;  // fp32 inference (fold_batch_norms)
};

}  // namespace

void register_mobile_fer() {
  register_backbone_type<MobileFerImpl>(
      "mobile_fer",
      "lightweight student: inverted residuals with squeeze-excitation and coordinate attention",
      {"channels", "input_size", "width"});
}

}  // namespace fer::detail
