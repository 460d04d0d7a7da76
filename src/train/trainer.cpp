// fer::train: the training loop (data -> augment -> model -> losses -> optimizer),
// checkpoints with exact resume, validation and export of the best model.
#include "io/atomic_file.hpp"
#include "models/builtin.hpp"
#include "train/augment.hpp"
#include "train/batching.hpp"
#include "train/distributed.hpp"
#include "train/losses.hpp"
#include "train/optimizer.hpp"
#include "train/progress.hpp"

#include <fer/error.hpp>
#include <fer/threads.hpp>
#include <fer/train.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>

namespace fer {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
  return b;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return b;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  detail::write_file_atomic(path.string(), {{text.data(), text.size()}}, "training file");
}

json report_json(const EpochReport& r) {
  return {{"epoch", r.epoch},     {"train_loss", r.train_loss},     {"train_accuracy", r.train_accuracy},
          {"val_accuracy", r.val_accuracy}, {"val_macro_f1", r.val_macro_f1}, {"val_loss", r.val_loss},
          {"lr", r.lr},           {"seconds", r.seconds},           {"images_per_second", r.images_per_second}};
}

EpochReport report_from_json(const json& j) {
  EpochReport r;
  r.epoch = j.at("epoch");
  r.train_loss = j.at("train_loss");
  r.train_accuracy = j.at("train_accuracy");
  r.val_accuracy = j.at("val_accuracy");
  r.val_macro_f1 = j.at("val_macro_f1");
  r.val_loss = j.at("val_loss");
  r.lr = j.at("lr");
  r.seconds = j.at("seconds");
  r.images_per_second = j.at("images_per_second");
  return r;
}

// Seeds derived from (seed, epoch, stream) so that every epoch is reproducible on its own.
uint64_t derive_seed(uint64_t seed, int epoch, uint64_t stream) {
  return fnv1a(std::to_string(seed) + "/" + std::to_string(epoch) + "/" + std::to_string(stream));
}

std::vector<torch::Tensor> all_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  std::vector<torch::Tensor> p = a.parameters();
  for (auto& t : b.parameters()) p.push_back(t);
  return p;
}

void validate_options(const TrainOptions& o) {
  auto bad = [](const std::string& m) { throw Error(Status::InvalidArgument, m); };
  if (o.train_data.path.empty()) bad("training data path is empty (--data)");
  if (o.epochs < 1) bad("epochs must be >= 1");
  if (o.batch_size < 2) bad("batch size must be >= 2");
  // Checked before any data is read (a wrong size would only fail after decoding it all).
  if (o.input_size < 8 || o.input_size > 1024) bad("input size must be 8 to 1024 pixels");
  if (o.channels != 1 && o.channels != 3) bad("channels must be 1 (gray) or 3 (BGR)");
  // Selecting epochs on test data, or training on it, is tuning on it.
  refuse_test_split(o.train_data, "training");
  if (!o.val_data.path.empty()) refuse_test_split(o.val_data, "epoch selection (the validation data)");
  // A misspelt --arch-opt or --head-opt would otherwise train the default network for hours.
  detail::check_extractor_options(o.architecture, o.architecture_config);
  detail::check_classifier_options(o.head, o.head_config);
  // channels and input_size are the run's own options; a copy among the
  // architecture's options must agree (the model would refuse it after the data is read).
  detail::check_option_agrees(o.architecture_config, "channels", o.channels, "--channels", Status::InvalidArgument);
  detail::check_option_agrees(o.architecture_config, "input_size", o.input_size, "--input-size",
                              Status::InvalidArgument);
  // Schedule and optimiser: finite and in range (NaN passes every ordered comparison's negation).
  auto in = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
  if (!(o.lr > 0 && std::isfinite(o.lr))) bad("learning rate must be positive and finite");
  if (!in(o.warmup_epochs, 0, 1e6)) bad("warm-up must be >= 0 epochs");
  if (!in(o.min_lr_ratio, 0, 1)) bad("min lr ratio must be in [0, 1]");
  if (!in(o.momentum, 0, 1) || o.momentum == 1) bad("momentum must be in [0, 1)");
  if (!in(o.weight_decay, 0, 1)) bad("weight decay must be in [0, 1]");
  if (!in(o.grad_clip, 0, 1e30)) bad("gradient clipping norm must be >= 0 and finite (0 = off)");
  if (!in(o.dlp_weight, 0, 1e6) || !in(o.kd_feature_weight, 0, 1e6) || !in(o.kd_attention_weight, 0, 1e6))
    bad("loss weights (--dlp, --kd-feature, --kd-attention) must be >= 0 and finite");
  // Augmentation: out-of-range values give NaN crops or negative pixels, silently.
  const AugmentOptions& a = o.augment;
  if (!(a.crop_scale_min > 0 && a.crop_scale_min <= 1)) bad("crop scale minimum must be in (0, 1]");
  if (!in(a.crop_ratio, 1, 10)) bad("crop aspect ratio must be in [1, 10]");
  if (!in(a.rotate_degrees, 0, 180)) bad("rotation must be in [0, 180] degrees");
  if (!in(a.translate, 0, 1)) bad("translation must be in [0, 1] (a fraction of the size)");
  if (!in(a.brightness, 0, 1) || !in(a.contrast, 0, 1)) bad("brightness and contrast jitter must be in [0, 1]");
  if (!in(a.erase_prob, 0, 1)) bad("erase probability must be in [0, 1]");
  if (!in(a.erase_max_area, 0.02, 1)) bad("erased area must be in [0.02, 1] of the image");
  if (!in(a.mixup_alpha, 0, 1e3)) bad("mixup alpha must be >= 0 and finite (0 = off)");
  if (!in(a.cutmix_prob, 0, 1)) bad("cutmix probability must be in [0, 1]");
  if (!in(a.jpeg_prob, 0, 1)) bad("JPEG re-encoding probability must be in [0, 1]");
  if (!(a.jpeg_quality_min >= 1 && a.jpeg_quality_min <= 100)) bad("JPEG quality minimum must be 1 to 100");
  if (a.cutmix_prob > 0 && !(a.mixup_alpha > 0))
    bad("cutmix needs --mixup ALPHA > 0: its box size is drawn from Beta(alpha, alpha)");
  if (o.optimizer != "sgd" && o.optimizer != "adamw") bad("optimizer must be sgd or adamw, got '" + o.optimizer + "'");
  if (!(o.kd_weight >= 0 && o.kd_weight <= 1)) bad("kd weight must be in [0, 1]");
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) bad("label smoothing must be in [0, 1)");
  if (!o.teacher_targets.empty() && !o.teacher_models.empty())
    bad("give a teacher model (--teacher) or teacher targets (--teacher-targets), not both");
  if (!o.teacher_targets.empty() && (o.kd_feature_weight > 0 || o.kd_attention_weight > 0))
    bad("feature and attention transfer need a teacher model running beside the student; teacher targets "
        "(--teacher-targets) hold its probabilities only: use --kd");
  if (!o.teacher_targets.empty() && !(o.kd_weight > 0)) bad("teacher targets need a KD weight (--kd W, W > 0)");
  if (!o.teacher_targets.empty() && !o.teacher_precision.empty())
    bad("--teacher-precision sets how teacher models run; with teacher targets (--teacher-targets) no teacher "
        "runs (their precision was chosen when fer teacher-targets computed them)");
  if ((o.kd_weight > 0 || o.kd_feature_weight > 0 || o.kd_attention_weight > 0) && o.teacher_models.empty() &&
      o.teacher_targets.empty())
    bad("distillation weights need a teacher model (--teacher FILE) or teacher targets (--teacher-targets FILE)");
  if ((o.kd_feature_weight > 0 || o.kd_attention_weight > 0) && o.teacher_models.size() > 1)
    bad("feature and attention transfer need exactly one teacher (" + std::to_string(o.teacher_models.size()) +
        " given); an ensemble of teachers distils through the KD term only (--kd)");
  for (const auto& t : o.teacher_models)
    if (t.empty()) bad("a teacher model path is empty");
  if (!(o.kd_temperature > 0 && std::isfinite(o.kd_temperature))) bad("kd temperature must be positive and finite");
  if (!o.teacher_precision.empty() && o.teacher_precision != "fp32" && o.teacher_precision != "bf16" &&
      o.teacher_precision != "int8")
    bad("teacher precision must be fp32, bf16 or int8 (or empty: the training precision), got '" +
        o.teacher_precision + "'");
  if (o.teacher_precision == "int8" && o.kd_attention_weight > 0)
    bad("attention transfer needs the teacher's attention maps, which its int8 path does not give: "
        "use --teacher-precision fp32 or bf16 with --kd-attention");
  if (o.ema_decay < 0 || o.ema_decay >= 1) bad("ema decay must be in [0, 1)");
  if (o.threads > kMaxThreads) bad("threads must be at most " + std::to_string(kMaxThreads) + " (0 = all cores)");
  if (o.world_size < 1 || o.batch_size % o.world_size != 0) bad("batch size must be divisible by world size");
  detail::check_precision(o.precision);
}

