// The model zoo: resnet18/34/50, ir50, vit_asf, acnn, mobile_fer, mini_xception.
// Every test case name contains "model zoo" (run them with -tc='*zoo*').
// Small widths and batches of 2 keep each case to a few seconds on 2 cores.
#include "models/builtin.hpp"
#include "models/flops.hpp"
#include "models/torch_component.hpp"
#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace {

struct ZooCase {
  const char* name;
  double width;              // the small width the tests run at
  int size_a, size_b;        // two input sizes
  int64_t dim;               // feature size at `width`
  int map_a, map_b;          // attention map side at size_a / size_b; 0: no map
  int64_t stated_parameters; // the header comment's figure at the default config
};

const ZooCase kZoo[] = {
    {"resnet18", 0.25, 48, 64, 128, 0, 0, 11167680},
    {"resnet34", 0.25, 48, 64, 128, 0, 0, 21275840},
    {"resnet50", 0.25, 48, 64, 512, 0, 0, 23499200},
    {"ir50", 0.25, 48, 64, 128, 0, 0, 30738880},
    {"vit_asf", 0.25, 48, 64, 64, 6, 8, 5716096},
    {"acnn", 0.5, 48, 64, 128, 6, 8, 1180080},
    {"mobile_fer", 0.5, 48, 64, 288, 0, 0, 691744},
    {"mini_xception", 1.0, 64, 96, 128, 0, 0, 48880},
};

const ZooCase& zoo_case(const std::string& name) {
  for (const ZooCase& z : kZoo)
    if (name == z.name) return z;
  throw std::runtime_error("no zoo case " + name);
}

fer::Config zoo_config(const ZooCase& z, int size, int channels = 1) {
  fer::Config c;
  c.set("width", z.width);
  c.set("input_size", int64_t(size));
  c.set("channels", int64_t(channels));
  return c;
}

std::vector<cv::Mat> random_crops(int n, int size, int channels, uint64_t seed) {
  cv::RNG rng(seed);
  std::vector<cv::Mat> out;
  for (int i = 0; i < n; ++i) {
    cv::Mat m(size, size, CV_32FC(channels));
    rng.fill(m, cv::RNG::NORMAL, 0.0, 1.0);
    out.push_back(m);
  }
  return out;
}

// One training-mode step through the extractor's torch module.
struct TrainStep {
  std::string first_parameter;  // the input layer's weight
  double first_gradient_norm = 0.0;
  int64_t parameters = 0, parameters_with_gradient = 0;
  cv::Mat train_features;
};

// Forward (training mode) + backward of mean(features^2) in the layout
// training uses (fp32: NCHW, see to_channels_first; bf16: channels-last,
// under autocast), then restores the weights, running statistics, layout and
// eval mode.
TrainStep train_step(const fer::FeatureExtractor& e, const std::vector<cv::Mat>& crops, bool bf16 = false) {
  std::shared_ptr<fer::detail::BackboneImpl> m = fer::detail::torch_backbone(e);
  REQUIRE(m);
  fer::TensorList saved = e.state();
  const bool channels_last = m->channels_last();
  if (bf16)
    fer::detail::to_channels_last(*m);
  else
    fer::detail::to_channels_first(*m);
  m->train();
  m->zero_grad();
  fer::detail::BackboneOutput out;
  {
    fer::detail::AutocastGuard autocast(bf16);
    out = m->forward_features(fer::detail::images_to_tensor(crops));
  }
  out.features.to(torch::kFloat32).pow(2).mean().backward();
  TrainStep r;
  r.train_features = fer::detail::tensor_to_mat(out.features.detach().to(torch::kFloat32));
  for (const auto& p : m->named_parameters(true)) {
    const torch::Tensor& g = p.value().grad();
    double norm = g.defined() ? g.norm().item<double>() : 0.0;
    if (r.first_parameter.empty()) {
      r.first_parameter = p.key();
      r.first_gradient_norm = norm;
    }
    ++r.parameters;
    if (norm > 0.0) ++r.parameters_with_gradient;
    else MESSAGE("no gradient reaches " << p.key());
  }
  m->zero_grad();
  fer::detail::load_module_state(*m, saved, e.architecture());
  if (channels_last)
    fer::detail::to_channels_last(*m);
  else
    fer::detail::to_channels_first(*m);
  m->eval();
  return r;
}

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  return cv::norm(a, b, cv::NORM_INF);
}

