// `fer train` and `fer eval`: the training engine and evaluation from the command line.
#include "commands.hpp"

#include <fer/fer.hpp>
#include <fer/train.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cctype>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace fer_cli {

namespace {

const char* kTrainUsage =
    "usage: fer train --data PATH [options]\n"
    "\n"
    "Trains a recognizer; writes OUT/best.fermodel, OUT/log.jsonl and a resumable OUT/checkpoint/.\n"
    "\n"
    "data:\n"
    "  --data PATH            training data                --format F   folder|fer2013csv|ferplus|rafdb|affectnet (folder)\n"
    "  --split S              subset of the data (format-specific, e.g. Training)\n"
    "  --val PATH             validation data (selects the best epoch; a test split is refused)\n"
    "  --val-format F         (default: --format)          --val-split S\n"
    "  --image-root DIR       images of csv formats        --cache DIR  packed dataset caches (OUT/cache)\n"
    "  --soft-targets         train on soft labels (FERPlus vote distribution)\n"
    "model:\n"
    "  --arch NAME            feature extractor (small_cnn) --arch-opt K=V  extractor option (repeatable)\n"
    "  --head NAME            linear|cosine (linear)        --head-opt K=V  head option (repeatable)\n"
    "  --input-size N         (48)   --channels 1|3 (1)   --init FILE  start weights\n"
    "  --crop-margin F (0.1)  context around the face in the training images, recorded for inference crops\n"
    "                         (the training images are not re-cropped)\n"
    "optimisation:\n"
    "  --epochs N (30)  --batch N (64)  --optimizer sgd|adamw (sgd)  --lr F (0.01)  --momentum F (0.9)\n"
    "  --weight-decay F (5e-4)  --no-norm-bias-decay (no decay on batch-norm parameters and biases)\n"
    "  --warmup EPOCHS (1)  --min-lr-ratio F (0)  --grad-clip NORM (off)\n"
    "  --ema DECAY (off)  --label-smoothing F (0)  --class-weights\n"
    "augmentation:\n"
    "  --no-augment  --crop-scale F (0.8)  --rotate DEG (10)  --erase P (0.25)  --mixup ALPHA (0)  --cutmix P (0)\n"
    "  --jpeg P (0)  --jpeg-quality Q (60)   re-encode a sample as JPEG with probability P, quality Q to 100\n"
    "losses:\n"
    "  --dlp W  --dlp-k K (5)            deep locality-preserving loss\n"
    "  --teacher FILE  --kd W  --kd-t T (4)  --kd-feature W  --kd-attention W   distillation\n"
    "                         (--teacher repeated: distil the teachers' ensemble, KD term only)\n"
    "  --teacher-precision fp32|bf16|int8 (--precision)   the teachers' forward passes; int8: calibrated\n"
    "                         teachers with an int8 path, about 2x faster than bf16 where the CPU has VNNI\n"
    "  --teacher-targets FILE --kd W   offline distillation: the teachers' probabilities for every training\n"
    "                         image, computed once by fer teacher-targets (no teacher runs while training)\n"
    "run:\n"
    "  --out DIR (runs/train)  --no-resume  --seed N (0)  --precision fp32|bf16 (fp32)  --threads N\n"
    "  --max-steps N (per epoch; 0 = all)  --no-progress  --config FILE (JSON: flag names -> values, a switch\n"
    "                         true or false; the command line wins, --switch=false turns one off)\n"
    "  --calibrate N (2000)   int8 calibration of best.fermodel on N training images at the end (0 = none;\n"
    "                         architectures with an int8 path: small_cnn, resnet18, resnet34, acnn, vit_asf)\n"
    "  --world-size N  --rank R  --master HOST:PORT   data-parallel training over Gloo\n";

const char* kEvalUsage =
    "usage: fer eval --data PATH [--model FILE]... [options]\n"
    "\n"
    "Evaluates a model (default: the pipeline's default model) on a labelled dataset; with\n"
    "several --model, their ensemble (the mean of their class probabilities; same classes).\n"
    "  --format F        folder|fer2013csv|ferplus|rafdb|affectnet (folder)\n"
    "  --split S         --image-root DIR   --resize (resize images of another size)\n"
    "  --json            print the report as JSON (accuracy, macro_f1, per_class, confusion, ...)\n"
    "  --per-image       with --json: also \"correct\", one character per image in dataset order\n"
    "                    ('1' right, '0' wrong), for paired comparisons of two models\n"
    "  --tta auto|none|center|flip|tencrop   test-time view (auto: each model's own view, fer info's\n"
    "                    \"view\"): none is the image as it is, center one pass over the centre crop of 90%\n"
    "                    of the area (the mean zoom of training's random crops), flip averages the image and\n"
    "                    its mirror image, tencrop 5 crops of 90% of the area and their mirrors\n"
    "  --occlude eye|mouth|eye_or_mouth   black out one facial region per image (FER-2013 framing),\n"
    "                    drawn per image from --occlude-seed N (1); for robustness figures\n"
    "  --confusion-png FILE   write the confusion matrix as an image\n"
    "  --precision fp32|bf16|int8 (int8: a model calibrated by fer quantize)  --threads N  --batch N (256)\n";

const char* kTeacherTargetsUsage =
    "usage: fer teacher-targets --model FILE [--model FILE]... --data PATH --out FILE [options]\n"
    "\n"
    "Computes offline distillation targets for fer train --teacher-targets: the model's (with several\n"
    "--model, their ensemble's) class probabilities for every image of the training data, in its order.\n"
    "Give the data exactly as fer train reads it (same --data, --format, --split): the file records\n"
    "the dataset's fingerprint and training refuses targets of other images. A test split is refused.\n"
    "  --format F  --split S  --image-root DIR  --resize   the data, as for fer eval\n"
    "  --tta auto|none|center|flip|tencrop (auto)   views averaged per image, as fer eval --tta\n"
    "  --precision fp32|bf16|int8 (fp32)  --threads N  --batch N (256)\n";

const char* kQuantizeUsage =
    "usage: fer quantize --model IN --data PATH --out OUT [options]\n"
    "\n"
    "Calibrates a model for int8 inference: runs it on real faces, records the range of each\n"
    "quantized activation, and writes OUT (the same weights plus the ranges). Calibrate on\n"
    "training images: a test split is refused. Check the result with fer eval --precision int8.\n"
    "  --format F --split S --image-root DIR --resize   the data, as for fer eval\n"
    "  --images N (2000)   images drawn from the data (all when it has fewer)\n"
    "  --seed N (0)        which images are drawn\n"
    "  --threads N\n";

const char* kChooseViewUsage =
    "usage: fer choose-view --model IN --data PATH --out OUT [options]\n"
    "\n"
    "Sets a model's own test-time view (what --tta auto runs): evaluates it on the data in each\n"
    "one-pass view, none (the whole face crop) and center (its centre crop of 90% of the area), and\n"
    "writes OUT with the more accurate one (none unless center is strictly better), the accuracies in\n"
    "its metrics (view_accuracy_*) and the data in its provenance (view_chosen_on). Choose on the\n"
    "validation split the model was selected on; a test split is refused, and so is a fer2013csv or\n"
    "rafdb file without --split (it holds every split).\n"
    "  --format F  --split S  --image-root DIR  --resize   the data, as for fer eval\n"
    "  --precision fp32|bf16|int8 (fp32)  --threads N  --batch N (256)\n";

using Args = std::map<std::string, std::vector<std::string>>;

// Flags that take no value.
bool is_switch(const std::string& f) {
  return fer::is_train_switch(f) || f == "json" || f == "resize" || f == "per-image";
}

Args parse(int argc, char** argv, const std::vector<std::string>& known) {
  Args a;
  auto check = [&](const std::string& f) {
    if (std::find(known.begin(), known.end(), f) == known.end()) throw UsageError("unknown option --" + f);
  };
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "'");
    std::string f = arg.substr(2);
    const size_t eq = f.find('=');  // --name=VALUE, the same as --name VALUE
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? f.substr(eq + 1) : std::string();
    if (has_value) f.resize(eq);
    check(f);
    if (is_switch(f)) {
      // --switch, or --switch=true|false (1|0): the command line can turn off a config file's switch.
      if (!has_value || value == "true" || value == "1") {
        a[f].push_back("1");
      } else if (value == "false" || value == "0") {
        a[f].push_back("0");
      } else {
        throw UsageError("--" + f + " is a switch: give it alone, or as --" + f + "=true or --" + f +
                         "=false, not '" + value + "'");
      }
      continue;
    }
    if (has_value) {
      if (value.empty()) throw UsageError("--" + f + "= needs a value");
      a[f].push_back(value);
    } else {
      a[f].push_back(flag_value(argc, argv, i, arg));
    }
  }
  // A config file supplies defaults; the command line wins.
  if (a.count("config")) {
    std::ifstream in(a["config"].back());
    if (!in) throw UsageError("cannot read config file " + a["config"].back());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw UsageError("config file " + a["config"].back() + " is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw UsageError("config file must hold a JSON object of flag names to values");
    for (const auto& [k, v] : j.items()) {
      check(k);
      if (is_switch(k) != v.is_boolean())
        throw UsageError("config file " + a["config"].back() + ": " + k +
                         (v.is_boolean() ? " takes a value, not true or false" : " is a switch: true or false"));
      if (a.count(k)) continue;
      if (v.is_boolean()) {
        a[k].push_back(v.get<bool>() ? "1" : "0");
      } else if (v.is_array()) {
        for (const auto& e : v) a[k].push_back(e.is_string() ? e.get<std::string>() : e.dump());
      } else {
        a[k].push_back(v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
  }
  return a;
}

std::string str(const Args& a, const std::string& k, const std::string& def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second.back();
}
double num(const Args& a, const std::string& k, double def) {
  auto it = a.find(k);
  return it == a.end() ? def : parse_number<double>("--" + k, it->second.back());
}
int integer(const Args& a, const std::string& k, int def, int lo = INT_MIN, int hi = INT_MAX) {
  double v = num(a, k, def);
  if (!(v >= lo && v <= hi) || v != std::floor(v))  // checked before the cast (out of range is UB)
    throw UsageError("--" + k + " needs an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return int(v);
}
int threads(const Args& a) { return integer(a, "threads", 0, 0, fer::kMaxThreads); }
// A seed: any whole number from 0 to 2^63 - 1.
uint64_t seed(const Args& a, const std::string& k, uint64_t def) {
  auto it = a.find(k);
  if (it == a.end()) return def;
  const int64_t v = parse_number<int64_t>("--" + k, it->second.back());
  if (v < 0) throw UsageError("--" + k + " needs a whole number >= 0");
  return uint64_t(v);
}
// Whether a flag was given (a switch: and not turned off with --name=false).
bool flag(const Args& a, const std::string& k) {
  auto it = a.find(k);
  return it != a.end() && !(is_switch(k) && it->second.back() == "0");
}

fer::Config options_of(const Args& a, const std::string& k) {
  fer::Config c;
  auto it = a.find(k);
  if (it == a.end()) return c;
  for (const auto& kv : it->second) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--" + k + " needs KEY=VALUE, got '" + kv + "'");
    c.set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return c;
}

bool wants_help(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

}  // namespace

namespace {
// The dataset flags fer eval, fer teacher-targets and fer quantize share: --data, --format, --split, --image-root, --resize.
fer::DatasetSpec data_spec(const Args& a) {
  fer::DatasetSpec spec;
  spec.path = str(a, "data", "");
  spec.format = str(a, "format", "folder");
  spec.split = str(a, "split", "");
  spec.image_root = str(a, "image-root", "");
  spec.resize = flag(a, "resize");
  return spec;
}

// The protocol: a test split is reported once, never tuned on. fer choose-view,
// fer teacher-targets and fer quantize refuse one as a usage error (exit 2),
// before the library's own refusal (fer::load_tuning_set, fer::quantize_file)
// would report it as a failed run (exit 1).
void refuse_test_split_usage(const fer::DatasetSpec& spec, const std::string& command) {
  try {
    fer::refuse_test_split(spec, command);
  } catch (const fer::Error& e) {
    throw UsageError(e.what());
  }
}

// --tta, --precision, --threads, --batch of fer eval and fer teacher-targets.
fer::EvalOptions eval_options(const Args& a) {
  fer::EvalOptions eo;
  eo.tta = str(a, "tta", "auto");
  eo.precision = str(a, "precision", "fp32");
  eo.threads = threads(a);
  eo.batch_size = integer(a, "batch", 256, 1);
  return eo;
}

// fer eval's and fer teacher-targets' inputs: the --model files (the installed
// default model without one; an untrained default model, with a warning, when
// none is installed) and --data read at the first model's input size.
struct EvalInputs {
  std::vector<std::string> paths;
  fer::EvalSet set;
};

EvalInputs load_eval_inputs(const Args& a, const std::string& precision) {
  EvalInputs in;
  auto it = a.find("model");
  if (it != a.end()) in.paths = it->second;
  if (in.paths.empty() && !fer::default_model_path().empty()) in.paths.push_back(fer::default_model_path());
  if (in.paths.empty()) {
    in.set.models.push_back(fer::Model::create(fer::untrained_default_info(), 0));
    in.set.data = fer::read_dataset_for(*in.set.models.front(), data_spec(a));
  } else {
    in.set = fer::load_eval_set(in.paths, precision, data_spec(a));
  }
  for (const auto& m : in.set.models)
    if (!m->info().trained)
      std::fprintf(stderr, "warning: a model is untrained (random weights); expect chance-level accuracy\n");
  return in;
}
}  // namespace

int run_train(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kTrainUsage, stdout);
    return 0;
  }
  std::vector<std::string> known = fer::train_flag_names();
  known.push_back("config");
  Args a = parse(argc, argv, known);
  if (!flag(a, "data")) throw UsageError("fer train needs --data PATH");
  fer::TrainOptions o;
  try {
    if (flag(a, "config")) {  // a recipe: checked as the C API checks options_json (no list for lr, ...)
      std::ifstream in(a["config"].back());
      std::stringstream text;
      text << in.rdbuf();
      fer::train_flags_from_json(text.str());
      a.erase("config");  // its flags are in `a` now (the command line's won)
    }
    fer::apply_train_flags(o, a);
  } catch (const fer::Error& e) {
    if (e.status() != fer::Status::InvalidArgument) throw;
    throw UsageError(e.what());  // a flag's value that does not parse: a usage error (exit 2)
  }
  o.command_line = joined(argc, argv);

  // Ctrl-C / SIGTERM: training stops after the current step, keeping the last
  // complete checkpoint (rerun the same command to resume); a second one ends it now.
  o.stop = &stop_requested();
  catch_stop_signals();
  fer::TrainResult r = fer::train(o);
  const fer::EpochReport& best = r.history[size_t(r.best_epoch - 1)];
  if (best.val_accuracy >= 0)
    std::printf("best epoch %d: val accuracy %.2f%%, macro-F1 %.2f%% -> %s\n", r.best_epoch, 100 * best.val_accuracy,
                100 * best.val_macro_f1, r.best_path.c_str());
  else
    std::printf("no validation data: exported the last epoch (%d) -> %s\n", r.best_epoch, r.best_path.c_str());
  return 0;
}

int run_eval(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kEvalUsage, stdout);
    return 0;
  }
  Args a = parse(argc, argv, {"model", "data", "format", "split", "image-root", "resize", "json", "per-image", "tta", "occlude", "occlude-seed",
                              "confusion-png", "precision", "threads", "batch", "config"});
  if (!flag(a, "data")) throw UsageError("fer eval needs --data PATH");
  if (flag(a, "per-image") && !flag(a, "json")) throw UsageError("--per-image needs --json");
  fer::EvalOptions eo = eval_options(a);
  eo.occlusion = str(a, "occlude", "none");
  eo.occlusion_seed = seed(a, "occlude-seed", 1);
  if (flag(a, "confusion-png")) check_image_output("--confusion-png", str(a, "confusion-png", ""));
  EvalInputs in = load_eval_inputs(a, eo.precision);
  const std::vector<std::string>& paths = in.paths;
  const std::string data = str(a, "data", "");
  const std::string path = paths.empty() ? "untrained default" : paths.front();
  fer::EvalReport r = fer::evaluate(in.set.members(), in.set.data, eo);
  if (flag(a, "json")) {
    nlohmann::json j = nlohmann::json::parse(r.to_json(flag(a, "per-image")));
    if (paths.size() > 1)
      j["model"] = paths;
    else
      j["model"] = path;
    j["data"] = data;
    std::printf("%s\n", json_line(j).c_str());
  } else {
    std::string names;
    for (const auto& p : paths) names += (names.empty() ? "" : " + ") + p;
    std::printf("%s %s on %s\n%s", paths.size() > 1 ? "ensemble" : "model",
                paths.empty() ? "(untrained default)" : names.c_str(), data.c_str(), r.to_table().c_str());
  }
  // After the report: a figure that cannot be written does not lose it.
  if (flag(a, "confusion-png")) r.write_confusion_png(str(a, "confusion-png", ""));
  return 0;
}

