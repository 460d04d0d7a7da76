// mini_xception: the reference real-time CNN of Arriaga, Ploeger and Valdenegro
// (2017): two plain 3x3 convs (8 channels, no padding), then four residual
// modules of two depthwise-separable 3x3 convs and a 3x3 stride-2 max-pool
// beside a 1x1 stride-2 conv shortcut (16, 32, 64, 128 channels).
// The original ends in a 3x3 conv to the class count + global average pool +
// softmax; here that classification conv becomes libfer's linear head, and
// the feature vector is the global-average-pooled last 128-channel map.
// Maps: 48 px -> 3x3, 64 px -> 4x4.
//
// At the default config (1 channel, width 1.0), measured: 48,880 parameters
// (the original's ~58 k counts its 8 k-parameter classification conv and the
// batch-norm running statistics; the linear head adds 128 x 7 + 7 = 903);
// 0.011 GFLOPs at 48 px (fer::detail::count_flops, FLOPs = 2 x MACs).
#include "models/builtin.hpp"
#include "models/zoo_common.hpp"

namespace fer::detail {

namespace {

// Depthwise 3x3 then pointwise 1x1, both without bias (as Keras' SeparableConv2D(use_bias=False)).
void separable_bn(torch::nn::Sequential& seq, int64_t in, int64_t out) {
  seq->push_back(conv2d(in, in, 3, 1, in));
  seq->push_back(conv2d(in, out, 1));
  seq->push_back(torch::nn::BatchNorm2d(out));
}

class XceptionModuleImpl : public torch::nn::Module {
 public:
  XceptionModuleImpl(int64_t in, int64_t out) {
    torch::nn::Sequential shortcut;
    shortcut->push_back(conv2d(in, out, 1, 2));
    shortcut->push_back(torch::nn::BatchNorm2d(out));
    torch::nn::Sequential main;
    separable_bn(main, in, out);
    main->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    separable_bn(main, out, out);
    main->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
    shortcut_ = register_module("shortcut", shortcut);
    main_ = register_module("main", main);
  }
  torch::Tensor forward(const torch::Tensor& x) { return main_->forward(x) + shortcut_->forward(x); }

 private:
  torch::nn::Sequential shortcut_{nullptr}, main_{nullptr};
};
TORCH_MODULE(XceptionModule);

class MiniXceptionImpl : public BackboneImpl {
 public:
  explicit MiniXceptionImpl(const Config& config) {
    ZooShape s = zoo_shape(config, "mini_xception");
    channels_ = s.channels;
    int64_t c0 = scaled_channels(8, s.width);
    torch::nn::Sequential seq;
    for (int64_t in : {s.channels, c0}) {
      seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, c0, 3).bias(false)));
      seq->push_back(torch::nn::BatchNorm2d(c0));
      seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    }
    int64_t in = c0;
    for (int64_t m : {2, 4, 8, 16}) {
      seq->push_back(XceptionModule(in, c0 * m));
      in = c0 * m;
    }
    features_ = register_module("features", seq);
    dim_ = in;
    init_zoo_weights(*this);
  }

  BackboneOutput forward_features(const torch::Tensor& input) override {
    torch::Tensor x = prepare_input(input, channels_, "mini_xception");
    return {spatial_mean(features_->forward(x)), {}};
  }
  int64_t feature_dim() const override { return dim_; }

 private:
  int64_t channels_ = 1, dim_ = 0;
  torch::nn::Sequential features_{nullptr};
};

}  // namespace

void register_mini_xception() {
  register_backbone_type<MiniXceptionImpl>(
      "mini_xception",
      "mini-Xception (Arriaga et al. 2017), ~49 k parameters", {"channels", "input_size", "width"});
}

}  // namespace fer::detail
