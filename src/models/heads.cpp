// Classifier heads: "linear" (dropout + affine) and "cosine" (normalized
// softmax: scaled cosine between L2-normalized features and class weights).
#include "models/builtin.hpp"
#include "models/torch_component.hpp"

#include <fer/error.hpp>

namespace fer::detail {

namespace {

struct HeadShape {
  int64_t in = 0, classes = 0;
  double dropout = 0.0;
};

HeadShape head_shape(const Config& config, const char* name) {
  HeadShape s;
  s.in = config.get_int("in_features", 0);
  s.classes = config.get_int("num_classes", 0);
  s.dropout = config.get_double("dropout", 0.0);
  if (s.in < 1 || s.in > (1 << 20))
    throw Error(Status::InvalidArgument, std::string(name) + " head: in_features must be in [1, 2^20], got " +
                                             std::to_string(s.in));
  if (s.classes < 2 || s.classes > 1000)
    throw Error(Status::InvalidArgument, std::string(name) + " head: num_classes must be in [2, 1000], got " +
                                             std::to_string(s.classes));
  if (!(s.dropout >= 0.0 && s.dropout < 1.0))
    throw Error(Status::InvalidArgument, std::string(name) + " head: dropout must be in [0, 1)");
  return s;
}

class LinearHeadImpl : public HeadImpl {
 public:
  explicit LinearHeadImpl(const Config& config) {
    HeadShape s = head_shape(config, "linear");
    dropout_ = register_module("dropout", torch::nn::Dropout(s.dropout));
    fc_ = register_module("fc", torch::nn::Linear(s.in, s.classes));
  }
  torch::Tensor forward_logits(const torch::Tensor& f) override { return fc_->forward(dropout_->forward(f)); }

 private:
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

class CosineHeadImpl : public HeadImpl {
 public:
  explicit CosineHeadImpl(const Config& config) {
    HeadShape s = head_shape(config, "cosine");
    scale_ = config.get_double("scale", 16.0);
    if (!(scale_ > 0.0 && scale_ <= 128.0))
      throw Error(Status::InvalidArgument, "cosine head: scale must be in (0, 128]");
    dropout_ = register_module("dropout", torch::nn::Dropout(s.dropout));
    weight_ = register_parameter("weight", torch::randn({s.classes, s.in}) / std::sqrt(double(s.in)));
  }
  torch::Tensor forward_logits(const torch::Tensor& f) override {
    namespace F = torch::nn::functional;
    auto x = F::normalize(dropout_->forward(f), F::NormalizeFuncOptions().dim(1));
    auto w = F::normalize(weight_, F::NormalizeFuncOptions().dim(1));
    return scale_ * torch::matmul(x, w.t());
  }

 private:
  double scale_ = 16.0;
  torch::nn::Dropout dropout_{nullptr};
  torch::Tensor weight_;
};

}  // namespace

void register_heads() {
  register_head(
      "linear", [](const Config& c) { return std::make_shared<LinearHeadImpl>(c); },
      "dropout + fully connected layer", {"in_features", "num_classes", "dropout"});
  register_head(
      "cosine", [](const Config& c) { return std::make_shared<CosineHeadImpl>(c); },
      "normalized softmax: scale * cos(feature, class weight)", {"in_features", "num_classes", "dropout", "scale"});
}

}  // namespace fer::detail
