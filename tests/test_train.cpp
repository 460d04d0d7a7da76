// Training engine: losses, augmentation, a tiny end-to-end run, exact resume,
// bf16 vs fp32, distillation and data-parallel training.
#include "support.hpp"

#include "pipeline/tta.hpp"
#include "train/augment.hpp"
#include "train/losses.hpp"
#include "train/optimizer.hpp"
#include "io/crc32.hpp"

#include <fer/train.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <thread>

namespace fs = std::filesystem;

namespace {

// A learnable synthetic folder dataset: three expression folders, each with its
// own stripe pattern (horizontal, vertical, diagonal) under noise and shifts.
std::string make_pattern_dataset(const std::string& name, int per_class, uint64_t seed) {
  fs::path root = fs::path(FER_TEST_TMP_DIR) / name;
  if (fs::exists(root / ".complete")) return root.string();
  fs::remove_all(root);
  cv::RNG rng(seed);
  const char* classes[] = {"happy", "sad", "surprise"};
  for (int c = 0; c < 3; ++c) {
    fs::create_directories(root / classes[c]);
    for (int i = 0; i < per_class; ++i) {
      cv::Mat img(24, 24, CV_8UC1);
      int phase = rng.uniform(0, 6);
      for (int y = 0; y < 24; ++y)
        for (int x = 0; x < 24; ++x) {
          int v = c == 0 ? (y + phase) : c == 1 ? (x + phase) : (x + y + phase);
          img.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>(((v / 3) % 2 ? 200 : 50) + rng.gaussian(25));
        }
      cv::imwrite((root / classes[c] / (std::to_string(i) + ".png")).string(), img);
    }
  }
  std::ofstream(root / ".complete") << "ok";
  return root.string();
}

// The pattern dataset read at 48 x 48, for evaluate().
fer::Dataset pattern_dataset_48() {
  fer::DatasetSpec s;
  s.path = make_pattern_dataset("train_patterns", 40, 1);
  s.resize = true;
  s.width = s.height = 48;
  return fer::read_dataset(s);
}

fer::TrainOptions tiny_options(const std::string& data, const std::string& out) {
  fer::TrainOptions o;
  o.architecture = "small_cnn";
  o.architecture_config.set("width", 0.25);
  o.input_size = 24;
  o.train_data.path = data;
  o.train_data.format = "folder";
  o.val_data = o.train_data;
  o.epochs = 2;
  o.batch_size = 16;
  o.lr = 0.05;
  o.warmup_epochs = 0.2;
  o.threads = 1;
  o.progress = false;
  o.resume = true;
  o.out_dir = (fs::path(FER_TEST_TMP_DIR) / out).string();
  fs::remove_all(o.out_dir);
  return o;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

struct Interrupt {};

}  // namespace

TEST_CASE("train losses: DLP is zero for identical same-class features, positive otherwise") {
  torch::Tensor labels = torch::tensor({0, 0, 0, 1, 1}, torch::kInt64);
  torch::Tensor same = torch::ones({5, 4});
  same.slice(0, 3, 5) *= 3;  // class 1 features identical among themselves too
  CHECK(fer::detail::dlp_loss(same, labels, 2).item<double>() == doctest::Approx(0.0));
  torch::Tensor spread = torch::randn({5, 4});
  CHECK(fer::detail::dlp_loss(spread, labels, 2).item<double>() > 0.0);
  // A sample without a same-class neighbour contributes nothing (and nothing breaks).
  torch::Tensor lonely = torch::tensor({0, 1, 2}, torch::kInt64);
  CHECK(fer::detail::dlp_loss(torch::randn({3, 4}), lonely, 3).item<double>() == 0.0);
  // Its gradient pulls features toward their neighbours' mean.
  torch::Tensor f = torch::tensor({{0.f}, {2.f}}).requires_grad_(true);
  fer::detail::dlp_loss(f, torch::tensor({0, 0}, torch::kInt64), 1).backward();
  CHECK(f.grad()[0].item<float>() < 0);
  CHECK(f.grad()[1].item<float>() > 0);
}

TEST_CASE("train losses: KD is zero when student and teacher logits match, positive otherwise") {
  torch::Tensor logits = torch::randn({8, 7});
  CHECK(fer::detail::kd_logit_loss(logits, logits, 1.0).item<double>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(fer::detail::kd_logit_loss(logits, logits, 4.0).item<double>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(fer::detail::kd_logit_loss(logits, torch::randn({8, 7}), 1.0).item<double>() > 0.01);
  // An ensemble of teachers: softened at T, the mean of the members' softened
  // probabilities; one member (or equal members) is that member.
  torch::Tensor other = torch::randn({8, 7}) * 3;
  for (double T : {1.0, 4.0}) {
    torch::Tensor e = fer::detail::ensemble_teacher_logits({logits, other}, T);
    torch::Tensor mean = (torch::softmax(logits / T, 1) + torch::softmax(other / T, 1)) / 2;
    CHECK(torch::allclose(torch::softmax(e / T, 1), mean, 1e-5, 1e-6));
    CHECK(fer::detail::kd_logit_loss(logits, e, T).item<double>() > 1e-3);
    CHECK(fer::detail::kd_logit_loss(logits, fer::detail::ensemble_teacher_logits({logits, logits}, T), T)
              .item<double>() == doctest::Approx(0.0).epsilon(1e-6));
  }
  CHECK_THROWS_AS(fer::detail::ensemble_teacher_logits({}, 4.0), fer::Error);
  // Attention transfer: zero for equal maps (even at another scale), positive for different ones.
  torch::Tensor maps = torch::rand({2, 6, 6});
  CHECK(fer::detail::attention_transfer_loss(maps * 3, maps).item<double>() == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(fer::detail::attention_transfer_loss(torch::rand({2, 3, 3}), maps).item<double>() > 0.0);
  // Soft cross-entropy with a one-hot target equals cross-entropy.
  torch::Tensor labels = torch::randint(0, 7, {8}, torch::kInt64);
  auto ce = fer::detail::cross_entropy_loss(logits, labels, 0.0, {});
  auto soft = fer::detail::soft_cross_entropy_loss(logits, torch::one_hot(labels, 7).to(torch::kFloat32));
  CHECK(ce.item<double>() == doctest::Approx(soft.item<double>()).epsilon(1e-5));
  // ... with class weights too (--class-weights with soft labels, mixup or cutmix).
  torch::Tensor w = torch::rand({7}) + 0.1;
  auto wce = fer::detail::cross_entropy_loss(logits, labels, 0.0, w);
  auto wsoft = fer::detail::soft_cross_entropy_loss(logits, torch::one_hot(labels, 7).to(torch::kFloat32), w);
  CHECK(wce.item<double>() == doctest::Approx(wsoft.item<double>()).epsilon(1e-5));
  CHECK(wce.item<double>() != doctest::Approx(ce.item<double>()).epsilon(1e-3));
}

TEST_CASE("train optimizer: norm_bias_decay=false exempts 1-D parameters from weight decay") {
  torch::manual_seed(3);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 4 * 4, 3));
  std::vector<torch::Tensor> params = net->parameters();
  for (const char* name : {"sgd", "adamw"}) {
    CAPTURE(name);
    for (bool decay_all : {true, false}) {
      CAPTURE(decay_all);
      std::vector<torch::Tensor> copies;
      for (const auto& p : params) copies.push_back(p.detach().clone().requires_grad_());
      fer::detail::OptimizerSpec spec;
      spec.name = name;
      spec.lr = 0.1;
      spec.weight_decay = 0.5;
      spec.norm_bias_decay = decay_all;
      auto opt = fer::detail::make_optimizer(spec, copies);
      CHECK(opt->param_groups().size() == (decay_all ? 1u : 2u));
      size_t grouped = 0;
      for (const auto& g : opt->param_groups()) grouped += g.params().size();
      CHECK(grouped == copies.size());
      // A step on zero gradients moves a parameter only through weight decay.
      for (auto& p : copies) p.mutable_grad() = torch::zeros_like(p);
      opt->step();
      for (size_t i = 0; i < copies.size(); ++i) {
        CAPTURE(i);
        bool moved = !torch::equal(copies[i].detach(), params[i].detach());
        bool nonzero = params[i].detach().abs().max().item<float>() > 0;
        bool decayed = decay_all || !fer::detail::is_norm_or_bias(params[i]);
        CHECK(moved == (decayed && nonzero));  // batch-norm shifts start at zero: nothing to decay
      }
    }
  }
  fer::detail::OptimizerSpec bad;
  bad.name = "adam";
  CHECK_THROWS_AS(fer::detail::make_optimizer(bad, params), fer::Error);
}

TEST_CASE("train augmentation is deterministic under a seed and keeps shapes and range") {
  fer::AugmentOptions o;
  o.mixup_alpha = 0.4f;
  o.cutmix_prob = 0.5f;
  auto run = [&](uint64_t seed) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    fer::detail::Batch b;
    b.images = torch::linspace(0, 1, 8 * 1 * 20 * 20).view({8, 1, 20, 20});
    b.labels = torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kInt64);
    // Offline teacher targets, here the labels' one-hot rows: mixed as the labels are.
    b.teacher = torch::one_hot(b.labels, 3).to(torch::kFloat32);
    fer::detail::augment_batch(b, o, 3, gen);
    return b;
  };
  auto a = run(7), b = run(7), c = run(8);
  CHECK(torch::allclose(a.teacher, a.soft));
  CHECK_FALSE(torch::equal(a.teacher, torch::one_hot(torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}), 3).to(torch::kFloat32)));
  CHECK(a.images.sizes() == b.images.sizes());
  CHECK(torch::equal(a.images, b.images));
  CHECK(torch::equal(a.soft, b.soft));
  CHECK_FALSE(torch::equal(a.images, c.images));
  CHECK(a.images.min().item<float>() >= 0.f);
  CHECK(a.images.max().item<float>() <= 1.f);
  CHECK(a.soft.sum(1).allclose(torch::ones({8})));
}

