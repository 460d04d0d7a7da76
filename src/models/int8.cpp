#include "models/int8.hpp"

#include "models/int8_kernels.hpp"
#include "models/zoo_common.hpp"  // BasicBlockImpl, QBasicBlock

#include <fer/error.hpp>

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

namespace fer::detail {

namespace {

// Operators are reached through the dispatcher with boxed values, so that the
// packed-weight classes need no C++ declaration here; their handles are looked
// up once, when a layer is built.
c10::OperatorHandle find_op(const char* name, const char* overload) {
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw Error(Status::Unsupported, std::string("this LibTorch has no operator ") + name);
  return *handle;
}

c10::IValue call_op(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  if (stack.size() != 1)
    throw Error(Status::Internal, op.schema().name() + " returned " + std::to_string(stack.size()) + " values");
  return std::move(stack.front());
}

// Per-output-channel symmetric int8 weights.
torch::Tensor quantize_weight(const torch::Tensor& w) {
  torch::Tensor absmax = w.detach().abs().reshape({w.size(0), -1}).amax(1).to(torch::kDouble);
  torch::Tensor scales = (absmax / 127.0).clamp_min(1e-12);
  torch::Tensor zeros = torch::zeros({w.size(0)}, torch::kLong);
  return torch::quantize_per_channel(w.detach().contiguous(), scales, zeros, 0, torch::kQInt8);
}

// A layer's float weight and bias (zeros without one) with an eval-mode batch
// norm y = (x - mean) / sqrt(var + eps) * gamma + beta folded in (when `bn`).
template <class BatchNorm>
std::pair<torch::Tensor, torch::Tensor> folded(const torch::Tensor& weight, const torch::Tensor& bias,
                                               const BatchNorm* bn) {
  torch::NoGradGuard no_grad;
  auto float_copy = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat32).contiguous().clone(); };
  torch::Tensor w = float_copy(weight);
  torch::Tensor b = bias.defined() ? float_copy(bias) : torch::zeros({w.size(0)});
  if (!bn) return {w, b};
  torch::Tensor s = bn->weight.to(torch::kFloat) / (bn->running_var.to(torch::kFloat) + bn->options.eps()).sqrt();
  std::vector<int64_t> shape(size_t(w.dim()), 1);
  shape[0] = -1;
  torch::Tensor fw = w * s.reshape(shape), fb = (b - bn->running_mean.to(torch::kFloat)) * s + bn->bias.to(torch::kFloat);
  // Weights that are each finite can still fold to Inf/NaN (a huge scale over a zero variance): quantizing
  // those would convert NaN to an integer.
  if (!torch::isfinite(fw).all().item<bool>() || !torch::isfinite(fb).all().item<bool>())
    throw Error(Status::CorruptData, "folding a batch norm into the layer before it gives non-finite weights "
                                     "(its variance or scale is out of range)");
  return {fw, fb};
}

std::vector<int64_t> pair_of(const torch::ExpandingArray<2>& a) { return {(*a)[0], (*a)[1]}; }

}  // namespace

std::pair<torch::Tensor, torch::Tensor> fold_batch_norm(const torch::Tensor& weight, const torch::Tensor& bias,
                                                        const torch::nn::BatchNorm2dImpl* bn) {
  return folded(weight, bias, bn);
}

QParams activation_qparams(const ActivationRanges& ranges, const std::string& point) {
  auto it = ranges.find(point);
  if (it == ranges.end())
    throw Error(Status::InvalidArgument, "the int8 calibration has no range for '" + point +
                                             "' (recalibrate the model: fer quantize)");
  if (it->second.first > it->second.second)
    throw Error(Status::InvalidArgument, "the int8 calibration range of '" + point + "' has its minimum above its maximum");
  float lo = std::min(it->second.first, 0.f), hi = std::max(it->second.second, 0.f);
  if (!(-lo <= kMaxActivationMagnitude) || !(hi <= kMaxActivationMagnitude))  // also catches NaN
    throw Error(Status::InvalidArgument, "the int8 calibration range of '" + point + "' is not finite");
  QParams q;
  q.scale = std::max(double(hi) - double(lo), 1e-6) / 255.0;
  q.zero_point = std::clamp<int64_t>(int64_t(std::lround(-double(lo) / q.scale)), 0, 255);
  return q;
}

