// The int8 inference path (models/int8.hpp): calibration, agreement with
// fp32, the model file's activation ranges, errors, and concurrent use.
#include "support.hpp"

// LibTorch's headers define a glog-style CHECK: they come before doctest's.
#include "models/int8.hpp"
#include "models/int8_kernels.hpp"

#include <ATen/Context.h>

#include <fer/train.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <thread>

namespace {

std::vector<cv::Mat> smooth_faces(const fer::Model& m, int n, uint64_t seed) {
  return fer_test::smooth_random_faces(m, n, seed, 7);
}

std::shared_ptr<fer::Model> small_cnn(const std::string& pool, uint64_t seed) {
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture_config.set("pool", pool);
  return fer::Model::create(info, seed);
}

std::shared_ptr<fer::Model> zoo_model(const std::string& arch, uint64_t seed) {
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture = arch;
  info.architecture_config = fer::Config();
  info.architecture_config.set("width", 0.25);
  return fer::Model::create(info, seed);
}

double max_prob_diff(const std::vector<fer::Prediction>& a, const std::vector<fer::Prediction>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < a[i].probabilities.size(); ++k)
      d = std::max(d, double(std::abs(a[i].probabilities[k] - b[i].probabilities[k])));
  return d;
}

// Relative L2 error of the int8 features against fp32, over the batch.
double feature_error(const std::vector<fer::Prediction>& ref, const std::vector<fer::Prediction>& q) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    for (size_t k = 0; k < ref[i].features.size(); ++k) {
      double e = double(q[i].features[k]) - double(ref[i].features[k]);
      num += e * e;
      den += double(ref[i].features[k]) * double(ref[i].features[k]);
    }
  return std::sqrt(num / std::max(den, 1e-30));
}

fer::Status status_of(const std::function<void()>& f) {
  try {
    f();
    return fer::Status::Ok;
  } catch (const fer::Error& e) {
    return e.status();
  }
}

}  // namespace

TEST_CASE("int8: precision names and auto") {
  CHECK(fer::parse_precision("int8") == fer::Precision::Int8);
  CHECK(std::string(fer::precision_name(fer::Precision::Int8)) == "int8");
  auto model = small_cnn("grid", 1);
  // Uncalibrated: auto never picks int8.
  CHECK(model->resolve_precision("auto") == fer::parse_precision("auto"));
  CHECK(model->resolve_precision("fp32") == fer::Precision::Float32);
  model->calibrate(smooth_faces(*model, 8, 5));
  CHECK(model->resolve_precision("auto") ==
        (fer::cpu_has_native_int8() ? fer::Precision::Int8 : fer::parse_precision("auto")));
  CHECK(model->resolve_precision("bf16") == fer::Precision::BFloat16);
}

// Tolerance: 8-bit activations and per-channel 8-bit weights on a 6-conv
// network (or a ResNet-18); on these random-weight models the features move by under 1%
// and the class probabilities by well under 0.05. A broken fold or wrong
// quantization parameters move them by far more (tens of percent).
TEST_CASE("int8: small_cnn (grid and avg pooling), resnet18, acnn and vit_asf agree with fp32 after calibration") {
  fer::set_num_threads(2);
  for (const std::string pool : {"grid", "avg", "resnet18", "acnn", "vit_asf"}) {
    CAPTURE(pool);
    auto model = pool == "grid" || pool == "avg" ? small_cnn(pool, 3) : zoo_model(pool, 3);
    auto calibration = smooth_faces(*model, 64, 11);
    auto in = smooth_faces(*model, 16, 12);  // not the calibration images
    auto ref = model->predict(in, true, true);
    model->calibrate(calibration, 16);
    CHECK(model->info().activation_ranges.count("input") == 1);
    if (pool == "resnet18") {
      CHECK(model->info().activation_ranges.count("body.0.out") == 1);
      CHECK(model->info().activation_ranges.count("body.2.down") == 1);  // stage 2 starts with a projection
    } else if (pool == "acnn") {
      CHECK(model->info().activation_ranges.count("features.0") == 1);
    } else if (pool == "vit_asf") {
      CHECK(model->info().activation_ranges.count("lbp_input") == 1);
      CHECK(model->info().activation_ranges.count("image_stream.3.out") == 1);
    } else {
      CHECK(model->info().activation_ranges.count("features.0") == 1);
      CHECK(model->info().activation_ranges.count("project") == (pool == "grid" ? 1u : 0u));
    }
    model->set_precision(fer::Precision::Int8);
    CHECK(model->precision() == fer::Precision::Int8);
    auto q = model->predict(in, true, true);
    CHECK(feature_error(ref, q) < 0.03);
    CHECK(max_prob_diff(ref, q) < 0.05);
    // acnn's and vit_asf's attention maps (computed in float from the int8 trunk) as well.
    REQUIRE(q[0].attention.empty() == ref[0].attention.empty());
    if (!ref[0].attention.empty()) {
      CHECK(q[0].attention.size() == ref[0].attention.size());
      CHECK(cv::norm(q[0].attention, ref[0].attention, cv::NORM_INF) < 0.02);
      CHECK(cv::sum(q[0].attention)[0] == doctest::Approx(1.0).epsilon(1e-4));
    }
    // Batching does not change an image's int8 result beyond rounding.
    auto one = model->predict({in[3]}, true);
    for (size_t k = 0; k < one[0].probabilities.size(); ++k)
      CHECK(one[0].probabilities[k] == doctest::Approx(q[3].probabilities[k]).epsilon(1e-4));
    // The float weights are untouched: back in fp32 the outputs are the reference.
    model->set_precision(fer::Precision::Float32);
    auto again = model->predict(in, true);
    CHECK(max_prob_diff(ref, again) < 1e-6);
  }
}

