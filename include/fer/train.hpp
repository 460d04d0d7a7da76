/// @file train.hpp
/// @brief Training and evaluation of recognizer models (the same modules the pipeline runs).
#pragma once

#include <fer/config.hpp>
#include <fer/dataset.hpp>
#include <fer/model.hpp>

#include <cstdint>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fer {

/// Batched, seeded augmentation applied to training images.
struct AugmentOptions {
  bool enabled = true;
  float crop_scale_min = 0.8f;   ///< random resized crop: area fraction in [min, 1]
  float crop_ratio = 1.1f;       ///< aspect ratio in [1/r, r]
  bool hflip = true;             ///< horizontal flip with probability 0.5
  float rotate_degrees = 10.f;   ///< uniform rotation in [-d, d]
  float translate = 0.05f;       ///< shift by up to this fraction of the size
  float brightness = 0.2f;       ///< multiply by 1 + U(-b, b)
  float contrast = 0.2f;         ///< blend with the image mean by 1 + U(-c, c)
  float erase_prob = 0.25f;      ///< random erasing (occlusion) probability
  float erase_max_area = 0.25f;  ///< erased rectangle: up to this fraction of the area
  float mixup_alpha = 0.f;       ///< mixup Beta(a, a); 0 = off
  float cutmix_prob = 0.f;       ///< probability of cutmix instead of mixup per batch
  /// JPEG re-encoding: with this probability a sample is compressed and decoded
  /// again at a quality drawn from [jpeg_quality_min, 100], as photos and the
  /// FER-2013 val/test JPEGs are (training on lossless images otherwise never
  /// sees block artefacts); 0 = off.
  float jpeg_prob = 0.f;
  int jpeg_quality_min = 60;
};

/// Everything a training run needs; `fer train --help` lists the matching flags.
struct TrainOptions {
  // model
  std::string architecture = "small_cnn";
  Config architecture_config;
  std::string head = "linear";
  Config head_config;
  int input_size = 48;
  int channels = 1;
  /// How much context around the face the training images show (a fraction
  /// of the face side on every side; FER-2013's framing is 0.1), recorded in
  /// the model file so that inference crops faces the same way
  /// (CropSpec::margin). The training images themselves are not re-cropped.
  float crop_margin = 0.1f;
  std::string init_model;    ///< start from this model file's weights (fine-tuning)

  // data
  DatasetSpec train_data;
  DatasetSpec val_data;      ///< empty path: no validation (the last epoch is exported)
  std::string cache_dir;     ///< packed dataset caches go here (empty: out_dir)
  bool soft_targets = false; ///< train on the soft labels (e.g. FERPlus vote distribution)

  // optimisation
  std::string optimizer = "sgd";  ///< "sgd" (momentum, Nesterov) or "adamw"
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  /// false: no weight decay on parameters with at most one dimension (batch-norm
  /// scales and shifts, biases, PReLU slopes), only on convolution and linear weights.
  bool norm_bias_decay = true;
  int epochs = 30;
  int batch_size = 64;
  double warmup_epochs = 1.0;     ///< linear warm-up, then cosine decay to lr * min_lr_ratio
  double min_lr_ratio = 0.0;
  double grad_clip = 0.0;         ///< max gradient norm; 0 = off
  double ema_decay = 0.0;         ///< exponential moving average of weights; 0 = off
  double label_smoothing = 0.0;
  bool class_weights = false;     ///< weight the loss by inverse class frequency
  AugmentOptions augment;

  // extra losses
  double dlp_weight = 0.0;        ///< deep locality-preserving loss weight (Li & Deng)
  int dlp_k = 5;                  ///< neighbours per sample for the DLP loss
  /// Knowledge-distillation teachers (model files). With several, the KD
  /// term distils their ensemble: the mean of their temperature-softened
  /// probabilities (feature and attention transfer need exactly one teacher).
  std::vector<std::string> teacher_models;
  double kd_weight = 0.0;         ///< weight of Hinton's KD term (the CE term gets 1 - kd_weight)
  double kd_temperature = 4.0;
  double kd_feature_weight = 0.0; ///< feature-map transfer (MSE after a learned projection)
  double kd_attention_weight = 0.0;  ///< attention-map transfer (MSE of normalised maps)
  /// Offline distillation: a teacher-targets file (fer::save_teacher_targets,
  /// `fer teacher-targets`) holding a teacher's or an ensemble's probabilities
  /// for every training image, computed once (e.g. with ten-crop views). The
  /// KD term then pulls the student towards those of the image each augmented
  /// sample came from, and no teacher runs during training. The file must
  /// belong to the training set (same images in the same order, same classes:
  /// dataset_fingerprint); it excludes teacher_models and feature/attention transfer.
  std::string teacher_targets;
  /// Precision of the teachers' forward passes: "" (the training precision),
  /// "fp32", "bf16" or "int8". int8 needs teachers with an int8 calibration
  /// (fer quantize) and an int8 path; it runs a ResNet teacher about twice as
  /// fast as bf16 on CPUs with VNNI, and it cannot feed attention transfer.
  std::string teacher_precision;