void check_shapes(const ZooCase& z) {
  for (int size : {z.size_a, z.size_b}) {
    CAPTURE(size);
    auto e = fer::FeatureExtractor::create(z.name, zoo_config(z, size));
    CHECK(e->feature_dim() == z.dim);
    fer::FeatureBatch out = e->extract(random_crops(2, size, 1, 7));
    CHECK(out.features.rows == 2);
    CHECK(out.features.cols == z.dim);
    CHECK(cv::checkRange(out.features));
    int side = size == z.size_a ? z.map_a : z.map_b;
    if (side == 0) {
      CHECK(out.attention.empty());
    } else {
      REQUIRE(out.attention.size() == 2);
      CHECK(out.attention[0].rows == side);
      CHECK(out.attention[0].cols == side);
    }
  }
  // Three-channel (BGR) input at the first size.
  auto e3 = fer::FeatureExtractor::create(z.name, zoo_config(z, z.size_a, 3));
  fer::FeatureBatch out3 = e3->extract(random_crops(2, z.size_a, 3, 8));
  CHECK(out3.features.rows == 2);
  CHECK(out3.features.cols == z.dim);
  // A crop of the wrong size is refused with ShapeMismatch.
  try {
    e3->extract(random_crops(1, z.size_a + 8, 3, 9));
    FAIL("expected ShapeMismatch");
  } catch (const fer::Error& err) {
    CHECK(err.status() == fer::Status::ShapeMismatch);
  }
}

void check_parameter_count(const ZooCase& z) {
  auto e = fer::FeatureExtractor::create(z.name, fer::Config{});
  double n = double(e->parameter_count());
  CAPTURE(n);
  CHECK(std::abs(n - double(z.stated_parameters)) <= 0.05 * double(z.stated_parameters));
}

// The model loader's lower bound (refusing to build an architecture far larger
// than a file's weights) must hold at every configuration, and be exact at the default.
void check_minimum_parameters(const ZooCase& z) {
  auto count = [&](const fer::Config& c) { return fer::FeatureExtractor::create(z.name, c)->parameter_count(); };
  CHECK(2 * fer::detail::minimum_parameter_count(z.name, fer::Config{}) == count(fer::Config{}));
  std::vector<fer::Config> configs = {zoo_config(z, z.size_a), zoo_config(z, z.size_b, 3), zoo_config(z, 16)};
  fer::Config tiny;
  tiny.set("width", 0.125);
  configs.push_back(tiny);
  if (std::string(z.name) == "vit_asf") {
    fer::Config shallow = zoo_config(z, z.size_a);
    shallow.set("depth", int64_t(1));
    configs.push_back(shallow);
  }
  for (const fer::Config& c : configs) {
    int64_t least = fer::detail::minimum_parameter_count(z.name, c), actual = count(c);
    CAPTURE(c.get_string("width", ""));
    CAPTURE(c.get_int("input_size", 48));
    CHECK(least > 0);
    CHECK(least <= actual);
    CHECK(actual <= 16 * least);  // tight enough to be useful
  }
}

void check_gradients(const ZooCase& z, bool bf16) {
  auto e = fer::FeatureExtractor::create(z.name, zoo_config(z, z.size_a));
  TrainStep p = train_step(*e, random_crops(2, z.size_a, 1, 11), bf16);
  CAPTURE(p.first_parameter);
  CHECK(p.first_gradient_norm > 0.0);
  CHECK(std::isfinite(p.first_gradient_norm));
  CHECK(p.parameters_with_gradient == p.parameters);
}

void check_modes(const ZooCase& z) {
  auto e = fer::FeatureExtractor::create(z.name, zoo_config(z, z.size_a));
  auto crops = random_crops(2, z.size_a, 1, 13);
  cv::Mat eval1 = e->extract(crops).features.clone();
  cv::Mat eval2 = e->extract(crops).features.clone();
  CHECK(max_abs_diff(eval1, eval2) == 0.0);
  // Handed out for training, the extractor runs without folded batch norms
  // (mobile_fer's fp32 inference folds them): the same features, up to rounding.
  REQUIRE(fer::detail::torch_backbone(*e));
  cv::Mat handed_out = e->extract(crops).features.clone();
  CHECK(max_abs_diff(handed_out, eval1) <= 1e-5 * (1.0 + cv::norm(eval1, cv::NORM_INF)));
  // Training mode: batch statistics (and dropout) change the output.
  TrainStep p = train_step(*e, crops);
  CHECK(max_abs_diff(p.train_features, eval1) > 1e-4);
  // train_step() restores weights, running statistics and eval mode.
  CHECK(max_abs_diff(e->extract(crops).features, handed_out) == 0.0);
}

