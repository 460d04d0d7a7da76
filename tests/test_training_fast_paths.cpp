// Training fast paths: depthwise convolution with its own weight gradient
// (src/models/depthwise.cpp), the channels-last activations of networks
// LibTorch cannot tell the layout of (BackboneImpl::network_layout), and
// spatial means through the channels-last view (spatial_mean).
#include "models/depthwise.hpp"
#include "models/torch_component.hpp"
#include "models/zoo_common.hpp"
#include "support.hpp"

#include <ATen/autocast_mode.h>

#include <doctest/doctest.h>

namespace {

struct DwCase {
  int64_t c, h, w, k, stride, padding;
};

// Channel counts around the 16-lane blocks, odd sizes, strides 1 and 2.
const DwCase kCases[] = {
    {20, 7, 9, 5, 1, 2}, {16, 12, 12, 3, 1, 1}, {33, 11, 8, 5, 2, 2}, {5, 6, 6, 3, 2, 1}, {1, 5, 5, 3, 1, 0},
    {17, 2, 3, 5, 1, 2},  // taps that never meet the input
};

// The weight gradient LibTorch computes, in double precision.
torch::Tensor reference_grad(const torch::Tensor& x, const torch::Tensor& g, const DwCase& c) {
  torch::Tensor w = torch::zeros({c.c, 1, c.k, c.k}, torch::kFloat64);
  return std::get<1>(at::convolution_backward(g.to(torch::kFloat64), x.to(torch::kFloat64), w, c10::nullopt,
                                              {c.stride, c.stride}, {c.padding, c.padding}, {1, 1}, false, {0, 0},
                                              c.c, {false, true, false}));
}

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace

TEST_CASE("depthwise_weight_grad matches LibTorch's weight gradient (fp32 and bf16, both code paths)") {
  torch::manual_seed(3);
  for (const DwCase& c : kCases) {
    CAPTURE(c.c);
    CAPTURE(c.k);
    CAPTURE(c.stride);
    const int64_t n = 3, oh = (c.h + 2 * c.padding - c.k) / c.stride + 1, ow = (c.w + 2 * c.padding - c.k) / c.stride + 1;
    torch::Tensor x = torch::randn({n, c.c, c.h, c.w});
    torch::Tensor g = torch::randn({n, c.c, oh, ow});
    torch::Tensor ref = reference_grad(x, g, c);
    for (bool portable : {false, true}) {
      CAPTURE(portable);
      auto grad = portable ? fer::detail::depthwise_weight_grad_portable : fer::detail::depthwise_weight_grad;
      torch::Tensor got = grad(x, g, c.k, c.stride, c.padding);
      REQUIRE((got.sizes() == ref.sizes()));
      CHECK((got.scalar_type() == torch::kFloat32));
      CHECK(max_abs(got.to(torch::kFloat64) - ref) <= 1e-4 * (1 + max_abs(ref)));
      // Channels-last inputs give the same result.
      torch::Tensor got_cl = grad(x.contiguous(at::MemoryFormat::ChannelsLast),
                                  g.contiguous(at::MemoryFormat::ChannelsLast), c.k, c.stride, c.padding);
      CHECK(max_abs(got_cl - got) <= 1e-5 * (1 + max_abs(got)));
      // bf16 inputs: exact products of the rounded values, summed in float.
      torch::Tensor xb = x.to(torch::kBFloat16), gb = g.to(torch::kBFloat16);
      torch::Tensor ref_b = reference_grad(xb, gb, c);
      torch::Tensor got_b = grad(xb, gb, c.k, c.stride, c.padding);
      CHECK(max_abs(got_b.to(torch::kFloat64) - ref_b) <= 1e-4 * (1 + max_abs(ref_b)));
    }
  }
}

TEST_CASE("depthwise_weight_grad rejects mismatched shapes") {
  torch::Tensor x = torch::randn({2, 4, 6, 6});
  CHECK_THROWS(fer::detail::depthwise_weight_grad(x, torch::randn({2, 4, 5, 6}), 3, 1, 1));
  CHECK_THROWS(fer::detail::depthwise_weight_grad(x, torch::randn({2, 3, 6, 6}), 3, 1, 1));
  CHECK_THROWS(fer::detail::depthwise_weight_grad(x, torch::randn({6, 6}), 3, 1, 1));
  CHECK_THROWS(fer::detail::depthwise_weight_grad(x, torch::randn({2, 4, 6, 6}), 3, 0, 1));
}

TEST_CASE("depthwise_conv2d: same output and gradients as the module, in fp32 and under bf16 autocast") {
  torch::manual_seed(5);
  for (bool bias : {false, true})
    for (int64_t stride : {1, 2}) {
      CAPTURE(bias);
      CAPTURE(stride);
      torch::nn::Conv2d conv = fer::detail::conv2d(24, 24, 5, stride, 24, bias);
      torch::Tensor x = torch::randn({4, 24, 10, 10}).contiguous(at::MemoryFormat::ChannelsLast);
      torch::Tensor g = torch::randn({4, 24, 10 / stride, 10 / stride});
      auto run = [&](bool own, bool bf16) {
        conv->zero_grad();
        torch::Tensor xi = x.clone().requires_grad_(true);
        torch::Tensor y;
        {
          fer::detail::AutocastGuard autocast(bf16);
          y = own ? fer::detail::depthwise_conv2d(conv, xi) : conv->forward(xi);
        }
        y.backward(g.to(y.scalar_type()));
        return std::vector<torch::Tensor>{y.to(torch::kFloat32), xi.grad().to(torch::kFloat32),
                                          conv->weight.grad().clone(),
                                          bias ? conv->bias.grad().clone() : torch::zeros({1})};
      };
      for (bool bf16 : {false, true}) {
        CAPTURE(bf16);
        auto ref = run(false, bf16), got = run(true, bf16);
        const double tol = bf16 ? 2e-2 : 1e-5;
        for (size_t i = 0; i < ref.size(); ++i) {
          CAPTURE(i);
          CHECK(max_abs(got[i] - ref[i]) <= tol * (1 + max_abs(ref[i])));
        }
        CHECK((conv->weight.grad().scalar_type() == torch::kFloat32));
      }
    }
  // Not depthwise, or no gradient wanted: the module's own forward, same values.
  torch::nn::Conv2d dense = fer::detail::conv2d(4, 8, 3);
  torch::Tensor x = torch::randn({2, 4, 6, 6});
  CHECK(torch::equal(fer::detail::depthwise_conv2d(dense, x), dense->forward(x)));
  torch::nn::Conv2d dw = fer::detail::conv2d(4, 4, 5, 1, 4);
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(fer::detail::depthwise_conv2d(dw, x), dw->forward(x)));
}

