// vit_asf: visual transformer with attentional selective fusion (VTFF; Ma,
// Sun and Li, IEEE Trans. Affective Computing 2021).
//
//   image      -> CNN stream A  }
//                               } ASF -> visual words -> linear -> [cls] + pos -> L x encoder -> cls
//   LBP(image) -> CNN stream B  }
//
// The LBP map is computed inside the module by a fixed operator (8 neighbours,
// no weights). ASF: on X = A + B, a global channel context (average pool ->
// 1x1 bottleneck) and a local channel context (1x1 bottleneck per position)
// are summed; m = sigmoid(.) (a softmax over the two streams) mixes
// m * A + (1 - m) * B. Encoder layers are pre-norm with MLP ratio 4.
// Features: the class-token output (embed dim). Attention map: the class
// token's attention over the visual words in the last layer, averaged over
// heads, renormalized to sum to 1 per face, shaped h x w.
//
// Deviations from the paper, for CPU budgets and 48-112 px crops: the paper's
// streams are ResNet-18s pretrained on ImageNet at 224 px; here each stream
// is a small ResNet-like stem (3x3 conv, then
// three stride-2 basic blocks, 32..256 channels at width 1.0) trained from
// scratch (libfer ships no pretrained weights, and two 224 px ResNet-18s take
// ~3.6 G multiply-adds, over 15x these streams at 48 px), giving 6x6 words at
// 48 px (8x8 at 64 px, 7x7 at 112 px), embed 256, 4 layers, 4 heads.
// Options: channels, input_size, width (scales the streams and the
// embedding), depth (layers), heads, dropout.
//
// At the default config (1 channel, 48 px, width 1.0), measured: 5,716,096
// parameters, 0.645 GFLOPs (fer::detail::count_flops, FLOPs = 2 x MACs).
#include "models/builtin.hpp"
#include "models/int8.hpp"
#include "models/zoo_common.hpp"

#include <fer/error.hpp>

#include <cmath>

namespace fer::detail {

namespace {

// Local binary pattern of the channel mean, in [-1, 1]: bit k is set where
// neighbour k >= the centre (replicated borders). Not differentiable, no weights.
torch::Tensor lbp_map(const torch::Tensor& x) {
  torch::Tensor g = x.mean(1, /*keepdim=*/true);
  int64_t h = g.size(2), w = g.size(3);
  namespace F = torch::nn::functional;
  torch::Tensor p = F::pad(g, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate));
  static const int offsets[8][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 2}, {2, 2}, {2, 1}, {2, 0}, {1, 0}};
  torch::Tensor code = torch::zeros_like(g);
  for (int k = 0; k < 8; ++k) {
    torch::Tensor n = p.slice(2, offsets[k][0], offsets[k][0] + h).slice(3, offsets[k][1], offsets[k][1] + w);
    code = code + n.ge(g).to(g.scalar_type()) * double(1 << k);
  }
  return code * (2.0 / 255.0) - 1.0;
}

// 3x3 conv-BN-ReLU stem, then three stride-2 basic blocks: C x H/8 x W/8 (/16 from 96 px).
torch::nn::Sequential make_stream(int64_t in, int64_t input_size, double width) {
  int64_t c0 = scaled_channels(32, width);
  torch::nn::Sequential s;
  s->push_back(conv2d(in, c0, 3, stem_stride(input_size)));
  s->push_back(torch::nn::BatchNorm2d(c0));
  s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  int64_t c = c0;
  for (int64_t m : {2, 4, 8}) {
    s->push_back(BasicBlock(c, c0 * m, 2));
    c = c0 * m;
  }
  return s;
}

// 1x1 conv-ReLU-1x1 conv channel bottleneck; with batch norm after each conv on
// full maps, with biases instead on pooled 1x1 maps (batch norm there would fail
// on a training batch of one).
torch::nn::Sequential channel_context(int64_t c, int64_t r, bool batch_norm) {
  torch::nn::Sequential s;
  s->push_back(conv2d(c, r, 1, 1, 1, !batch_norm));
  if (batch_norm) s->push_back(torch::nn::BatchNorm2d(r));
  s->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  s->push_back(conv2d(r, c, 1, 1, 1, !batch_norm));
  if (batch_norm) s->push_back(torch::nn::BatchNorm2d(c));
  return s;
}