void check_model_file(const ZooCase& z) {
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture = z.name;
  info.architecture_config.set("width", z.width);
  info.input.width = info.input.height = z.size_a;
  auto model = fer::Model::create(info, 5);
  CHECK(model->extractor().architecture() == z.name);
  std::vector<uint8_t> bytes = model->to_bytes();
  auto loaded = fer::Model::from_bytes(bytes.data(), bytes.size(), z.name);
  CHECK(loaded->info().architecture == z.name);
  auto crops = random_crops(2, z.size_a, 1, 17);
  auto a = model->predict(crops, true, true);
  auto b = loaded->predict(crops, true, true);
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].probabilities == b[i].probabilities);
    CHECK(a[i].features == b[i].features);
    CHECK(a[i].attention.empty() == b[i].attention.empty());
    if (!a[i].attention.empty()) CHECK(max_abs_diff(a[i].attention, b[i].attention) == 0.0);
  }
}

void check_architecture(const char* name) {
  fer::set_num_threads(2);
  const ZooCase& z = zoo_case(name);
  REQUIRE(fer::extractor_registry().contains(name));
  SUBCASE("output shapes at two input sizes") { check_shapes(z); }
  SUBCASE("parameter count matches the header comment") { check_parameter_count(z); }
  SUBCASE("the loader's minimum parameter count is a lower bound") { check_minimum_parameters(z); }
  SUBCASE("gradients reach the first layer") { check_gradients(z, false); }
  SUBCASE("gradients reach the first layer in bf16, channels-last") { check_gradients(z, true); }
  SUBCASE("eval is deterministic, training mode differs") { check_modes(z); }
  SUBCASE("model file round trip gives identical outputs") { check_model_file(z); }
}

}  // namespace

TEST_CASE("model zoo: resnet18") { check_architecture("resnet18"); }
TEST_CASE("model zoo: resnet34") { check_architecture("resnet34"); }
TEST_CASE("model zoo: resnet50") { check_architecture("resnet50"); }
TEST_CASE("model zoo: ir50") { check_architecture("ir50"); }
TEST_CASE("model zoo: vit_asf") { check_architecture("vit_asf"); }
TEST_CASE("model zoo: acnn") { check_architecture("acnn"); }
TEST_CASE("model zoo: mobile_fer") { check_architecture("mobile_fer"); }
TEST_CASE("model zoo: mini_xception") { check_architecture("mini_xception"); }

TEST_CASE("model zoo: attention maps of vit_asf and acnn") {
  fer::set_num_threads(2);
  for (const char* name : {"vit_asf", "acnn"}) {
    const ZooCase& z = zoo_case(name);
    for (int size : {z.size_a, z.size_b}) {
      CAPTURE(name);
      CAPTURE(size);
      int side = size == z.size_a ? z.map_a : z.map_b;
      auto e = fer::FeatureExtractor::create(name, zoo_config(z, size));
      fer::FeatureBatch a = e->extract(random_crops(2, size, 1, 21));
      fer::FeatureBatch b = e->extract(random_crops(2, size, 1, 22));
      REQUIRE(a.attention.size() == 2);
      REQUIRE(b.attention.size() == 2);
      for (const cv::Mat& m : a.attention) {
        CHECK(m.type() == CV_32FC1);
        CHECK(m.rows == side);
        CHECK(m.cols == side);
        CHECK(cv::sum(m)[0] == doctest::Approx(1.0).epsilon(1e-4));
        double lo = 0;
        cv::minMaxLoc(m, &lo);
        CHECK(lo >= 0.0);
      }
      // The maps depend on the face: across two crops of one batch and across batches.
      CHECK(max_abs_diff(a.attention[0], a.attention[1]) > 1e-6);
      CHECK(max_abs_diff(a.attention[0], b.attention[0]) > 1e-6);
    }
  }
}

