#include "models/torch_component.hpp"

#include "models/builtin.hpp"
#include "models/int8.hpp"

#include <fer/error.hpp>

#include <ATen/autocast_mode.h>

#include <cstring>
#include <map>

namespace fer::detail {

namespace {

NamedTensor to_named(const std::string& name, const torch::Tensor& t);  // below

class TorchExtractor final : public FeatureExtractor {
 public:
  TorchExtractor(std::string name, Config config, std::shared_ptr<BackboneImpl> module)
      : name_(std::move(name)), config_(std::move(config)), module_(std::move(module)) {
    module_->eval();
    // Channels-last in every float precision: measured with recognizer_bench
    // (fp32, one thread), 1.1x-3x faster than NCHW for every architecture.
    // (Inference only runs forward passes; see to_channels_first for training.)
    to_channels_last(*module_);
    refold();
  }
  std::string architecture() const override { return name_; }
  const Config& config() const override { return config_; }
  int feature_dim() const override { return int(module_->feature_dim()); }
  // bf16: weights channels-last, and the convolution and linear weights stored
  // in bf16, so that autocast does not cast them again on every call (a
  // measurable share of a batch-1 forward pass); their exact fp32 values are
  // kept for state() and for switching back.
  // int8: a quantized copy of the network (models/int8.hpp) built from the
  // float weights, which stay as they are for state() and other precisions.
  void set_precision(Precision p) override {
    if (p == precision_) return;
    if (p == Precision::Int8) {
      require_int8();
      if (ranges_.empty())
        throw Error(Status::InvalidArgument, "int8 needs activation ranges calibrated on real faces, and this " +
                                                 name_ + " has none: calibrate the model (fer quantize)");
      const Precision before = precision_;
      set_precision(Precision::Float32);
      module_->eval();
      try {
        int8_ = module_->build_int8(ranges_);
      } catch (...) {
        set_precision(before);  // a refused switch changes nothing
        throw;
      }
    } else if (p == Precision::BFloat16) {
      int8_.reset();
      to_channels_last(*module_);
      store_bf16_weights();
    } else {
      int8_.reset();
      restore_fp32_weights();
    }
    precision_ = p;
    refold();
  }
  Precision precision() const override { return precision_; }
  bool supports_int8() const override { return module_->supports_int8(); }
  bool prefers_bf16() const override { return module_->prefers_bf16(); }
  ActivationRanges calibrate(const std::vector<cv::Mat>& crops, ActivationRanges ranges) const override {
    require_int8();
    if (precision_ == Precision::BFloat16)
      throw Error(Status::InvalidArgument, "calibrate a model in fp32 or int8, not while it runs in bf16");
    if (crops.empty()) return ranges;
    torch::Tensor x = input_tensor(crops);
    c10::InferenceMode guard;
    RangeRecorder recorder(std::move(ranges));
    module_->forward_observed(x, recorder);
    return recorder.ranges();
  }
  void set_activation_ranges(const ActivationRanges& ranges) override {
    require_int8();
    auto previous = std::move(int8_);
    if (precision_ == Precision::Int8) {
      try {
        int8_ = module_->build_int8(ranges);
      } catch (...) {
        int8_ = std::move(previous);  // a failed rebuild changes nothing
        throw;
      }
    }
    ranges_ = ranges;
  }
  /// The int8 network's features for a normalized float batch (int8 mode only).
  torch::Tensor int8_features(const torch::Tensor& x) const {
    if (!int8_) throw Error(Status::InvalidArgument, "the extractor does not run in int8");
    return (*int8_)(x).features;
  }

  FeatureBatch extract(const std::vector<cv::Mat>& crops) const override {
    FeatureBatch out;
    if (crops.empty()) return out;
    torch::Tensor x = input_tensor(crops);
    c10::InferenceMode guard;
    const bool bf16 = precision_ == Precision::BFloat16;
    BackboneOutput y;
    if (int8_) {
      y = (*int8_)(x);
    } else {
      AutocastGuard autocast(bf16);
      if (module_->channels_last() && x.size(1) > 1) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      y = module_->forward_features(x);
    }
    out.features = tensor_to_mat(y.features.to(torch::kFloat32));
    if (y.attention.defined()) {
      torch::Tensor a = y.attention.to(torch::kFloat32).contiguous();
      for (int64_t i = 0; i < a.size(0); ++i) out.attention.push_back(tensor_to_mat(a[i]));
    }
    return out;
  }