const torch::Tensor& RangeRecorder::record(const std::string& point, const torch::Tensor& t) {
  torch::Tensor f = t.detach().to(torch::kFloat32);
  float lo = f.min().item<float>(), hi = f.max().item<float>();
  auto [it, fresh] = ranges_.try_emplace(point, lo, hi);
  if (!fresh) it->second = {std::min(it->second.first, lo), std::max(it->second.second, hi)};
  return t;
}

Int8EngineScope::Int8EngineScope() : lock_(mutex()) {
  auto& ctx = at::globalContext();
  const auto& engines = ctx.supportedQEngines();
  if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) == engines.end())
    throw Error(Status::Unsupported, "int8 inference needs LibTorch's oneDNN quantized engine, which this build lacks");
  previous_ = int(ctx.qEngine());
  if (ctx.qEngine() != at::QEngine::ONEDNN) ctx.setQEngine(at::QEngine::ONEDNN);
}

Int8EngineScope::~Int8EngineScope() {
  auto& ctx = at::globalContext();
  if (int(ctx.qEngine()) != previous_) ctx.setQEngine(at::QEngine(previous_));
}

std::mutex& Int8EngineScope::mutex() {
  static std::mutex m;
  return m;
}

namespace {

// Elements per task when an elementwise kernel is split over the intra-op threads.
constexpr int64_t kElementwiseGrain = 32768;

const uint8_t* bytes(const torch::Tensor& q) { return static_cast<const uint8_t*>(q.data_ptr()); }
uint8_t* mutable_bytes(torch::Tensor& q) { return static_cast<uint8_t*>(q.data_ptr()); }

// The layout a dense tensor is stored in: channels-last, or contiguous for anything else.
at::MemoryFormat dense_format(const torch::Tensor& t) {
  return t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast) && !t.is_contiguous()
             ? at::MemoryFormat::ChannelsLast
             : at::MemoryFormat::Contiguous;
}

// Whether libfer's kernels take `t`: uint8 with one scale and zero point.
bool uint8_per_tensor(const torch::Tensor& t) {
  return t.scalar_type() == at::kQUInt8 && t.qscheme() == at::kPerTensorAffine;
}

torch::Tensor empty_quantized(at::IntArrayRef sizes, at::MemoryFormat format, QParams q) {
  return at::_empty_affine_quantized(sizes, at::device(at::kCPU).dtype(at::kQUInt8), q.scale, q.zero_point, format);
}

QParams qparams_of(const torch::Tensor& q) { return {q.q_scale(), q.q_zero_point()}; }

}  // namespace

// The kernels below show in LibTorch's profiler under their own names.
torch::Tensor quantize_activation(const torch::Tensor& x, QParams q) {
  RECORD_FUNCTION("fer::quantize_activation", std::vector<c10::IValue>());
  const at::MemoryFormat format = dense_format(x);
  torch::Tensor f = x.to(torch::kFloat32).contiguous(format);
  torch::Tensor out = empty_quantized(f.sizes(), format, q);
  const float* src = f.data_ptr<float>();
  uint8_t* dst = mutable_bytes(out);
  const float inv_scale = float(1.0 / q.scale);
  at::parallel_for(0, f.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    int8_kernels::quantize(src + begin, dst + begin, end - begin, inv_scale, int32_t(q.zero_point));
  });
  return out;
}

