// Int8 inference: static post-training quantization run by LibTorch's oneDNN
// quantized engine (VNNI int8 dot products where the CPU has them).
//
// Activations are uint8 with one affine range per tensor, taken from a
// calibration pass over real face crops (RangeRecorder, stored in the model
// file as ModelInfo::activation_ranges); weights are int8, symmetric per
// output channel. Batch norms are folded into the convolution or linear layer
// before them and ReLUs run fused, so a conv-BN-ReLU unit is one int8 kernel.
//
// An architecture opts in by overriding BackboneImpl::forward_observed (the
// float forward pass that records the range at each quantization point) and
// BackboneImpl::build_int8 (the same network built from these blocks):
// small_cnn and the ResNet-18/34 entirely; acnn and vit_asf their CNN parts,
// with their attention heads (and vit_asf's transformer) in float after.
#pragma once

#include "models/torch_component.hpp"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/ivalue.h>

#include <mutex>
#include <optional>
#include <string>

namespace fer::detail {

/// A convolution's weight and bias (zeros without one) with the eval-mode batch
/// norm after it (when `bn`) folded in, as new float32 tensors:
/// y = (x - mean) / sqrt(var + eps) * gamma + beta becomes part of the convolution.
std::pair<torch::Tensor, torch::Tensor> fold_batch_norm(const torch::Tensor& weight, const torch::Tensor& bias,
                                                        const torch::nn::BatchNorm2dImpl* bn);

/// Affine uint8 parameters of an activation.
struct QParams {
  double scale = 1.0;
  int64_t zero_point = 0;
};

/// QParams of `point` in `ranges` (the range widened to contain 0); throws
/// InvalidArgument naming the point when it is missing or not finite.
QParams activation_qparams(const ActivationRanges& ranges, const std::string& point);

/// Collects the min/max of each quantization point over calibration batches.
class RangeRecorder {
 public:
  explicit RangeRecorder(ActivationRanges start = {}) : ranges_(std::move(start)) {}
  /// Widens the range of `point` to cover `t` (float); returns `t`.
  const torch::Tensor& record(const std::string& point, const torch::Tensor& t);
  const ActivationRanges& ranges() const { return ranges_; }

 private:
  ActivationRanges ranges_;
};

/// While alive: LibTorch's quantized engine is oneDNN, for packing weights
/// (the packed weights then run on oneDNN whatever the engine); the previous
/// engine, which is process-wide and may be the user's, is restored after.
/// Scopes are serialized. Throws Unsupported when this LibTorch lacks oneDNN's engine.
class Int8EngineScope {
 public:
  Int8EngineScope();
  ~Int8EngineScope();
  Int8EngineScope(const Int8EngineScope&) = delete;
  Int8EngineScope& operator=(const Int8EngineScope&) = delete;

 private:
  static std::mutex& mutex();
  std::lock_guard<std::mutex> lock_;
  int previous_ = 0;
};

/// A prepacked int8 layer: uint8 in, uint8 out with `out` parameters, through
/// the operator its subclass chose (with or without a fused ReLU).
///
/// LibTorch's oneDNN int8 kernels keep one ready-made oneDNN primitive per
/// packed weight, for the input shape and thread count of its first call;
/// calls with another shape or thread count build it anew each time (measured
/// on the int8 ResNet-18 at batch 1: 1.08 instead of 0.83 ms per face). So
/// the layer keeps a packed copy per input shape and thread count, up to
/// kMaxPackedCopies (small batches are where it matters: one per number of
/// faces in a frame); further shapes share the first copy, which is correct, only slower.
class QLayer {
 public:
  static constexpr size_t kMaxPackedCopies = 8;
  torch::Tensor operator()(const torch::Tensor& qx) const;

 protected:
  explicit QLayer(QParams out) : out_(out) {}
  /// Packs the weights with the prepack operator `prepack` and its arguments,
  /// kept for further copies. Called by the subclass's constructor.
  void pack(const char* prepack, std::vector<c10::IValue> args);
  std::optional<c10::OperatorHandle> run_;  // the int8 kernel
  QParams out_;