TEST_CASE("train augmentation: JPEG re-encoding changes the chosen samples only, more at lower quality") {
  for (int64_t channels : {1, 3}) {
    CAPTURE(channels);
    // A smooth gradient with a sharp square: block artefacts show at its edges.
    torch::Tensor base = torch::linspace(0, 1, 32).view({1, 1, 1, 32}).expand({4, channels, 32, 32}).clone();
    base.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(8, 20),
                     torch::indexing::Slice(5, 17)},
                    0.9);
    if (channels == 3) base.index_put_({torch::indexing::Slice(), 1}, 0.2);  // a coloured image
    torch::Tensor x = base.clone();
    fer::detail::jpeg_recompress(x, {0, 100, 50, 5});
    auto error = [&](int64_t i) { return (x[i] - base[i]).abs().mean().item<float>(); };
    CHECK(torch::equal(x[0], base[0]));  // quality 0: left alone
    CHECK(error(1) < 0.02f);  // colour: chroma is subsampled even at quality 100
    CHECK(error(1) < error(2));
    CHECK(error(2) < error(3));
    CHECK(error(3) > 0.01f);
    CHECK(x.min().item<float>() >= 0.f);
    CHECK(x.max().item<float>() <= 1.f);
  }
  torch::Tensor two = torch::zeros({2, 2, 8, 8});
  CHECK_THROWS_AS(fer::detail::jpeg_recompress(two, {50, 50}), fer::Error);  // 2 channels
  torch::Tensor one = torch::zeros({2, 1, 8, 8});
  CHECK_THROWS_AS(fer::detail::jpeg_recompress(one, {50}), fer::Error);      // a quality per image
  CHECK_THROWS_AS(fer::detail::jpeg_recompress(one, {50, 101}), fer::Error);

  // In augment_batch: seeded like the rest, after the geometry (the same
  // warp with it on or off: at quality 100 the two batches are nearly equal).
  auto run = [](float p, int qmin, uint64_t seed) {
    fer::AugmentOptions o;
    o.erase_prob = 0;  // drawn after the JPEG step
    o.jpeg_prob = p;
    o.jpeg_quality_min = qmin;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    fer::detail::Batch b;
    b.images = torch::rand({6, 1, 24, 24}, at::make_generator<at::CPUGeneratorImpl>(1));
    b.labels = torch::zeros({6}, torch::kInt64);
    fer::detail::augment_batch(b, o, 3, gen);
    return b.images;
  };
  CHECK(torch::equal(run(1.f, 5, 3), run(1.f, 5, 3)));
  CHECK_FALSE(torch::equal(run(1.f, 5, 3), run(1.f, 5, 4)));
  const torch::Tensor plain = run(0.f, 5, 3);
  const float at_100 = (run(1.f, 100, 3) - plain).abs().mean().item<float>();
  const float at_5 = (run(1.f, 5, 3) - plain).abs().mean().item<float>();
  CHECK(at_100 > 0.f);
  CHECK(at_100 < 0.01f);
  CHECK(at_5 > at_100);
}

TEST_CASE("train: a tiny model's loss falls and accuracy rises above chance") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_tiny");
  o.epochs = 4;
  std::vector<fer::EpochReport> seen;
  fer::TrainResult r = fer::train(o, [&](const fer::EpochReport& e) { seen.push_back(e); });
  REQUIRE(r.history.size() == 4);
  CHECK(seen.size() == 4);
  MESSAGE("train loss " << r.history.front().train_loss << " -> " << r.history.back().train_loss << ", val acc "
                        << r.history.back().val_accuracy);
  CHECK(r.history.back().train_loss < r.history.front().train_loss);
  CHECK(r.history[size_t(r.best_epoch - 1)].val_accuracy > 0.6);  // chance is 1/3
  // The exported model file is complete and records where it came from.
  auto best = fer::Model::load(r.best_path);
  CHECK(best->info().trained);
  CHECK(best->info().provenance.at("dataset") == data);
  CHECK(best->info().metrics.count("val_accuracy") == 1);
  CHECK(best->info().classes == std::vector<std::string>{"happiness", "sadness", "surprise"});
  // Calibrated for int8 at the end, on all 120 training images (fewer than the 2,000 asked for).
  CHECK(best->info().activation_ranges.count("input") == 1);
  CHECK(best->info().provenance.at("int8_calibration").find("120 images drawn with seed 0 from the training data") == 0);
  // One JSON line per epoch in the log.
  std::ifstream log(fs::path(o.out_dir) / "log.jsonl");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  CHECK(lines == 4);
  // evaluate() on the same data agrees with the run's last validation.
  fer::DatasetSpec spec = o.val_data;
  spec.width = spec.height = 24;
  fer::Dataset d = fer::load_dataset_cached(spec, (fs::path(o.out_dir) / "cache").string());
  fer::EvalReport e = fer::evaluate(*best, d);
  CHECK(e.accuracy == doctest::Approx(r.history[size_t(r.best_epoch - 1)].val_accuracy).epsilon(1e-9));
  CHECK(e.count == 120);
  CHECK(e.confusion.size() == 3);
  CHECK(e.per_class_recall.size() == 3);
  // Per image, in dataset order: the prediction and whether it was right, agreeing with the
  // labels, the accuracy and the confusion matrix; "correct" in the JSON only when asked for.
  REQUIRE(d.classes == best->info().classes);
  REQUIRE(e.predictions.size() == 120);
  REQUIRE(e.correct.size() == 120);
  std::vector<std::vector<int64_t>> confusion(3, std::vector<int64_t>(3, 0));
  int64_t right = 0;
  std::string bits;
  for (size_t i = 0; i < 120; ++i) {
    int64_t truth = d.labels[i], pred = e.predictions[i];  // same classes in the same order here
    REQUIRE((pred >= 0 && pred < 3));
    confusion[size_t(truth)][size_t(pred)]++;
    CHECK(e.correct[i] == (pred == truth ? 1 : 0));
    right += e.correct[i];
    bits += e.correct[i] ? '1' : '0';
  }
  CHECK(confusion == e.confusion);
  CHECK(double(right) / 120 == doctest::Approx(e.accuracy).epsilon(1e-12));
  CHECK(nlohmann::json::parse(e.to_json(true))["correct"] == bits);
  CHECK(nlohmann::json::parse(e.to_json()).count("correct") == 0);
  // The same in int8: within 10 points of fp32 on these 120 images (a broken
  // calibration lands near chance, 33%).
  auto q = fer::Model::load(r.best_path);
  q->set_precision(fer::Precision::Int8);
  fer::EvalOptions eo;
  eo.precision = "int8";
  CHECK(std::abs(fer::evaluate(*q, d, eo).accuracy - e.accuracy) <= 0.1);
}

TEST_CASE("train: the EMA of weights warms up, so a short run's EMA model is trained, not its initialisation") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_ema_warmup");
  o.epochs = 4;
  o.ema_decay = 0.9999;  // without a warm-up: 28 steps keep 99.7% of the random initial weights
  o.calibration_images = 0;
  fer::TrainResult r = fer::train(o);
  REQUIRE(r.history.size() == 4);
  // Validation and the exported model are the EMA's.
  CHECK(r.history[size_t(r.best_epoch - 1)].val_accuracy > 0.6);  // chance is 1/3
}

TEST_CASE("train: the EMA step averages parameters and batch-norm statistics, and copies step counters") {
  torch::nn::BatchNorm2d trained(4), average(4);
  torch::NoGradGuard no_grad;
  trained->running_mean.fill_(1.f);
  trained->running_var.fill_(3.f);
  trained->weight.fill_(2.f);
  trained->num_batches_tracked.fill_(7);
  auto tensors = [](torch::nn::Module& m) {
    std::vector<torch::Tensor> all = m.parameters();
    for (const torch::Tensor& b : m.buffers()) all.push_back(b);
    return all;
  };
  fer::detail::ema_step(tensors(*average), tensors(*trained), 0.75);
  // average starts at mean 0, var 1, weight 1: a quarter of the way to the trained model's
  CHECK(average->running_mean.allclose(torch::full({4}, 0.25f)));
  CHECK(average->running_var.allclose(torch::full({4}, 1.5f)));
  CHECK(average->weight.allclose(torch::full({4}, 1.25f)));
  CHECK(average->num_batches_tracked.item<int64_t>() == 7);
  CHECK_THROWS(fer::detail::ema_step(tensors(*average), average->parameters(), 0.5));
}