// What the packed cache of `spec` was made from, as far as a directory walk
// can tell without reading the images: every regular file under the
// dataset's path (a folder tree, or one csv file with, for AffectNet, the
// folder its images are relative to) and image root, by relative name, size
// and modification time. Summed per file, so the walk order does not matter.
// A changed, added or removed image or label file changes it, and the cache
// is rebuilt instead of training on the old images. Empty when the walk could
// not see everything (a folder vanishing or unreadable part-way): then no
// cache is used.
std::optional<uint64_t> dataset_source_stamp(const DatasetSpec& spec, const fs::path& cache_dir) {
  uint64_t stamp = 0;
  bool complete = true;
  std::error_code cache_ec;
  const fs::path cache = fs::weakly_canonical(cache_dir, cache_ec);
  auto add_file = [&](const fs::path& p, const std::string& name) {
    std::error_code size_ec, time_ec;
    auto size = fs::file_size(p, size_ec);
    auto time = fs::last_write_time(p, time_ec);
    if (size_ec || time_ec) {
      complete = false;
      return;
    }
    stamp += fnv1a(name + "|" + std::to_string(size) + "|" + std::to_string(time.time_since_epoch().count()));
  };
  auto add_tree = [&](const fs::path& base) {
    std::error_code ec;
    auto status = fs::status(base, ec);
    if (fs::is_regular_file(status)) {
      add_file(base, base.filename().string());
      return;
    }
    if (!fs::is_directory(status)) return;  // missing: the reader says so
    // Symlinked folders count (the readers follow them); the cache's own
    // folder (written while training) and anything deeper than any dataset
    // layout (a symlink loop) stay out.
    fs::recursive_directory_iterator it(base, fs::directory_options::follow_directory_symlink, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec, same_ec;
      if (it->is_directory(type_ec)) {
        if (it.depth() >= 8 || (!cache_ec && fs::equivalent(it->path(), cache, same_ec))) it.disable_recursion_pending();
      } else if (it->is_regular_file(type_ec)) {
        add_file(it->path(), it->path().lexically_relative(base).string());
      }
    }
    if (ec) complete = false;
  };
  add_tree(spec.path);
  if (spec.image_root.empty()) {
    if (spec.format == "affectnet") add_tree(fs::path(spec.path).parent_path());
  } else if (fs::path(spec.image_root).lexically_normal() != fs::path(spec.path).lexically_normal()) {
    add_tree(spec.image_root);
  }
  if (!complete) return std::nullopt;
  return stamp;
}