TEST_CASE("network_layout: channels-last activations after to_channels_last, the same features as NCHW") {
  fer::Config config;
  config.set("width", 0.25);
  auto make = [&] {
    torch::manual_seed(11);
    return fer::FeatureExtractor::create("mobile_fer", config);
  };
  auto plain_extractor = make(), cl_extractor = make();
  auto plain = fer::detail::torch_backbone(*plain_extractor), cl = fer::detail::torch_backbone(*cl_extractor);
  REQUIRE(plain);
  REQUIRE(cl);
  // Models run channels-last from creation (TorchExtractor); fp32 training
  // switches back to NCHW.
  CHECK(cl->channels_last());
  fer::detail::to_channels_first(*plain);
  CHECK_FALSE(plain->channels_last());
  plain->train();
  cl->train();
  torch::Tensor x = torch::randn({6, 1, 48, 48});
  auto step = [&](fer::detail::BackboneImpl& net, bool bf16) {
    net.zero_grad();
    torch::Tensor f;
    {
      fer::detail::AutocastGuard autocast(bf16);
      f = net.forward_features(x).features;
    }
    f.to(torch::kFloat32).pow(2).sum().backward();
    return f.to(torch::kFloat32).detach();
  };
  // fp32: the same features and gradients in either layout.
  auto gradients = [](fer::detail::BackboneImpl& net) {
    std::vector<torch::Tensor> g;
    for (const auto& p : net.parameters()) {
      REQUIRE(p.grad().defined());
      g.push_back(p.grad().flatten().clone());
    }
    return torch::cat(g);
  };
  torch::Tensor a = step(*plain, false), b = step(*cl, false);
  CHECK(max_abs(a - b) <= 1e-4 * (1 + max_abs(a)));
  torch::Tensor g32 = gradients(*plain);
  CHECK(max_abs(gradients(*cl) - g32) <= 1e-3 * (1 + max_abs(g32)));
  // bf16, the path whose layout this is about: the gradient points the same
  // way as fp32's (bf16 rounding through a random network with batch-norm
  // over 6 images moves single entries by up to a third of the largest).
  step(*cl, true);
  torch::Tensor g16 = gradients(*cl);
  double cosine = torch::nn::functional::cosine_similarity(g16, g32, torch::nn::functional::CosineSimilarityFuncOptions().dim(0)).item<double>();
  MESSAGE("bf16 channels-last vs fp32 gradient cosine similarity: " << cosine);
  CHECK(cosine > 0.95);
}

TEST_CASE("spatial_mean: the values and gradients of Tensor::mean, in either layout") {
  torch::manual_seed(7);
  const std::vector<std::vector<int64_t>> dim_sets = {{2, 3}, {2}, {3}, {3, 2}};
  for (bool cl : {false, true})
    for (auto type : {torch::kFloat32, torch::kBFloat16})
      for (const auto& dims : dim_sets)
        for (bool keepdim : {false, true}) {
          CAPTURE(cl);
          CAPTURE(keepdim);
          CAPTURE(dims.size());
          torch::Tensor base = torch::randn({3, 20, 5, 7}).to(type);
          if (cl) base = base.contiguous(at::MemoryFormat::ChannelsLast);
          torch::Tensor x1 = base.clone().requires_grad_(true), x2 = base.clone().requires_grad_(true);
          torch::Tensor ref = x1.mean(dims, keepdim), got = fer::detail::spatial_mean(x2, dims, keepdim);
          REQUIRE((got.sizes() == ref.sizes()));
          torch::Tensor g = torch::randn(ref.sizes()).to(type);
          ref.backward(g);
          got.backward(g);
          const double tol = type == torch::kFloat32 ? 1e-6 : 1e-2;
          CHECK(max_abs((got - ref).to(torch::kFloat32)) <= tol);
          CHECK(max_abs((x2.grad() - x1.grad()).to(torch::kFloat32)) <= tol);
        }
  CHECK_THROWS(fer::detail::spatial_mean(torch::randn({2, 3, 4}), {2}));
  CHECK_THROWS(fer::detail::spatial_mean(torch::randn({2, 3, 4, 4}), {1}));
}