int run_teacher_targets(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kTeacherTargetsUsage, stdout);
    return 0;
  }
  Args a = parse(argc, argv, {"model", "data", "format", "split", "image-root", "resize", "tta", "precision", "threads",
                              "batch", "out", "config"});
  if (!flag(a, "model") || !flag(a, "data") || !flag(a, "out"))
    throw UsageError("fer teacher-targets needs --model FILE --data PATH --out FILE");
  const fer::DatasetSpec spec = data_spec(a);
  refuse_test_split_usage(spec, "fer teacher-targets");
  fer::EvalOptions eo = eval_options(a);
  const fer::EvalSet in = fer::load_tuning_set(a.at("model"), eo.precision, spec, "fer teacher-targets");
  fer::TeacherTargets t = fer::compute_teacher_targets(in.members(), in.data, eo, in.source);
  const std::string out = str(a, "out", "");
  fer::save_teacher_targets(t, out);
  const std::string views = nlohmann::json::parse(t.provenance).value("tta", eo.tta);  // "auto" resolved
  std::printf("%zu x %zu teacher probabilities (%s views, %zu model(s)) -> %s\n", t.size(), t.classes.size(),
              views.c_str(), in.models.size(), out.c_str());
  return 0;
}

int run_quantize(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kQuantizeUsage, stdout);
    return 0;
  }
  Args a = parse(argc, argv, {"model", "data", "format", "split", "image-root", "resize", "out", "images", "seed",
                              "threads", "config"});
  if (!flag(a, "model") || !flag(a, "data") || !flag(a, "out"))
    throw UsageError("fer quantize needs --model IN --data PATH --out OUT");
  const std::string in = str(a, "model", ""), out = str(a, "out", "");
  const int images = integer(a, "images", 2000);
  if (images < 1) throw UsageError("--images must be positive");
  const uint64_t calibration_seed = seed(a, "seed", 0);
  const fer::DatasetSpec spec = data_spec(a);
  refuse_test_split_usage(spec, "fer quantize");
  fer::CalibrationOptions co;
  co.images = images;
  co.seed = calibration_seed;
  co.threads = threads(a);
  const fer::ModelInfo info = fer::quantize_file(in, spec, out, co, "fer quantize");
  std::printf("%s: %zu activation ranges (%s) -> %s\n", in.c_str(), info.activation_ranges.size(),
              info.provenance.at("int8_calibration").c_str(), out.c_str());
  return 0;
}

