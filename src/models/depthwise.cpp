#include "models/depthwise.hpp"

#include "models/int8_kernels.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FER_DW_AVX512 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports its own _mm512_undefined_* placeholders in immintrin.h as uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace fer::detail {

namespace {

// Sizes of one weight-gradient problem; x is N x H x W x C and grad_out
// N x OH x OW x C in memory (channels-last).
struct Problem {
  int64_t n, c, h, w, oh, ow, k, stride, padding;
};

inline float to_float(float v) { return v; }
inline float to_float(c10::BFloat16 v) { return static_cast<float>(v); }

// The input row/column range [lo, hi) of output position o that falls inside
// an input of size `size`, as kernel taps: tap t reads input o * stride - padding + t.
inline std::pair<int64_t, int64_t> taps(int64_t o, int64_t size, const Problem& p) {
  int64_t first = o * p.stride - p.padding;
  return {std::max<int64_t>(0, -first), std::min<int64_t>(p.k, size - first)};
}

// acc (k * k x C floats, tap-major) += the terms of images [n0, n1).
template <class T>
void accumulate_portable(const T* x, const T* g, float* acc, const Problem& p, int64_t n0, int64_t n1) {
  std::vector<float> grow(size_t(p.c));
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t oh = 0; oh < p.oh; ++oh) {
      auto [i0, i1] = taps(oh, p.h, p);
      for (int64_t ow = 0; ow < p.ow; ++ow) {
        auto [j0, j1] = taps(ow, p.w, p);
        const T* gp = g + ((n * p.oh + oh) * p.ow + ow) * p.c;
        for (int64_t c = 0; c < p.c; ++c) grow[size_t(c)] = to_float(gp[c]);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) {
            const T* xp = x + ((n * p.h + oh * p.stride - p.padding + i) * p.w + ow * p.stride - p.padding + j) * p.c;
            float* a = acc + (i * p.k + j) * p.c;
            for (int64_t c = 0; c < p.c; ++c) a[c] += grow[size_t(c)] * to_float(xp[c]);
          }
      }
    }
}

#ifdef FER_DW_AVX512
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const c10::BFloat16* p) {
  // bfloat16 is the upper half of a float: widen to 32 bits and shift.
  __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

// As accumulate_portable, 16 channels at a time, the sum over an output row
// kept in a register per tap (the remaining channels in plain loops).
template <class T>
__attribute__((target("avx512f"))) void accumulate_avx512(const T* x, const T* g, float* acc, const Problem& p,
                                                         int64_t n0, int64_t n1) {
  const int64_t c16 = p.c / 16 * 16;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t oh = 0; oh < p.oh; ++oh) {
      auto [i0, i1] = taps(oh, p.h, p);
      const T* grow = g + (n * p.oh + oh) * p.ow * p.c;
      for (int64_t i = i0; i < i1; ++i) {
        const T* xrow = x + (n * p.h + oh * p.stride - p.padding + i) * p.w * p.c;
        for (int64_t j = 0; j < p.k; ++j) {
          // Output columns whose tap j falls inside the row: 0 <= ow * stride - padding + j < W.
          const int64_t lo = p.padding - j, hi = p.w - 1 + p.padding - j;
          const int64_t ow0 = lo <= 0 ? 0 : (lo + p.stride - 1) / p.stride;
          const int64_t ow1 = hi < 0 ? 0 : std::min(p.ow, hi / p.stride + 1);
          if (ow0 >= ow1) continue;
          float* a = acc + (i * p.k + j) * p.c;
          const T* x0 = xrow + (ow0 * p.stride - p.padding + j) * p.c;
          const T* g0 = grow + ow0 * p.c;
          const int64_t xstep = p.stride * p.c;
          for (int64_t c = 0; c < c16; c += 16) {
            __m512 sum = _mm512_loadu_ps(a + c);
            for (int64_t ow = 0; ow < ow1 - ow0; ++ow)
              sum = _mm512_fmadd_ps(load16(g0 + ow * p.c + c), load16(x0 + ow * xstep + c), sum);
            _mm512_storeu_ps(a + c, sum);
          }
          for (int64_t c = c16; c < p.c; ++c)
            for (int64_t ow = 0; ow < ow1 - ow0; ++ow)
              a[c] += to_float(g0[ow * p.c + c]) * to_float(x0[ow * xstep + c]);
        }
      }
    }
}

#endif

template <class T>
void accumulate(const T* x, const T* g, float* acc, const Problem& p, int64_t n0, int64_t n1, bool portable) {
#ifdef FER_DW_AVX512
  // int8_kernels::uses_avx512 is the run-time AVX-512F check these kernels need too.
  if (!portable && int8_kernels::uses_avx512()) return accumulate_avx512(x, g, acc, p, n0, n1);
#endif
  accumulate_portable(x, g, acc, p, n0, n1);
}