  // speed
  std::string precision = "fp32";  ///< "fp32" or "bf16" (autocast + channels-last)
  int threads = 0;                 ///< 0 = $FER_NUM_THREADS or all cores

  // run
  std::string out_dir = "runs/train";  ///< checkpoints, log.jsonl, best.fermodel
  bool resume = true;                  ///< continue from out_dir's checkpoint if present
  uint64_t seed = 0;
  int64_t max_steps_per_epoch = 0;     ///< 0 = full epochs (tests use small numbers)
  bool progress = true;                ///< progress bar on stderr
  std::string command_line;            ///< recorded in the model file's provenance
  std::map<std::string, std::string> provenance;  ///< extra provenance (dataset name, ...)
  /// After the last epoch, best.fermodel is calibrated for int8 (fer::calibrate)
  /// on this many training images drawn with `seed`, when its architecture has
  /// an int8 path; 0 = not calibrated.
  int calibration_images = 2000;
  /// When set and it becomes true (e.g. from a SIGINT handler), training stops
  /// after the current step (or, outside the epochs, while decoding the data
  /// (DatasetSpec::stop; with world_size 1), after reading it, after loading
  /// the teachers, or before the final int8 calibration) and
  /// train() throws Error(Cancelled). The last complete checkpoint is left as
  /// it was, so rerunning resumes from it (or only calibrates).
  const std::atomic<bool>* stop = nullptr;

  // data-parallel training (c10d Gloo over a TCP store)
  int world_size = 1;
  int rank = 0;
  std::string master = "127.0.0.1:29500";
};

/// Per-class and overall quality of a model on a dataset.
struct EvalReport {
  int64_t count = 0;
  int64_t ensemble_size = 1;              ///< models averaged (an ensemble when > 1)
  double accuracy = 0;
  double macro_f1 = 0;
  double ece = 0;                         ///< expected calibration error, 15 bins
  double loss = 0;                        ///< mean cross-entropy
  std::vector<std::string> classes;       ///< the dataset's classes (rows of the confusion matrix)
  std::vector<std::string> predicted;     ///< the model's classes (columns)
  std::vector<double> per_class_recall;   ///< per dataset class
  std::vector<double> per_class_f1;
  std::vector<std::vector<int64_t>> confusion;  ///< [dataset class][model class]
  std::string tta;                        ///< test-time view used ("none", "center", "flip", "tencrop"; "auto"
                                          ///< resolved, per model of an ensemble when they differ: "center,none")
  std::string occlusion = "none";         ///< synthetic occlusion applied (see EvalOptions)
  uint64_t occlusion_seed = 0;
  /// Per image, in the dataset's order: the model's predicted class (index
  /// into `predicted`) and whether it was right (1) or wrong (0). Two models'
  /// `correct` on one dataset give a paired comparison (McNemar's test, as
  /// scripts/results_table.py --effects does).
  std::vector<int64_t> predictions;
  std::vector<uint8_t> correct;
  /// Per image, in the dataset's order: the class probabilities the
  /// prediction came from (the mean over the ensemble and the test-time
  /// views), count x predicted.size(), row-major.
  std::vector<float> probabilities;

  /// The report as JSON; with per_image, also "correct": one character per
  /// image, '1' right, '0' wrong, in dataset order (no labels, no predictions).
  std::string to_json(bool per_image = false) const;
  std::string to_table() const;
  /// Writes the confusion matrix as a PNG (row-normalised, with counts).
  void write_confusion_png(const std::string& path) const;
};

struct EvalOptions {
  /// Test-time view: "auto" (each model's own view, ModelInfo::view), "none"
  /// (the image as it is), "center" (its centre crop of 90% of the area,
  /// resized back), "flip" (the mean of the image's and its mirror image's
  /// probabilities) or "tencrop" (the mean over the four corner crops and the
  /// centre crop covering 90% of the area, resized back, and their mirror
  /// images: 10 forward passes).
  std::string tta = "auto";
  /// Synthetic occlusion of the test images, for robustness figures: a black
  /// rectangle per image over "eye" (left or right), "mouth", or "eye_or_mouth"
  /// (one of the three) at FER-2013 framing, drawn per image from occlusion_seed
  /// (independent of batching); "none" by default.
  std::string occlusion = "none";
  uint64_t occlusion_seed = 1;
  int batch_size = 256;
  /// "fp32" or "bf16". A model switched to bf16 with Model::set_precision (as a
  /// pipeline does by default on CPUs with bf16) holds bf16 weights: evaluate
  /// it with "bf16" (fp32 is refused with InvalidArgument).
  std::string precision = "fp32";
  int threads = 0;
};

