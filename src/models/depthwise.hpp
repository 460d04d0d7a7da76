// Depthwise convolution (one k x k filter per channel) with its own weight
// gradient. LibTorch 1.13's oneDNN has a depthwise weight-gradient kernel
// only for 3x3 filters; a 5x5 depthwise convolution's weight gradient falls
// back to a generic grouped convolution that pads each 1-channel group to 16
// (DNNL_VERBOSE=1 on 6 mobile_fer bf16 training steps, one thread: 48 calls
// of the fallback took 1.19 s of 3.5 s, up to 36 ms for 240 channels at
// 12x12, where oneDNN's 3x3 depthwise kernel takes 1.4 ms). The forward pass
// and the input gradient stay LibTorch's (oneDNN's depthwise kernels are
// fast there).
#pragma once

#include <torch/torch.h>

namespace fer::detail {

/// conv(x) with `conv`'s weights, for a depthwise conv2d (groups == in ==
/// out channels, square kernel, dilation 1); the weight gradient comes from
/// depthwise_weight_grad. Other convolutions, and calls without autograd,
/// are plain conv(x).
torch::Tensor depthwise_conv2d(torch::nn::Conv2d& conv, const torch::Tensor& x);

/// grad_w[c][0][i][j] = sum over n, oh, ow of
///   grad_out[n][c][oh][ow] * x[n][c][oh * stride + i - padding][ow * stride + j - padding]
/// (terms outside x are zero): the weight gradient of a depthwise k x k
/// convolution. x and grad_out: float or bfloat16, any memory format;
/// accumulates in float; returns C x 1 x k x k float. Split over LibTorch's
/// intra-op threads.
torch::Tensor depthwise_weight_grad(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t k,
                                    int64_t stride, int64_t padding);

/// The same with plain loops only (the AVX-512 version is used where the CPU
/// has it; for tests that compare the two).
torch::Tensor depthwise_weight_grad_portable(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t k,
                                             int64_t stride, int64_t padding);

}  // namespace fer::detail
