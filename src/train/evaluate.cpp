#include "pipeline/tta.hpp"
#include "train/augment.hpp"
#include "train/batching.hpp"

#include <fer/error.hpp>
#include <fer/expression.hpp>
#include <fer/threads.hpp>
#include <fer/train.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace fer {

namespace {

// Maps each dataset class to the model class of the same expression (by canonical name).
std::vector<int64_t> match_classes(const std::vector<std::string>& data_classes,
                                   const std::vector<std::string>& model_classes) {
  auto canonical = [](const std::string& s) {
    auto e = parse_expression(s);
    return e ? std::string(expression_name(*e)) : s;
  };
  std::vector<int64_t> map;
  for (const auto& dc : data_classes) {
    int64_t found = -1;
    for (size_t m = 0; m < model_classes.size(); ++m)
      if (canonical(model_classes[m]) == canonical(dc)) found = int64_t(m);
    if (found < 0) {
      std::string known;
      for (const auto& m : model_classes) known += (known.empty() ? "" : ", ") + m;
      throw Error(Status::InvalidArgument, "dataset class '" + dc + "' is not one of the model's classes (" + known + ")");
    }
    map.push_back(found);
  }
  return map;
}

// The precision checks for one model (see EvalOptions::precision).
void check_model_precision(const Model& model, const EvalOptions& options) {
  const bool int8 = options.precision == "int8";
  if (model.precision() == Precision::BFloat16 && options.precision != "bf16")
    throw Error(Status::InvalidArgument,
                "the model runs in bf16 (Model::set_precision, e.g. a pipeline's model): evaluate it with precision "
                "bf16, or switch it back with set_precision(Precision::Float32)");
  if ((model.precision() == Precision::Int8) != int8)
    throw Error(Status::InvalidArgument,
                int8 ? "precision int8 evaluates a model switched to int8: call Model::set_precision(Precision::Int8) "
                       "first (fer eval --precision int8 does)"
                     : "the model runs in int8 (Model::set_precision): evaluate it with precision int8, or switch it "
                       "back with set_precision(Precision::Float32)");
}

// A model of an ensemble with its LibTorch modules (looked up once).
struct Member {
  const Model* model;
  std::shared_ptr<detail::BackboneImpl> backbone;
  std::shared_ptr<detail::HeadImpl> head;
  std::string view;  // the test-time view it runs ("auto" resolved for it)
};

// One model's class probabilities for the dataset images `idx` (the mean over
// the test-time views), at the model's own input size.
torch::Tensor model_probabilities(const Member& m, const Dataset& data, const std::vector<int64_t>& idx,
                                  const EvalOptions& options) {
  const InputSpec& input = m.model->info().input;
  torch::Tensor images = detail::dataset_images(data, idx, input);
  detail::occlude_face_regions(images, idx, options.occlusion, options.occlusion_seed);
  torch::Tensor x = detail::normalize_images(images, input);
  const bool int8 = options.precision == "int8";
  auto logits = [&](const torch::Tensor& in) {
    if (int8) return m.head->forward_logits(detail::int8_features(m.model->extractor(), in.contiguous()));
    return detail::forward_model(*m.backbone, *m.head, in, options.precision).logits;
  };
  torch::Tensor probs;
  const std::vector<torch::Tensor> views = detail::test_time_views(x, m.view);
  for (const torch::Tensor& view : views) {
    torch::Tensor p = torch::softmax(logits(view), 1);
    probs = probs.defined() ? probs + p : p;
  }
  return probs / double(views.size());
}

}  // namespace

EvalReport evaluate(const Model& model, const Dataset& data, const EvalOptions& options) {
  return evaluate(std::vector<const Model*>{&model}, data, options);
}

std::vector<const Model*> EvalSet::members() const {
  std::vector<const Model*> out;
  for (const auto& m : models) out.push_back(m.get());
  return out;
}

