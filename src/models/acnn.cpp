// acnn: attention-based CNN for facial expressions, after the line of work of
// Li, Jin, Zhou, Kubota and Ju (Neurocomputing 2020): a VGG-like CNN whose
// last feature map is re-weighted by channel attention (squeeze-excitation)
// and pooled by spatial attention (a 1x1 conv branch giving a softmax over
// positions). Features: the attention-weighted sum of the last map (256-d at
// width 1.0); attention map: the softmax over positions, h x w, sums to 1.
//
// Layout: 3x3 conv stem (stride 1 below 96 px, 2 from 96 px on), then three
// stages of two 3x3 conv-BN-ReLU and a 2x2 max-pool (64, 128, 256 channels):
// 48 px -> 6x6, 64 px -> 8x8, 112 px -> 7x7. The paper's LBP input branch and
// reconstruction module are left out (vit_asf carries an LBP stream).
//
// Option attention=both|channel|spatial|none (default both) keeps or drops
// each attention module, for measuring what it adds on the same trunk:
// without channel attention the map is not re-weighted; without spatial
// attention it is average-pooled and there is no attention map.
//
// At the default config (1 channel, 48 px, width 1.0), measured: 1,180,080
// parameters, 0.766 GFLOPs (fer::detail::count_flops, FLOPs = 2 x MACs).
#include "models/builtin.hpp"
#include "models/int8.hpp"
#include "models/zoo_common.hpp"

namespace fer::detail {

namespace {

class AcnnImpl : public BackboneImpl {
 public:
  explicit AcnnImpl(const Config& config) {
    ZooShape s = zoo_shape(config, "acnn");
    channels_ = s.channels;
    int64_t c0 = scaled_channels(32, s.width);
    torch::nn::Sequential seq;
    push_conv_bn_relu(seq, s.channels, c0, stem_stride(s.input_size));
    int64_t in = c0;
    for (int64_t m : {2, 4, 8}) {
      push_conv_bn_relu(seq, in, c0 * m);
      push_conv_bn_relu(seq, c0 * m, c0 * m);
      seq->push_back(torch::nn::MaxPool2d(2));
      in = c0 * m;
    }
    features_ = register_module("features", seq);
    dim_ = in;
    std::string attention = config.get_string("attention", "both");
    if (attention != "both" && attention != "channel" && attention != "spatial" && attention != "none")
      throw Error(Status::InvalidArgument,
                  "acnn attention must be both, channel, spatial or none, got '" + attention + "'");
    if (attention == "both" || attention == "channel") {
      int64_t squeezed = std::max<int64_t>(dim_ / 16, 4);
      se_reduce_ = register_module("se_reduce", conv2d(dim_, squeezed, 1, 1, 1, true));
      se_expand_ = register_module("se_expand", conv2d(squeezed, dim_, 1, 1, 1, true));
    }
    if (attention == "both" || attention == "spatial") {
      int64_t hidden = std::max<int64_t>(dim_ / 8, 4);
      spatial_hidden_ = register_module("spatial_hidden", conv2d(dim_, hidden, 1, 1, 1, true));
      // No bias: a constant shift does not change the softmax.
      spatial_score_ = register_module("spatial_score", conv2d(hidden, 1, 1));
    }
    init_zoo_weights(*this);
  }

  BackboneOutput forward_features(const torch::Tensor& input) override {
    torch::Tensor x = prepare_input(input, channels_, "acnn");
    return attend(features_->forward(x));
  }
  int64_t feature_dim() const override { return dim_; }

  // Int8: the conv trunk (quantization points "input" and "features.<conv
  // index>") runs quantized; the attention head, a few small ops on the last
  // 6x6 map, runs in float on its dequantized output.
  bool supports_int8() const override { return true; }
  torch::Tensor forward_observed(const torch::Tensor& input, RangeRecorder& recorder) override {
    torch::Tensor x = recorder.record("input", prepare_input(input, channels_, "acnn"));
    return attend(QSequential::observe(features_, x, recorder, "features")).features;
  }
  std::unique_ptr<Int8Network> build_int8(const ActivationRanges& ranges) override {
    return std::make_unique<Int8>(*this, ranges);
  }

 private:
  // Channel attention, then spatial attention pooling of the last map `f`
  // (each where the config keeps it; average pooling without spatial attention).
  BackboneOutput attend(torch::Tensor f) {
    if (se_reduce_) f = f * torch::sigmoid(se_expand_(torch::relu(se_reduce_(spatial_mean(f, {2, 3}, true)))));
    if (!spatial_score_) return {spatial_mean(f), {}};
    int64_t n = f.size(0), h = f.size(2), w = f.size(3);
    torch::Tensor score = spatial_score_(torch::relu(spatial_hidden_(f))).view({n, h * w});
    torch::Tensor a = torch::softmax(score, 1);
    torch::Tensor pooled = torch::bmm(f.reshape({n, dim_, h * w}), a.unsqueeze(2)).squeeze(2);
    return {pooled, a.view({n, h, w})};
  }

  // Holds the network it was built from for the float attention head: the
  // extractor owning both destroys this first.
  class Int8 final : public Int8Network {
   public:
    Int8(AcnnImpl& net, const ActivationRanges& ranges)
        : net_(&net), input_(activation_qparams(ranges, "input")), features_(net.features_, ranges, "features") {}
    BackboneOutput operator()(const torch::Tensor& input) const override {
      torch::Tensor x = prepare_input(input, net_->channels_, "acnn");
      return net_->attend(dequantize_activation(features_(quantize_activation(x, input_))).contiguous());
    }

   private:
    AcnnImpl* net_;  // inference-mode forward of its float attention head, read-only
    QParams input_;
    QSequential features_;
  };

  int64_t channels_ = 1, dim_ = 0;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Conv2d se_reduce_{nullptr}, se_expand_{nullptr}, spatial_hidden_{nullptr}, spatial_score_{nullptr};
};

}  // namespace

void register_acnn() {
  register_backbone_type<AcnnImpl>(
      "acnn",
      "VGG-like CNN with channel and spatial attention pooling; attention map",
      {"channels", "input_size", "width", "attention=both|channel|spatial|none"});
}

}  // namespace fer::detail