TEST_CASE("model zoo: acnn's attention option drops each attention module") {
  fer::set_num_threads(2);
  auto make = [](const char* attention) {
    return fer::FeatureExtractor::create("acnn", fer::Config{{"width", "0.5"}, {"attention", attention}});
  };
  auto both = make("both"), channel = make("channel"), spatial = make("spatial"), none = make("none");
  // The channel branch (two 1x1 convs with bias) and the spatial branch (two 1x1 convs) each add parameters.
  int64_t dim = both->feature_dim(), se = (dim * (dim / 16) + dim / 16) + (dim / 16 * dim + dim),
          sp = (dim * (dim / 8) + dim / 8) + dim / 8;
  CHECK(both->parameter_count() == none->parameter_count() + se + sp);
  CHECK(channel->parameter_count() == none->parameter_count() + se);
  CHECK(spatial->parameter_count() == none->parameter_count() + sp);
  auto crops = random_crops(2, 48, 1, 31);
  for (auto* e : {both.get(), channel.get(), spatial.get(), none.get()}) {
    CHECK(e->feature_dim() == dim);
    fer::FeatureBatch f = e->extract(crops);
    CHECK(f.features.rows == 2);
    // An attention map only where spatial attention pools the features.
    bool has_map = e == both.get() || e == spatial.get();
    CHECK(f.attention.size() == (has_map ? 2u : 0u));
  }
  CHECK_THROWS_AS(make("spatiall"), fer::Error);
}

TEST_CASE("model zoo: zero_init_residual starts every ResNet block as its shortcut") {
  // The residual branch's last batch norm: bn2 in basic blocks and IR units, bn3 in bottlenecks.
  for (const char* name : {"resnet18", "resnet50", "ir50"}) {
    CAPTURE(name);
    const std::string last = std::string(name) == "resnet50" ? ".bn3.weight" : ".bn2.weight";
    auto scales = [&](const char* zero_init) {
      fer::Config c{{"width", "0.25"}};
      if (zero_init) c.set("zero_init_residual", zero_init);
      auto e = fer::FeatureExtractor::create(name, c);
      std::vector<torch::Tensor> found;
      for (const auto& p : fer::detail::torch_backbone(*e)->named_parameters())
        if (p.key().rfind("body.", 0) == 0 && p.key().size() > last.size() &&
            p.key().compare(p.key().size() - last.size(), last.size(), last) == 0)
          found.push_back(p.value().detach().clone());
      return found;
    };
    auto zeroed = scales("1"), plain = scales(nullptr), off = scales("0");
    REQUIRE(!zeroed.empty());
    CHECK(zeroed.size() == plain.size());
    for (const auto& t : zeroed) CHECK(t.abs().max().item<float>() == 0.f);
    for (const auto& t : plain) CHECK(t.abs().min().item<float>() > 0.f);  // batch-norm scales start at 1
    for (const auto& t : off) CHECK(t.abs().min().item<float>() > 0.f);
  }
  CHECK_THROWS_WITH_AS(fer::FeatureExtractor::create("resnet18", fer::Config{{"zero_init_residual", "2"}}),
                       doctest::Contains("zero_init_residual"), fer::Error);
}

TEST_CASE("model zoo: count_flops counts convolutions and matrix products") {
  fer::set_num_threads(2);
  // small_cnn at 48 px, width 1: six 3x3 convs at 48, 48, 24, 24, 12, 12 px.
  auto cnn = fer::FeatureExtractor::create("small_cnn", fer::Config{});
  fer::detail::FlopCount c = fer::detail::count_flops(*cnn);
  int64_t want = 2304LL * 32 * 9 + 2304LL * 32 * 288 + 576LL * 64 * 288 + 576LL * 64 * 576 + 144LL * 128 * 576 +
                 144LL * 128 * 1152;
  CHECK(c.conv_macs == want);
  CHECK(c.matmul_macs == 0);
  CHECK(c.flops() == 2 * want);
  CHECK(fer::detail::count_flops(*cnn, 2).conv_macs == 2 * want);

  // vit_asf, width 0.25 (64-d tokens), one layer of 4 heads, 36 words + class token.
  fer::Config vc{{"width", "0.25"}, {"depth", "1"}};
  auto vit = fer::FeatureExtractor::create("vit_asf", vc);
  fer::detail::FlopCount v = fer::detail::count_flops(*vit);
  int64_t t = 37, d = 64;
  int64_t embed = 36 * 64 * d, qkv = t * d * 3 * d, scores = 4 * t * t * (d / 4), proj = t * d * d,
          mlp = 2 * t * d * 4 * d;
  CHECK(v.matmul_macs == embed + qkv + 2 * scores + proj + mlp);
  CHECK(v.conv_macs > 0);
  // Counting leaves the extractor usable and the thread free for the next count.
  CHECK(fer::detail::count_flops(*vit).flops() == v.flops());
}