TEST_CASE("train: the packed dataset cache follows changes to the dataset's files") {
  fs::remove_all(fs::path(FER_TEST_TMP_DIR) / "cache_follow_patterns");
  fer::DatasetSpec spec;
  spec.path = make_pattern_dataset("cache_follow_patterns", 4, 9);
  spec.width = spec.height = 24;
  fs::path cache = fs::path(FER_TEST_TMP_DIR) / "cache_follow_cache";
  fs::remove_all(cache);
  auto packs = [&] {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(cache))
      if (e.path().extension() == ".ferpack") out.push_back(e.path());
    return out;
  };
  fer::Dataset first = fer::load_dataset_cached(spec, cache.string());
  REQUIRE(first.size() == 12);
  REQUIRE(packs().size() == 1);
  const fs::path pack = packs()[0];
  const auto written = fs::last_write_time(pack);
  fer::Dataset again = fer::load_dataset_cached(spec, cache.string());  // unchanged files: the cache is read
  CHECK(again.pixels == first.pixels);
  CHECK(fs::last_write_time(pack) == written);

  // An image replaced and one added: the next load sees both; the stale cache is gone.
  fs::path replaced = fs::path(spec.path) / "happy" / "0.png";
  REQUIRE(cv::imwrite(replaced.string(), cv::Mat(24, 24, CV_8UC1, cv::Scalar(7))));
  REQUIRE(cv::imwrite((fs::path(spec.path) / "sad" / "extra.png").string(), cv::Mat(24, 24, CV_8UC1, cv::Scalar(9))));
  fer::Dataset changed = fer::load_dataset_cached(spec, cache.string());
  CHECK(changed.size() == 13);
  size_t sevens = 0;
  for (uint8_t v : changed.pixels) sevens += v == 7;
  CHECK(sevens >= 24 * 24);
  REQUIRE(packs().size() == 1);
  CHECK(packs()[0] != pack);

  // A cache folder inside the dataset's tree (hidden from the reader) does not
  // count as part of the data: the second load reads what the first wrote.
  fs::path inside = fs::path(spec.path) / ".fercache";
  fer::load_dataset_cached(spec, inside.string());
  std::vector<fs::path> made;
  for (const auto& e : fs::directory_iterator(inside)) made.push_back(e.path());
  REQUIRE(made.size() == 1);
  const auto first_write = fs::last_write_time(made[0]);
  CHECK(fer::load_dataset_cached(spec, inside.string()).size() == 13);
  REQUIRE(fs::exists(made[0]));
  CHECK(fs::last_write_time(made[0]) == first_write);
}

TEST_CASE("train: a diverging run stops with a clear error and keeps its last checkpoint; NaN weights are refused") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_diverge");
  o.epochs = 1;
  fer::TrainResult first = fer::train(o);
  // Epoch 2 with an absurd learning rate: the weights overflow within a few steps.
  o.epochs = 2;
  o.lr = 1e30;
  try {
    fer::train(o);
    FAIL("a run with lr 1e30 did not diverge");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
    CHECK(std::string(e.what()).find("training diverged: the loss is not finite") != std::string::npos);
    CHECK(std::string(e.what()).find("at epoch 2") != std::string::npos);
    CHECK(std::string(e.what()).find("the checkpoint after epoch 1") != std::string::npos);
  }
  // That checkpoint resumes with a sane learning rate, and the exported model is epoch 1's.
  o.lr = 0.05;
  fer::TrainResult resumed = fer::train(o);
  CHECK(resumed.history.size() == 2);
  CHECK(resumed.history.front().val_accuracy == first.history.front().val_accuracy);
  // evaluate() refuses a model whose outputs are not finite instead of scoring them.
  auto m = fer::Model::load(resumed.best_path);
  fer::TensorList state = m->classifier().state();
  state.front().data[0] = std::numeric_limits<float>::quiet_NaN();
  m->classifier().load_state(state);
  fer::DatasetSpec spec = o.val_data;
  spec.width = spec.height = 24;
  fer::Dataset d = fer::load_dataset_cached(spec, (fs::path(o.out_dir) / "cache").string());
  CHECK_THROWS_WITH_AS(fer::evaluate(*m, d), doctest::Contains("not finite"), fer::Error);
  // Nor does a model file with a NaN weight load: a clear CorruptData naming the tensor.
  const std::string nan_file = (fs::path(o.out_dir) / "nan.fermodel").string();
  m->save(nan_file);
  try {
    fer::Model::load(nan_file);
    FAIL("a model file with a NaN weight loaded");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::CorruptData);
    CHECK(std::string(e.what()).find("non-finite") != std::string::npos);
  }
}

TEST_CASE("train flags: fer train's flags and recipe JSON set TrainOptions") {
  fer::TrainOptions o;
  o.augment.enabled = false;
  fer::apply_train_flags(o, {{"lr", {"0.1", "0.05"}},  // the last value counts
                             {"arch-opt", {"width=0.5", "zero_init_residual=1"}},
                             {"format", {"ferplus"}},
                             {"val-format", {"folder"}},
                             {"epochs", {"40.0"}},
                             {"seed", {"9007199254740993"}},
                             {"no-augment", {"0"}},
                             {"no-norm-bias-decay", {"1"}},
                             {"jpeg", {"0.5"}},
                             {"teacher", {"a.fermodel", "b.fermodel"}}});
  CHECK(o.lr == doctest::Approx(0.05));
  CHECK(o.architecture_config.get_double("width", 1.0) == doctest::Approx(0.5));
  CHECK(o.architecture_config.get_int("zero_init_residual", 0) == 1);
  CHECK(o.train_data.format == "ferplus");
  CHECK(o.val_data.format == "folder");
  CHECK(o.epochs == 40);
  CHECK(o.seed == 9007199254740993ull);  // beyond a double's integers: read as an integer
  CHECK(o.augment.enabled);               // a switch turned off
  CHECK_FALSE(o.norm_bias_decay);
  CHECK(o.augment.jpeg_prob == doctest::Approx(0.5));
  CHECK(o.teacher_models == std::vector<std::string>{"a.fermodel", "b.fermodel"});
  CHECK(o.momentum == doctest::Approx(0.9));  // not given: kept

  // A value that does not parse names its flag and changes nothing.
  const fer::TrainOptions before = o;
  struct BadFlag {
    std::string flag, value, message;
  };
  for (const BadFlag& c : std::vector<BadFlag>{
           {"lr", "fast", "--lr needs a finite number"},
           {"lr", "nan", "--lr needs a finite number"},
           {"epochs", "1e10", "--epochs needs a whole number from 1"},
           {"epochs", "2.5", "--epochs needs a whole number"},
           {"seed", "-1", "--seed needs a whole number from 0"},
           {"threads", "4294967295", "--threads"},
           {"jpeg-quality", "0", "--jpeg-quality needs a whole number from 1 to 100"},
           {"no-augment", "yes", "--no-augment is a switch"},
           {"arch-opt", "width", "--arch-opt needs KEY=VALUE"},
           {"frobnicate", "1", "no option --frobnicate"}}) {
    CAPTURE(c.flag);
    CAPTURE(c.value);
    try {
      fer::apply_train_flags(o, {{"momentum", {"0.5"}}, {c.flag, {c.value}}});
      FAIL("accepted");
    } catch (const fer::Error& e) {
      CHECK(e.status() == fer::Status::InvalidArgument);
      CHECK(std::string(e.what()).find(c.message) != std::string::npos);
    }
    CHECK(o.momentum == before.momentum);
    CHECK(o.lr == before.lr);
  }

  // A recipe's JSON: numbers and strings as text, lists for repeatable flags, booleans for switches.
  auto flags = fer::train_flags_from_json(
      R"({"arch": "resnet18", "arch-opt": ["width=0.5"], "epochs": 40, "lr": 0.05, "ema": 0.999,
          "no-norm-bias-decay": true, "soft-targets": false})");
  CHECK(flags.at("arch") == std::vector<std::string>{"resnet18"});
  CHECK(flags.at("epochs") == std::vector<std::string>{"40"});
  CHECK(flags.at("no-norm-bias-decay") == std::vector<std::string>{"1"});
  CHECK(flags.at("soft-targets") == std::vector<std::string>{"0"});
  fer::TrainOptions r;
  r.soft_targets = true;
  fer::apply_train_flags(r, flags);
  CHECK(r.architecture == "resnet18");
  CHECK(r.ema_decay == doctest::Approx(0.999));
  CHECK_FALSE(r.soft_targets);
  for (const char* bad : {"{", "[]", R"({"lr": true})", R"({"no-augment": "1"})", R"({"lr": [1, 2]})",
                          R"({"arch-opt": [{"width": 1}]})", R"({"frobnicate": 1})", R"({"lr": null})"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(fer::train_flags_from_json(bad), fer::Error);
  }
  // Every flag name is one the fer program takes; the switches are among them.
  for (const char* s : {"no-augment", "no-resume", "no-progress", "soft-targets", "class-weights", "no-norm-bias-decay"}) {
    CHECK(fer::is_train_switch(s));
    CHECK(std::count(fer::train_flag_names().begin(), fer::train_flag_names().end(), s) == 1);
  }
  CHECK_FALSE(fer::is_train_switch("lr"));
  // An empty teacher list clears the teachers; a float flag beyond float's range is refused.
  fer::apply_train_flags(r, fer::train_flags_from_json(R"({"teacher": ["t.fermodel"]})"));
  CHECK(r.teacher_models.size() == 1);
  fer::apply_train_flags(r, fer::train_flags_from_json(R"({"teacher": []})"));
  CHECK(r.teacher_models.empty());
  CHECK_THROWS_AS(fer::apply_train_flags(r, {{"crop-margin", {"1e39"}}}), fer::Error);
}