// The packed caches in `dir` whose names start with `prefix` (NAME-KEY).
std::vector<fs::path> caches_with_prefix(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        (name[prefix.size()] == '-' || name[prefix.size()] == '.') && it->path().extension() == ".ferpack")
      out.push_back(it->path());
  }
  return out;
}

Dataset load_dataset_cached(const DatasetSpec& spec, const std::string& cache_dir, bool written_by_another_rank) {
  std::string key = spec.format + "|" + fs::absolute(spec.path).lexically_normal().string() + "|" + spec.split + "|" +
                    spec.image_root + "|" + std::to_string(spec.width) + "x" + std::to_string(spec.height) + "x" +
                    std::to_string(spec.channels) + "|" + std::to_string(spec.resize);
  fs::path dir = cache_dir.empty() ? fs::path(".") : fs::path(cache_dir);
  std::string stem = fs::path(spec.path).filename().string();
  if (stem.empty()) stem = fs::path(spec.path).parent_path().filename().string();
  // NAME-KEY-STAMP.ferpack: KEY says which images and how they are decoded,
  // STAMP what the files were when the cache was written.
  const std::string prefix = stem + "-" + hex(fnv1a(key));
  if (written_by_another_rank) {
    // Data-parallel ranks read the cache rank 0 has just written or checked
    // (and left alone of its kind), not one of their own making: files
    // touched in between would otherwise give the ranks different data.
    auto made = caches_with_prefix(dir, prefix);
    if (made.size() == 1) {
      try {
        return read_packed_dataset(made[0].string());
      } catch (const Error& e) {  // removed or damaged since: fall back to this rank's own look
        std::fprintf(stderr, "fer: cache %s unusable (%s)\n", made[0].c_str(), e.what());
      }
    }
  }
  std::optional<uint64_t> stamp = dataset_source_stamp(spec, dir);
  if (!stamp) {
    std::fprintf(stderr, "fer: could not list every file of %s; reading it without the packed cache\n",
                 spec.path.c_str());
    return read_dataset(spec);
  }
  fs::path file = dir / (prefix + "-" + hex(*stamp) + ".ferpack");
  if (fs::exists(file)) {
    try {
      return read_packed_dataset(file.string());
    } catch (const Error& e) {
      std::fprintf(stderr, "fer: cache %s unusable (%s); rebuilding\n", file.c_str(), e.what());
    }
  }
  Dataset d = read_dataset(spec);
  fs::create_directories(dir);
  write_packed_dataset(d, file.string());
  // Caches of the same images made from older files (or by versions that
  // named them NAME-KEY.ferpack) would never be read again.
  for (const auto& stale : caches_with_prefix(dir, prefix)) {
    std::error_code ec;
    if (stale != file) fs::remove(stale, ec);
  }
  return d;
}

}  // namespace

Dataset load_dataset_cached(const DatasetSpec& spec, const std::string& cache_dir) {
  return load_dataset_cached(spec, cache_dir, /*written_by_another_rank=*/false);
}

namespace {

class Trainer {
  // A distillation teacher: a loaded model and its LibTorch modules.
  struct Teacher {
    std::shared_ptr<Model> model;
    std::shared_ptr<detail::BackboneImpl> backbone;
    std::shared_ptr<detail::HeadImpl> head;
  };

 public:
  Trainer(const TrainOptions& o) : o_(o), dp_(o.world_size, o.rank, o.master) {
    validate_options(o_);
    set_num_threads(o_.threads);
    out_ = o_.out_dir;
    ckpt_ = out_ / "checkpoint";
    if (dp_.rank() == 0) fs::create_directories(out_);
    // Rank 0 builds the packed dataset caches; the others wait and then read them.
    if (dp_.rank() != 0) dp_.barrier();
    try {
      setup_data();
    } catch (const Error& e) {  // a stop during decoding: the run's own message
      if (e.status() == Status::Cancelled) stop_before_training("reading the data");
      throw;
    }
    if (dp_.rank() == 0) dp_.barrier();
    // Reading (and caching) the data and loading the teachers can take minutes:
    // a stop requested meanwhile ends the run before its first step.
    stop_before_training("reading the data");
    setup_model();
    setup_teacher();
    stop_before_training("loading the model and teachers");
    setup_optimizer();
  }

