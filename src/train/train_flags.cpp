// TrainOptions from `fer train` flags by name: the one mapping that the fer
// program, recipe files and the C API's options_json share.
#include <fer/error.hpp>
#include <fer/threads.hpp>
#include <fer/train.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>

namespace fer {

namespace {

const char* const kSwitches[] = {"soft-targets", "class-weights", "no-augment", "no-resume", "no-progress",
                                 "no-norm-bias-decay"};
const char* const kRepeatable[] = {"arch-opt", "head-opt", "teacher"};

[[noreturn]] void bad(const std::string& message) { throw Error(Status::InvalidArgument, message); }

// Reads the flags of one map, each by its type; the last value of a flag given twice wins.
class FlagReader {
 public:
  explicit FlagReader(const std::map<std::string, std::vector<std::string>>& flags) : flags_(flags) {}

  const std::string* last(const std::string& k) const {
    auto it = flags_.find(k);
    return it == flags_.end() || it->second.empty() ? nullptr : &it->second.back();
  }
  void text(const std::string& k, std::string& out) const {
    if (const std::string* v = last(k)) out = *v;
  }
  template <class T>
  void real(const std::string& k, T& out) const {
    const std::string* v = last(k);
    if (!v) return;
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(*v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v->size() || !std::isfinite(x)) bad("--" + k + " needs a finite number, got '" + *v + "'");
    if (std::fabs(x) > double(std::numeric_limits<T>::max())) bad("--" + k + " is out of range: " + *v);
    out = T(x);
  }
  template <class T>
  void whole(const std::string& k, T& out, long long lo, long long hi) const {
    const std::string* v = last(k);
    if (!v) return;
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(*v, &used);
    } catch (const std::out_of_range&) {
      bad("--" + k + " is out of range: " + *v);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v->size()) {  // also a whole number written as a real one: 40.0, 1e3
      double d = 0;
      try {
        d = std::stod(*v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != v->size() || !std::isfinite(d) || d != std::floor(d))
        bad("--" + k + " needs a whole number, got '" + *v + "'");
      if (!(std::fabs(d) < 9.2e18)) bad("--" + k + " is out of range: " + *v);
      x = static_cast<long long>(d);
    }
    if (x < lo || x > hi)
      bad("--" + k + " needs a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + *v);
    out = T(x);
  }
  // A switch: given (and not "0") = on; not given: `out` keeps its value.
  void on_off(const std::string& k, bool& out, bool value_when_on) const {
    if (const std::string* v = last(k)) {
      if (*v != "1" && *v != "0") bad("--" + k + " is a switch: 1 (on) or 0 (off), got '" + *v + "'");
      out = *v == "1" ? value_when_on : !value_when_on;
    }
  }
  void config(const std::string& k, Config& out) const {
    auto it = flags_.find(k);
    if (it == flags_.end()) return;
    for (const auto& kv : it->second) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) bad("--" + k + " needs KEY=VALUE, got '" + kv + "'");
      out.set(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }

 private:
  const std::map<std::string, std::vector<std::string>>& flags_;
};

}  // namespace

const std::vector<std::string>& train_flag_names() {
  static const std::vector<std::string> names = {
      "data", "format", "split", "val", "val-format", "val-split", "image-root", "cache", "soft-targets",
      "arch", "arch-opt", "head", "head-opt", "input-size", "channels", "crop-margin", "init", "epochs", "batch",
      "optimizer", "lr", "momentum", "weight-decay", "no-norm-bias-decay", "warmup", "min-lr-ratio", "grad-clip",
      "ema", "label-smoothing", "class-weights", "no-augment", "crop-scale", "rotate", "erase", "mixup", "cutmix",
      "jpeg", "jpeg-quality", "dlp", "dlp-k", "teacher", "teacher-precision", "teacher-targets", "kd", "kd-t",
      "kd-feature", "kd-attention", "out", "no-resume", "seed", "precision", "threads", "max-steps", "no-progress",
      "calibrate", "world-size", "rank", "master"};
  return names;
}

bool is_train_switch(const std::string& name) {
  return std::find(std::begin(kSwitches), std::end(kSwitches), name) != std::end(kSwitches);
}

void apply_train_flags(TrainOptions& o, const std::map<std::string, std::vector<std::string>>& flags) {
  const auto& names = train_flag_names();
  for (const auto& kv : flags)  // a flag given twice: its last value counts (as on a command line)
    if (std::find(names.begin(), names.end(), kv.first) == names.end()) bad("fer train has no option --" + kv.first);
  const FlagReader f(flags);
  // Into a copy: a flag that does not parse leaves `o` as it was.
  TrainOptions t = o;
  f.text("data", t.train_data.path);
  if (const std::string* v = f.last("format")) t.train_data.format = t.val_data.format = *v;
  f.text("val-format", t.val_data.format);
  f.text("split", t.train_data.split);
  if (const std::string* v = f.last("image-root")) t.train_data.image_root = t.val_data.image_root = *v;
  f.text("val", t.val_data.path);
  f.text("val-split", t.val_data.split);
  f.text("cache", t.cache_dir);
  f.on_off("soft-targets", t.soft_targets, true);
  f.text("arch", t.architecture);
  f.config("arch-opt", t.architecture_config);
  f.text("head", t.head);
  f.config("head-opt", t.head_config);
  f.whole("input-size", t.input_size, INT_MIN, INT_MAX);
  f.whole("channels", t.channels, INT_MIN, INT_MAX);
  f.real("crop-margin", t.crop_margin);
  f.text("init", t.init_model);
  f.whole("epochs", t.epochs, 1, INT_MAX);
  f.whole("batch", t.batch_size, 1, INT_MAX);
  f.text("optimizer", t.optimizer);
  f.real("lr", t.lr);
  f.real("momentum", t.momentum);
  f.real("weight-decay", t.weight_decay);
  f.on_off("no-norm-bias-decay", t.norm_bias_decay, false);
  f.real("warmup", t.warmup_epochs);
  f.real("min-lr-ratio", t.min_lr_ratio);
  f.real("grad-clip", t.grad_clip);
  f.real("ema", t.ema_decay);
  f.real("label-smoothing", t.label_smoothing);
  f.on_off("class-weights", t.class_weights, true);
  f.on_off("no-augment", t.augment.enabled, false);
  f.real("crop-scale", t.augment.crop_scale_min);
  f.real("rotate", t.augment.rotate_degrees);
  f.real("erase", t.augment.erase_prob);
  f.real("mixup", t.augment.mixup_alpha);
  f.real("cutmix", t.augment.cutmix_prob);
  f.real("jpeg", t.augment.jpeg_prob);
  f.whole("jpeg-quality", t.augment.jpeg_quality_min, 1, 100);
  f.real("dlp", t.dlp_weight);
  f.whole("dlp-k", t.dlp_k, INT_MIN, INT_MAX);
  if (auto it = flags.find("teacher"); it != flags.end()) t.teacher_models = it->second;  // replaces the list
  f.text("teacher-precision", t.teacher_precision);
  f.text("teacher-targets", t.teacher_targets);
  f.real("kd", t.kd_weight);
  f.real("kd-t", t.kd_temperature);
  f.real("kd-feature", t.kd_feature_weight);
  f.real("kd-attention", t.kd_attention_weight);
  f.text("out", t.out_dir);
  f.on_off("no-resume", t.resume, false);
  f.whole("seed", t.seed, 0, std::numeric_limits<long long>::max());
  f.text("precision", t.precision);
  f.whole("threads", t.threads, 0, kMaxThreads);
  f.whole("max-steps", t.max_steps_per_epoch, 0, std::numeric_limits<long long>::max());
  f.on_off("no-progress", t.progress, false);
  f.whole("calibrate", t.calibration_images, 0, INT_MAX);
  f.whole("world-size", t.world_size, INT_MIN, INT_MAX);
  f.whole("rank", t.rank, INT_MIN, INT_MAX);
  f.text("master", t.master);
  o = std::move(t);
}

std::map<std::string, std::vector<std::string>> train_flags_from_json(const std::string& json_object) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_object);
  } catch (const std::exception& e) {
    bad(std::string("training flags: not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad("training flags: a JSON object of fer train flag names to values is needed");
  const auto& names = train_flag_names();
  std::map<std::string, std::vector<std::string>> flags;
  for (const auto& item : j.items()) {
    const std::string k = item.key();
    const nlohmann::json& v = item.value();
    if (std::find(names.begin(), names.end(), k) == names.end()) bad("fer train has no option --" + k);
    if (is_train_switch(k) != v.is_boolean())
      bad("training flags: " + k + (v.is_boolean() ? " takes a value, not true or false" : " is a switch: true or false"));
    auto text = [&](const nlohmann::json& e) {
      if (!e.is_string() && !e.is_number()) bad("training flags: " + k + " needs a string or a number");
      return e.is_string() ? e.get<std::string>() : e.dump();
    };
    if (v.is_boolean()) {
      flags[k].push_back(v.get<bool>() ? "1" : "0");
    } else if (v.is_array()) {
      if (std::find(std::begin(kRepeatable), std::end(kRepeatable), k) == std::end(kRepeatable))
        bad("training flags: " + k + " takes one value, not a list");
      auto& values = flags[k];  // present even when empty: "teacher": [] clears the teachers
      for (const auto& e : v) values.push_back(text(e));
    } else {
      flags[k].push_back(text(v));
    }
  }
  return flags;
}

}  // namespace fer
