#include "train/batching.hpp"

#include <fer/error.hpp>


namespace fer::detail {

namespace F = torch::nn::functional;

torch::Tensor dataset_images(const Dataset& data, const std::vector<int64_t>& indices, const InputSpec& input) {
  const int64_t n = int64_t(indices.size()), h = data.height, w = data.width, c = data.channels;
  torch::Tensor u8 = torch::empty({n, h, w, c}, torch::kUInt8);
  uint8_t* dst = u8.data_ptr<uint8_t>();
  const size_t bytes = data.image_bytes();
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = indices[size_t(i)];
    if (k < 0 || size_t(k) >= data.size()) throw Error(Status::InvalidArgument, "sample index out of range");
    std::memcpy(dst + size_t(i) * bytes, data.image(size_t(k)), bytes);
  }
  torch::Tensor x = u8.permute({0, 3, 1, 2}).to(torch::kFloat32).div_(255.0);
  if (c == 1 && input.channels == 3) {
    x = x.expand({n, 3, h, w});
  } else if (c == 3 && input.channels == 1) {  // BGR -> gray, ITU-R BT.601 weights
    torch::Tensor wts = torch::tensor({0.114f, 0.587f, 0.299f}).view({1, 3, 1, 1});
    x = (x * wts).sum(1, true);
  }
  if (h != input.height || w != input.width)
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{input.height, input.width})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(h > input.height));
  return standard_strides(x);
}

torch::Tensor normalize_images(const torch::Tensor& images01, const InputSpec& input) {
  torch::Tensor mean = torch::tensor(input.mean).view({1, -1, 1, 1});
  torch::Tensor stdv = torch::tensor(input.std).view({1, -1, 1, 1});
  return (images01 - mean) / stdv;
}

torch::Tensor dataset_labels(const Dataset& data, const std::vector<int64_t>& indices) {
  torch::Tensor out = torch::empty({int64_t(indices.size())}, torch::kInt64);
  auto* p = out.data_ptr<int64_t>();
  for (size_t i = 0; i < indices.size(); ++i) p[i] = data.labels[size_t(indices[i])];
  return out;
}

torch::Tensor dataset_soft_labels(const Dataset& data, const std::vector<int64_t>& indices) {
  const int64_t k = int64_t(data.classes.size());
  torch::Tensor out = torch::empty({int64_t(indices.size()), k}, torch::kFloat32);
  float* p = out.data_ptr<float>();
  for (size_t i = 0; i < indices.size(); ++i)
    std::memcpy(p + int64_t(i) * k, data.soft_labels.data() + size_t(indices[i]) * size_t(k), sizeof(float) * size_t(k));
  return out;
}

void check_precision(const std::string& precision) {
  if (precision != "fp32" && precision != "bf16")
    throw Error(Status::InvalidArgument, "precision must be fp32 or bf16, got '" + precision + "'");
}

ForwardOutput forward_model(BackboneImpl& backbone, HeadImpl& head, const torch::Tensor& x, const std::string& precision) {
  check_precision(precision);
  bool bf16 = precision == "bf16";
  AutocastGuard autocast(bf16);
  // Channels-last where the network runs so (to_channels_last); a 1-channel
  // input stays NCHW (see standard_strides) and the layers after it follow
  // the weights' layout (or BackboneImpl::network_layout).
  const bool cl = backbone.channels_last() && x.size(1) > 1;
  torch::Tensor input = standard_strides(cl ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
  BackboneOutput b = backbone.forward_features(input);
  ForwardOutput out;
  out.features = b.features;
  out.attention = b.attention;
  out.logits = head.forward_logits(b.features).to(torch::kFloat32);
  return out;
}

std::pair<std::shared_ptr<BackboneImpl>, std::shared_ptr<HeadImpl>> torch_modules(const Model& model,
                                                                                  bool for_training) {
  auto b = torch_backbone(model.extractor(), for_training);
  auto h = torch_head(model.classifier());
  if (!b || !h)
    throw Error(Status::Unsupported, "training and evaluation need LibTorch-based components; '" +
                                         model.info().architecture + "' / '" + model.info().head + "' are not");
  return {b, h};
}

}  // namespace fer::detail