  TrainResult run(const std::function<void(const EpochReport&)>& on_epoch) {
    int start_epoch = o_.resume ? load_checkpoint() : 0;
    if (start_epoch > 0 && dp_.rank() == 0)
      std::fprintf(stderr, "fer train: resuming after epoch %d from %s\n", start_epoch, ckpt_.c_str());
    dp_.broadcast(all_parameters(*backbone_, *head_));
    for (int epoch = start_epoch + 1; epoch <= o_.epochs; ++epoch) {
      EpochReport r = train_epoch(epoch);
      validate(r);
      history_.push_back(r);
      bool improved = !has_val() || r.val_accuracy > best_accuracy_;
      if (improved) {
        best_accuracy_ = has_val() ? r.val_accuracy : -1;
        best_epoch_ = epoch;
      }
      if (dp_.rank() == 0) {
        if (improved) export_model(eval_model(), (out_ / "best.fermodel").string(), r);
        save_checkpoint(epoch);
        // Rewritten whole from the history, so an interrupted run never leaves
        // a line for an epoch that its checkpoint does not have.
        std::string log;
        for (const auto& h : history_) log += report_json(h).dump() + "\n";
        write_text_atomic(out_ / "log.jsonl", log);
        std::fprintf(stderr,
                     "epoch %3d/%d  loss %.4f  train acc %.2f%%  val acc %s  val F1 %s  lr %.5f  %.0f s  %.0f img/s%s\n",
                     epoch, o_.epochs, r.train_loss, 100 * r.train_accuracy,
                     has_val() ? (std::to_string(100 * r.val_accuracy).substr(0, 5) + "%").c_str() : "-",
                     has_val() ? (std::to_string(100 * r.val_macro_f1).substr(0, 5) + "%").c_str() : "-", r.lr,
                     r.seconds, r.images_per_second, improved && has_val() ? "  *best" : "");
      }
      if (on_epoch) on_epoch(r);
    }
    // A stop requested during the last epoch's validation or checkpoint would
    // otherwise go unheeded: the run would calibrate and return as finished.
    if (o_.stop && o_.stop->load() && o_.calibration_images > 0)
      throw Error(Status::Cancelled, "training stopped on request after the last epoch, before the int8 calibration "
                                     "of " + (out_ / "best.fermodel").string() +
                                     "; the checkpoint is complete: rerun to calibrate");
    dp_.barrier();
    TrainResult result;
    result.history = history_;
    result.best_epoch = best_epoch_;
    result.best_path = (out_ / "best.fermodel").string();
    if (dp_.rank() == 0) calibrate_best(result.best_path);
    dp_.barrier();
    result.best = Model::load(result.best_path);
    return result;
  }

 private:
  bool has_val() const { return val_.size() > 0; }
  void stop_before_training(const std::string& phase) const {
    if (o_.stop && o_.stop->load())
      throw Error(Status::Cancelled, "training stopped on request while " + phase +
                                         ", before any step of this run (a checkpoint, if any, is as it was)");
  }
  std::string cache_dir() const { return o_.cache_dir.empty() ? (out_ / "cache").string() : o_.cache_dir; }
  // Whether the run's stop request interrupts the reading of the data itself
  // (it then replaces a stop set on the data specs). Not with several ranks:
  // rank 0 would leave the others waiting at its barrier (they stop after the
  // read, all together).
  bool stops_reading() const { return o_.stop && dp_.world_size() == 1; }

  void setup_data() {
    DatasetSpec t = o_.train_data;
    t.width = t.height = o_.input_size;
    t.channels = o_.channels;
    if (stops_reading()) t.stop = o_.stop;
    train_ = load_dataset_cached(t, cache_dir(), /*written_by_another_rank=*/dp_.rank() != 0);
    if (train_.size() < size_t(o_.batch_size))
      throw Error(Status::InvalidArgument, "training set has " + std::to_string(train_.size()) +
                                               " images, fewer than one batch of " + std::to_string(o_.batch_size));
    if (o_.soft_targets && !train_.has_soft_labels())
      throw Error(Status::InvalidArgument, "soft targets requested, but the " + t.format + " data has no soft labels");
    if (!o_.val_data.path.empty()) {
      DatasetSpec v = o_.val_data;
      v.width = v.height = o_.input_size;
      v.channels = o_.channels;
      if (stops_reading()) v.stop = o_.stop;
      val_ = load_dataset_cached(v, cache_dir(), /*written_by_another_rank=*/dp_.rank() != 0);
    }
    steps_per_epoch_ = int64_t(train_.size()) / o_.batch_size;
    if (o_.max_steps_per_epoch > 0) steps_per_epoch_ = std::min(steps_per_epoch_, o_.max_steps_per_epoch);
    if (o_.class_weights) {
      auto counts = train_.class_counts();
      std::vector<float> w;
      for (int64_t c : counts)
        w.push_back(c > 0 ? float(double(train_.size()) / (double(counts.size()) * double(c))) : 0.f);
      class_weights_ = torch::tensor(w);
    }
  }

  ModelInfo model_info() const {
    ModelInfo info;
    info.architecture = o_.architecture;
    info.architecture_config = o_.architecture_config;
    info.head = o_.head;
    info.head_config = o_.head_config;
    info.input.width = info.input.height = o_.input_size;
    info.input.channels = o_.channels;
    info.input.mean.assign(size_t(o_.channels), 0.5f);
    info.input.std.assign(size_t(o_.channels), 0.5f);
    info.crop.margin = o_.crop_margin;
    info.classes = train_.classes;
    return info;
  }

  void setup_model() {
    model_ = Model::create(model_info(), o_.seed);
    if (!o_.init_model.empty()) {
      auto init = Model::load(o_.init_model);
      model_->extractor().load_state(init->extractor().state());
      if (init->info().classes == model_->info().classes) model_->classifier().load_state(init->classifier().state());
    }
    std::tie(backbone_, head_) = detail::torch_modules(*model_);
    // Models are made channels-last (TorchExtractor); bf16 trains so, fp32
    // NCHW (see to_channels_first).
    if (o_.precision != "bf16") detail::to_channels_first(*backbone_);
    if (o_.ema_decay > 0) {
      auto bytes = model_->to_bytes();
      ema_ = Model::from_bytes(bytes.data(), bytes.size(), "ema");
    }
  }