/// Evaluates `model` on `data`. The dataset's classes are matched to the
/// model's by name; a dataset may hold only some of the model's classes.
EvalReport evaluate(const Model& model, const Dataset& data, const EvalOptions& options = {});
/// Evaluates an ensemble: the mean of the models' class probabilities (each
/// model at its own input size, with the same test-time views and occlusion).
/// The models must have the same classes in the same order and run in the
/// precision `options` asks for; InvalidArgument otherwise, or when empty.
EvalReport evaluate(const std::vector<const Model*>& models, const Dataset& data, const EvalOptions& options = {});

/// Model files and a labelled dataset read for them: what `fer eval` and
/// `fer teacher-targets` (and their Python counterparts) work on.
struct EvalSet {
  std::vector<std::shared_ptr<Model>> models;  ///< one per file, in the order given
  Dataset data;                                ///< read at the first model's input size and channels
  std::string source;                          ///< the data as "format:path" (+ " split S"), for provenance
  /// The models as evaluate() and compute_teacher_targets() take them.
  std::vector<const Model*> members() const;
};
/// Loads the model files (at least one: InvalidArgument otherwise), switching
/// each to int8 (from its own calibration) when `precision` is "int8", and
/// reads `spec` at the first model's input width, height and channels.
EvalSet load_eval_set(const std::vector<std::string>& paths, const std::string& precision, DatasetSpec spec);
/// Reads `spec` at `model`'s input width, height and channels.
Dataset read_dataset_for(const Model& model, DatasetSpec spec);
/// load_eval_set for a step that tunes on the data (teacher targets, choosing
/// a model's view): a spec that reads a test split is refused first
/// (refuse_test_split(spec, purpose): InvalidArgument), before any model file
/// is read. What `fer teacher-targets` and `fer choose-view` (and their Python
/// counterparts) load.
EvalSet load_tuning_set(const std::vector<std::string>& paths, const std::string& precision, DatasetSpec spec,
                        const std::string& purpose);

/// A dataset's identity for files computed from it: a 64-bit hash (FNV-1a) of
/// its class names and, per image in order, its label and source (its path in
/// the dataset, or "file.csv:line"). Independent of the size the images were
/// read at; a reordered, extended or relabelled dataset gets another value.
uint64_t dataset_fingerprint(const Dataset& data);

/// Offline distillation targets (TrainOptions::teacher_targets): a teacher's
/// class probabilities for every image of a training set.
struct TeacherTargets {
  std::vector<std::string> classes;   ///< in the teacher's (and the training data's) order
  std::vector<float> probabilities;   ///< size() x classes.size(), row-major; each row sums to 1
  uint64_t dataset_fingerprint = 0;   ///< dataset_fingerprint() of the images they belong to
  std::string provenance;             ///< what computed them (JSON text: models, views, dataset)
  size_t size() const { return classes.empty() ? 0 : probabilities.size() / classes.size(); }
};

/// `fer train`'s flags by name (without "--"): the names that apply_train_flags knows.
const std::vector<std::string>& train_flag_names();
/// Whether a `fer train` flag is a switch (no value; "1" on, "0" off), such as no-augment.
bool is_train_switch(const std::string& name);
/// Sets `options` from `fer train` flags, as the fer program and recipe files
/// give them: each flag name (without "--") with its values as text, e.g.
/// {"lr", {"0.05"}}, {"arch-opt", {"width=0.5"}}, {"no-augment", {"1"}} (a
/// switch: "1" on, "0" off); arch-opt, head-opt and teacher repeat, of the
/// others the last value counts. Flags not given keep their values in `options`; "format"
/// and "image-root" set the validation data's too. An unknown name or a value
/// that does not parse or lies outside the flag's range (epochs, batch, seed,
/// threads, jpeg-quality, calibrate): InvalidArgument naming the flag, and
/// `options` unchanged. Whether the values make a valid run is checked by train().
void apply_train_flags(TrainOptions& options, const std::map<std::string, std::vector<std::string>>& flags);
/// The flags of a JSON object (a recipe file's text, checked so by fer train
/// --config, or the C API's options_json): flag names to strings or numbers, a
/// list for a repeatable flag (an empty "teacher" list: no teachers), true or
/// false for a switch. InvalidArgument for anything else.
std::map<std::string, std::vector<std::string>> train_flags_from_json(const std::string& json_object);