TEST_CASE("train: options out of range are refused before any data is read") {
  // The data path does not exist: each refusal must come from the options themselves.
  const fer::TrainOptions good = tiny_options("/nonexistent/data", "train_bad_options");
  std::vector<std::pair<std::function<void(fer::TrainOptions&)>, const char*>> cases = {
      {[](fer::TrainOptions& o) { o.augment.crop_scale_min = -0.5f; }, "crop scale"},
      {[](fer::TrainOptions& o) { o.augment.rotate_degrees = std::nanf(""); }, "rotation"},
      {[](fer::TrainOptions& o) { o.augment.brightness = 2.f; }, "brightness"},
      {[](fer::TrainOptions& o) { o.augment.erase_max_area = 1.5f; }, "erased area"},
      {[](fer::TrainOptions& o) { o.augment.cutmix_prob = 0.5f; }, "cutmix needs --mixup"},
      {[](fer::TrainOptions& o) { o.augment.jpeg_prob = 1.5f; }, "JPEG re-encoding probability"},
      {[](fer::TrainOptions& o) { o.augment.jpeg_quality_min = 0; }, "JPEG quality minimum"},
      {[](fer::TrainOptions& o) { o.min_lr_ratio = -1; }, "min lr ratio"},
      {[](fer::TrainOptions& o) { o.lr = std::numeric_limits<double>::infinity(); }, "learning rate"},
      {[](fer::TrainOptions& o) { o.momentum = 1; }, "momentum"},
      {[](fer::TrainOptions& o) { o.input_size = 2000; }, "input size"},
      {[](fer::TrainOptions& o) { o.channels = 2; }, "channels"},
      {[](fer::TrainOptions& o) { o.architecture_config.set("widht", 0.5); }, "small_cnn has no option 'widht'"},
      {[](fer::TrainOptions& o) {
         o.architecture = "resnet18";
         o.architecture_config.set("pool", "grid");  // small_cnn's option, not the ResNet's
       },
       "resnet18 has no option 'pool' (its options: channels, input_size, width, zero_init_residual)"},
      {[](fer::TrainOptions& o) { o.head_config.set("scale", 8.0); }, "head linear has no option 'scale'"},
      {[](fer::TrainOptions& o) { o.architecture_config.set("channels", int64_t(3)); },
       "option channels=3 disagrees with --channels 1"},
      {[](fer::TrainOptions& o) { o.architecture_config.set("input_size", int64_t(48)); },
       "option input_size=48 disagrees with --input-size 24"},
      {[](fer::TrainOptions& o) { o.val_data.path = "/nonexistent/fer2013/test/"; },
       "epoch selection (the validation data) tunes on its data"},
      {[](fer::TrainOptions& o) { o.train_data.split = "PrivateTest"; }, "training tunes on its data"},
  };
  for (auto& c : cases) {  // not a structured binding: clang 14 cannot capture one (CAPTURE is a lambda)
    const char* message = c.second;
    fer::TrainOptions o = good;
    c.first(o);
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(fer::train(o), doctest::Contains(message), fer::Error);
  }
}

TEST_CASE("train: a user-registered extractor's declared options are listed and checked") {
  // Wraps the built-in small_cnn under new names: one declaring its options, one not.
  auto wrap = [](const fer::Config& c) { return fer::FeatureExtractor::create("small_cnn", c); };
  auto& registry = fer::extractor_registry();
  if (!registry.contains("user_declared"))
    registry.add("user_declared", wrap, "small_cnn under another name", {"channels", "input_size", "width=0.25..4"});
  if (!registry.contains("user_undeclared")) registry.add("user_undeclared", wrap, "small_cnn again");
  CHECK(registry.description("user_declared") ==
        "small_cnn under another name (options: channels, input_size, width=0.25..4)");
  CHECK(registry.options("user_declared") == std::vector<std::string>{"channels", "input_size", "width"});
  CHECK(registry.description("user_undeclared") == "small_cnn again");
  CHECK(registry.options("user_undeclared").empty());
  CHECK(registry.options("no_such_net").empty());
  CHECK_THROWS_WITH_AS(registry.add("user_bad", wrap, "", {"width", "=0.5"}), doctest::Contains("needs a key"),
                       fer::Error);
  CHECK_FALSE(registry.contains("user_bad"));

  fer::TrainOptions o = tiny_options("/nonexistent/data", "train_user_options");
  o.architecture = "user_declared";
  o.architecture_config.set("width", 0.5);  // declared: passes the check, then the data is missing
  CHECK_THROWS_WITH_AS(fer::train(o), doctest::Contains("/nonexistent/data"), fer::Error);
  o.architecture_config.set("channels", int64_t(1));  // set on every extractor: accepted undeclared
  o.architecture_config.set("norm", "none");  // small_cnn reads it, but this registration did not declare it
  CHECK_THROWS_WITH_AS(fer::train(o),
                       doctest::Contains("user_declared has no option 'norm' (its options: channels, input_size, width)"),
                       fer::Error);
  o.architecture = "user_undeclared";  // nothing declared: nothing refused
  CHECK_THROWS_WITH_AS(fer::train(o), doctest::Contains("/nonexistent/data"), fer::Error);
}

TEST_CASE("train: a checkpoint of a run with other data or network options is not resumed silently") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_other_run");
  o.epochs = 1;
  fer::train(o);
  o.epochs = 2;
  fer::TrainOptions other = o;
  other.architecture_config.set("width", 0.5);  // a wider network: same names, other shapes
  CHECK_THROWS_WITH_AS(fer::train(other), doctest::Contains("--no-resume"), fer::Error);
  other = o;
  other.crop_margin = 0.3f;  // another crop convention
  CHECK_THROWS_WITH_AS(fer::train(other), doctest::Contains("crop margin"), fer::Error);
  other = o;
  other.ema_decay = 0.9;  // an EMA copy the checkpoint does not have
  CHECK_THROWS_WITH_AS(fer::train(other), doctest::Contains("--ema"), fer::Error);
  other = o;
  other.norm_bias_decay = false;  // other optimiser parameter groups
  CHECK_THROWS_WITH_AS(fer::train(other), doctest::Contains("--no-norm-bias-decay"), fer::Error);
  // The same options resume.
  CHECK(fer::train(o).history.size() == 2);
}

TEST_CASE("train: resume after an interrupt equals uninterrupted training") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  // Also with two optimiser parameter groups (no decay on norms and biases), whose momenta must resume too.
  for (bool norm_bias_decay : {true, false}) {
    CAPTURE(norm_bias_decay);
    const std::string suffix = norm_bias_decay ? "" : "_groups";
    fer::TrainOptions full = tiny_options(data, "train_full" + suffix);
    full.augment.mixup_alpha = 0.2f;  // exercise every random stream
    full.norm_bias_decay = norm_bias_decay;
    fer::train(full);

    fer::TrainOptions part = tiny_options(data, "train_interrupted" + suffix);
    part.augment.mixup_alpha = 0.2f;
    part.norm_bias_decay = norm_bias_decay;
    CHECK_THROWS_AS(fer::train(part, [](const fer::EpochReport& e) {
      if (e.epoch == 1) throw Interrupt{};
    }),
                    Interrupt);
    part.calibration_images = 0;  // no int8 calibration of best.fermodel
    fer::train(part);  // resumes from the epoch-1 checkpoint
    CHECK(fer::Model::load((fs::path(part.out_dir) / "best.fermodel").string())->info().activation_ranges.empty());
    CHECK(!fer::Model::load((fs::path(full.out_dir) / "best.fermodel").string())->info().activation_ranges.empty());
    auto a = file_bytes((fs::path(full.out_dir) / "checkpoint/model.fermodel").string());
    auto b = file_bytes((fs::path(part.out_dir) / "checkpoint/model.fermodel").string());
    REQUIRE(a.size() > 1000);
    CHECK(a == b);
  }
}