  void setup_teacher() {
    if (!o_.teacher_targets.empty()) {
      TeacherTargets t = load_teacher_targets(o_.teacher_targets);
      const std::string what = "teacher targets " + o_.teacher_targets;
      if (t.classes != train_.classes)
        throw Error(Status::InvalidArgument, what + " have other classes than the training data");
      if (t.size() != train_.size() || t.dataset_fingerprint != dataset_fingerprint(train_))
        throw Error(Status::InvalidArgument,
                    what + " belong to another dataset (" + std::to_string(t.size()) + " images; the training data has " +
                        std::to_string(train_.size()) + ", or other images, labels or order): compute them on the "
                        "training data (fer teacher-targets)");
      targets_ = torch::from_blob(t.probabilities.data(),
                                  {int64_t(t.size()), int64_t(t.classes.size())}, torch::kFloat32).clone();
      targets_provenance_ = t.provenance;
    }
    for (const auto& path : o_.teacher_models) {
      Teacher t;
      t.model = Model::load(path);
      if (t.model->info().classes != train_.classes)
        throw Error(Status::InvalidArgument, "teacher " + path + " has other classes than the training data");
      std::tie(t.backbone, t.head) = detail::torch_modules(*t.model);
      if (teacher_precision() == "int8") {
        if (!t.model->extractor().supports_int8())
          throw Error(Status::Unsupported, "teacher " + path + ": its architecture (" +
                                               t.model->info().architecture + ") has no int8 path; use "
                                               "--teacher-precision fp32 or bf16");
        t.model->set_precision(Precision::Int8);  // throws when the file has no int8 calibration
      }
      // Teachers run forward passes only, channels-last as every loaded model.
      t.backbone->eval();
      t.head->eval();
      teachers_.push_back(std::move(t));
    }
    if (o_.kd_feature_weight > 0)
      adapter_ = torch::nn::Linear(backbone_->feature_dim(), teachers_.front().backbone->feature_dim());
  }

  void setup_optimizer() {
    std::vector<torch::Tensor> params = all_parameters(*backbone_, *head_);
    if (adapter_) for (auto& p : adapter_->parameters()) params.push_back(p);
    detail::OptimizerSpec spec;
    spec.name = o_.optimizer;
    spec.lr = o_.lr;
    spec.momentum = o_.momentum;
    spec.weight_decay = o_.weight_decay;
    spec.norm_bias_decay = o_.norm_bias_decay;
    optimizer_ = detail::make_optimizer(spec, params);
  }

  double lr_at(int64_t step) const {
    const double total = double(o_.epochs) * double(steps_per_epoch_);
    const double warm = std::min(total, o_.warmup_epochs * double(steps_per_epoch_));
    if (double(step) < warm) return o_.lr * double(step + 1) / warm;
    double progress = total > warm ? (double(step) - warm) / (total - warm) : 1.0;
    double low = o_.lr * o_.min_lr_ratio;
    return low + (o_.lr - low) * 0.5 * (1 + std::cos(M_PI * progress));
  }

  // The global batch `step` of the epoch's permutation, augmented; this rank keeps its slice.
  detail::Batch make_batch(const std::vector<int64_t>& perm, int64_t step, at::Generator& gen) const {
    std::vector<int64_t> idx(perm.begin() + step * o_.batch_size, perm.begin() + (step + 1) * o_.batch_size);
    detail::Batch b;
    b.images = detail::dataset_images(train_, idx, model_->info().input);
    b.labels = detail::dataset_labels(train_, idx);
    if (o_.soft_targets) b.soft = detail::dataset_soft_labels(train_, idx);
    if (targets_.defined()) b.teacher = targets_.index_select(0, torch::tensor(idx, torch::kInt64));
    detail::augment_batch(b, o_.augment, int64_t(train_.classes.size()), gen);
    if (dp_.world_size() > 1) {
      int64_t per = o_.batch_size / dp_.world_size(), at = per * dp_.rank();
      b.images = b.images.narrow(0, at, per);
      b.labels = b.labels.narrow(0, at, per);
      if (b.soft.defined()) b.soft = b.soft.narrow(0, at, per);
      if (b.teacher.defined()) b.teacher = b.teacher.narrow(0, at, per);
    }
    return b;
  }

  EpochReport train_epoch(int epoch) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(derive_seed(o_.seed, epoch, 1));
    torch::manual_seed(derive_seed(o_.seed, epoch, 2));  // dropout and other module randomness
    torch::Tensor perm_t = torch::randperm(int64_t(train_.size()), gen);
    std::vector<int64_t> perm(perm_t.data_ptr<int64_t>(), perm_t.data_ptr<int64_t>() + perm_t.numel());

    backbone_->train();
    head_->train();
    const InputSpec& input = model_->info().input;
    detail::ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(o_.epochs), steps_per_epoch_,
                            o_.progress && dp_.rank() == 0);
    double loss_sum = 0, correct = 0, seen = 0;
    int64_t global_step = int64_t(epoch - 1) * steps_per_epoch_;
    // The next batch is prepared while the current one trains.
    std::future<detail::Batch> next = std::async(std::launch::async, [&] { return make_batch(perm, 0, gen); });
    for (int64_t step = 0; step < steps_per_epoch_; ++step) {
      detail::Batch b = next.get();
      if (o_.stop && o_.stop->load()) {
        int done = epoch - 1;
        throw Error(Status::Cancelled, "training stopped on request during epoch " + std::to_string(epoch) +
                                           (done > 0 ? "; the checkpoint after epoch " + std::to_string(done) +
                                                           " in " + ckpt_.string() + " is intact: rerun to resume"
                                                     : "; no epoch was complete, nothing to resume"));
      }
      if (step + 1 < steps_per_epoch_)
        next = std::async(std::launch::async, [&, step] { return make_batch(perm, step + 1, gen); });
      double lr = lr_at(global_step + step);
      for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);

      torch::Tensor x = detail::normalize_images(b.images, input);
      detail::ForwardOutput out = detail::forward_model(*backbone_, *head_, x, o_.precision);
      torch::Tensor loss = task_loss(out, b);
      if (!teachers_.empty() || b.teacher.defined()) loss = distillation(loss, out, b);
      if (o_.dlp_weight > 0) loss = loss + o_.dlp_weight * detail::dlp_loss(out.features, hard_labels(b), o_.dlp_k);
      const double loss_value = loss.item<double>();
      bool finite = std::isfinite(loss_value);
      if (dp_.world_size() > 1) finite = dp_.sum({finite ? 0.0 : 1.0})[0] == 0;  // all ranks stop together
      if (!finite) throw diverged(epoch, step, lr);