Dataset read_dataset_for(const Model& model, DatasetSpec spec) {
  spec.width = model.info().input.width;
  spec.height = model.info().input.height;
  spec.channels = model.info().input.channels;
  return read_dataset(spec);
}

EvalSet load_eval_set(const std::vector<std::string>& paths, const std::string& precision, DatasetSpec spec) {
  if (paths.empty()) throw Error(Status::InvalidArgument, "evaluating needs at least one model file");
  EvalSet set;
  for (const auto& p : paths) {
    set.models.push_back(Model::load(p));
    if (precision == "int8") set.models.back()->set_precision(Precision::Int8);
  }
  set.source = spec.format + ":" + spec.path + (spec.split.empty() ? "" : " split " + spec.split);
  set.data = read_dataset_for(*set.models.front(), std::move(spec));
  return set;
}

EvalSet load_tuning_set(const std::vector<std::string>& paths, const std::string& precision, DatasetSpec spec,
                        const std::string& purpose) {
  refuse_test_split(spec, purpose);  // before any model file is read
  return load_eval_set(paths, precision, std::move(spec));
}

EvalReport evaluate(const std::vector<const Model*>& models, const Dataset& data, const EvalOptions& options) {
  if (models.empty()) throw Error(Status::InvalidArgument, "evaluate needs at least one model");
  for (const Model* m : models)
    if (!m) throw Error(Status::InvalidArgument, "evaluate got a null model");
  data.validate();
  if (data.size() == 0) throw Error(Status::InvalidArgument, "cannot evaluate on an empty dataset");
  detail::check_tta(options.tta);
  if (options.batch_size < 1) throw Error(Status::InvalidArgument, "batch size must be positive");
  detail::check_occlusion_mode(options.occlusion);
  if (options.precision != "int8") detail::check_precision(options.precision);
  const auto& info = models.front()->info();
  std::vector<Member> members;
  for (const Model* m : models) {
    check_model_precision(*m, options);
    // A model whose own view is unknown fails here, before any work.
    const std::string view = m->resolve_view(options.tta);
    if (m->info().classes != info.classes) {
      auto names = [](const std::vector<std::string>& classes) {
        std::string s;
        for (const auto& c : classes) s += (s.empty() ? "" : ", ") + c;
        return s;
      };
      throw Error(Status::InvalidArgument, "the models of an ensemble must have the same classes in the same order: " +
                                               names(info.classes) + " (" + info.architecture + ") against " +
                                               names(m->info().classes) + " (" + m->info().architecture + ")");
    }
    // Unsupported without LibTorch, before any work; read-only: the model may be in use elsewhere.
    auto [backbone, head] = detail::torch_modules(*m, /*for_training=*/false);
    members.push_back({m, backbone, head, view});
  }
  set_num_threads(options.threads);
  std::vector<int64_t> map = match_classes(data.classes, info.classes);

  EvalReport r;
  r.ensemble_size = int64_t(models.size());
  r.classes = data.classes;
  r.predicted = info.classes;
  // The views run: "auto" resolved per model; an ensemble whose members
  // resolve differently lists them in model order ("center,none").
  std::string all_views;
  for (const Member& m : members) all_views += (all_views.empty() ? "" : ",") + m.view;
  r.tta = members.front().view;
  for (const Member& m : members)
    if (m.view != r.tta) r.tta = all_views;
  r.occlusion = options.occlusion;
  r.occlusion_seed = options.occlusion == "none" ? 0 : options.occlusion_seed;
  const size_t nd = data.classes.size(), nm = info.classes.size();
  r.confusion.assign(nd, std::vector<int64_t>(nm, 0));
  constexpr int kBins = 15;
  std::vector<double> bin_conf(kBins, 0), bin_acc(kBins, 0), bin_n(kBins, 0);
  double loss_sum = 0;

  r.predictions.reserve(data.size());
  r.correct.reserve(data.size());
  r.probabilities.reserve(data.size() * nm);
  c10::InferenceMode guard;
  for (size_t start = 0; start < data.size(); start += size_t(options.batch_size)) {
    size_t end = std::min(data.size(), start + size_t(options.batch_size));
    std::vector<int64_t> idx;
    for (size_t i = start; i < end; ++i) idx.push_back(int64_t(i));
    torch::Tensor probs;  // the mean of the models' probabilities
    for (const Member& m : members) {
      torch::Tensor p = model_probabilities(m, data, idx, options);
      probs = probs.defined() ? probs + p : p;
    }
    probs /= double(models.size());
    if (!torch::isfinite(probs).all().item<bool>())
      throw Error(Status::InvalidArgument,
                  "the model's outputs on images " + std::to_string(start) + "-" + std::to_string(end - 1) + " of " +
                      std::to_string(data.size()) + " are not finite (NaN or Inf): its weights have diverged or are damaged");
    auto p = probs.accessor<float, 2>();
    for (size_t i = 0; i < idx.size(); ++i) {
      int64_t truth = data.labels[size_t(idx[i])];
      int64_t pred = 0;
      for (int64_t k = 1; k < int64_t(nm); ++k)
        if (p[int64_t(i)][k] > p[int64_t(i)][pred]) pred = k;
      const bool right = pred == map[size_t(truth)];
      r.confusion[size_t(truth)][size_t(pred)]++;
      r.predictions.push_back(pred);
      r.correct.push_back(right ? 1 : 0);
      for (int64_t k = 0; k < int64_t(nm); ++k) r.probabilities.push_back(p[int64_t(i)][k]);
      double conf = p[int64_t(i)][pred];
      int bin = std::min(kBins - 1, int(conf * kBins));
      bin_conf[size_t(bin)] += conf;
      bin_acc[size_t(bin)] += right;
      bin_n[size_t(bin)] += 1;
      loss_sum -= std::log(std::max(1e-12f, p[int64_t(i)][map[size_t(truth)]]));
    }
  }

  r.count = int64_t(data.size());
  int64_t correct = 0;
  double f1_sum = 0;
  for (size_t d = 0; d < nd; ++d) {
    int64_t m = map[d], tp = r.confusion[d][size_t(m)], row = 0, col = 0;
    for (size_t k = 0; k < nm; ++k) row += r.confusion[d][k];
    for (size_t dd = 0; dd < nd; ++dd) col += r.confusion[dd][size_t(m)];
    correct += tp;
    double recall = row ? double(tp) / double(row) : 0.0;
    double precision = col ? double(tp) / double(col) : 0.0;
    double f1 = recall + precision > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    r.per_class_recall.push_back(recall);
    r.per_class_f1.push_back(f1);
    f1_sum += f1;
  }
  r.accuracy = double(correct) / double(r.count);
  r.macro_f1 = f1_sum / double(nd);
  r.loss = loss_sum / double(r.count);
  for (int b = 0; b < kBins; ++b)
    if (bin_n[size_t(b)] > 0)
      r.ece += std::abs(bin_acc[size_t(b)] - bin_conf[size_t(b)]) / double(r.count);
  return r;
}