  TensorList state() const override {
    TensorList s = module_state(*module_);
    for (NamedTensor& t : s) {
      auto it = masters_.find(t.name);
      if (it != masters_.end()) t = to_named(t.name, it->second.fp32);
    }
    return s;
  }
  void load_state(const TensorList& state) override {
    const Precision p = precision_;
    set_precision(Precision::Float32);
    try {
      load_module_state(*module_, state, "extractor '" + name_ + "'");
    } catch (...) {
      set_precision(p);  // a failed load changes nothing
      throw;
    }
    module_->eval();
    set_precision(p);
    refold();  // new weights (set_precision refolds only when the precision changes)
  }
  int64_t parameter_count() const override {
    int64_t n = 0;
    for (const auto& p : module_->parameters()) n += p.numel();
    return n;
  }
  std::shared_ptr<BackboneImpl> module() const { return module_; }
  /// The module for training (torch_backbone): its weights will change behind
  /// the extractor's back, so from now on it runs without folded batch norms.
  std::shared_ptr<BackboneImpl> expose() const {
    exposed_ = true;
    module_->fold_batch_norms(false);
    return module_;
  }

 private:
  void require_int8() const {
    if (!module_->supports_int8())
      throw Error(Status::Unsupported, "architecture '" + name_ + "' has no int8 path; use fp32 or bf16");
  }

  torch::Tensor input_tensor(const std::vector<cv::Mat>& crops) const {
    torch::Tensor x = images_to_tensor(crops);
    int64_t channels = config_channels(config_), size = config_input_size(config_);
    if (x.size(1) != channels || x.size(2) != size || x.size(3) != size)
      throw Error(Status::ShapeMismatch, name_ + " expects " + std::to_string(channels) + " channel(s) at " +
                                             std::to_string(size) + "x" + std::to_string(size) + ", got " +
                                             std::to_string(x.size(1)) + " channel(s) at " +
                                             std::to_string(x.size(3)) + "x" + std::to_string(x.size(2)));
    return x;
  }

  struct Master {
    torch::Tensor parameter;  // the module's parameter, holding bf16 data in bf16 mode
    torch::Tensor fp32;       // its exact float32 value
  };

  void store_bf16_weights() {
    torch::NoGradGuard no_grad;
    for (const auto& item : module_->named_modules("", /*include_self=*/true)) {
      torch::nn::Module& m = *item.value();
      if (!m.as<torch::nn::Conv2dImpl>() && !m.as<torch::nn::Conv1dImpl>() && !m.as<torch::nn::LinearImpl>()) continue;
      for (const auto& p : m.named_parameters(/*recurse=*/false)) {
        torch::Tensor parameter = p.value();
        masters_[item.key().empty() ? p.key() : item.key() + "." + p.key()] = {parameter, parameter.data().clone()};
        parameter.set_data(parameter.data().to(torch::kBFloat16));  // keeps channels-last
      }
    }
  }

  void restore_fp32_weights() {
    torch::NoGradGuard no_grad;
    for (auto& entry : masters_) entry.second.parameter.set_data(entry.second.fp32);
    masters_.clear();
  }

  // fp32 inference runs with the batch norms folded into the convolutions
  // (architectures that implement it), refolded after every change of weights.
  void refold() { module_->fold_batch_norms(precision_ == Precision::Float32 && !exposed_); }