torch::Tensor dequantize_activation(const torch::Tensor& q) {
  RECORD_FUNCTION("fer::dequantize_activation", std::vector<c10::IValue>());
  if (!uint8_per_tensor(q)) return q.dequantize();
  const at::MemoryFormat format = dense_format(q);
  torch::Tensor qc = q.contiguous(format);
  torch::Tensor out = torch::empty(q.sizes(), torch::TensorOptions().dtype(torch::kFloat32).memory_format(format));
  const uint8_t* src = bytes(qc);
  float* dst = out.data_ptr<float>();
  const float scale = float(q.q_scale());
  const int32_t zero = int32_t(q.q_zero_point());
  at::parallel_for(0, q.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    int8_kernels::dequantize(src + begin, dst + begin, end - begin, scale, zero);
  });
  return out;
}

torch::Tensor dequantize_mean(const torch::Tensor& q) {
  RECORD_FUNCTION("fer::dequantize_mean", std::vector<c10::IValue>());
  if (q.dim() != 4 || !uint8_per_tensor(q)) return q.dequantize().mean({2, 3});
  const int64_t n = q.size(0), c = q.size(1), hw = q.size(2) * q.size(3);
  const at::MemoryFormat format = dense_format(q);
  torch::Tensor qc = q.contiguous(format);
  torch::Tensor out = torch::empty({n, c});
  const uint8_t* src = bytes(qc);
  float* dst = out.data_ptr<float>();
  const float scale = float(q.q_scale()), zero = float(q.q_zero_point()), inv_hw = 1.f / float(std::max<int64_t>(hw, 1));
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> sums(size_t(c), 0);
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t* image = src + i * c * hw;
      std::fill(sums.begin(), sums.end(), 0);
      if (format == at::MemoryFormat::ChannelsLast) {
        for (int64_t p = 0; p < hw; ++p)
          for (int64_t k = 0; k < c; ++k) sums[size_t(k)] += image[p * c + k];
      } else {
        for (int64_t k = 0; k < c; ++k)
          for (int64_t p = 0; p < hw; ++p) sums[size_t(k)] += image[k * hw + p];
      }
      for (int64_t k = 0; k < c; ++k) dst[i * c + k] = scale * (float(sums[size_t(k)]) * inv_hw - zero);
    }
  });
  return out;
}

torch::Tensor QLayer::operator()(const torch::Tensor& qx) const {
  return call_op(*run_, {qx, packed_for(qx), c10::IValue(out_.scale), c10::IValue(out_.zero_point)}).toTensor();
}

void QLayer::pack(const char* prepack, std::vector<c10::IValue> args) {
  prepack_ = find_op(prepack, "");
  prepack_args_ = std::move(args);
  Int8EngineScope engine;
  packed_.push_back({{}, 0, call_op(*prepack_, prepack_args_)});
}

c10::IValue QLayer::packed_for(const torch::Tensor& qx) const {
  const int threads = at::get_num_threads();
  const auto shape = qx.sizes();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Packed& p : packed_)
    if (p.threads == threads && shape.equals(p.shape)) return p.weights;
  if (packed_.front().shape.empty()) {  // the first call: the first copy takes its shape
    packed_.front().shape = shape.vec();
    packed_.front().threads = threads;
    return packed_.front().weights;
  }
  if (packed_.size() >= kMaxPackedCopies) return packed_.front().weights;
  Int8EngineScope engine;
  packed_.push_back({shape.vec(), threads, call_op(*prepack_, prepack_args_)});
  return packed_.back().weights;
}

