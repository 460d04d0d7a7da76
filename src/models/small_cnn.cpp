// small_cnn: a compact VGG-style CNN for 48x48 gray faces, the first
// recognizer that runs end to end. Three stages of two 3x3 conv-BN-ReLU
// layers and a 2x2 max-pool, then global average pooling.
#include "models/builtin.hpp"
#include "models/int8.hpp"
#include "models/torch_component.hpp"
#include "models/zoo_common.hpp"

#include <fer/error.hpp>

#include <optional>

namespace fer::detail {

namespace {

class SmallCnnImpl : public BackboneImpl {
 public:
  explicit SmallCnnImpl(const Config& config) {
    int64_t channels = config_channels(config);
    config_input_size(config);  // validates the range; the network is size-agnostic
    double width = config.get_double("width", 1.0);
    if (!(width >= 0.25 && width <= 4.0))
      throw Error(Status::InvalidArgument, "small_cnn width must be in [0.25, 4], got " + std::to_string(width));
    // norm=none drops batch normalisation: a batch-independent network (used to
    // check that data-parallel training equals single-process training exactly).
    std::string norm = config.get_string("norm", "batch");
    if (norm != "batch" && norm != "none")
      throw Error(Status::InvalidArgument, "small_cnn norm must be batch or none, got '" + norm + "'");
    bool bn = norm == "batch";
    int64_t c1 = int64_t(32 * width), c2 = int64_t(64 * width), c3 = int64_t(128 * width);
    torch::nn::Sequential seq;
    int64_t in = channels;
    for (int64_t out : {c1, c2, c3}) {
      push_conv_bn_relu(seq, in, out, 1, bn);
      push_conv_bn_relu(seq, out, out, 1, bn);
      seq->push_back(torch::nn::MaxPool2d(2));
      in = out;
    }
    features_ = register_module("features", seq);
    // pool=avg: global average pooling (position-free features). pool=grid:
    // average to a 3x3 grid, flatten and project to 4*c3 features, so that
    // where a pattern is (mouth, eyes, brows) stays in the feature vector.
    pool_ = config.get_string("pool", "avg");
    if (pool_ == "grid") {
      dim_ = 4 * c3;
      project_ = register_module("project", torch::nn::Linear(9 * c3, dim_));
      project_bn_ = register_module("project_bn", torch::nn::BatchNorm1d(dim_));
    } else if (pool_ == "avg") {
      dim_ = c3;
    } else {
      throw Error(Status::InvalidArgument, "small_cnn pool must be avg or grid, got '" + pool_ + "'");
    }
  }
  BackboneOutput forward_features(const torch::Tensor& x) override {
    torch::Tensor y = features_->forward(x);
    if (pool_ == "avg") return {y.mean({2, 3}), {}};
    y = torch::adaptive_avg_pool2d(y, {3, 3}).flatten(1);
    return {torch::relu(project_bn_->forward(project_->forward(y))), {}};
  }
  int64_t feature_dim() const override { return dim_; }

  // Int8: quantization points "input", "features.<conv index>" and, with
  // pool=grid, "project" (after the projection's BN and ReLU).
  bool supports_int8() const override { return true; }
  torch::Tensor forward_observed(const torch::Tensor& x, RangeRecorder& recorder) override {
    recorder.record("input", x);
    torch::Tensor y = QSequential::observe(features_, x, recorder, "features");
    if (pool_ == "avg") return y.mean({2, 3});
    y = torch::adaptive_avg_pool2d(y, {3, 3}).flatten(1);
    return recorder.record("project", torch::relu(project_bn_->forward(project_->forward(y))));
  }
  std::unique_ptr<Int8Network> build_int8(const ActivationRanges& ranges) override {
    return std::make_unique<Int8>(*this, ranges);
  }

 private:
  class Int8 final : public Int8Network {
   public:
    Int8(const SmallCnnImpl& net, const ActivationRanges& ranges)
        : input_(activation_qparams(ranges, "input")), features_(net.features_, ranges, "features"), grid_(net.pool_ == "grid") {
      if (grid_) {
        const int64_t channels = net.project_->weight.size(1) / 9;  // a 3 x 3 grid of the last conv's channels
        project_.emplace(*net.project_, net.project_bn_.get(), true, activation_qparams(ranges, "project"),
                         std::vector<int64_t>{channels, 3, 3});
      }
    }
    BackboneOutput operator()(const torch::Tensor& x) const override {
      torch::Tensor q = features_(quantize_activation(x, input_));
      if (!grid_) return {dequantize_mean(q), {}};
      // The projection takes the grid in N x 3 x 3 x C order, the channels-last
      // layout the quantized pooling leaves (a view, no copy; reshape copies otherwise).
      q = torch::adaptive_avg_pool2d(q, {3, 3}).permute({0, 2, 3, 1}).reshape({q.size(0), -1});
      return {dequantize_activation((*project_)(q)), {}};
    }

   private:
    QParams input_;
    QSequential features_;
    bool grid_;
    std::optional<QLinear> project_;
  };

  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear project_{nullptr};
  torch::nn::BatchNorm1d project_bn_{nullptr};
  std::string pool_;
  int64_t dim_ = 0;
};

}  // namespace

void register_small_cnn() {
  register_backbone_type<SmallCnnImpl>(
      "small_cnn",
      "VGG-style 6-conv CNN, 48x48 gray", {"channels", "input_size", "width", "norm=batch|none", "pool=avg|grid"});
}

}  // namespace fer::detail