  std::string name_;
  Config config_;
  std::shared_ptr<BackboneImpl> module_;
  mutable bool exposed_ = false;  // handed out for training (expose)
  Precision precision_ = Precision::Float32;
  std::map<std::string, Master> masters_;  // by parameter name, in bf16 mode
  ActivationRanges ranges_;                // int8 calibration
  std::unique_ptr<Int8Network> int8_;      // in int8 mode
};

class TorchClassifier final : public Classifier {
 public:
  TorchClassifier(std::string name, Config config, std::shared_ptr<HeadImpl> module)
      : name_(std::move(name)), config_(std::move(config)), module_(std::move(module)) {
    module_->eval();
    num_classes_ = int(config_.get_int("num_classes", 7));
  }
  std::string name() const override { return name_; }
  const Config& config() const override { return config_; }
  int num_classes() const override { return num_classes_; }
  cv::Mat logits(const cv::Mat& features) const override {
    if (features.empty()) return cv::Mat(0, num_classes_, CV_32F);
    if (features.type() != CV_32FC1 || features.dims != 2)
      throw Error(Status::InvalidArgument, "classifier expects an N x D CV_32F feature matrix");
    int64_t in = config_.get_int("in_features", 0);
    if (features.cols != in)
      throw Error(Status::ShapeMismatch, "classifier '" + name_ + "' expects " + std::to_string(in) +
                                             " features, got " + std::to_string(features.cols));
    cv::Mat f = features.isContinuous() ? features : features.clone();
    torch::Tensor x = torch::from_blob(f.data, {f.rows, f.cols}, torch::kFloat32);
    c10::InferenceMode guard;
    return tensor_to_mat(module_->forward_logits(x).to(torch::kFloat32));
  }
  TensorList state() const override { return module_state(*module_); }
  void load_state(const TensorList& state) override {
    load_module_state(*module_, state, "classifier '" + name_ + "'");
    module_->eval();
  }
  std::shared_ptr<HeadImpl> module() const { return module_; }

 private:
  std::string name_;
  Config config_;
  std::shared_ptr<HeadImpl> module_;
  int num_classes_ = 0;
};

}  // namespace

void register_backbone(const std::string& name, BackboneFactory factory, const std::string& description,
                       std::vector<std::string> options) {
  raw_extractor_registry().add(
      name,
      [name, factory](const Config& config) -> std::unique_ptr<FeatureExtractor> {
        return std::make_unique<TorchExtractor>(name, config, factory(config));
      },
      description, std::move(options));
}

void register_head(const std::string& name, HeadFactory factory, const std::string& description,
                   std::vector<std::string> options) {
  raw_classifier_registry().add(
      name,
      [name, factory](const Config& config) -> std::unique_ptr<Classifier> {
        return std::make_unique<TorchClassifier>(name, config, factory(config));
      },
      description, std::move(options));
}

std::shared_ptr<BackboneImpl> torch_backbone(const FeatureExtractor& extractor, bool for_training) {
  auto* t = dynamic_cast<const TorchExtractor*>(&extractor);
  if (!t) return nullptr;
  return for_training ? t->expose() : t->module();
}

torch::Tensor int8_features(const FeatureExtractor& extractor, const torch::Tensor& x) {
  auto* t = dynamic_cast<const TorchExtractor*>(&extractor);
  if (!t) throw Error(Status::Unsupported, "int8 needs a built-in (LibTorch) extractor");
  return t->int8_features(x);
}

torch::Tensor BackboneImpl::forward_observed(const torch::Tensor&, RangeRecorder&) {
  throw Error(Status::Unsupported, "this architecture has no int8 path");
}

std::unique_ptr<Int8Network> BackboneImpl::build_int8(const ActivationRanges&) {
  throw Error(Status::Unsupported, "this architecture has no int8 path");
}

std::shared_ptr<HeadImpl> torch_head(const Classifier& classifier) {
  auto* t = dynamic_cast<const TorchClassifier*>(&classifier);
  return t ? t->module() : nullptr;
}

namespace {
NamedTensor to_named(const std::string& name, const torch::Tensor& t) {
  NamedTensor nt;
  nt.name = name;
  nt.shape = t.sizes().vec();
  torch::Tensor f = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  nt.data.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  return nt;
}
}  // namespace

TensorList module_state(const torch::nn::Module& module) {
  TensorList out;
  for (const auto& p : module.named_parameters(true)) out.push_back(to_named(p.key(), p.value()));
  for (const auto& b : module.named_buffers(true)) out.push_back(to_named(b.key(), b.value()));
  return out;
}

void load_module_state(torch::nn::Module& module, const TensorList& state, const std::string& what) {
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& p : module.named_parameters(true)) targets.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) targets.emplace_back(b.key(), b.value());
  if (targets.size() != state.size())
    throw Error(Status::ShapeMismatch, what + " has " + std::to_string(targets.size()) + " tensors, the state has " +
                                           std::to_string(state.size()));
  // Validate everything before touching any weight, so a failed load changes nothing.
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& [name, tensor] = targets[i];
    const NamedTensor& src = state[i];
    if (src.name != name)
      throw Error(Status::ShapeMismatch, what + ": tensor " + std::to_string(i) + " is '" + name +
                                             "', the state has '" + src.name + "'");
    if (src.shape != tensor.sizes().vec()) {
      auto dims = [](const std::vector<int64_t>& s) {
        std::string r = "[";
        for (size_t k = 0; k < s.size(); ++k) r += (k ? "," : "") + std::to_string(s[k]);
        return r + "]";
      };
      throw Error(Status::ShapeMismatch, what + ": tensor '" + name + "' has shape " + dims(tensor.sizes().vec()) +
                                             ", the state has " + dims(src.shape));
    }
    if (int64_t(src.data.size()) != tensor.numel())
      throw Error(Status::CorruptData, what + ": tensor '" + name + "' holds " + std::to_string(src.data.size()) +
                                           " values, its shape needs " + std::to_string(tensor.numel()));
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) {
    torch::Tensor& dst = targets[i].second;
    torch::Tensor src = torch::from_blob(const_cast<float*>(state[i].data.data()), dst.sizes(), torch::kFloat32);
    dst.copy_(src.to(dst.dtype()));
  }
}