QConv2d::QConv2d(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl* bn, bool relu, QParams out)
    : QLayer(out) {
  const auto& o = conv.options;
  if (!c10::holds_alternative<torch::ExpandingArray<2>>(o.padding()) ||
      !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    throw Error(Status::Unsupported, "int8: only zero-padded convolutions with explicit padding are supported");
  auto [w, b] = folded(conv.weight, conv.bias, bn);
  init(w, b, pair_of(o.stride()), pair_of(c10::get<torch::ExpandingArray<2>>(o.padding())), pair_of(o.dilation()),
       o.groups(), relu);
}

QConv2d::QConv2d(const torch::Tensor& weight, const torch::Tensor& bias, int64_t stride, int64_t padding,
                 int64_t groups, bool relu, QParams out)
    : QLayer(out) {
  auto [w, b] = fold_batch_norm(weight, bias, nullptr);
  init(w, b, {stride, stride}, {padding, padding}, {1, 1}, groups, relu);
}

void QConv2d::init(const torch::Tensor& weight, const torch::Tensor& bias, std::vector<int64_t> stride,
                   std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups, bool relu) {
  run_ = find_op(relu ? "quantized::conv2d_relu" : "quantized::conv2d", "new");
  pack("quantized::conv2d_prepack", {quantize_weight(weight), bias, c10::IValue(std::move(stride)),
                                     c10::IValue(std::move(padding)), c10::IValue(std::move(dilation)),
                                     c10::IValue(groups)});
}

torch::Tensor pad_bottom_right(const torch::Tensor& q, int64_t rows, int64_t cols) {
  RECORD_FUNCTION("fer::pad_bottom_right", std::vector<c10::IValue>());
  if (q.dim() != 4 || !uint8_per_tensor(q) || rows < 0 || cols < 0)
    throw Error(Status::Internal, "pad_bottom_right: expects a per-tensor uint8 N x C x H x W tensor");
  const int64_t n = q.size(0), c = q.size(1), h = q.size(2), w = q.size(3);
  torch::Tensor src = q.contiguous(at::MemoryFormat::ChannelsLast);
  torch::Tensor out = empty_quantized({n, c, h + rows, w + cols}, at::MemoryFormat::ChannelsLast, qparams_of(q));
  const uint8_t zero = uint8_t(q.q_zero_point());
  const uint8_t* in = bytes(src);
  uint8_t* dst = mutable_bytes(out);
  const int64_t in_row = w * c, out_row = (w + cols) * c;  // channels-last rows: W x C bytes
  at::parallel_for(0, n * (h + rows), 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t image = r / (h + rows), y = r % (h + rows);
      uint8_t* o = dst + r * out_row;
      if (y >= h) {
        std::memset(o, zero, size_t(out_row));
        continue;
      }
      std::memcpy(o, in + (image * h + y) * in_row, size_t(in_row));
      std::memset(o + in_row, zero, size_t(out_row - in_row));
    }
  });
  return out;
}

torch::Tensor quantized_add_relu(const torch::Tensor& qa, const torch::Tensor& qb, QParams out) {
  const at::MemoryFormat format = dense_format(qa);
  auto plain = [&](const torch::Tensor& t) { return uint8_per_tensor(t) && t.is_contiguous(format); };
  if (qa.sizes() != qb.sizes() || !plain(qa) || !plain(qb)) {  // LibTorch's kernel handles any layout
    static const c10::OperatorHandle op = find_op("quantized::add_relu", "");
    return call_op(op, {qa, qb, c10::IValue(out.scale), c10::IValue(out.zero_point)}).toTensor();
  }
  RECORD_FUNCTION("fer::quantized_add_relu", std::vector<c10::IValue>());
  torch::Tensor result = empty_quantized(qa.sizes(), format, out);
  const double ka = qa.q_scale() / out.scale, kb = qb.q_scale() / out.scale;
  const double c = double(out.zero_point) - double(qa.q_zero_point()) * ka - double(qb.q_zero_point()) * kb;
  if (!(std::abs(ka) < 1e30 && std::abs(kb) < 1e30 && std::abs(c) < 1e30)) {  // a degenerate output range
    static const c10::OperatorHandle op = find_op("quantized::add_relu", "");
    return call_op(op, {qa, qb, c10::IValue(out.scale), c10::IValue(out.zero_point)}).toTensor();
  }
  const uint8_t *a = bytes(qa), *b = bytes(qb);
  uint8_t* dst = mutable_bytes(result);
  at::parallel_for(0, qa.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    int8_kernels::add_requantize(a + begin, b + begin, dst + begin, end - begin, float(ka), float(kb), float(c),
                                 int32_t(out.zero_point));
  });
  return result;
}