      optimizer_->zero_grad();
      loss.backward();
      auto params = all_parameters(*backbone_, *head_);
      if (adapter_) for (auto& p : adapter_->parameters()) params.push_back(p);
      dp_.average_gradients(params);
      if (o_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o_.grad_clip);
      optimizer_->step();
      update_ema(global_step + step);

      double n = double(b.labels.size(0));
      loss_sum += loss_value * n;
      correct += out.logits.argmax(1).eq(hard_labels(b)).sum().item<double>();
      seen += n;
      bar.update(step + 1, int64_t(seen) * dp_.world_size(), loss_sum / seen);
    }
    bar.finish();
    auto totals = dp_.sum({loss_sum, correct, seen});
    EpochReport r;
    r.epoch = epoch;
    r.train_loss = totals[0] / totals[2];
    r.train_accuracy = totals[1] / totals[2];
    r.lr = lr_at(global_step + steps_per_epoch_ - 1);
    r.seconds = bar.seconds();
    r.images_per_second = totals[2] / std::max(1e-9, r.seconds);
    return r;
  }

  // A non-finite loss: the weights would turn to NaN with this step. The
  // checkpoint of the last complete epoch on disk is untouched.
  Error diverged(int epoch, int64_t step, double lr) const {
    int done = epoch - 1;
    return Error(Status::InvalidArgument,
                 "training diverged: the loss is not finite (NaN or Inf) at epoch " + std::to_string(epoch) + ", step " +
                     std::to_string(step + 1) + " (lr " + std::to_string(lr) +
                     "); lower --lr, raise --warmup or set --grad-clip" +
                     (done > 0 ? "; the checkpoint after epoch " + std::to_string(done) + " in " + ckpt_.string() +
                                     " is intact (rerun to resume from it with the new settings)"
                               : ""));
  }

  torch::Tensor hard_labels(const detail::Batch& b) const {
    return b.soft.defined() ? b.soft.argmax(1) : b.labels;
  }

  torch::Tensor task_loss(const detail::ForwardOutput& out, const detail::Batch& b) const {
    if (b.soft.defined()) {
      torch::Tensor t = b.soft;
      if (o_.label_smoothing > 0) t = t * (1 - o_.label_smoothing) + o_.label_smoothing / double(t.size(1));
      return detail::soft_cross_entropy_loss(out.logits, t, class_weights_);
    }
    return detail::cross_entropy_loss(out.logits, b.labels, o_.label_smoothing, class_weights_);
  }

  // A teacher's outputs on the batch, at its own input size and channels.
  detail::ForwardOutput teacher_forward(const Teacher& teacher, const torch::Tensor& images) const {
    const InputSpec& tin = teacher.model->info().input;
    torch::Tensor tx = images;
    if (tin.channels != images.size(1) || tin.height != images.size(2) || tin.width != images.size(3)) {
      namespace F = torch::nn::functional;
      if (tin.channels == 3 && tx.size(1) == 1) tx = tx.expand({tx.size(0), 3, tx.size(2), tx.size(3)});
      if (tin.channels == 1 && tx.size(1) == 3) tx = tx.mean(1, true);
      tx = F::interpolate(tx, F::InterpolateFuncOptions().size(std::vector<int64_t>{tin.height, tin.width})
                                  .mode(torch::kBilinear).align_corners(false));
    }
    torch::NoGradGuard no_grad;
    torch::Tensor x = detail::normalize_images(tx, tin);
    if (teacher_precision() == "int8") {
      detail::ForwardOutput out;
      out.features = detail::int8_features(teacher.model->extractor(), x.contiguous());
      out.logits = teacher.head->forward_logits(out.features);
      return out;
    }
    return detail::forward_model(*teacher.backbone, *teacher.head, x, teacher_precision());
  }

  const std::string& teacher_precision() const {
    return o_.teacher_precision.empty() ? o_.precision : o_.teacher_precision;
  }

  torch::Tensor distillation(const torch::Tensor& task, const detail::ForwardOutput& s, const detail::Batch& b) {
    if (b.teacher.defined()) {  // offline targets: log-probabilities are logits up to a constant per row
      torch::Tensor teacher_logits = b.teacher.clamp_min(1e-8f).log();
      return (1 - o_.kd_weight) * task +
             o_.kd_weight * detail::kd_logit_loss(s.logits, teacher_logits, o_.kd_temperature);
    }
    detail::ForwardOutput t = teacher_forward(teachers_.front(), b.images);
    torch::Tensor teacher_logits = t.logits;
    if (teachers_.size() > 1) {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> members = {t.logits};
      for (size_t i = 1; i < teachers_.size(); ++i) members.push_back(teacher_forward(teachers_[i], b.images).logits);
      teacher_logits = detail::ensemble_teacher_logits(members, o_.kd_temperature);
    }
    torch::Tensor loss = (1 - o_.kd_weight) * task;
    if (o_.kd_weight > 0) loss = loss + o_.kd_weight * detail::kd_logit_loss(s.logits, teacher_logits, o_.kd_temperature);
    if (adapter_)
      loss = loss + o_.kd_feature_weight *
                        torch::mse_loss(adapter_->forward(s.features.to(torch::kFloat32)), t.features.to(torch::kFloat32));
    if (o_.kd_attention_weight > 0 && s.attention.defined() && t.attention.defined())
      loss = loss + o_.kd_attention_weight * detail::attention_transfer_loss(s.attention, t.attention);
    return loss;
  }

  // After optimiser step `k` (0-based over the run). The decay warms up as
  // min(decay, (1 + k) / (10 + k)), so that the average forgets the random
  // initial weights within the first steps instead of keeping 0.999^k of them
  // (with --ema 0.999 a short run's EMA model was mostly its initialisation).
  // It depends on k alone, so a resumed run averages as an uninterrupted one.
  // Batch-norm statistics are averaged alongside (detail::ema_step): the raw
  // model's belong to other weights.
  void update_ema(int64_t k) {
    if (!ema_) return;
    auto [eb, eh] = detail::torch_modules(*ema_);
    const double decay = std::min(o_.ema_decay, double(1 + k) / double(10 + k));
    auto with_buffers = [](torch::nn::Module& b, torch::nn::Module& h) {
      std::vector<torch::Tensor> all = all_parameters(b, h);
      for (torch::nn::Module* m : {&b, &h})
        for (const torch::Tensor& t : m->buffers()) all.push_back(t);
      return all;
    };
    detail::ema_step(with_buffers(*eb, *eh), with_buffers(*backbone_, *head_), decay);
  }

  Model& eval_model() { return ema_ ? *ema_ : *model_; }

  void validate(EpochReport& r) {
    if (!has_val()) return;
    backbone_->eval();
    head_->eval();
    EvalOptions eo;
    eo.tta = "none";  // the view models are selected in; fer choose-view picks a model's own view afterwards
    eo.precision = o_.precision;
    eo.threads = o_.threads;
    EvalReport e = evaluate(eval_model(), val_, eo);
    r.val_accuracy = e.accuracy;
    r.val_macro_f1 = e.macro_f1;
    r.val_loss = e.loss;
  }

  void export_model(Model& m, const std::string& path, const EpochReport& r) {
    auto [b, h] = detail::torch_modules(m);
    b->eval();
    h->eval();
    ModelInfo saved = m.info();
    m.info().trained = true;
    auto& p = m.info().provenance;
    p = o_.provenance;
    p["dataset"] = o_.train_data.path;
    p["format"] = o_.train_data.format;
    p["train_split"] = o_.train_data.split.empty() ? "all" : o_.train_data.split;
    p["val_data"] = o_.val_data.path.empty() ? "none" : o_.val_data.path + (o_.val_data.split.empty() ? "" : ":" + o_.val_data.split);
    p["epochs"] = std::to_string(o_.epochs);
    p["best_epoch"] = std::to_string(r.epoch);
    p["precision"] = o_.precision;
    p["command"] = o_.command_line;
    p["date"] = utc_now();
    p["hardware"] = cpu_name() + ", " + std::to_string(num_threads()) + " threads x " + std::to_string(dp_.world_size()) + " process(es)";
    double wall = 0;
    for (const auto& h : history_) wall += h.seconds;
    p["train_seconds"] = std::to_string(int64_t(wall));
    if (!o_.teacher_models.empty()) {
      std::string teachers;
      for (const auto& t : o_.teacher_models) teachers += (teachers.empty() ? "" : ", ") + t;
      p["teacher"] = teachers;
      p["teacher_precision"] = teacher_precision();
    }
    if (!o_.teacher_targets.empty()) {
      p["teacher_targets"] = o_.teacher_targets;
      p["teacher_targets_provenance"] = targets_provenance_;
    }
    auto& mt = m.info().metrics;
    mt.clear();
    mt["train_loss"] = r.train_loss;
    mt["train_accuracy"] = r.train_accuracy;
    if (has_val()) {
      mt["val_accuracy"] = r.val_accuracy;
      mt["val_macro_f1"] = r.val_macro_f1;
    }
    m.save(path);
    m.info() = saved;
    backbone_->train();
    head_->train();
  }

  // int8 calibration of the exported model on training images (see
  // TrainOptions::calibration_images); deterministic, so a rerun of a finished
  // run rewrites the same file.
  void calibrate_best(const std::string& path) const {
    if (o_.calibration_images <= 0) return;
    auto best = Model::load(path);
    if (!best->extractor().supports_int8()) return;
    CalibrationOptions co;
    co.images = o_.calibration_images;
    co.seed = o_.seed;
    co.threads = o_.threads;
    co.source = "the training data " + o_.train_data.path +
                (o_.train_data.split.empty() ? "" : " (split " + o_.train_data.split + ")");
    calibrate(*best, train_, co);
    best->save(path);
  }

  std::string fingerprint() const {
    return hex(fnv1a(o_.architecture + "|" + o_.head + "|" + std::to_string(o_.input_size) + "|" +
                     std::to_string(o_.channels) + "|" + o_.optimizer + "|" + o_.train_data.path + "|" +
                     std::to_string(o_.batch_size) + "|" + std::to_string(o_.seed)));
  }
  // What else a checkpoint must agree on: which images (format, split, image
  // root), the network's and head's options, the crop, whether soft targets,
  // an EMA copy or a feature adapter are part of the state. Stored beside
  // fingerprint() (checkpoints written before it was added still resume).
  std::string data_and_state_fingerprint() const {
    auto config = [](const Config& c) {
      std::string s;
      for (const auto& [k, v] : c.values()) s += k + "=" + v + ";";
      return s;
    };
    return hex(fnv1a(o_.train_data.format + "|" + o_.train_data.split + "|" + o_.train_data.image_root + "|" +
                     config(o_.architecture_config) + "|" + config(o_.head_config) + "|" +
                     std::to_string(o_.crop_margin) + "|" + (o_.soft_targets ? "soft" : "hard") + "|" +
                     (ema_ ? "ema" : "") + "|" + (adapter_ ? "adapter" : "") +
                     // the optimiser's parameter groups (appended only when not the default, so
                     // that checkpoints written before the option existed still resume)
                     (o_.norm_bias_decay ? "" : "|no-norm-bias-decay")));
  }

  // A checkpoint is a folder written complete under checkpoint.tmp/ and then
  // swapped in by renames (checkpoint/ -> checkpoint.old/, checkpoint.tmp/ ->
  // checkpoint/), so a run killed at any moment leaves one complete checkpoint:
  // checkpoint/, or checkpoint.old/ if it died between the two renames.
  void save_checkpoint(int epoch) {
    const fs::path tmp = out_ / "checkpoint.tmp", old = out_ / "checkpoint.old";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    model_->save((tmp / "model.fermodel").string());
    if (ema_) ema_->save((tmp / "ema.fermodel").string());
    torch::save(*optimizer_, (tmp / "optimizer.pt").string());
    detail::sync_file((tmp / "optimizer.pt").string());  // on disk before state.json says the folder is complete
    if (adapter_) {
      torch::save(adapter_, (tmp / "adapter.pt").string());
      detail::sync_file((tmp / "adapter.pt").string());
    }
    json s;
    s["epoch"] = epoch;
    s["best_accuracy"] = best_accuracy_;
    s["best_epoch"] = best_epoch_;
    s["fingerprint"] = fingerprint();
    s["data_and_state_fingerprint"] = data_and_state_fingerprint();
    s["history"] = json::array();
    for (const auto& h : history_) s["history"].push_back(report_json(h));
    write_text_atomic(tmp / "state.json", s.dump(1, ' ', false, json::error_handler_t::replace));  // written last: marks the checkpoint complete
    detail::sync_directory(tmp.string());
    // checkpoint.old/ goes only once checkpoint/ holds a newer complete one (after a resume from
    // checkpoint.old/, it is the only complete checkpoint until tmp is renamed).
    if (fs::exists(ckpt_)) {
      fs::remove_all(old);
      fs::rename(ckpt_, old);
    }
    fs::rename(tmp, ckpt_);
    detail::sync_directory(out_.string());
    fs::remove_all(old);
  }

  // The folder holding the last complete checkpoint, or empty.
  fs::path complete_checkpoint() const {
    for (const fs::path& dir : {ckpt_, out_ / "checkpoint.old"})
      if (fs::exists(dir / "state.json")) return dir;
    return {};
  }

  int load_checkpoint() {
    const fs::path dir = complete_checkpoint();
    if (dir.empty()) return 0;
    const fs::path state = dir / "state.json";
    json s;
    try {
      s = json::parse(std::ifstream(state));
    } catch (const json::exception& e) {
      throw Error(Status::CorruptData, "checkpoint " + state.string() + " is not valid JSON: " + e.what());
    }
    const std::string other_run = "checkpoint in " + dir.string() + " belongs to a run with other ";
    const std::string remedy = "; use another --out, or --no-resume to start over there";
    if (s.value("fingerprint", "") != fingerprint())
      throw Error(Status::InvalidArgument, other_run + "options (architecture, head, input, optimizer, data, batch "
                                                       "or seed)" + remedy);
    // A checkpoint older than the second fingerprint has one optimiser parameter group.
    if (!s.contains("data_and_state_fingerprint") && !o_.norm_bias_decay)
      throw Error(Status::InvalidArgument, other_run + "options (--no-norm-bias-decay)" + remedy);
    if (s.contains("data_and_state_fingerprint") && s.value("data_and_state_fingerprint", "") != data_and_state_fingerprint())
      throw Error(Status::InvalidArgument, other_run + "options (data format, split or image root, network or head "
                                                       "options, crop margin, soft targets, --ema, --kd-feature or "
                                                       "--no-norm-bias-decay)" +
                                                       remedy);
    auto saved = Model::load((dir / "model.fermodel").string());
    if (saved->info().classes != model_->info().classes)
      throw Error(Status::InvalidArgument, other_run + "classes" + remedy);
    model_->extractor().load_state(saved->extractor().state());
    model_->classifier().load_state(saved->classifier().state());
    if (ema_) {
      auto e = Model::load((dir / "ema.fermodel").string());
      ema_->extractor().load_state(e->extractor().state());
      ema_->classifier().load_state(e->classifier().state());
    }
    torch::load(*optimizer_, (dir / "optimizer.pt").string());
    if (adapter_) torch::load(adapter_, (dir / "adapter.pt").string());
    best_accuracy_ = s.at("best_accuracy");
    best_epoch_ = s.at("best_epoch");
    for (const auto& h : s.at("history")) history_.push_back(report_from_json(h));
    backbone_->train();
    head_->train();
    return s.at("epoch").get<int>();
  }

  TrainOptions o_;
  detail::DataParallel dp_;
  fs::path out_, ckpt_;
  Dataset train_, val_;
  int64_t steps_per_epoch_ = 0;
  torch::Tensor class_weights_;
  std::shared_ptr<Model> model_, ema_;
  std::shared_ptr<detail::BackboneImpl> backbone_;
  std::shared_ptr<detail::HeadImpl> head_;
  std::vector<Teacher> teachers_;
  torch::Tensor targets_;  // offline teacher targets, N x K probabilities in training-data order
  std::string targets_provenance_;
  torch::nn::Linear adapter_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<EpochReport> history_;
  double best_accuracy_ = -1;
  int best_epoch_ = 0;
};

}  // namespace

TrainResult train(const TrainOptions& options, const std::function<void(const EpochReport&)>& on_epoch) {
  Trainer trainer(options);
  return trainer.run(on_epoch);
}

}  // namespace fer