TEST_CASE("train: a stop request keeps the last complete checkpoint, and so does a kill between its renames") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions full = tiny_options(data, "train_stop_full");
  fer::train(full);

  fer::TrainOptions part = tiny_options(data, "train_stopped");
  std::atomic<bool> stop{false};
  part.stop = &stop;
  try {
    fer::train(part, [&](const fer::EpochReport& e) {
      if (e.epoch == 1) stop = true;  // as a SIGINT handler would
    });
    FAIL("training did not stop");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::Cancelled);
    CHECK(std::string(e.what()).find("epoch 1") != std::string::npos);
  }
  const fs::path out(part.out_dir);
  CHECK(nlohmann::json::parse(std::ifstream(out / "checkpoint/state.json")).at("epoch") == 1);
  std::ifstream log(out / "log.jsonl");
  CHECK(std::count(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>(), '\n') == 1);
  CHECK_FALSE(fs::exists(out / "checkpoint.tmp"));

  // A run killed after moving checkpoint/ aside, while a new checkpoint.tmp/
  // was half written: the resume must use checkpoint.old/.
  fs::rename(out / "checkpoint", out / "checkpoint.old");
  fs::create_directories(out / "checkpoint.tmp");
  std::ofstream(out / "checkpoint.tmp/model.fermodel") << "half written";
  part.stop = nullptr;
  fer::train(part);
  auto a = file_bytes((fs::path(full.out_dir) / "checkpoint/model.fermodel").string());
  auto b = file_bytes((out / "checkpoint/model.fermodel").string());
  REQUIRE(a.size() > 1000);
  CHECK(a == b);
  CHECK_FALSE(fs::exists(out / "checkpoint.old"));
  CHECK_FALSE(fs::exists(out / "checkpoint.tmp"));

  // A stop requested after the last step (here in the last epoch's callback) is not
  // ignored: the run stops before the int8 calibration, which a rerun then does.
  fer::TrainOptions last = tiny_options(data, "train_stop_last");
  stop = false;
  last.stop = &stop;
  CHECK_THROWS_WITH_AS(fer::train(last, [&](const fer::EpochReport& e) { stop = e.epoch == last.epochs; }),
                       doctest::Contains("before the int8 calibration"), fer::Error);
  CHECK(fer::Model::load((fs::path(last.out_dir) / "best.fermodel").string())->info().activation_ranges.empty());
  // A stop already requested when the run starts ends it before its first step.
  CHECK_THROWS_WITH_AS(fer::train(last), doctest::Contains("while reading the data, before any step"), fer::Error);
  // Also when the data is not cached yet: decoding stops, and no cache is written.
  fer::TrainOptions uncached = last;
  uncached.cache_dir = (fs::path(FER_TEST_TMP_DIR) / "train_stop_uncached_cache").string();
  fs::remove_all(uncached.cache_dir);
  try {
    fer::train(uncached);
    FAIL("a stop requested before an uncached read did not stop the run");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::Cancelled);
    CHECK(std::string(e.what()).find("while reading the data, before any step") != std::string::npos);
  }
  CHECK((!fs::exists(uncached.cache_dir) || fs::is_empty(uncached.cache_dir)));
  stop = false;
  const fer::TrainResult done = fer::train(last);
  CHECK(done.history.size() == size_t(last.epochs));
  CHECK_FALSE(done.best->info().activation_ranges.empty());
}

TEST_CASE("train: bf16 path matches fp32 within tolerance") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o32 = tiny_options(data, "train_fp32");
  o32.epochs = 1;
  fer::TrainOptions o16 = tiny_options(data, "train_bf16");
  o16.epochs = 1;
  o16.precision = "bf16";
  auto r32 = fer::train(o32), r16 = fer::train(o16);
  double l32 = r32.history[0].train_loss, l16 = r16.history[0].train_loss;
  MESSAGE("first-epoch loss fp32 " << l32 << ", bf16 " << l16);
  CHECK(std::abs(l32 - l16) < 0.1 * l32);
  // The same weights evaluated in bf16 and fp32 give nearly the same probabilities.
  fer::DatasetSpec s = o32.val_data;
  s.width = s.height = 24;
  fer::Dataset d = fer::load_dataset_cached(s, (fs::path(o32.out_dir) / "cache").string());
  fer::EvalOptions e32, e16;
  e16.precision = "bf16";
  auto a = fer::evaluate(*r32.best, d, e32), b = fer::evaluate(*r32.best, d, e16);
  CHECK(std::abs(a.accuracy - b.accuracy) <= 0.05);
  CHECK(std::abs(a.loss - b.loss) <= 0.05 * a.loss + 0.01);
}

TEST_CASE("train: distillation from a teacher (or an ensemble of it) equal to the student starts with zero KD loss") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  // Without batch norm, train-mode and eval-mode outputs are the same network function.
  fer::TrainOptions o = tiny_options(data, "train_teacher");
  o.architecture_config.set("norm", "none");
  o.epochs = 1;
  auto teacher = fer::train(o);
  // A student initialised from the teacher, distilled with KD weight 1 at T=1,
  // has zero loss at the first step (logits match) and stays close.
  fer::TrainOptions s = tiny_options(data, "train_student");
  s.architecture_config.set("norm", "none");
  s.epochs = 1;
  s.init_model = teacher.best_path;
  s.teacher_models = {teacher.best_path};
  s.kd_weight = 1.0;
  s.kd_temperature = 1.0;
  s.augment.enabled = false;
  s.lr = 1e-6;
  auto r = fer::train(s);
  CHECK(r.history[0].train_loss < 1e-3);

  // An ensemble of two copies of the teacher is the teacher: zero loss again,
  // and the provenance names both; at T = 4 the mean of softened probabilities
  // of equal members is still the teacher's.
  fer::TrainOptions e = s;
  e.out_dir = (fs::path(FER_TEST_TMP_DIR) / "train_student_ensemble").string();
  fs::remove_all(e.out_dir);
  e.teacher_models = {teacher.best_path, teacher.best_path};
  e.kd_temperature = 4.0;
  auto re = fer::train(e);
  CHECK(re.history[0].train_loss < 1e-3);
  CHECK(re.best->info().provenance.at("teacher") == teacher.best_path + ", " + teacher.best_path);
  // Feature transfer needs exactly one teacher; an empty teacher path is refused.
  fer::TrainOptions feat = e;
  feat.kd_feature_weight = 0.5;
  CHECK_THROWS_AS(fer::train(feat), fer::Error);
  fer::TrainOptions empty = s;
  empty.teacher_models = {""};
  CHECK_THROWS_AS(fer::train(empty), fer::Error);
  // Out-of-range and NaN weights are refused before any training.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double w : {-0.1, 1.5, nan}) {
    fer::TrainOptions bad = s;
    bad.kd_weight = w;
    CHECK_THROWS_AS(fer::train(bad), fer::Error);
  }
  for (double t : {0.0, -1.0, nan, std::numeric_limits<double>::infinity()}) {
    fer::TrainOptions bad = s;
    bad.kd_temperature = t;
    CHECK_THROWS_AS(fer::train(bad), fer::Error);
  }
  for (double ls : {-0.1, 1.0, nan}) {
    fer::TrainOptions bad = s;
    bad.label_smoothing = ls;
    CHECK_THROWS_AS(fer::train(bad), fer::Error);
  }
}

TEST_CASE("train: a calibrated teacher runs in int8 (teacher_precision), with KD targets close to its float ones") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_teacher_int8");
  o.architecture_config.set("norm", "none");
  o.epochs = 1;
  auto teacher = fer::train(o);  // calibrated for int8 at the end (calibration_images)
  REQUIRE_FALSE(teacher.best->info().activation_ranges.empty());
  fer::TrainOptions s = tiny_options(data, "train_student_int8_teacher");
  s.architecture_config.set("norm", "none");
  s.epochs = 1;
  s.init_model = teacher.best_path;
  s.teacher_models = {teacher.best_path};
  s.teacher_precision = "int8";
  s.kd_weight = 1.0;
  s.kd_temperature = 1.0;
  s.augment.enabled = false;
  s.lr = 1e-6;
  auto r = fer::train(s);
  MESSAGE("KD loss against the int8 teacher: " << r.history[0].train_loss);
  CHECK(r.history[0].train_loss < 0.02);  // the student is the float teacher: only int8 rounding remains
  CHECK(r.best->info().provenance.at("teacher_precision") == "int8");
  fer::TrainOptions f = s;
  f.teacher_precision = "";
  fs::remove_all(f.out_dir);
  auto rf = fer::train(f);
  CHECK(rf.best->info().provenance.at("teacher_precision") == "fp32");  // the training precision
  MESSAGE("KD loss against the float teacher: " << rf.history[0].train_loss);
  // The int8 teacher really ran in int8: its rounding leaves a (tiny) KD loss
  // that the float teacher, equal to the student, does not.
  CHECK(r.history[0].train_loss > 10 * rf.history[0].train_loss);
  // A teacher without int8 calibration, an unknown precision, and int8 with
  // attention transfer (the int8 path gives no attention maps) are refused.
  fer::TrainOptions raw = o;
  raw.out_dir = (fs::path(FER_TEST_TMP_DIR) / "train_teacher_uncalibrated").string();
  fs::remove_all(raw.out_dir);
  raw.calibration_images = 0;
  auto uncalibrated = fer::train(raw);
  REQUIRE(uncalibrated.best->info().activation_ranges.empty());
  fer::TrainOptions bad = s;
  bad.teacher_models = {uncalibrated.best_path};
  fs::remove_all(bad.out_dir);
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("no int8 calibration"), fer::Error);
  bad = s;
  bad.teacher_precision = "int4";
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("teacher precision must be"), fer::Error);
  bad = s;
  bad.kd_attention_weight = 0.5;
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("attention"), fer::Error);
}