torch::Tensor weight_grad(const torch::Tensor& x_in, const torch::Tensor& g_in, int64_t k, int64_t stride,
                          int64_t padding, bool portable) {
  TORCH_CHECK(x_in.dim() == 4 && g_in.dim() == 4 && x_in.size(0) == g_in.size(0) && x_in.size(1) == g_in.size(1),
              "depthwise_weight_grad: x and grad_out must be N x C x H x W with the same N and C");
  TORCH_CHECK(k >= 1 && stride >= 1 && padding >= 0, "depthwise_weight_grad: bad kernel, stride or padding");
  Problem p{x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3), g_in.size(2), g_in.size(3), k, stride, padding};
  TORCH_CHECK(p.oh == (p.h + 2 * padding - k) / stride + 1 && p.ow == (p.w + 2 * padding - k) / stride + 1,
              "depthwise_weight_grad: grad_out size does not match the convolution");
  const bool bf16 = x_in.scalar_type() == torch::kBFloat16 && g_in.scalar_type() == torch::kBFloat16;
  const auto type = bf16 ? torch::kBFloat16 : torch::kFloat32;
  // Channels-last and dense: element (n, c, h, w) at ((n * H + h) * W + w) * C + c.
  // (Where C or H x W is 1 the two layouts order the elements alike.)
  torch::Tensor x = x_in.to(type).contiguous(at::MemoryFormat::ChannelsLast);
  torch::Tensor g = g_in.to(type).contiguous(at::MemoryFormat::ChannelsLast);

  const int64_t taps_c = k * k * p.c;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), p.n));
  std::vector<float> partial(size_t(parts * taps_c), 0.f);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t n0 = p.n * t / parts, n1 = p.n * (t + 1) / parts;
      float* acc = partial.data() + t * taps_c;
      if (bf16)
        accumulate(x.data_ptr<c10::BFloat16>(), g.data_ptr<c10::BFloat16>(), acc, p, n0, n1, portable);
      else
        accumulate(x.data_ptr<float>(), g.data_ptr<float>(), acc, p, n0, n1, portable);
    }
  });
  torch::Tensor out = torch::empty({p.c, 1, k, k}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  for (int64_t c = 0; c < p.c; ++c)
    for (int64_t tap = 0; tap < k * k; ++tap) {
      float s = 0.f;
      for (int64_t t = 0; t < parts; ++t) s += partial[size_t(t * taps_c + tap * p.c + c)];
      o[c * k * k + tap] = s;
    }
  return out;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class DepthwiseConvFunction : public torch::autograd::Function<DepthwiseConvFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               int64_t stride, int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    return at::conv2d(x, weight, {}, {stride, stride}, {padding, padding}, {1, 1}, x.size(1));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const torch::Tensor& g = grads[0];
    torch::Tensor grad_x, grad_w;
    if (ctx->needs_input_grad(0))
      grad_x = std::get<0>(at::convolution_backward(g, x, weight, c10::nullopt, {stride, stride}, {padding, padding},
                                                    {1, 1}, false, {0, 0}, x.size(1), {true, false, false}));
    if (ctx->needs_input_grad(1))
      grad_w = depthwise_weight_grad(x, g, weight.size(2), stride, padding).to(weight.scalar_type());
    return {grad_x, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor depthwise_weight_grad(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t k,
                                    int64_t stride, int64_t padding) {
  return weight_grad(x, grad_out, k, stride, padding, false);
}

torch::Tensor depthwise_weight_grad_portable(const torch::Tensor& x, const torch::Tensor& grad_out, int64_t k,
                                             int64_t stride, int64_t padding) {
  return weight_grad(x, grad_out, k, stride, padding, true);
}

namespace {

// The padding of a square depthwise convolution of `x` with zero padding,
// the same on all sides, dilation 1; -1 for other convolutions.
int64_t depthwise_padding(const torch::nn::detail::ConvNdOptions<2>& o, const torch::Tensor& x) {
  const auto& k = *o.kernel_size();
  const auto& s = *o.stride();
  const auto& d = *o.dilation();
  if (x.dim() != 4 || x.size(1) != o.in_channels() || o.groups() != o.in_channels() ||
      o.out_channels() != o.in_channels() || k[0] != k[1] || s[0] != s[1] || d[0] != 1 || d[1] != 1 ||
      !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) ||
      !c10::holds_alternative<torch::ExpandingArray<2>>(o.padding()))
    return -1;
  const auto& p = *c10::get<torch::ExpandingArray<2>>(o.padding());
  return p[0] == p[1] ? p[0] : -1;
}

}  // namespace

torch::Tensor depthwise_conv2d(torch::nn::Conv2d& conv, const torch::Tensor& x) {
  const auto& o = conv->options;
  const torch::Tensor& w = conv->weight;
  const int64_t padding = depthwise_padding(o, x);
  const bool grad = torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad());
  if (padding < 0 || !grad) return conv->forward(x);
  // Autocast does not reach inside a custom function: cast as it would, so
  // that the weight's gradient flows back through the cast to the float weight.
  torch::Tensor xin = x, win = w, bin = conv->bias;
  if (at::autocast::is_cpu_enabled()) {
    const auto type = at::autocast::get_autocast_cpu_dtype();
    xin = x.to(type);
    win = w.to(type);
    if (bin.defined()) bin = bin.to(type);
  }
  torch::Tensor y = DepthwiseConvFunction::apply(xin, win, (*o.stride())[0], padding);
  return bin.defined() ? y + bin.view({1, -1, 1, 1}) : y;
}

}  // namespace fer::detail