int run_convert(int argc, char** argv) {
  const char* kConvertUsage = "fer convert needs IN.fermodel OUT.fermodel [--storage float32|bfloat16] [--view none|center]";
  if (argc < 4) throw UsageError(kConvertUsage);
  const std::string in = argv[2], out = argv[3];
  std::string storage, view;
  for (int i = 4; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--storage")) storage = flag_value(argc, argv, i, "--storage");
    else if (!std::strcmp(argv[i], "--view")) view = flag_value(argc, argv, i, "--view");
    else throw UsageError(std::string("fer convert: unknown argument '") + argv[i] + "'");
  }
  if (storage.empty() && view.empty()) storage = "bfloat16";  // what fer convert always did without options
  if (!view.empty() && view != "none" && view != "center")
    throw UsageError("--view must be none or center (a model's own view is one pass), got '" + view + "'");
  auto model = fer::Model::load(in);
  fer::ModelInfo& info = model->info();
  const std::string from = info.storage, from_view = info.view;
  if (!storage.empty()) {
    info.storage = storage;
    info.provenance["converted_from"] = in + " (" + from + " weights)";
  }
  if (!view.empty() && view != from_view) {
    info.view = view;
    info.provenance["view_chosen_on"] = "set by fer convert --view " + view + " (was " + from_view + ")";
    for (const char* v : {"none", "center"}) info.metrics.erase(std::string("view_accuracy_") + v);
  }
  model->save(out);  // validates the storage name; writes atomically
  std::printf("%s (%s, view %s) -> %s (%s, view %s)\n", in.c_str(), from.c_str(), from_view.c_str(), out.c_str(),
              info.storage.c_str(), info.view.c_str());
  return 0;
}