torch::Tensor images_to_tensor(const std::vector<cv::Mat>& images) {
  const cv::Mat& first = images.front();
  int c = first.channels(), h = first.rows, w = first.cols;
  torch::Tensor out = torch::empty({int64_t(images.size()), h, w, c}, torch::kFloat32);
  for (size_t i = 0; i < images.size(); ++i) {
    const cv::Mat& m = images[i];
    if (m.depth() != CV_32F || m.channels() != c || m.rows != h || m.cols != w)
      throw Error(Status::ShapeMismatch, "input " + std::to_string(i) + " differs from input 0 in type or size; "
                                         "all inputs must be CV_32FC(channels) at the model's input size");
    cv::Mat dst(h, w, CV_32FC(c), out[int64_t(i)].data_ptr<float>());
    m.copyTo(dst);
  }
  return standard_strides(out.permute({0, 3, 1, 2}).contiguous());
}

torch::Tensor standard_strides(const torch::Tensor& x) {
  // A 1-channel N x 1 x H x W tensor made by permuting N x H x W x 1 counts as
  // contiguous (size-1 dims do not matter) but keeps stride 1 on the channel dim,
  // so LibTorch 1.13 also sees it as channels-last, and oneDNN's AVX-512
  // convolution backward then corrupts the heap. Such tensors are copied to
  // standard NCHW strides; real channels-last tensors (C > 1) are left alone.
  if (x.dim() == 4 && x.size(1) == 1 && x.stride(1) != x.size(2) * x.size(3))
    return x.clone(at::MemoryFormat::Contiguous);
  return x;
}

cv::Mat tensor_to_mat(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  if (c.dim() != 2) c = c.reshape({c.size(0), -1});
  cv::Mat m(int(c.size(0)), int(c.size(1)), CV_32F);
  std::memcpy(m.data, c.data_ptr<float>(), sizeof(float) * size_t(c.numel()));
  return m;
}

AutocastGuard::AutocastGuard(bool enabled) : enabled_(enabled), previous_(at::autocast::is_cpu_enabled()) {
  if (enabled_) {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
}

AutocastGuard::~AutocastGuard() {
  if (enabled_) {
    at::autocast::set_cpu_enabled(previous_);
    at::autocast::clear_cache();
  }
}

torch::Tensor BackboneImpl::network_layout(const torch::Tensor& x) const {
  return channels_last_ && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

namespace {

void set_layout(torch::nn::Module& module, bool channels_last) {
  if (auto* backbone = dynamic_cast<BackboneImpl*>(&module)) backbone->set_channels_last(channels_last);
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(format));
}

}  // namespace

void to_channels_last(torch::nn::Module& module) { set_layout(module, true); }

void to_channels_first(torch::nn::Module& module) { set_layout(module, false); }

int64_t config_channels(const Config& config) {
  int64_t c = config.get_int("channels", 1);
  if (c != 1 && c != 3) throw Error(Status::InvalidArgument, "channels must be 1 or 3, got " + std::to_string(c));
  return c;
}

int64_t config_input_size(const Config& config) {
  int64_t s = config.get_int("input_size", 48);
  if (s < 16 || s > 512)
    throw Error(Status::InvalidArgument, "input_size must be in [16, 512], got " + std::to_string(s));
  return s;
}

}  // namespace fer::detail
