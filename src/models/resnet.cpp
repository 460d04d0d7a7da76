// ResNet-18/34/50 and IR-50 backbones adapted to small face crops.
//
// Stem/stride choice: the ImageNet stem (7x7 stride-2 conv + max-pool, /4)
// would leave a 2x2 map at 48 px. Here the stem is one 3x3 conv with stride 1
// below 96 px and stride 2 from 96 px on (stem_stride()), with no max-pool;
// stages 2-4 halve the map: 48 px -> 6x6, 64 px -> 8x8, 112 px -> 7x7.
// IR-50 keeps its face-recognition layout: a stride-1 3x3 stem and four
// halving stages (112 px -> 7x7, 48 px -> 3x3, 64 px -> 4x4).
// Features: global average pool of the last map.
//
// At the default config (1 channel, 48 px, width 1.0), measured
// (fer::detail::count_flops, FLOPs = 2 x MACs):
//   resnet18 11,167,680 parameters, 2.494 GFLOPs
//   resnet34 21,275,840 parameters, 5.212 GFLOPs
//   resnet50 23,499,200 parameters, 5.835 GFLOPs
//   ir50     30,738,880 parameters, 2.303 GFLOPs (the face-recognition IR-50's
//            43.8 M include a 7x7x512 -> 512 embedding layer, replaced here by
//            batch norm + global average pooling so any input size works)
#include "models/builtin.hpp"
#include "models/zoo_common.hpp"

#include <array>