int run_choose_view(int argc, char** argv) {
  if (wants_help(argc, argv)) {
    std::fputs(kChooseViewUsage, stdout);
    return 0;
  }
  Args a = parse(argc, argv, {"model", "data", "format", "split", "image-root", "resize", "precision", "threads", "batch",
                              "out", "config"});
  if (!flag(a, "model") || !flag(a, "data") || !flag(a, "out"))
    throw UsageError("fer choose-view needs --model IN --data PATH --out OUT");
  if (a.at("model").size() > 1) throw UsageError("fer choose-view takes one --model");
  const fer::DatasetSpec spec = data_spec(a);
  refuse_test_split_usage(spec, "fer choose-view");
  fer::EvalOptions eo = eval_options(a);
  const std::string in = str(a, "model", ""), out = str(a, "out", "");
  fer::EvalSet set = fer::load_tuning_set({in}, eo.precision, spec, "fer choose-view");
  fer::Model& model = *set.models.front();
  const std::string before = model.info().view;
  const fer::ViewChoice c = fer::choose_view(model, set.data, eo, set.source);
  model.save(out);
  std::printf("%s on %s: none %.2f%%, center %.2f%% -> view %s (was %s) -> %s\n", in.c_str(), set.source.c_str(),
              100 * c.accuracy.at("none"), 100 * c.accuracy.at("center"), c.view.c_str(), before.c_str(), out.c_str());
  return 0;
}

}  // namespace fer_cli