TEST_CASE("train: two data-parallel processes (Gloo) match one process on the same global batch") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  auto options = [&](const std::string& out) {
    fer::TrainOptions o = tiny_options(data, out);
    o.architecture_config.set("norm", "none");  // batch-independent network: exact equality expected
    o.epochs = 1;
    o.max_steps_per_epoch = 4;
    o.val_data = {};
    return o;
  };
  fer::TrainOptions single = options("train_single");
  fer::train(single);

  fer::TrainOptions r0 = options("train_ddp"), r1 = r0;
  r0.world_size = r1.world_size = 2;
  r1.rank = 1;
  int port = 29500 + int(std::hash<std::string>()(FER_TEST_TMP_DIR) % 2000);
  r0.master = r1.master = "127.0.0.1:" + std::to_string(port);
  std::exception_ptr failure;
  std::thread other([&] {
    try {
      fer::train(r1);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  fer::train(r0);
  other.join();
  if (failure) std::rethrow_exception(failure);

  auto a = fer::Model::load((fs::path(single.out_dir) / "checkpoint/model.fermodel").string());
  auto b = fer::Model::load((fs::path(r0.out_dir) / "checkpoint/model.fermodel").string());
  auto sa = a->extractor().state(), sb = b->extractor().state();
  REQUIRE(sa.size() == sb.size());
  double max_diff = 0;
  for (size_t i = 0; i < sa.size(); ++i)
    for (size_t k = 0; k < sa[i].data.size(); ++k)
      max_diff = std::max(max_diff, double(std::abs(sa[i].data[k] - sb[i].data[k])));
  MESSAGE("max weight difference single vs 2 processes: " << max_diff);
  CHECK(max_diff < 1e-4);
  // And the weights did move (the comparison is not vacuous).
  auto init = fer::Model::create(a->info(), single.seed)->extractor().state();
  double moved = 0;
  for (size_t k = 0; k < init[0].data.size(); ++k) moved = std::max(moved, double(std::abs(init[0].data[k] - sa[0].data[k])));
  CHECK(moved > 1e-4);
}

TEST_CASE("eval: synthetic eye/mouth occlusion is seeded per image and independent of batching") {
  namespace d = fer::detail;
  const int64_t side = 48;
  auto ones = [&](int64_t n) { return torch::ones({n, 1, side, side}); };
  // The mouth region: black around (0.5, 0.78) of the crop, the forehead untouched.
  std::vector<int64_t> idx = {0, 1, 2, 3};
  torch::Tensor x = ones(4);
  d::occlude_face_regions(x, idx, "mouth", 1);
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(x[i][0][37][24].item<float>() == 0.f);
    CHECK(x[i][0][5][24].item<float>() == 1.f);
    CHECK(x[i][0][18][15].item<float>() == 1.f);  // the left eye is not touched
    double erased = 1.0 - x[i].mean().item<double>();
    CHECK(erased == doctest::Approx(0.42 * 0.20).epsilon(0.25));
  }
  // "eye": the left or the right eye, never the mouth.
  x = ones(4);
  d::occlude_face_regions(x, idx, "eye", 1);
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(x[i][0][37][24].item<float>() == 1.f);
    CHECK(x[i][0][18][15].item<float>() + x[i][0][18][33].item<float>() == 1.f);  // exactly one eye
  }
  // "eye_or_mouth" picks each of the three regions about equally often.
  const int64_t n = 300;
  std::vector<int64_t> many(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) many[size_t(i)] = i;
  x = ones(n);
  d::occlude_face_regions(x, many, "eye_or_mouth", 7);
  int left = 0, right = 0, mouth = 0;
  for (int64_t i = 0; i < n; ++i) {
    left += x[i][0][18][15].item<float>() == 0.f;
    right += x[i][0][18][33].item<float>() == 0.f;
    mouth += x[i][0][37][24].item<float>() == 0.f;
  }
  CHECK(left + right + mouth == n);
  for (int c : {left, right, mouth}) CHECK((c > 70 && c < 130));
  // An image is occluded alike alone or in any batch; another seed moves the boxes.
  torch::Tensor alone = ones(1), seed2 = ones(n);
  d::occlude_face_regions(alone, {123}, "eye_or_mouth", 7);
  CHECK(torch::equal(alone[0], x[123]));
  d::occlude_face_regions(seed2, many, "eye_or_mouth", 8);
  CHECK(!torch::equal(seed2, x));
  CHECK_THROWS_AS(d::occlude_face_regions(x, many, "nose", 7), fer::Error);

  // Through evaluate(): recorded in the report, independent of the batch size, and it changes the outputs.
  fer::Dataset ds = pattern_dataset_48();
  auto model = fer_test::tiny_model(3);
  fer::EvalOptions plain, occluded, occluded_small_batches;
  plain.threads = occluded.threads = occluded_small_batches.threads = 1;
  occluded.occlusion = occluded_small_batches.occlusion = "eye_or_mouth";
  occluded_small_batches.batch_size = 7;
  auto a = fer::evaluate(*model, ds, plain), b = fer::evaluate(*model, ds, occluded),
       c = fer::evaluate(*model, ds, occluded_small_batches);
  CHECK(b.occlusion == "eye_or_mouth");
  CHECK(b.occlusion_seed == 1);
  CHECK(nlohmann::json::parse(b.to_json())["occlusion"] == "eye_or_mouth");
  CHECK(a.loss != doctest::Approx(b.loss).epsilon(1e-6));
  CHECK(b.loss == doctest::Approx(c.loss).epsilon(1e-5));
  CHECK(b.confusion == c.confusion);
  fer::EvalOptions bad;
  bad.occlusion = "sunglasses";
  CHECK_THROWS_AS(fer::evaluate(*model, ds, bad), fer::Error);

  // A model switched to bf16 (bf16-stored weights) is evaluated in bf16, or refused clearly in fp32.
  model->set_precision(fer::Precision::BFloat16);
  fer::EvalOptions in_bf16 = plain;
  in_bf16.precision = "bf16";
  CHECK(fer::evaluate(*model, ds, in_bf16).count == int64_t(ds.size()));
  try {
    fer::evaluate(*model, ds, plain);
    CHECK(false);
  } catch (const fer::Error& e) {
    CHECK(std::string(e.what()).find("runs in bf16") != std::string::npos);
  }
  model->set_precision(fer::Precision::Float32);
  CHECK(fer::evaluate(*model, ds, plain).loss == doctest::Approx(a.loss).epsilon(1e-5));
}

TEST_CASE("eval: test-time views (none, flip, tencrop) and their mean in evaluate()") {
  namespace d = fer::detail;
  // A horizontal ramp 0..1 over x and a vertical one over y, in two channels.
  const int64_t side = 40;
  torch::Tensor ramp = torch::linspace(0, 1, side);
  torch::Tensor x = torch::stack({ramp.view({1, side}).expand({side, side}), ramp.view({side, 1}).expand({side, side})})
                        .unsqueeze(0)
                        .repeat({2, 1, 1, 1});
  CHECK(d::test_time_views(x, "none").size() == 1);
  auto flip = d::test_time_views(x, "flip");
  REQUIRE(flip.size() == 2);
  CHECK(torch::equal(flip[1], x.flip({3})));
  auto crops = d::test_time_views(x, "tencrop");
  REQUIRE(crops.size() == 10);
  auto mean_x = [](const torch::Tensor& v) { return v.select(1, 0).mean().item<double>(); };
  auto mean_y = [](const torch::Tensor& v) { return v.select(1, 1).mean().item<double>(); };
  for (size_t i = 0; i < crops.size(); i += 2) {
    CHECK(crops[i].sizes() == x.sizes());
    CHECK(torch::equal(crops[i + 1], crops[i].flip({3})));  // each crop with its mirror image
    // A crop covers 90% of the area: the ramp spans sqrt(0.9) of [0, 1].
    double span = (crops[i].select(1, 0).amax() - crops[i].select(1, 0).amin()).item<double>();
    CHECK(span == doctest::Approx(std::sqrt(0.9)).epsilon(0.05));
  }
  CHECK(mean_x(crops[0]) == doctest::Approx(0.5).epsilon(0.01));  // the centre crop
  CHECK(mean_y(crops[0]) == doctest::Approx(0.5).epsilon(0.01));
  CHECK(mean_x(crops[2]) < 0.5);  // top left
  CHECK(mean_y(crops[2]) < 0.5);
  CHECK(mean_x(crops[4]) > 0.5);  // top right
  CHECK(mean_y(crops[8]) > 0.5);  // bottom right
  CHECK(mean_x(crops[8]) > 0.5);
  CHECK_THROWS_AS(d::test_time_views(x, "rotate"), fer::Error);

  // evaluate(): tencrop is recorded and gives other probabilities than none and flip.
  fer::Dataset ds = pattern_dataset_48();
  auto model = fer_test::tiny_model(3);
  fer::EvalOptions none, flipped, ten;
  none.threads = flipped.threads = ten.threads = 1;
  flipped.tta = "flip";
  ten.tta = "tencrop";
  auto a = fer::evaluate(*model, ds, none), b = fer::evaluate(*model, ds, flipped), c = fer::evaluate(*model, ds, ten);
  CHECK(c.tta == "tencrop");
  CHECK(c.count == a.count);
  CHECK(c.loss != doctest::Approx(a.loss).epsilon(1e-6));
  CHECK(c.loss != doctest::Approx(b.loss).epsilon(1e-6));
  fer::EvalOptions bad;
  bad.tta = "sideways";
  CHECK_THROWS_AS(fer::evaluate(*model, ds, bad), fer::Error);
}