TEST_CASE("model zoo: options are validated") {
  CHECK_THROWS_AS(fer::FeatureExtractor::create("resnet18", fer::Config{{"width", "0.01"}}), fer::Error);
  CHECK_THROWS_AS(fer::FeatureExtractor::create("acnn", fer::Config{{"channels", "2"}}), fer::Error);
  CHECK_THROWS_AS(fer::FeatureExtractor::create("mobile_fer", fer::Config{{"input_size", "8"}}), fer::Error);
  CHECK_THROWS_AS(fer::FeatureExtractor::create("vit_asf", fer::Config{{"heads", "0"}}), fer::Error);
  // mobile_fer is the real-time student: under 1.5 M parameters at width 1.0.
  CHECK(fer::FeatureExtractor::create("mobile_fer", fer::Config{})->parameter_count() < 1500000);
}

// mobile_fer runs fp32 inference with its batch norms folded into the
// convolutions before them (BackboneImpl::fold_batch_norms): the same features
// as the unfolded network, refolded after load_state and a precision round
// trip, and dropped once the module is handed out for training.
TEST_CASE("model zoo: mobile_fer folds its batch norms for fp32 inference, and stops once handed out") {
  const ZooCase& z = zoo_case("mobile_fer");
  const fer::Config config = zoo_config(z, z.size_a);
  auto plain = fer::FeatureExtractor::create(z.name, config);
  // Batch norms with non-trivial statistics and affine parameters, set through
  // the training handle: `plain` runs unfolded from now on.
  std::shared_ptr<fer::detail::BackboneImpl> m = fer::detail::torch_backbone(*plain);
  REQUIRE(m);
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(3);
    int norms = 0;
    for (const auto& item : m->named_modules()) {
      if (auto* bn = item.value()->as<torch::nn::BatchNorm2dImpl>()) {
        bn->running_mean.normal_(0.0, 0.5);
        bn->running_var.uniform_(0.5, 2.0);
        bn->weight.uniform_(0.5, 1.5);
        bn->bias.normal_(0.0, 0.2);
        ++norms;
      }
    }
    CHECK(norms == 38);
  }
  const std::vector<cv::Mat> crops = random_crops(3, z.size_a, 1, 11);
  const cv::Mat unfolded = plain->extract(crops).features;

  auto folded = fer::FeatureExtractor::create(z.name, config);
  folded->load_state(plain->state());
  const cv::Mat f = folded->extract(crops).features;
  const double scale = cv::norm(unfolded, cv::NORM_INF);
  CAPTURE(scale);
  CHECK(max_abs_diff(f, unfolded) <= 1e-4 * scale);
  // Rounding differs between one folded convolution and a convolution + batch
  // norm: exactly equal features would mean the folded path did not run.
  CHECK(max_abs_diff(f, unfolded) > 0.0);

  // bf16 and back to fp32 refolds from the exact fp32 weights.
  folded->set_precision(fer::Precision::BFloat16);
  CHECK(max_abs_diff(folded->extract(crops).features, unfolded) > 1e-4 * scale);  // bf16 runs unfolded, rounded
  folded->set_precision(fer::Precision::Float32);
  CHECK(max_abs_diff(folded->extract(crops).features, f) == 0.0);

  // Handed out for training: a change of weights shows at once (no stale folded copy).
  std::shared_ptr<fer::detail::BackboneImpl> trained = fer::detail::torch_backbone(*folded);
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : trained->named_modules())
      if (auto* bn = item.value()->as<torch::nn::BatchNorm2dImpl>()) bn->bias.add_(0.5);
  }
  const cv::Mat changed = folded->extract(crops).features;
  CHECK(max_abs_diff(changed, f) > 1e-3 * scale);
  // Reloaded, it stays unfolded: the same features as `plain`, bit for bit.
  folded->load_state(plain->state());
  CHECK(max_abs_diff(folded->extract(crops).features, unfolded) == 0.0);
}