namespace fer::detail {

namespace {

// 1x1 reduce, 3x3 (stride here, as in ResNet v1.5), 1x1 expand x4.
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(int64_t in, int64_t mid, int64_t stride) {
    int64_t out = 4 * mid;
    conv1_ = register_module("conv1", conv2d(in, mid, 1));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(mid));
    conv2_ = register_module("conv2", conv2d(mid, mid, 3, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(mid));
    conv3_ = register_module("conv3", conv2d(mid, out, 1));
    bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      down_conv_ = register_module("down_conv", conv2d(in, out, 1, stride));
      down_bn_ = register_module("down_bn", torch::nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(bn1_(conv1_(x)));
    y = torch::relu(bn2_(conv2_(y)));
    y = bn3_(conv3_(y));
    torch::Tensor s = down_conv_ ? down_bn_(down_conv_(x)) : x;
    return torch::relu(y + s);
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, down_conv_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr}, down_bn_{nullptr};
};
TORCH_MODULE(Bottleneck);

// Improved residual unit (ArcFace/IR): BN-conv3x3-BN-PReLU-conv3x3(stride)-BN,
// shortcut: subsampled identity, or 1x1 conv(stride)-BN where the depth changes.
class IrUnitImpl : public torch::nn::Module {
 public:
  IrUnitImpl(int64_t in, int64_t out, int64_t stride) : stride_(stride) {
    bn0_ = register_module("bn0", torch::nn::BatchNorm2d(in));
    conv1_ = register_module("conv1", conv2d(in, out, 3));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(out));
    prelu_ = register_module("prelu", torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(out)));
    conv2_ = register_module("conv2", conv2d(out, out, 3, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (in != out) {
      down_conv_ = register_module("down_conv", conv2d(in, out, 1, stride));
      down_bn_ = register_module("down_bn", torch::nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = prelu_(bn1_(conv1_(bn0_(x))));
    y = bn2_(conv2_(y));
    torch::Tensor s;
    if (down_conv_)
      s = down_bn_(down_conv_(x));
    else
      s = stride_ == 1 ? x : x.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);
    return y + s;
  }

 private:
  int64_t stride_ = 1;
  torch::nn::BatchNorm2d bn0_{nullptr}, bn1_{nullptr}, bn2_{nullptr}, down_bn_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, down_conv_{nullptr};
  torch::nn::PReLU prelu_{nullptr};
};
TORCH_MODULE(IrUnit);

enum class Unit { Basic, Bottleneck, Ir };

struct ResNetSpec {
  const char* name;
  Unit unit;
  std::array<int64_t, 4> depth;
};

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(const ResNetSpec& spec, const Config& config) : unit_(spec.unit), name_(spec.name) {
    ZooShape s = zoo_shape(config, name_);
    channels_ = s.channels;
    int64_t base = scaled_channels(64, s.width);
    torch::nn::Sequential stem;
    if (spec.unit == Unit::Ir) {
      stem->push_back(conv2d(s.channels, base, 3));
      stem->push_back(torch::nn::BatchNorm2d(base));
      stem->push_back(torch::nn::PReLU(torch::nn::PReLUOptions().num_parameters(base)));
    } else {
      stem->push_back(conv2d(s.channels, base, 3, stem_stride(s.input_size)));
      stem->push_back(torch::nn::BatchNorm2d(base));
      stem->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
    }
    stem_ = register_module("stem", stem);

    torch::nn::Sequential body;
    int64_t in = base;
    for (int64_t stage = 0; stage < 4; ++stage) {
      int64_t width = base << stage;
      for (int64_t i = 0; i < spec.depth[size_t(stage)]; ++i) {
        int64_t stride = i > 0 ? 1 : (spec.unit == Unit::Ir ? 2 : (stage == 0 ? 1 : 2));
        switch (spec.unit) {
          case Unit::Basic:
            body->push_back(BasicBlock(in, width, stride));
            in = width;
            break;
          case Unit::Bottleneck:
            body->push_back(Bottleneck(in, width, stride));
            in = 4 * width;
            break;
          case Unit::Ir:
            body->push_back(IrUnit(in, width, stride));
            in = width;
            break;
        }
      }
    }
    body_ = register_module("body", body);
    // IR-50's output layer normalizes the last map before pooling.
    if (spec.unit == Unit::Ir) out_bn_ = register_module("out_bn", torch::nn::BatchNorm2d(in));
    dim_ = in;
    init_zoo_weights(*this);
    // zero_init_residual=1: the last batch norm of every residual branch starts
    // with a zero scale, so that each block starts as its shortcut (Goyal et
    // al., 2017, "Accurate, large minibatch SGD"); a training-time choice that
    // loaded weights overwrite.
    const int64_t zero_init = config.get_int("zero_init_residual", 0);
    if (zero_init != 0 && zero_init != 1)
      throw Error(Status::InvalidArgument, name_ + " zero_init_residual must be 0 or 1, got " +
                                               config.get_string("zero_init_residual", ""));
    if (zero_init) {
      const std::string last = spec.unit == Unit::Bottleneck ? "bn3.weight" : "bn2.weight";
      torch::NoGradGuard no_grad;
      for (const auto& block : body_->children()) block->named_parameters()[last].zero_();
    }
  }

  BackboneOutput forward_features(const torch::Tensor& input) override {
    torch::Tensor x = prepare_input(input, channels_, name_);
    torch::Tensor y = body_->forward(stem_->forward(x));
    if (out_bn_) y = out_bn_(y);
    return {spatial_mean(y), {}};
  }
  int64_t feature_dim() const override { return dim_; }

  // Int8 (resnet18/34, basic blocks): quantization points "input",
  // "stem.0", and per block i those of BasicBlockImpl::forward_observed
  // under "body.<i>"; the global average pool runs in float.
  bool supports_int8() const override { return unit_ == Unit::Basic; }
  torch::Tensor forward_observed(const torch::Tensor& input, RangeRecorder& recorder) override {
    torch::Tensor x = recorder.record("input", prepare_input(input, channels_, name_));
    x = QSequential::observe(stem_, x, recorder, "stem");
    return QSequential::observe(body_, x, recorder, "body").mean({2, 3});
  }
  std::unique_ptr<Int8Network> build_int8(const ActivationRanges& ranges) override {
    if (!supports_int8()) return BackboneImpl::build_int8(ranges);
    return std::make_unique<Int8>(*this, ranges);
  }

 private:
  class Int8 final : public Int8Network {
   public:
    Int8(const ResNetImpl& net, const ActivationRanges& ranges)
        : name_(net.name_), channels_(net.channels_), input_(activation_qparams(ranges, "input")),
          stem_(net.stem_, ranges, "stem"), body_(net.body_, ranges, "body") {}
    BackboneOutput operator()(const torch::Tensor& input) const override {
      torch::Tensor q = stem_(quantize_activation(prepare_input(input, channels_, name_), input_));
      return {dequantize_mean(body_(q)), {}};
    }

   private:
    std::string name_;
    int64_t channels_;
    QParams input_;
    QSequential stem_, body_;
  };

  Unit unit_ = Unit::Basic;
  std::string name_;
  int64_t channels_ = 1, dim_ = 0;
  torch::nn::Sequential stem_{nullptr}, body_{nullptr};
  torch::nn::BatchNorm2d out_bn_{nullptr};
};

void register_resnet(const ResNetSpec& spec, const std::string& description) {
  register_backbone(
      spec.name, [spec](const Config& c) { return std::make_shared<ResNetImpl>(spec, c); }, description,
      {"channels", "input_size", "width", "zero_init_residual=0|1"});
}

}  // namespace

void register_resnets() {
  register_resnet({"resnet18", Unit::Basic, {2, 2, 2, 2}}, "ResNet-18, 3x3 stem without max-pool for small faces");
  register_resnet({"resnet34", Unit::Basic, {3, 4, 6, 3}}, "ResNet-34, 3x3 stem without max-pool for small faces");
  register_resnet({"resnet50", Unit::Bottleneck, {3, 4, 6, 3}}, "ResNet-50 (bottleneck), 3x3 stem without max-pool");
  register_resnet({"ir50", Unit::Ir, {3, 4, 14, 3}}, "IR-50 improved residual units (face recognition)");
}

}  // namespace fer::detail
