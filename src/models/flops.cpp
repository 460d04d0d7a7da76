#include "models/flops.hpp"

#include "models/torch_component.hpp"

#include <fer/error.hpp>

#include <ATen/record_function.h>

#include <cstring>

namespace fer::detail {

namespace {

// The count of the count_flops() call running on this thread (callbacks are plain functions).
thread_local FlopCount* t_count = nullptr;

// Carries a convolution's MACs per output element from the start to the end callback.
struct ConvContext : at::ObserverContext {
  int64_t macs_per_output = 0;
};

int64_t tensor_dim(const c10::IValue& v, int64_t d) { return v.toTensor().size(d); }

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (!t_count) return nullptr;
  const char* name = fn.name();
  auto in = fn.inputs();
  if (!std::strcmp(name, "aten::convolution") && in.size() >= 7 && in[1].isTensor()) {
    const torch::Tensor& w = in[1].toTensor();
    if (w.dim() < 3 || w.size(0) == 0) return nullptr;
    int64_t per_weight_row = w.numel() / w.size(0);
    if (in[6].isBool() && in[6].toBool()) {
      // Transposed: every input element meets Cout/groups x kernel weights (weight is Cin x Cout/g x k).
      t_count->conv_macs += in[0].toTensor().numel() * per_weight_row;
      return nullptr;
    }
    auto ctx = std::make_unique<ConvContext>();
    ctx->macs_per_output = per_weight_row;  // Cin/groups x kernel
    return ctx;
  }
  // mm(a, b): n x k times k x m; addmm(bias, a, b); bmm(a, b) and baddbmm(c, a, b) with a batch.
  if (!std::strcmp(name, "aten::mm") && in.size() >= 2)
    t_count->matmul_macs += tensor_dim(in[0], 0) * tensor_dim(in[0], 1) * tensor_dim(in[1], 1);
  else if (!std::strcmp(name, "aten::addmm") && in.size() >= 3)
    t_count->matmul_macs += tensor_dim(in[1], 0) * tensor_dim(in[1], 1) * tensor_dim(in[2], 1);
  else if (!std::strcmp(name, "aten::bmm") && in.size() >= 2)
    t_count->matmul_macs +=
        tensor_dim(in[0], 0) * tensor_dim(in[0], 1) * tensor_dim(in[0], 2) * tensor_dim(in[1], 2);
  else if (!std::strcmp(name, "aten::baddbmm") && in.size() >= 3)
    t_count->matmul_macs +=
        tensor_dim(in[1], 0) * tensor_dim(in[1], 1) * tensor_dim(in[1], 2) * tensor_dim(in[2], 2);
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  auto* conv = dynamic_cast<ConvContext*>(ctx);
  if (!conv || !t_count || fn.outputs().empty() || !fn.outputs()[0].isTensor()) return;
  t_count->conv_macs += fn.outputs()[0].toTensor().numel() * conv->macs_per_output;
}

}  // namespace

FlopCount count_flops(const FeatureExtractor& extractor, int batch) {
  if (batch < 1) throw Error(Status::InvalidArgument, "count_flops: batch must be at least 1");
  if (t_count) throw Error(Status::InvalidArgument, "count_flops: already counting on this thread");
  int channels = int(config_channels(extractor.config()));
  int size = int(config_input_size(extractor.config()));
  std::vector<cv::Mat> crops(size_t(batch), cv::Mat::zeros(size, size, CV_32FC(channels)));

  FlopCount count;
  auto callback = at::RecordFunctionCallback(on_start, on_end)
                      .needsInputs(true)
                      .needsOutputs(true)
                      .scopes({at::RecordScope::FUNCTION});
  at::CallbackHandle handle = at::addThreadLocalCallback(callback);
  t_count = &count;
  try {
    extractor.extract(crops);
  } catch (...) {
    t_count = nullptr;
    at::removeCallback(handle);
    throw;
  }
  t_count = nullptr;
  at::removeCallback(handle);
  return count;
}

}  // namespace fer::detail