TEST_CASE("int8: ranges that clip the activations hurt, so the calibration is what int8 uses") {
  auto model = small_cnn("grid", 4);
  auto in = smooth_faces(*model, 16, 21);
  auto ref = model->predict(in, true);
  model->calibrate(smooth_faces(*model, 32, 22));
  model->set_precision(fer::Precision::Int8);
  double good = feature_error(ref, model->predict(in, true));
  fer::ActivationRanges squeezed = model->info().activation_ranges;
  for (auto& [point, range] : squeezed) range = {range.first * 0.05f, range.second * 0.05f};
  model->extractor().set_activation_ranges(squeezed);  // rebuilds the int8 network
  double bad = feature_error(ref, model->predict(in, true));
  CHECK(bad > 4 * good);
}

TEST_CASE("int8: clear errors, and a refused switch changes nothing") {
  auto model = small_cnn("grid", 5);
  auto in = smooth_faces(*model, 2, 31);
  auto ref = model->predict(in);
  // No calibration yet.
  CHECK(status_of([&] { model->set_precision(fer::Precision::Int8); }) == fer::Status::InvalidArgument);
  CHECK(model->precision() == fer::Precision::Float32);
  CHECK(max_prob_diff(ref, model->predict(in)) == 0.0);
  CHECK(status_of([&] { model->calibrate({}); }) == fer::Status::InvalidArgument);
  // A range whose minimum is above its maximum (set in memory, not from a file) is refused.
  model->calibrate(smooth_faces(*model, 4, 32));
  fer::ActivationRanges flipped = model->info().activation_ranges;
  flipped["input"] = {5.f, -5.f};
  model->info().activation_ranges = flipped;
  CHECK(status_of([&] { model->set_precision(fer::Precision::Int8); }) == fer::Status::InvalidArgument);
  CHECK(model->precision() == fer::Precision::Float32);
  // A calibration that misses a point names it.
  model->calibrate(smooth_faces(*model, 4, 32));
  fer::ActivationRanges partial = model->info().activation_ranges;
  partial.erase("features.3");
  model->info().activation_ranges = partial;
  try {
    model->set_precision(fer::Precision::Int8);
    FAIL("a calibration without features.3 was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
    CHECK(std::string(e.what()).find("features.3") != std::string::npos);
  }
  CHECK(model->precision() == fer::Precision::Float32);
  CHECK(max_prob_diff(ref, model->predict(in)) == 0.0);
  // The same from bf16: still bf16 afterwards.
  model->set_precision(fer::Precision::BFloat16);
  auto ref_bf16 = model->predict(in);
  CHECK(status_of([&] { model->set_precision(fer::Precision::Int8); }) == fer::Status::InvalidArgument);
  CHECK(model->precision() == fer::Precision::BFloat16);
  CHECK(max_prob_diff(ref_bf16, model->predict(in)) == 0.0);
  model->set_precision(fer::Precision::Float32);
  // Calibrating while in bf16 is refused (the weights are bf16 then).
  model->set_precision(fer::Precision::BFloat16);
  CHECK(status_of([&] { model->calibrate(in); }) == fer::Status::InvalidArgument);
  model->set_precision(fer::Precision::Float32);

  // Architectures without an int8 path say so and keep working in fp32.
  auto resnet = zoo_model("resnet50", 1);
  auto rin = smooth_faces(*resnet, 2, 33);
  CHECK_FALSE(resnet->extractor().supports_int8());
  CHECK(status_of([&] { resnet->calibrate(rin); }) == fer::Status::Unsupported);
  resnet->info().activation_ranges = model->info().activation_ranges;
  CHECK(status_of([&] { resnet->set_precision(fer::Precision::Int8); }) == fer::Status::Unsupported);
  CHECK(resnet->precision() == fer::Precision::Float32);
  CHECK(resnet->resolve_precision("auto") == fer::parse_precision("auto"));
  // mobile_fer runs faster in fp32 than in bf16 at small batches: auto says fp32 for it.
  auto mobile = zoo_model("mobile_fer", 1);
  CHECK_FALSE(mobile->extractor().prefers_bf16());
  CHECK(mobile->resolve_precision("auto") == fer::Precision::Float32);
  CHECK(mobile->resolve_precision("bf16") == fer::Precision::BFloat16);
  CHECK(resnet->predict(rin).size() == 2);
}

TEST_CASE("int8: the calibration travels in the model file, and invalid ranges are refused") {
  auto model = small_cnn("grid", 6);
  auto in = smooth_faces(*model, 8, 41);
  model->calibrate(smooth_faces(*model, 16, 42));
  std::vector<uint8_t> bytes = model->to_bytes();
  auto loaded = fer::Model::from_bytes(bytes.data(), bytes.size(), "int8 test");
  CHECK(loaded->info().activation_ranges == model->info().activation_ranges);
  model->set_precision(fer::Precision::Int8);
  loaded->set_precision(fer::Precision::Int8);
  CHECK(max_prob_diff(model->predict(in), loaded->predict(in)) < 1e-6);
  // A file saved from a model running in int8 holds the float weights.
  auto resaved_bytes = model->to_bytes();
  auto resaved = fer::Model::from_bytes(resaved_bytes.data(), resaved_bytes.size(), "int8 test");
  CHECK(resaved->precision() == fer::Precision::Float32);
  CHECK(max_prob_diff(small_cnn("grid", 6)->predict(in), resaved->predict(in)) < 1e-6);

  for (auto range : {std::make_pair(1.f, -1.f), std::make_pair(0.f, std::numeric_limits<float>::infinity()),
                     std::make_pair(0.f, 1e31f)}) {  // beyond kMaxActivationMagnitude: a file that would not load
    auto m2 = fer::Model::from_bytes(bytes.data(), bytes.size(), "int8 test");
    m2->info().activation_ranges["input"] = range;
    CHECK(status_of([&] { m2->to_bytes(); }) == fer::Status::InvalidArgument);
  }
}

TEST_CASE("int8: loading new weights requantizes; concurrent predictions agree with serial ones") {
  fer::set_num_threads(1);
  auto model = small_cnn("grid", 7);
  auto other = small_cnn("grid", 8);
  auto in = smooth_faces(*model, 6, 51);
  model->calibrate(smooth_faces(*model, 16, 52));
  other->info().activation_ranges = model->info().activation_ranges;
  model->set_precision(fer::Precision::Int8);
  other->set_precision(fer::Precision::Int8);
  auto before = model->predict(in);
  model->extractor().load_state(other->extractor().state());
  model->classifier().load_state(other->classifier().state());
  CHECK(model->precision() == fer::Precision::Int8);
  CHECK(max_prob_diff(model->predict(in), other->predict(in)) < 1e-6);
  CHECK(max_prob_diff(model->predict(in), before) > 1e-3);

  auto serial = model->predict(in);
  std::vector<std::thread> threads;
  std::vector<double> diffs(4, 1.0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      double d = 0;
      for (int rep = 0; rep < 20; ++rep) d = std::max(d, max_prob_diff(serial, model->predict(in)));
      diffs[size_t(t)] = d;
    });
  for (auto& th : threads) th.join();
  for (double d : diffs) CHECK(d < 1e-6);
}