TEST_CASE("eval: an ensemble averages its models' probabilities") {
  // Two small models trained one epoch from different seeds: mostly, not always, agreeing.
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  auto trained = [&](uint64_t seed) {
    fer::TrainOptions t = tiny_options(data, "eval_ensemble_" + std::to_string(seed));
    t.epochs = 1;
    t.seed = seed;
    return fer::train(t).best;
  };
  std::shared_ptr<fer::Model> a = trained(1), b = trained(2);
  fer::Dataset ds = pattern_dataset_48();  // 48 x 48, the models take 24 x 24
  fer::EvalOptions o;
  o.threads = 1;
  o.batch_size = 50;
  auto ra = fer::evaluate(*a, ds, o), rb = fer::evaluate(*b, ds, o);
  // A model with itself is the model.
  auto raa = fer::evaluate({a.get(), a.get()}, ds, o);
  CHECK(raa.ensemble_size == 2);
  CHECK(ra.ensemble_size == 1);
  CHECK(nlohmann::json::parse(raa.to_json())["ensemble_size"] == 2);
  CHECK(raa.predictions == ra.predictions);
  CHECK(raa.loss == doctest::Approx(ra.loss).epsilon(1e-5));
  // Two models: where both pick a class, so does the mean of their
  // probabilities; the ensemble's cross-entropy is at most the members' mean
  // (convexity of -log), and differs from each member's.
  auto rab = fer::evaluate({a.get(), b.get()}, ds, o);
  REQUIRE(rab.predictions.size() == ds.size());
  int agree = 0;
  for (size_t i = 0; i < ds.size(); ++i)
    if (ra.predictions[i] == rb.predictions[i]) {
      ++agree;
      CHECK(rab.predictions[i] == ra.predictions[i]);
    }
  MESSAGE(agree << " of " << ds.size() << " images with both members agreeing");
  CHECK(rab.loss <= (ra.loss + rb.loss) / 2 + 1e-6);
  CHECK(rab.loss != doctest::Approx(ra.loss).epsilon(1e-6));
  CHECK(rab.loss != doctest::Approx(rb.loss).epsilon(1e-6));
  CHECK(agree > 0);
  // Members of other input sizes: each model sees the data at its own size.
  fer::TrainOptions t32 = tiny_options(data, "eval_ensemble_32");
  t32.epochs = 1;
  t32.input_size = 32;
  t32.train_data.resize = t32.val_data.resize = true;
  auto big = fer::train(t32).best;
  REQUIRE(big->info().input.width == 32);
  auto mixed = fer::evaluate({a.get(), big.get()}, ds, o);
  CHECK(mixed.count == int64_t(ds.size()));
  CHECK(mixed.loss <= (ra.loss + fer::evaluate(*big, ds, o).loss) / 2 + 1e-6);
  // Refused: no model, a null model, other classes, another precision.
  CHECK_THROWS_AS(fer::evaluate(std::vector<const fer::Model*>{}, ds, o), fer::Error);
  CHECK_THROWS_AS(fer::evaluate({a.get(), nullptr}, ds, o), fer::Error);
  fer::ModelInfo other = a->info();
  std::reverse(other.classes.begin(), other.classes.end());
  auto c = fer::Model::create(other, 3);
  CHECK_THROWS_AS(fer::evaluate({a.get(), c.get()}, ds, o), fer::Error);
  b->set_precision(fer::Precision::BFloat16);
  CHECK_THROWS_AS(fer::evaluate({a.get(), b.get()}, ds, o), fer::Error);
}

TEST_CASE("train: offline teacher targets (a file of the teacher's probabilities) distil as the teacher does") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions o = tiny_options(data, "train_targets_teacher");
  o.architecture_config.set("norm", "none");
  o.epochs = 1;
  auto teacher = fer::train(o);
  // The targets on the training data as the trainer reads it (24 x 24 gray).
  fer::DatasetSpec spec = o.train_data;
  spec.width = spec.height = 24;
  const fer::Dataset train_data = fer::read_dataset(spec);
  const fer::TeacherTargets t = fer::compute_teacher_targets({teacher.best.get()}, train_data, {}, "patterns");
  REQUIRE(t.size() == train_data.size());
  CHECK(t.classes == train_data.classes);
  CHECK(t.dataset_fingerprint == fer::dataset_fingerprint(train_data));
  // Row i is the teacher's prediction on image i.
  const auto p5 = teacher.best->predict({teacher.best->prepare(cv::Mat(24, 24, CV_8UC1, const_cast<uint8_t*>(
                                                                               train_data.image(5))))})[0];
  for (size_t k = 0; k < t.classes.size(); ++k)
    CHECK(t.probabilities[5 * t.classes.size() + k] == doctest::Approx(p5.probabilities[k]).epsilon(1e-4));
  const std::string file = (fs::path(FER_TEST_TMP_DIR) / "patterns.fertargets").string();
  fer::save_teacher_targets(t, file);
  const fer::TeacherTargets back = fer::load_teacher_targets(file);
  CHECK(back.probabilities == t.probabilities);
  CHECK(back.classes == t.classes);
  CHECK(back.dataset_fingerprint == t.dataset_fingerprint);
  CHECK(back.provenance == t.provenance);

  // A student equal to the teacher, distilled from the file at KD weight 1 and
  // T = 1, starts at zero loss: each sample met its own image's row.
  fer::TrainOptions s = tiny_options(data, "train_targets_student");
  s.architecture_config.set("norm", "none");
  s.epochs = 1;
  s.init_model = teacher.best_path;
  s.teacher_targets = file;
  s.kd_weight = 1.0;
  s.kd_temperature = 1.0;
  s.augment.enabled = false;
  s.lr = 1e-6;
  auto r = fer::train(s);
  CHECK(r.history[0].train_loss < 1e-3);
  CHECK(r.best->info().provenance.at("teacher_targets") == file);
  // Each sample meets its own image's row: a student trained from scratch on
  // targets that put 0.9 on an image's class learns the classes; on the same
  // rows moved by one class (the rows of other images), it learns the moved classes.
  const size_t k = t.classes.size(), n = t.size();
  auto labelled = [&](size_t shift) {
    fer::TeacherTargets lt = t;
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < k; ++c)
        lt.probabilities[i * k + c] = c == (size_t(train_data.labels[i]) + shift) % k ? 0.9f : 0.1f / float(k - 1);
    return lt;
  };
  const std::string shifted_file = (fs::path(FER_TEST_TMP_DIR) / "patterns_shifted.fertargets").string();
  auto accuracy_with = [&](size_t shift) {
    fer::save_teacher_targets(labelled(shift), shifted_file);
    fer::TrainOptions st = tiny_options(data, "train_targets_scratch");
    st.epochs = 4;
    st.teacher_targets = shifted_file;
    st.kd_weight = 1.0;
    st.kd_temperature = 1.0;
    fer::TrainResult res = fer::train(st);
    return res.history.back().val_accuracy;  // against the true labels
  };
  const double aligned = accuracy_with(0), moved = accuracy_with(1);
  MESSAGE("val accuracy from targets on the right images " << aligned << ", moved by one class " << moved);
  CHECK(aligned > 0.6);  // chance is 1/3
  CHECK(moved < 0.2);

  // Targets of another dataset (or order) and other classes are refused, as are
  // targets beside a teacher model, with feature transfer, without a KD weight,
  // or with a teacher precision.
  fer::TeacherTargets other = t;
  other.dataset_fingerprint ^= 1;
  fer::save_teacher_targets(other, shifted_file);
  fer::TrainOptions bad = s;
  bad.teacher_targets = shifted_file;
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("another dataset"), fer::Error);
  bad = s;
  bad.teacher_models = {teacher.best_path};
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("not both"), fer::Error);
  bad = s;
  bad.kd_feature_weight = 0.5;
  CHECK_THROWS_AS(fer::train(bad), fer::Error);
  bad = s;
  bad.kd_weight = 0;
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("KD weight"), fer::Error);
  bad = s;
  bad.teacher_precision = "int8";  // no teacher runs: the flag would do nothing
  CHECK_THROWS_WITH_AS(fer::train(bad), doctest::Contains("--teacher-precision"), fer::Error);
  bad = s;
  bad.teacher_targets = file + ".missing";
  try {
    fer::train(bad);
    FAIL("a missing targets file was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::NotFound);
  }
  // Models with classes other than the data's cannot make targets for it.
  fer::Dataset two = train_data;
  two.classes = {"happiness", "sadness", "anger"};
  CHECK_THROWS_AS(fer::compute_teacher_targets({teacher.best.get()}, two), fer::Error);
}