// Attentional selective fusion of two equally shaped maps.
class SelectiveFusionImpl : public torch::nn::Module {
 public:
  SelectiveFusionImpl(int64_t c, int64_t reduced) {
    global_ = register_module("global", channel_context(c, reduced, false));
    local_ = register_module("local", channel_context(c, reduced, true));
  }
  torch::Tensor forward(const torch::Tensor& a, const torch::Tensor& b) {
    torch::Tensor x = a + b;
    torch::Tensor m = torch::sigmoid(global_->forward(spatial_mean(x, {2, 3}, true)) + local_->forward(x));
    return b + m * (a - b);
  }

 private:
  torch::nn::Sequential global_{nullptr}, local_{nullptr};
};
TORCH_MODULE(SelectiveFusion);

// Pre-norm encoder layer: x + MHSA(LN(x)), then x + MLP(LN(x)); keeps its attention weights.
class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(int64_t dim, int64_t heads, double dropout) : heads_(heads) {
    norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
    proj_ = register_module("proj", torch::nn::Linear(dim, dim));
    norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    fc1_ = register_module("fc1", torch::nn::Linear(dim, 4 * dim));
    fc2_ = register_module("fc2", torch::nn::Linear(4 * dim, dim));
    drop_ = register_module("drop", torch::nn::Dropout(dropout));
  }
  // Returns the new tokens; `attention` receives N x heads x T x T softmax weights.
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* attention) {
    int64_t n = x.size(0), t = x.size(1), d = x.size(2), hd = d / heads_;
    torch::Tensor qkv = qkv_(norm1_(x)).view({n, t, 3, heads_, hd}).permute({2, 0, 3, 1, 4});
    torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    torch::Tensor a = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(hd))), -1);
    if (attention) *attention = a;
    torch::Tensor y = torch::matmul(drop_(a), v).transpose(1, 2).reshape({n, t, d});
    torch::Tensor h = x + drop_(proj_(y));
    return h + drop_(fc2_(drop_(torch::gelu(fc1_(norm2_(h))))));
  }

 private:
  int64_t heads_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout drop_{nullptr};
};
TORCH_MODULE(EncoderLayer);