QLinear::QLinear(const torch::nn::LinearImpl& linear, const torch::nn::BatchNorm1dImpl* bn, bool relu, QParams out,
                 const std::vector<int64_t>& chw)
    : QLayer(out) {
  auto [w, b] = folded(linear.weight, linear.bias, bn);
  if (!chw.empty()) {  // input columns from C, H, W order to H, W, C order
    if (chw.size() != 3 || chw[0] * chw[1] * chw[2] != w.size(1))
      throw Error(Status::Internal, "int8: the linear layer's input is not the C x H x W map given");
    w = w.view({w.size(0), chw[0], chw[1], chw[2]}).permute({0, 2, 3, 1}).reshape({w.size(0), -1}).contiguous();
  }
  run_ = find_op(relu ? "quantized::linear_relu" : "quantized::linear", "");
  pack("quantized::linear_prepack", {quantize_weight(w), b});
}

namespace {

// One conv unit, residual block or max-pool of a Sequential: [first, last] item indices.
struct Unit {
  size_t first = 0, last = 0;
  const torch::nn::Conv2dImpl* conv = nullptr;
  const torch::nn::BatchNorm2dImpl* bn = nullptr;
  bool relu = false;
  BasicBlockImpl* block = nullptr;
  const torch::nn::MaxPool2dImpl* pool = nullptr;
};

std::vector<Unit> units_of(const torch::nn::Sequential& seq) {
  std::vector<Unit> units;
  const size_t n = seq->size();
  for (size_t i = 0; i < n; ++i) {
    Unit u;
    u.first = u.last = i;
    const torch::nn::Module* m = seq->ptr(i).get();
    if ((u.conv = m->as<torch::nn::Conv2dImpl>())) {
      if (u.last + 1 < n && (u.bn = seq->ptr(u.last + 1)->as<torch::nn::BatchNorm2dImpl>())) ++u.last;
      if (u.last + 1 < n && seq->ptr(u.last + 1)->as<torch::nn::ReLUImpl>()) {
        u.relu = true;
        ++u.last;
      }
    } else if ((u.block = seq->ptr(i)->as<BasicBlockImpl>())) {
    } else if ((u.pool = m->as<torch::nn::MaxPool2dImpl>())) {
    } else {
      throw Error(Status::Unsupported, "int8: layer " + std::to_string(i) + " (" + seq->ptr(i)->name() +
                                           ") of a sequential block has no int8 path");
    }
    units.push_back(u);
    i = u.last;
  }
  return units;
}

}  // namespace

QSequential::QSequential(const torch::nn::Sequential& seq, const ActivationRanges& ranges, const std::string& prefix) {
  for (const Unit& u : units_of(seq)) {
    Step s;
    const std::string point = prefix + "." + std::to_string(u.first);
    if (u.conv)
      s.conv = std::make_shared<QConv2d>(*u.conv, u.bn, u.relu, activation_qparams(ranges, point));
    else if (u.block)
      s.block = std::make_shared<QBasicBlock>(*u.block, ranges, point);
    else
      s.pool = u.pool->options;
    steps_.push_back(std::move(s));
  }
}

torch::Tensor QSequential::operator()(torch::Tensor qx) const {
  for (const Step& s : steps_) {
    if (s.conv) {
      qx = (*s.conv)(qx);
    } else if (s.block) {
      qx = (*s.block)(qx);
    } else {
      qx = torch::max_pool2d(qx, *s.pool.kernel_size(), *s.pool.stride(), *s.pool.padding(), *s.pool.dilation(),
                             s.pool.ceil_mode());
    }
  }
  return qx;
}

torch::Tensor QSequential::observe(torch::nn::Sequential seq, torch::Tensor x, RangeRecorder& recorder,
                                   const std::string& prefix) {
  for (const Unit& u : units_of(seq)) {
    const std::string point = prefix + "." + std::to_string(u.first);
    if (u.block) {
      x = u.block->forward_observed(x, recorder, point);
      continue;
    }
    for (size_t i = u.first; i <= u.last; ++i) x = (seq->begin() + int64_t(i))->forward(x);
    if (u.conv) recorder.record(point, x);
  }
  return x;
}

}  // namespace fer::detail