/// The ensemble's (one model or several) probabilities on every image of
/// `data`, with options.tta's views, as evaluate() computes them. The models'
/// classes must be the dataset's, in the same order (InvalidArgument
/// otherwise); occlusion must be "none". `source` names the data in the provenance.
TeacherTargets compute_teacher_targets(const std::vector<const Model*>& models, const Dataset& data,
                                       const EvalOptions& options = {}, const std::string& source = "");
/// Writes a teacher-targets file (atomically; format in src/train/teacher_targets.cpp).
void save_teacher_targets(const TeacherTargets& targets, const std::string& path);
/// Reads and validates one: NotFound, InvalidArgument (not a regular file),
/// CorruptData (truncated, damaged, sizes that disagree, rows that are not
/// probability distributions, a provenance that is not JSON text) or UnsupportedVersion.
TeacherTargets load_teacher_targets(const std::string& path);

/// Int8 calibration on real faces (see Precision::Int8 and Model::calibrate).
struct CalibrationOptions {
  int images = 2000;   ///< images drawn from the dataset (all when it has fewer)
  uint64_t seed = 0;   ///< which images are drawn
  int batch_size = 64;
  int threads = 0;     ///< compute threads (process-wide); 0 = all cores
  std::string source;  ///< where the data came from (e.g. its path), for the provenance
};

/// Calibrates `model` for int8 on images drawn from `data` (labels unused;
/// use training images, never the test split): Model::calibrate on their
/// prepared crops, and provenance "int8_calibration" saying which images.
/// Throws Unsupported for an architecture without an int8 path.
void calibrate(Model& model, const Dataset& data, const CalibrationOptions& options = {});
/// Same on the dataset `spec` names, read at the model's input size and
/// channels; the provenance names its path, format and split. A spec that
/// reads the test split is refused (refuse_test_split).
void calibrate(Model& model, DatasetSpec spec, CalibrationOptions options = {});
/// `fer quantize` (C fer_quantize, Python fer.quantize) as one call: refuses
/// a spec that reads a test split (refuse_test_split(spec, purpose)) before
/// the model file is read, loads it, calibrates it on `spec` as above and
/// writes the calibrated copy to `out_path` (atomically: a failure leaves
/// `out_path` as it was). Returns the written model's info.
ModelInfo quantize_file(const std::string& model_path, const DatasetSpec& spec, const std::string& out_path,
                        const CalibrationOptions& options = {}, const std::string& purpose = "int8 calibration");

/// A model's own test-time view (ModelInfo::view) chosen on validation data.
struct ViewChoice {
  std::string view;                        ///< the chosen one-pass view
  std::map<std::string, double> accuracy;  ///< per candidate view ("none", "center") on the data
};

/// Evaluates `model` on `data` in each one-pass view ("none", "center") with
/// `options` (its tta is ignored) and makes the most accurate the model's own
/// view (info().view; "none" unless "center" is strictly more accurate), with
/// metrics "view_accuracy_none"/"view_accuracy_center" and provenance
/// "view_chosen_on" (`source`, the image count, the precision and both
/// accuracies). Use validation data, never the test split: the choice is
/// tuned on it (`fer choose-view` refuses test splits; this function cannot
/// tell). Occlusion must be "none". Changes `model`: not while another
/// thread uses it (a Pipeline sharing it).
ViewChoice choose_view(Model& model, const Dataset& data, const EvalOptions& options = {},
                       const std::string& source = "");

struct EpochReport {
  int epoch = 0;                 ///< 1-based
  double train_loss = 0;
  double train_accuracy = 0;
  double val_accuracy = -1;      ///< -1 without validation data
  double val_macro_f1 = -1;
  double val_loss = -1;
  double lr = 0;
  double seconds = 0;
  double images_per_second = 0;
};

struct TrainResult {
  std::shared_ptr<Model> best;    ///< best model by validation accuracy (or the last one)
  int best_epoch = 0;
  std::vector<EpochReport> history;
  std::string best_path;          ///< out_dir/best.fermodel
};

/// Trains a model; checkpoints every epoch into out_dir and resumes from there.
/// `on_epoch` is called after every epoch (e.g. for logging).
TrainResult train(const TrainOptions& options, const std::function<void(const EpochReport&)>& on_epoch = {});

/// Loads a dataset through its packed cache in `cache_dir` (written on first use).
Dataset load_dataset_cached(const DatasetSpec& spec, const std::string& cache_dir);

}  // namespace fer