TEST_CASE("teacher-targets files: damaged, truncated and hostile files are refused with CorruptData") {
  fer::TeacherTargets t;
  t.classes = {"anger", "happiness", "neutral"};
  t.probabilities = {0.2f, 0.5f, 0.3f, 1.f, 0.f, 0.f};
  t.dataset_fingerprint = 42;
  t.provenance = "{}";
  const std::string file = (fs::path(FER_TEST_TMP_DIR) / "small.fertargets").string();
  fer::save_teacher_targets(t, file);
  const std::vector<uint8_t> good = file_bytes(file);
  REQUIRE(fer::load_teacher_targets(file).size() == 2);
  auto status_of = [&](const std::vector<uint8_t>& bytes) {
    const std::string f = (fs::path(FER_TEST_TMP_DIR) / "bad.fertargets").string();
    std::ofstream(f, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    try {
      fer::load_teacher_targets(f);
      return fer::Status::Ok;
    } catch (const fer::Error& e) {
      return e.status();
    }
  };
  // Every truncation, and every single flipped byte, is caught.
  for (size_t len = 0; len < good.size(); ++len) {
    CAPTURE(len);
    CHECK(status_of(std::vector<uint8_t>(good.begin(), good.begin() + long(len))) == fer::Status::CorruptData);
  }
  for (size_t i = 0; i < good.size(); ++i) {
    CAPTURE(i);
    std::vector<uint8_t> b = good;
    b[i] ^= 0x40;
    const fer::Status st = status_of(b);
    CHECK((st == fer::Status::CorruptData || st == fer::Status::UnsupportedVersion));
  }
  // A header claiming 2^40 images is refused from the file size, before allocating.
  std::vector<uint8_t> huge = good;
  huge[16 + 5] = 1;
  CHECK(status_of(huge) == fer::Status::CorruptData);
  // Rows that are not distributions cannot be written.
  fer::TeacherTargets bad = t;
  bad.probabilities[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(fer::save_teacher_targets(bad, file), fer::Error);
  bad = t;
  bad.probabilities[0] = 0.9f;
  CHECK_THROWS_AS(fer::save_teacher_targets(bad, file), fer::Error);
  bad = t;
  bad.probabilities.pop_back();
  CHECK_THROWS_AS(fer::save_teacher_targets(bad, file), fer::Error);
  bad = t;
  bad.provenance = "not \xff JSON";
  CHECK_THROWS_WITH_AS(fer::save_teacher_targets(bad, file), doctest::Contains("JSON"), fer::Error);
  CHECK(file_bytes(file) == good);  // failed saves left the file as it was
  // A provenance that is not JSON text (it would go into trained models' provenance), checksum intact.
  std::vector<uint8_t> not_json = good;
  const std::string marker = "{}";
  auto at = std::search(not_json.begin(), not_json.end(), marker.begin(), marker.end());
  REQUIRE(at != not_json.end());
  *at = 0xff;
  const uint32_t crc = fer::detail::crc32(not_json.data(), not_json.size() - 4);
  for (int i = 0; i < 4; ++i) not_json[not_json.size() - 4 + size_t(i)] = uint8_t(crc >> (8 * i));
  CHECK(status_of(not_json) == fer::Status::CorruptData);
  // A folder is not a targets file.
  try {
    fer::load_teacher_targets(FER_TEST_TMP_DIR);
    FAIL("a folder was read as a targets file");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
  }
}

TEST_CASE("eval: load_eval_set loads model files and reads the data at the first model's input size; load_tuning_set and quantize_file refuse a test split first") {
  std::string data = make_pattern_dataset("train_patterns", 40, 1);
  fer::TrainOptions t = tiny_options(data, "eval_set_model");
  t.epochs = 1;
  auto trained = fer::train(t).best;
  const std::string file = (fs::path(FER_TEST_TMP_DIR) / "eval_set_model.fermodel").string();
  trained->save(file);
  fer::DatasetSpec spec;
  spec.path = data;
  spec.width = spec.height = 48;  // replaced by the model's 24 x 24
  const fer::EvalSet set = fer::load_eval_set({file, file}, "fp32", spec);
  REQUIRE(set.models.size() == 2);
  REQUIRE(set.members().size() == 2);
  CHECK(set.members()[1] == set.models[1].get());
  CHECK(set.data.size() == 120);
  CHECK(set.data.width == 24);
  CHECK(set.data.height == 24);
  CHECK(set.source == "folder:" + spec.path);
  CHECK(set.models.front()->precision() == fer::Precision::Float32);
  // The models are the file's: the same report as the model trained.
  fer::EvalOptions o;
  o.threads = 1;
  CHECK(fer::evaluate(set.members(), set.data, o).predictions ==
        fer::evaluate(*trained, fer::read_dataset_for(*trained, spec), o).predictions);
  // int8: each model from its own calibration (training calibrates).
  REQUIRE_FALSE(trained->info().activation_ranges.empty());
  CHECK(fer::load_eval_set({file}, "int8", spec).models.front()->precision() == fer::Precision::Int8);
  // Refused: no files, a missing file, int8 for an uncalibrated model.
  CHECK_THROWS_AS(fer::load_eval_set({}, "fp32", spec), fer::Error);
  CHECK_THROWS_AS(fer::load_eval_set({file + ".missing"}, "fp32", spec), fer::Error);
  fer::ModelInfo uncalibrated = trained->info();
  uncalibrated.activation_ranges.clear();
  const std::string raw = (fs::path(FER_TEST_TMP_DIR) / "eval_set_uncalibrated.fermodel").string();
  fer::Model::create(uncalibrated, 1)->save(raw);
  CHECK_NOTHROW(fer::load_eval_set({raw}, "fp32", spec));
  CHECK_THROWS_AS(fer::load_eval_set({file, raw}, "int8", spec), fer::Error);

  // load_tuning_set: load_eval_set for a step that tunes on the data; a test
  // split is refused first, before the (here missing) model file is looked for.
  const fer::EvalSet tuning = fer::load_tuning_set({file}, "fp32", spec, "tuning");
  CHECK(tuning.data.size() == 120);
  CHECK(tuning.source == set.source);
  fer::DatasetSpec test_split = spec;
  test_split.path = (fs::path(FER_TEST_TMP_DIR) / "no_such_data" / "PrivateTest").string();
  CHECK_THROWS_WITH_AS(fer::load_tuning_set({file + ".missing"}, "fp32", test_split, "tuning"),
                       doctest::Contains("tuning tunes on its data"), fer::Error);

  // quantize_file: load, calibrate on the spec, write; the copy runs in int8 from its own calibration.
  const std::string calibrated = (fs::path(FER_TEST_TMP_DIR) / "eval_set_calibrated.fermodel").string();
  fs::remove(calibrated);
  fer::CalibrationOptions co;
  co.images = 7;
  co.seed = 3;
  co.threads = 1;
  const fer::ModelInfo written = fer::quantize_file(raw, spec, calibrated, co);
  CHECK_FALSE(written.activation_ranges.empty());
  CHECK(written.provenance.at("int8_calibration").find("7 images drawn with seed 3 from " + spec.path) == 0);
  auto reread = fer::Model::load(calibrated);
  CHECK(reread->info().activation_ranges.size() == written.activation_ranges.size());
  CHECK(fer::load_eval_set({calibrated}, "int8", spec).models.front()->precision() == fer::Precision::Int8);
  // Refused before the (missing) model is read, under the caller's name; a
  // failure (here the data is missing) leaves the output as it was.
  fs::remove(calibrated);
  CHECK_THROWS_WITH_AS(fer::quantize_file(file + ".missing", test_split, calibrated, co, "fer quantize"),
                       doctest::Contains("fer quantize tunes on its data"), fer::Error);
  fer::DatasetSpec missing = spec;
  missing.path = (fs::path(FER_TEST_TMP_DIR) / "no_such_data" / "train").string();
  CHECK_THROWS_AS(fer::quantize_file(raw, missing, calibrated, co), fer::Error);
  CHECK_FALSE(fs::exists(calibrated));
}
