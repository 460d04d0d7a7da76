// LibTorch implementations behind the public FeatureExtractor / Classifier
// interfaces. Training reaches the torch modules through torch_backbone() /
// torch_head(); inference goes through the public interfaces.
#pragma once

#include <fer/recognizer.hpp>

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace fer::detail {

struct BackboneOutput {
  torch::Tensor features;   // N x D
  torch::Tensor attention;  // N x h x w, or undefined when the architecture has none
};

class RangeRecorder;  // models/int8.hpp

/// An int8 build of a backbone (see models/int8.hpp): normalized float input
/// N x C x H x W -> float features N x D (and the attention map where the
/// architecture has one). operator() is thread-safe.
class Int8Network {
 public:
  virtual ~Int8Network() = default;
  virtual BackboneOutput operator()(const torch::Tensor& x) const = 0;
};

/// A feature-extractor network. Input: N x C x H x W float (normalized).
class BackboneImpl : public torch::nn::Module {
 public:
  virtual BackboneOutput forward_features(const torch::Tensor& x) = 0;
  virtual int64_t feature_dim() const = 0;
  /// The int8 path, for architectures that have one: forward_observed is the
  /// float forward pass recording the range at each quantization point;
  /// build_int8 builds the quantized network from the current (float) weights.
  virtual bool supports_int8() const { return false; }
  /// See FeatureExtractor::prefers_bf16.
  virtual bool prefers_bf16() const { return true; }
  virtual torch::Tensor forward_observed(const torch::Tensor& x, RangeRecorder& recorder);
  virtual std::unique_ptr<Int8Network> build_int8(const ActivationRanges& ranges);
  /// Folds the batch norms into the convolutions before them for fp32
  /// inference (`on`), from the current weights, or drops the folded copies.
  /// Architectures made of many small layers override it (mobile_fer); the
  /// extractor refolds after every change of weights or precision.
  virtual void fold_batch_norms(bool /*on*/) {}
  /// Set by to_channels_last(): the network's activations are to be channels-last.
  bool channels_last() const { return channels_last_; }
  void set_channels_last(bool on) { channels_last_ = on; }

 protected:
  /// `x` made channels-last when the network runs so. LibTorch picks a
  /// convolution's layout from its input's and weight's strides, which say
  /// nothing for 1-channel images and for 1x1 or depthwise weights: a network
  /// of only such layers (mobile_fer) would run NCHW with a oneDNN reorder
  /// around every convolution. Such networks call this after their stem.
  torch::Tensor network_layout(const torch::Tensor& x) const;

 private:
  bool channels_last_ = false;
};

/// A classifier head network: N x D features -> N x K logits.
class HeadImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward_logits(const torch::Tensor& features) = 0;
};

using BackboneFactory = std::function<std::shared_ptr<BackboneImpl>(const Config&)>;
using HeadFactory = std::function<std::shared_ptr<HeadImpl>(const Config&)>;

/// Registers a torch backbone as a FeatureExtractor under `name`, with the
/// options it reads (Registry::add: listed by its description, checked by training).
void register_backbone(const std::string& name, BackboneFactory factory, const std::string& description,
                       std::vector<std::string> options);
/// Registers backbone class `Impl` (constructible from a Config) under `name`.
template <class Impl>
void register_backbone_type(const std::string& name, const std::string& description,
                            std::vector<std::string> options) {
  register_backbone(
      name, [](const Config& c) { return std::make_shared<Impl>(c); }, description, std::move(options));
}

/// Registers a torch head as a Classifier under `name`, with the options it reads.
void register_head(const std::string& name, HeadFactory factory, const std::string& description,
                   std::vector<std::string> options);

/// The torch module behind an extractor/classifier, or nullptr if it is not torch-based.
/// Handing out the backbone for training (its weights may change from then on)
/// turns off the extractor's folded batch norms (BackboneImpl::fold_batch_norms)
/// for good; `for_training` false hands it out for eval-mode forward passes
/// only, leaving the extractor as it is (safe beside other readers).
std::shared_ptr<BackboneImpl> torch_backbone(const FeatureExtractor& extractor, bool for_training = true);
std::shared_ptr<HeadImpl> torch_head(const Classifier& classifier);
/// Features of a normalized float batch from an extractor in int8 mode
/// (InvalidArgument in another mode, Unsupported for a non-LibTorch extractor).
torch::Tensor int8_features(const FeatureExtractor& extractor, const torch::Tensor& x);

/// Module weights and buffers <-> NamedTensor list (parameters first, then buffers).
TensorList module_state(const torch::nn::Module& module);
void load_module_state(torch::nn::Module& module, const TensorList& state, const std::string& what);

/// N prepared CV_32FC(C) images of equal size -> N x C x H x W float tensor.
torch::Tensor images_to_tensor(const std::vector<cv::Mat>& images);
/// `x`, or a copy with standard NCHW strides when it is a 1-channel tensor whose
/// strides are ambiguous (see the definition).
torch::Tensor standard_strides(const torch::Tensor& x);
/// 2-D float tensor -> CV_32F cv::Mat (copy).
cv::Mat tensor_to_mat(const torch::Tensor& t);

/// RAII: enables CPU bf16 autocast (thread-local) for its lifetime when `enabled`.
class AutocastGuard {
 public:
  explicit AutocastGuard(bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled_, previous_;
};

/// Stores 4-D weights channels-last, so convolutions run in oneDNN's fast
/// layout, and marks a BackboneImpl to run its activations so.
void to_channels_last(torch::nn::Module& module);
/// Undoes to_channels_last: standard NCHW weights and activations. fp32
/// training runs so: LibTorch 1.13's oneDNN fp32 1x1 stride-2 convolution
/// corrupts the heap in its weight gradient on channels-last inputs
/// (mini_xception's shortcut; found by the model-zoo gradient test).
void to_channels_first(torch::nn::Module& module);

/// Integer option "channels" / "input_size" with range checks.
int64_t config_channels(const Config& config);
int64_t config_input_size(const Config& config);

}  // namespace fer::detail