class VitAsfImpl : public BackboneImpl {
 public:
  explicit VitAsfImpl(const Config& config) {
    ZooShape s = zoo_shape(config, "vit_asf");
    channels_ = s.channels;
    int64_t depth = config.get_int("depth", 4), heads = config.get_int("heads", 4);
    double dropout = config.get_double("dropout", 0.1);
    if (depth < 1 || depth > 24) throw Error(Status::InvalidArgument, "vit_asf depth must be in [1, 24]");
    if (heads < 1 || heads > 32) throw Error(Status::InvalidArgument, "vit_asf heads must be in [1, 32]");
    if (!(dropout >= 0.0 && dropout < 1.0)) throw Error(Status::InvalidArgument, "vit_asf dropout must be in [0, 1)");
    dim_ = scaled_channels(256, s.width, heads);

    image_stream_ = register_module("image_stream", make_stream(s.channels, s.input_size, s.width));
    lbp_stream_ = register_module("lbp_stream", make_stream(1, s.input_size, s.width));
    int64_t c = scaled_channels(32, s.width) * 8;
    fusion_ = register_module("fusion", SelectiveFusion(c, std::max<int64_t>(c / 4, 4)));
    embed_ = register_module("embed", torch::nn::Linear(c, dim_));

    // Stem and three stride-2 convs (padding 1) each map n to ceil(n / stride).
    grid_ = s.input_size;
    for (int64_t stride : {stem_stride(s.input_size), int64_t(2), int64_t(2), int64_t(2)})
      grid_ = (grid_ + stride - 1) / stride;
    cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, dim_}));
    pos_embed_ = register_parameter("pos_embed", torch::zeros({1, grid_ * grid_ + 1, dim_}));
    drop_ = register_module("drop", torch::nn::Dropout(dropout));
    layers_ = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < depth; ++i) {
      layer_refs_.push_back(EncoderLayer(dim_, heads, dropout));
      layers_->push_back(layer_refs_.back());
    }
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim_})));

    init_zoo_weights(*this);
    torch::NoGradGuard no_grad;
    cls_token_.normal_(0.0, 0.02);
    pos_embed_.normal_(0.0, 0.02);
  }

  BackboneOutput forward_features(const torch::Tensor& input) override {
    torch::Tensor x = prepare_input(input, channels_, "vit_asf");
    return fuse_and_encode(image_stream_->forward(x), lbp_stream_->forward(standard_strides(lbp_map(x))));
  }
  int64_t feature_dim() const override { return dim_; }

  // Int8: the two CNN streams (quantization points "input", "lbp_input",
  // "image_stream.*", "lbp_stream.*") run quantized; the fusion and the
  // transformer, on 6x6 visual words, run in float on their outputs.
  bool supports_int8() const override { return true; }
  torch::Tensor forward_observed(const torch::Tensor& input, RangeRecorder& recorder) override {
    torch::Tensor x = recorder.record("input", prepare_input(input, channels_, "vit_asf"));
    torch::Tensor lbp = recorder.record("lbp_input", standard_strides(lbp_map(x)));
    return fuse_and_encode(QSequential::observe(image_stream_, x, recorder, "image_stream"),
                           QSequential::observe(lbp_stream_, lbp, recorder, "lbp_stream"))
        .features;
  }
  std::unique_ptr<Int8Network> build_int8(const ActivationRanges& ranges) override {
    return std::make_unique<Int8>(*this, ranges);
  }

 private:
  // Holds the network it was built from for the float fusion and transformer:
  // the extractor owning both destroys this first.
  class Int8 final : public Int8Network {
   public:
    Int8(VitAsfImpl& net, const ActivationRanges& ranges)
        : net_(&net), input_(activation_qparams(ranges, "input")), lbp_input_(activation_qparams(ranges, "lbp_input")),
          image_(net.image_stream_, ranges, "image_stream"), lbp_(net.lbp_stream_, ranges, "lbp_stream") {}
    BackboneOutput operator()(const torch::Tensor& input) const override {
      torch::Tensor x = prepare_input(input, net_->channels_, "vit_asf");
      torch::Tensor a = dequantize_activation(image_(quantize_activation(x, input_))).contiguous();
      torch::Tensor b =
          dequantize_activation(lbp_(quantize_activation(standard_strides(lbp_map(x)), lbp_input_))).contiguous();
      // The float part in bf16 where the CPU has it (as in bf16 mode; fp32 it
      // would cost more than the int8 streams save).
      AutocastGuard autocast(cpu_has_native_bf16());
      BackboneOutput y = net_->fuse_and_encode(a, b);
      return {y.features.to(torch::kFloat32), y.attention.to(torch::kFloat32)};
    }

   private:
    VitAsfImpl* net_;  // inference-mode forward of its float fusion and transformer, read-only
    QParams input_, lbp_input_;
    QSequential image_, lbp_;
  };

  // Selective fusion of the image (a) and LBP (b) streams' last maps, then
  // the transformer over the visual words.
  BackboneOutput fuse_and_encode(const torch::Tensor& a, const torch::Tensor& b) {
    torch::Tensor f = fusion_(a, b);
    int64_t n = f.size(0), h = f.size(2), w = f.size(3);
    if (h * w != grid_ * grid_)
      throw Error(Status::ShapeMismatch, "vit_asf was built for " + std::to_string(grid_) + "x" +
                                             std::to_string(grid_) + " visual words, the input gives " +
                                             std::to_string(h) + "x" + std::to_string(w) +
                                             "; build it with the input_size of the crops");
    torch::Tensor tokens = embed_(f.flatten(2).transpose(1, 2));
    tokens = torch::cat({cls_token_.expand({n, 1, dim_}), tokens}, 1) + pos_embed_;
    tokens = drop_(tokens);
    torch::Tensor attention;
    for (size_t i = 0; i < layer_refs_.size(); ++i)
      tokens = layer_refs_[i]->forward(tokens, i + 1 == layer_refs_.size() ? &attention : nullptr);
    torch::Tensor features = norm_(tokens.select(1, 0));
    torch::Tensor map = attention.select(2, 0).slice(2, 1).mean(1).to(torch::kFloat32);  // sums to 1 in any precision
    map = map / map.sum(1, true);
    return {features, map.view({n, h, w})};
  }

  int64_t channels_ = 1, dim_ = 0, grid_ = 0;
  torch::nn::Sequential image_stream_{nullptr}, lbp_stream_{nullptr};
  SelectiveFusion fusion_{nullptr};
  torch::nn::Linear embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_;
  torch::nn::Dropout drop_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  std::vector<EncoderLayer> layer_refs_;  // the same layers, typed
  torch::nn::LayerNorm norm_{nullptr};
};

}  // namespace

void register_vit_asf() {
  register_backbone_type<VitAsfImpl>(
      "vit_asf",
      "visual transformer with attentional selective fusion of image and LBP streams (VTFF); attention map",
      {"channels", "input_size", "width", "depth", "heads", "dropout"});
}

}  // namespace fer::detail