std::string EvalReport::to_json(bool per_image) const {
  nlohmann::json j;
  j["count"] = count;
  j["accuracy"] = accuracy;
  j["macro_f1"] = macro_f1;
  j["ece"] = ece;
  j["loss"] = loss;
  j["ensemble_size"] = ensemble_size;
  j["tta"] = tta;
  j["occlusion"] = occlusion;
  if (occlusion != "none") j["occlusion_seed"] = occlusion_seed;
  j["classes"] = classes;
  j["predicted_classes"] = predicted;
  nlohmann::json per = nlohmann::json::object();
  for (size_t i = 0; i < classes.size(); ++i)
    per[classes[i]] = {{"recall", per_class_recall[i]}, {"f1", per_class_f1[i]}};
  j["per_class"] = per;
  j["confusion"] = confusion;
  if (per_image) {
    std::string bits(correct.size(), '0');
    for (size_t i = 0; i < correct.size(); ++i)
      if (correct[i]) bits[i] = '1';
    j["correct"] = bits;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // paths need not be UTF-8
}

std::string EvalReport::to_table() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "images %lld  accuracy %.2f%%  macro-F1 %.2f%%  ECE %.3f  loss %.4f  (TTA: %s%s)\n",
                (long long)count, 100 * accuracy, 100 * macro_f1, ece, loss, tta.c_str(),
                occlusion == "none" ? "" : (", occlusion: " + occlusion + " seed " + std::to_string(occlusion_seed)).c_str());
  os << line;
  os << "class        recall     F1    | confusion (rows: truth, columns: predicted)\n";
  os << "                               |";
  for (const auto& p : predicted) {
    std::snprintf(line, sizeof line, " %6.6s", p.c_str());
    os << line;
  }
  os << "\n";
  for (size_t i = 0; i < classes.size(); ++i) {
    std::snprintf(line, sizeof line, "%-10.10s %7.2f%% %6.2f%% |", classes[i].c_str(), 100 * per_class_recall[i],
                  100 * per_class_f1[i]);
    os << line;
    for (int64_t c : confusion[i]) {
      std::snprintf(line, sizeof line, " %6lld", (long long)c);
      os << line;
    }
    os << "\n";
  }
  return os.str();
}