TEST_CASE("int8: a face's result is the same in any batch and thread count, past the packed copies kept per shape") {
  // Each int8 layer keeps a packed weight copy per input shape and thread
  // count (QLayer::kMaxPackedCopies); shapes beyond that share the first copy.
  auto model = zoo_model("resnet18", 11);
  auto faces = smooth_faces(*model, 12, 61);
  model->calibrate(smooth_faces(*model, 16, 62));
  model->set_precision(fer::Precision::Int8);
  fer::set_num_threads(1);
  const auto alone = model->predict({faces[0]});
  double worst = 0;
  size_t shapes = 0;
  for (int threads : {1, 2}) {
    fer::set_num_threads(threads);
    for (size_t n = 1; n <= faces.size(); ++n, ++shapes) {
      auto batch = model->predict(std::vector<cv::Mat>(faces.begin(), faces.begin() + long(n)));
      worst = std::max(worst, max_prob_diff(alone, {batch[0]}));
    }
  }
  CHECK(shapes > 2 * fer::detail::QLayer::kMaxPackedCopies);
  CHECK(worst < 1e-5);
  fer::set_num_threads(0);
}

TEST_CASE("int8: evaluate() runs a model switched to int8 and refuses a mismatch") {
  auto model = small_cnn("grid", 9);
  model->calibrate(smooth_faces(*model, 16, 61));
  fer::Dataset data;
  data.width = data.height = 48;
  data.channels = 1;
  data.classes = model->info().classes;
  cv::RNG rng(62);
  for (int i = 0; i < 20; ++i) {
    cv::Mat face(48, 48, CV_8UC1);
    rng.fill(face, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(face, face, cv::Size(7, 7), 0);
    data.pixels.insert(data.pixels.end(), face.data, face.data + 48 * 48);
    data.labels.push_back(i % 7);
    data.sources.push_back("synthetic " + std::to_string(i));
  }
  fer::EvalOptions o;
  o.precision = "int8";
  CHECK(status_of([&] { fer::evaluate(*model, data, o); }) == fer::Status::InvalidArgument);
  o.precision = "fp32";
  fer::EvalReport f = fer::evaluate(*model, data, o);
  model->set_precision(fer::Precision::Int8);
  CHECK(status_of([&] { fer::evaluate(*model, data, o); }) == fer::Status::InvalidArgument);
  o.precision = "int8";
  fer::EvalReport q = fer::evaluate(*model, data, o);
  CHECK(q.count == 20);
  // The loss is a smooth function of the probabilities, which int8 moves by < 0.05.
  CHECK(q.loss == doctest::Approx(f.loss).epsilon(0.05));
}

TEST_CASE("int8: the process-wide quantized engine the user chose is left as it was") {
  auto& ctx = at::globalContext();
  const auto& engines = ctx.supportedQEngines();
  if (std::find(engines.begin(), engines.end(), at::QEngine::QNNPACK) == engines.end()) {
    MESSAGE("SKIPPED: this LibTorch has no QNNPACK engine to switch to");
    return;
  }
  const at::QEngine before = ctx.qEngine();
  ctx.setQEngine(at::QEngine::QNNPACK);
  auto model = small_cnn("grid", 10);
  auto in = smooth_faces(*model, 4, 71);
  auto ref = model->predict(in);
  model->calibrate(smooth_faces(*model, 16, 72));
  model->set_precision(fer::Precision::Int8);
  CHECK(int(ctx.qEngine()) == int(at::QEngine::QNNPACK));
  CHECK(max_prob_diff(ref, model->predict(in)) < 0.05);  // the oneDNN-packed weights run under any engine
  ctx.setQEngine(before);
}

namespace {

// relu(a + b) of two affine uint8 tensors requantized to `out`, in double.
torch::Tensor reference_add_relu(const torch::Tensor& qa, const torch::Tensor& qb, fer::detail::QParams out) {
  torch::Tensor sum = qa.dequantize().to(torch::kDouble) + qb.dequantize().to(torch::kDouble);
  return (sum / out.scale).round().add(double(out.zero_point)).clamp(double(out.zero_point), 255.0);
}

torch::Tensor random_quantized(at::IntArrayRef shape, double scale, int64_t zero, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor u8 = torch::randint(0, 256, shape, torch::kUInt8);
  return at::_make_per_tensor_quantized_tensor(u8, scale, zero);
}

}  // namespace

TEST_CASE("int8 kernels: add + ReLU, quantization, dequantization and pooling agree with a reference, in both layouts") {
  using fer::detail::QParams;
  // 3 x 5 x 7 x 9 = 945 elements: not a multiple of the 16-wide vector loop.
  for (bool channels_last : {true, false}) {
    CAPTURE(channels_last);
    auto layout = [&](torch::Tensor t) {
      return channels_last ? t.contiguous(at::MemoryFormat::ChannelsLast) : t.contiguous();
    };
    torch::Tensor qa = layout(random_quantized({3, 5, 7, 9}, 0.05, 100, 1));
    torch::Tensor qb = layout(random_quantized({3, 5, 7, 9}, 0.03, 7, 2));
    const QParams out{0.07, 20};
    torch::Tensor got = fer::detail::quantized_add_relu(qa, qb, out);
    CHECK(got.q_scale() == doctest::Approx(out.scale));
    CHECK(got.q_zero_point() == out.zero_point);
    CHECK(got.is_contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
    torch::Tensor diff = (got.int_repr().to(torch::kDouble) - reference_add_relu(qa, qb, out)).abs();
    CHECK(diff.max().item<double>() <= 1.0);                 // a float rounding at a tie at most
    CHECK(diff.gt(0).sum().item<int64_t>() <= 945 / 100);  // and rarely

    // Mixed layouts go through LibTorch's kernel: same values.
    torch::Tensor mixed = fer::detail::quantized_add_relu(qa, qb.contiguous(channels_last ? at::MemoryFormat::Contiguous
                                                                                          : at::MemoryFormat::ChannelsLast),
                                                          out);
    CHECK((mixed.int_repr().to(torch::kDouble) - reference_add_relu(qa, qb, out)).abs().max().item<double>() <= 1.0);

    torch::Tensor floats = fer::detail::dequantize_activation(qa);
    CHECK(floats.is_contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
    CHECK(torch::allclose(floats, qa.dequantize(), 1e-6, 1e-6));

    torch::Tensor pooled = fer::detail::dequantize_mean(qa);
    CHECK(pooled.sizes() == at::IntArrayRef({3, 5}));
    CHECK(torch::allclose(pooled, qa.dequantize().mean({2, 3}), 1e-5, 1e-5));

    torch::manual_seed(3);
    torch::Tensor x = torch::randn({3, 5, 7, 9}) * 4;
    x.view(-1)[0] = std::numeric_limits<float>::infinity();
    x.view(-1)[1] = -1e30f;
    x.view(-1)[17] = 1e30f;
    x = layout(x);
    const QParams q{0.04, 128};
    torch::Tensor mine = fer::detail::quantize_activation(x, q);
    // LibTorch's quantizer wraps around on infinities and huge values: it gets them clamped.
    torch::Tensor theirs = torch::quantize_per_tensor(x.clamp(-1e3, 1e3), q.scale, q.zero_point, torch::kQUInt8);
    CHECK(mine.is_contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
    CHECK((mine.int_repr().to(torch::kInt) - theirs.int_repr().to(torch::kInt)).abs().max().item<int>() <= 1);
    torch::Tensor flat = mine.int_repr().contiguous().view(-1);  // in N, C, H, W order
    CHECK(flat[0].item<int>() == 255);
    CHECK(flat[1].item<int>() == 0);
    CHECK(flat[17].item<int>() == 255);
  }
}

TEST_CASE("int8 kernels: the vectorized and the portable loops agree, tails included") {
  namespace k = fer::detail::int8_kernels;
  std::mt19937 rng{5};
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.f, 3.f);
  for (int64_t n : {int64_t(1), int64_t(15), int64_t(16), int64_t(17), int64_t(1000)}) {
    CAPTURE(n);
    const size_t len = size_t(n);
    std::vector<uint8_t> a(len), b(len), fast(len), plain(len);
    std::vector<float> x(len);
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = uint8_t(byte(rng));
      b[size_t(i)] = uint8_t(byte(rng));
      x[size_t(i)] = normal(rng);
    }
    k::add_requantize(a.data(), b.data(), fast.data(), n, 0.7f, 0.45f, -60.f, 12);
    k::add_requantize_portable(a.data(), b.data(), plain.data(), n, 0.7f, 0.45f, -60.f, 12);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; ++i) {
      CHECK(std::abs(int(fast[size_t(i)]) - int(plain[size_t(i)])) <= 1);
      CHECK(fast[size_t(i)] >= 12);  // the ReLU's floor
      differ += fast[size_t(i)] != plain[size_t(i)];
    }
    CHECK(differ <= std::max<int64_t>(1, n / 100));
    k::quantize(x.data(), fast.data(), n, 25.f, 128);
    k::quantize_portable(x.data(), plain.data(), n, 25.f, 128);
    CHECK(fast == plain);  // one multiplication and one rounding: exact
    std::vector<float> fast_f(len), plain_f(len);
    k::dequantize(a.data(), fast_f.data(), n, 0.037f, 131);
    k::dequantize_portable(a.data(), plain_f.data(), n, 0.037f, 131);
    CHECK(fast_f == plain_f);  // a subtraction of integers and one multiplication: exact
  }
  // Sums far past int32 (a degenerate output range) saturate alike: 255 above, the floor below.
  std::vector<uint8_t> a(40, 200), b(40, 3), fast(40), plain(40);
  for (float c : {3e9f, -3e9f, 1e20f}) {
    CAPTURE(c);
    k::add_requantize(a.data(), b.data(), fast.data(), 40, 1e7f, 1.f, c, 7);
    k::add_requantize_portable(a.data(), b.data(), plain.data(), 40, 1e7f, 1.f, c, 7);
    CHECK(fast == plain);
  }
}