 private:
  c10::IValue packed_for(const torch::Tensor& qx) const;
  struct Packed {
    std::vector<int64_t> shape;  // empty: not yet called
    int threads = 0;
    c10::IValue weights;
  };
  std::optional<c10::OperatorHandle> prepack_;
  std::vector<c10::IValue> prepack_args_;
  mutable std::mutex mutex_;
  mutable std::vector<Packed> packed_;
};

/// A convolution with its batch norm folded in, int8 weights prepacked,
/// optionally fused with ReLU.
class QConv2d : public QLayer {
 public:
  QConv2d(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl* bn, bool relu, QParams out);
  /// From a float OIHW weight and bias (undefined: none), square stride and
  /// zero padding, no dilation (networks built from raw weights, such as the detectors).
  QConv2d(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride, int64_t padding, int64_t groups,
          bool relu, QParams out);

 private:
  void init(const torch::Tensor& weight, const torch::Tensor& bias, std::vector<int64_t> stride,
            std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups, bool relu);
};

/// The same for a linear layer (N x D uint8 in) with an optional BatchNorm1d.
/// With `chw` = {C, H, W} (C * H * W = D), the layer takes a flattened
/// N x H x W x C map (channels-last, as quantized convolutions and pooling
/// leave it, so flattening copies nothing) where the float layer took N x C x H x W.
class QLinear : public QLayer {
 public:
  QLinear(const torch::nn::LinearImpl& linear, const torch::nn::BatchNorm1dImpl* bn, bool relu, QParams out,
          const std::vector<int64_t>& chw = {});
};

/// relu(a + b) of two uint8 tensors, requantized to `out`.
torch::Tensor quantized_add_relu(const torch::Tensor& qa, const torch::Tensor& qb, QParams out);

/// Float -> uint8 by `q` (per tensor), in the layout of `x`.
torch::Tensor quantize_activation(const torch::Tensor& x, QParams q);

/// `q` (N x C x H x W, uint8) with `rows` rows and `cols` columns of zeros (its
/// zero point) added at the bottom and the right: TF's "same" padding of
/// stride-2 convolutions on even sizes, which LibTorch's symmetric padding cannot express.
torch::Tensor pad_bottom_right(const torch::Tensor& q, int64_t rows, int64_t cols);

/// uint8 (per tensor) -> float, in the layout of `q` (q.dequantize(), vectorized).
torch::Tensor dequantize_activation(const torch::Tensor& q);

/// Global average pooling of an N x C x H x W uint8 tensor to N x C float
/// (what q.dequantize().mean({2, 3}) computes, without the float copy).
torch::Tensor dequantize_mean(const torch::Tensor& q);

class QBasicBlock;  // models/zoo_common.hpp

/// Int8 version of a Sequential made of Conv2d [BatchNorm2d] [ReLU] units,
/// ResNet basic blocks and MaxPool2d layers (the conv stacks of small_cnn,
/// acnn, the ResNets and vit_asf's streams). The quantization point of a unit
/// is "<prefix>.<index of its conv>", those of a block "<prefix>.<index>.conv1" ...
/// (BasicBlockImpl::forward_observed).
class QSequential {
 public:
  QSequential(const torch::nn::Sequential& seq, const ActivationRanges& ranges, const std::string& prefix);
  torch::Tensor operator()(torch::Tensor qx) const;
  /// The float forward pass of `seq` that records each unit's output range;
  /// throws Unsupported for a layer QSequential cannot run.
  static torch::Tensor observe(torch::nn::Sequential seq, torch::Tensor x, RangeRecorder& recorder,
                               const std::string& prefix);

 private:
  struct Step {
    std::shared_ptr<QConv2d> conv;        // a conv unit, or
    std::shared_ptr<QBasicBlock> block;   // a residual block, or
    torch::nn::MaxPool2dOptions pool{1};  // a max-pool when both are null
  };
  std::vector<Step> steps_;
};

}  // namespace fer::detail