void EvalReport::write_confusion_png(const std::string& path) const {
  const int cell = 64, left = 110, top = 40, right = 10, bottom = 90;
  const int rows = int(classes.size()), cols = int(predicted.size());
  cv::Mat img(top + rows * cell + bottom, left + cols * cell + right, CV_8UC3, cv::Scalar(255, 255, 255));
  for (int r = 0; r < rows; ++r) {
    int64_t row_sum = 0;
    for (int64_t v : confusion[size_t(r)]) row_sum += v;
    for (int c = 0; c < cols; ++c) {
      int64_t v = confusion[size_t(r)][size_t(c)];
      double frac = row_sum ? double(v) / double(row_sum) : 0.0;
      cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      int shade = int(255 * (1 - frac));
      cv::rectangle(img, box, cv::Scalar(255, shade, shade), cv::FILLED);
      cv::rectangle(img, box, cv::Scalar(200, 200, 200), 1);
      char text[32];
      std::snprintf(text, sizeof text, "%.0f%%", 100 * frac);
      cv::Scalar ink = frac > 0.5 ? cv::Scalar(255, 255, 255) : cv::Scalar(0, 0, 0);
      cv::putText(img, text, box.tl() + cv::Point(8, 28), cv::FONT_HERSHEY_SIMPLEX, 0.45, ink, 1, cv::LINE_AA);
      std::snprintf(text, sizeof text, "%lld", (long long)v);
      cv::putText(img, text, box.tl() + cv::Point(8, 48), cv::FONT_HERSHEY_SIMPLEX, 0.38, ink, 1, cv::LINE_AA);
    }
    cv::putText(img, classes[size_t(r)], cv::Point(6, top + r * cell + 38), cv::FONT_HERSHEY_SIMPLEX, 0.5,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  for (int c = 0; c < cols; ++c) {
    cv::Mat label(20, 90, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(label, predicted[size_t(c)], cv::Point(2, 15), cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    cv::Mat rotated;
    cv::rotate(label, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    cv::Rect dst(left + c * cell + cell / 2 - 10, top + rows * cell + 2, 20, 88);
    rotated(cv::Rect(0, 0, 20, 88)).copyTo(img(dst));
  }
  char title[128];
  std::snprintf(title, sizeof title, "accuracy %.2f%%, macro-F1 %.2f%% (rows: truth)", 100 * accuracy, 100 * macro_f1);
  cv::putText(img, title, cv::Point(6, 24), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  if (!cv::imwrite(path, img)) throw Error(Status::IoError, "cannot write " + path);
}

}  // namespace fer
