// How each detector frames a FER-2013 face, and what that does to accuracy.
//
// FER-2013's images are pre-cropped 48x48 faces: the image is the frame a
// model trained on them expects. Each image is upscaled, put in the middle of
// a larger canvas, and given to every detector; the box found is compared with
// the known frame: scale (frame side / box side, box side = max(w, h)) and the
// frame centre's offset from the box centre in box sides. Medians of these are
// the detector's BoxFraming (src/detect/*_detector.hpp). With --accuracy the
// default model then runs through fer::Pipeline on the canvas (detector ->
// crop -> model) and is compared with the model on the pre-cropped images, with
// the detector's framing and without it (the raw box, as before issue 8).
//
//   build/benchmarks/fer2013_framing [DATA_DIR (/tmp/ferdata/fer2013)] [--split val] [--limit N (3589)]
//       [--upscale 4] [--canvas 4] [--pad replicate|grey|blur|all (grey)] [--detectors haar,tiny_face,ssd_mobilenet]
//       [--score 0.5] [--accuracy] [--model FILE] [--json FILE] [--photos DIR (assets/face-api/demo)] [--threads 1]
//       [--precision auto|fp32|bf16|int8 (the detectors'; the model runs in fp32)]
// Tune on val only: --split test is refused.
#include "bench_util.hpp"

#include <fer/fer.hpp>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace {

// The recognizer's view in every accuracy here: the whole crop, as the README's framing
// figures were measured (framing is what differs between the rows, not the view).
constexpr const char* kView = "none";

struct Sample {
  std::string path;
  int label = -1;  // index into the model's classes
};

// Every `limit`-th share of the sorted file list, so a limited run still spans all classes.
std::vector<Sample> list_samples(const std::string& dir, const std::vector<std::string>& classes, size_t limit) {
  std::vector<Sample> all;
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::path d = fs::path(dir) / classes[c];
    if (!fs::is_directory(d)) continue;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (auto& f : files) all.push_back({f, int(c)});
  }
  std::sort(all.begin(), all.end(), [](const Sample& a, const Sample& b) { return a.path < b.path; });
  if (limit == 0 || all.size() <= limit) return all;
  std::vector<Sample> out;
  for (size_t i = 0; i < limit; ++i) out.push_back(all[i * all.size() / limit]);
  return out;
}

// The face upscaled by `upscale` in the middle of a square canvas `canvas` times its side.
cv::Mat make_canvas(const cv::Mat& face, int upscale, double canvas, const std::string& pad, cv::Rect* frame) {
  cv::Mat big;
  cv::resize(face, big, cv::Size(), upscale, upscale, cv::INTER_CUBIC);
  int side = int(std::lround(big.cols * canvas));
  int before = (side - big.cols) / 2, after = side - big.cols - before;
  cv::Mat out;
  if (pad == "grey") {
    cv::copyMakeBorder(big, out, before, after, before, after, cv::BORDER_CONSTANT, cv::Scalar::all(128));
  } else if (pad == "replicate") {
    cv::copyMakeBorder(big, out, before, after, before, after, cv::BORDER_REPLICATE);
  } else {  // "blur": mirrored surroundings, blurred so they hold no second face
    cv::copyMakeBorder(big, out, before, after, before, after, cv::BORDER_REFLECT_101);
    cv::GaussianBlur(out, out, cv::Size(0, 0), big.cols / 8.0);
    big.copyTo(out(cv::Rect(before, before, big.cols, big.rows)));
  }
  *frame = cv::Rect(before, before, big.cols, big.rows);
  return out;
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

struct Summary {
  double median = 0, p25 = 0, p75 = 0;
};

Summary summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return v[size_t(std::lround(p * double(v.size() - 1)))]; };
  s.median = q(0.5), s.p25 = q(0.25), s.p75 = q(0.75);
  return s;
}

nlohmann::json to_json(const Summary& s) { return {{"median", s.median}, {"p25", s.p25}, {"p75", s.p75}}; }

// Cross-check on whole photos, where the DNN detectors see faces in context: each
// DNN box matched with Haar's box of the same face gives the DNN framing implied
// by Haar's (composition of the two maps), median over the faces.
nlohmann::json photo_cross_check(const std::string& dir, const std::vector<std::string>& names,
                                 const fer::BoxFraming& haar_framing) {
  nlohmann::json out = nlohmann::json::object();
  std::vector<cv::Mat> photos;
  for (int k = 1; k <= 6; ++k) {
    cv::Mat img = cv::imread(dir + "/sample" + std::to_string(k) + ".jpg");
    if (!img.empty()) photos.push_back(img);
  }
  if (photos.empty()) {
    std::printf("\n(no sample photos in %s: skipping the cross-check)\n", dir.c_str());
    return out;
  }
  auto haar = fer::Detector::create("haar");
  std::vector<std::vector<cv::Rect2f>> haar_boxes;
  for (const cv::Mat& img : photos) {
    haar_boxes.emplace_back();
    for (const auto& f : haar->detect(img)) haar_boxes.back().push_back(f.box);
  }
  std::printf("\nCross-check on %zu sample photos: DNN framing implied by Haar's (boxes of the same face, IoU >= 0.3)\n",
              photos.size());
  std::printf("%-14s %6s %22s %22s %22s\n", "detector", "faces", "frame_scale", "shift_x", "shift_y");
  for (const std::string& name : names) {
    if (name == "haar") continue;
    std::unique_ptr<fer::Detector> d;
    try {
      d = fer::Detector::create(name);
    } catch (const fer::Error&) {
      continue;
    }
    std::vector<double> fs, sx, sy;
    for (size_t k = 0; k < photos.size(); ++k) {
      for (const auto& f : d->detect(photos[k])) {
        const cv::Rect2f& b = f.box;
        const cv::Rect2f* match = nullptr;
        float best = 0.3f;
        for (const auto& h : haar_boxes[k])
          if (iou(h, b) > best) best = iou(h, b), match = &h;
        if (!match) continue;
        const cv::Rect2f frame = haar_framing.to_frame(*match);
        const double side = std::max(b.width, b.height);
        fs.push_back(frame.width / side);
        sx.push_back((frame.x + frame.width / 2 - (b.x + b.width / 2)) / side);
        sy.push_back((frame.y + frame.height / 2 - (b.y + b.height / 2)) / side);
      }
    }
    Summary a = summarize(fs), x = summarize(sx), y = summarize(sy);
    std::printf("%-14s %6zu %8.3f [%.3f,%.3f] %8.3f [%.3f,%.3f] %8.3f [%.3f,%.3f]\n", name.c_str(), fs.size(), a.median,
                a.p25, a.p75, x.median, x.p25, x.p75, y.median, y.p25, y.p75);
    out[name] = {{"faces", fs.size()}, {"frame_scale", to_json(a)}, {"shift_x", to_json(x)}, {"shift_y", to_json(y)}};
  }
  return out;
}

int argmax(const std::vector<float>& p) { return int(std::max_element(p.begin(), p.end()) - p.begin()); }

}  // namespace

int main(int argc, char** argv) {
  std::string data = "/tmp/ferdata/fer2013", split = "val", pad = "grey", model_path, json_path;
  std::string photos_dir = std::string(FER_SOURCE_ASSETS) + "/face-api/demo";
  std::string detectors = "haar,tiny_face,ssd_mobilenet";
  size_t limit = 0;
  std::string precision = "auto";
  int upscale = 4, threads = 1;
  double canvas = 4.0;
  float score = 0.5f;
  bool accuracy = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--split") split = next();
    else if (a == "--limit") limit = size_t(std::stoul(next()));
    else if (a == "--upscale") upscale = std::stoi(next());
    else if (a == "--canvas") canvas = std::stod(next());
    else if (a == "--score") score = std::stof(next());
    else if (a == "--pad") pad = next();
    else if (a == "--detectors") detectors = next();
    else if (a == "--accuracy") accuracy = true;
    else if (a == "--model") model_path = next();
    else if (a == "--json") json_path = next();
    else if (a == "--photos") photos_dir = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--precision") precision = next();
    else if (a == "-h" || a == "--help") {
      std::printf("usage: fer2013_framing [DATA_DIR] [--split val|train] [--limit N] [--upscale N] [--canvas F]\n"
                  "       [--pad replicate|grey|blur|all] [--detectors a,b] [--accuracy] [--model FILE] [--json FILE]\n"
                  "       [--photos DIR|\"\"] "
                  "[--score F] [--threads N] [--precision auto|fp32|bf16|int8 (detectors)]\n");
      return 0;
    } else if (!a.empty() && a[0] != '-') data = a;
    else {
      std::fprintf(stderr, "unknown option %s (--help)\n", a.c_str());
      return 2;
    }
  }
  if (split == "test") {
    std::fprintf(stderr, "refusing --split test: framing and crop settings are tuned on val only\n");
    return 2;
  }
  if (upscale < 1 || canvas < 1.0) {
    std::fprintf(stderr, "--upscale must be >= 1 and --canvas >= 1\n");
    return 2;
  }
  fer::set_num_threads(threads);

  if (model_path.empty()) model_path = fer::default_model_path();
  if (model_path.empty()) {
    std::fprintf(stderr, "no model: pass --model FILE (models/default.fermodel is the default)\n");
    return 1;
  }
  std::shared_ptr<fer::Model> model = fer::Model::load(model_path);
  model->set_precision(fer::Precision::Float32);
  const auto& classes = model->info().classes;
  std::vector<Sample> samples = list_samples(data + "/" + split, classes, limit);
  if (samples.empty()) {
    std::fprintf(stderr, "no images under %s/%s/<class>/ for the model's classes\n", data.c_str(), split.c_str());
    return 1;
  }
  std::vector<std::string> pads = pad == "all" ? std::vector<std::string>{"blur", "replicate", "grey"}
                                               : std::vector<std::string>{pad};
  std::printf("FER-2013 %s: %zu images, x%d upscale, canvas %.2f x face, model %s (%s)\n", split.c_str(),
              samples.size(), upscale, canvas, model_path.c_str(), model->info().architecture.c_str());

  // Pre-cropped accuracy (the reference), per image so subsets can be compared.
  std::vector<int> pre(samples.size(), -1);
  if (accuracy) {
    for (size_t i = 0; i < samples.size(); ++i) {
      cv::Mat img = cv::imread(samples[i].path, cv::IMREAD_GRAYSCALE);
      pre[i] = argmax(model->predict({model->prepare(img)}, false, false, kView)[0].probabilities);
    }
  }
  int pre_correct = 0;
  for (size_t i = 0; i < samples.size(); ++i) pre_correct += pre[i] == samples[i].label;
  if (accuracy) std::printf("pre-cropped accuracy: %.4f\n", double(pre_correct) / double(samples.size()));

  nlohmann::json report = {{"split", split},     {"pad", pad},              {"score_threshold", score},     {"images", samples.size()}, {"upscale", upscale},
                           {"canvas", canvas},   {"model", model_path},      {"data", data},
                           {"detectors", nlohmann::json::object()}};
  if (accuracy) report["precropped_accuracy"] = double(pre_correct) / double(samples.size());

  std::optional<fer::BoxFraming> haar_measured;
  std::printf("\n%-14s %-9s %6s %22s %22s %22s %22s %9s %8s", "detector", "pad", "found", "scale (max side)",
              "scale (w) / (h)", "shift_x", "shift_y", "frameIoU lib/meas", "ms");
  if (accuracy) std::printf(" %8s %8s %8s %8s %8s", "acc", "acc_meas", "acc_raw", "acc_pre", "acc_all");
  std::printf("\n");

  for (const std::string& name : fer_bench::split_list(detectors)) {
    for (const std::string& p : pads) {
      fer::PipelineOptions po;
      po.detector = name;
      po.threads = threads;
      po.landmarks = "none";
      po.score_threshold = score;
      po.precision = precision;  // the detector's: the model passed in keeps fp32
      std::unique_ptr<fer::Pipeline> pipeline;
      try {
        pipeline = std::make_unique<fer::Pipeline>(po, model);
      } catch (const fer::Error& e) {
        std::printf("%-14s unavailable: %s\n", name.c_str(), e.what());
        break;
      }
      fer::BoxFraming framing = fer::Detector::create(name)->framing();
      std::vector<double> scale, scale_w, scale_h, shift_x, shift_y, frame_iou, ms;
      std::vector<std::pair<size_t, cv::Rect2f>> hits;  // image index, box
      int found = 0, correct = 0, correct_raw = 0, correct_pre = 0;
      for (size_t i = 0; i < samples.size(); ++i) {
        cv::Mat img = cv::imread(samples[i].path, cv::IMREAD_GRAYSCALE);
        cv::Rect frame_i;
        cv::Mat c = make_canvas(img, upscale, canvas, p, &frame_i);
        const cv::Rect2f frame(frame_i);
        auto t0 = std::chrono::steady_clock::now();
        std::vector<fer::FaceResult> results = pipeline->process(c);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        // The face: the detection overlapping the frame most, with its centre inside it.
        const fer::FaceResult* best = nullptr;
        float best_iou = 0.2f;
        for (const auto& r : results) {
          const cv::Rect2f& b = r.face.box;
          cv::Point2f centre(b.x + b.width / 2, b.y + b.height / 2);
          float o = iou(b, frame);
          if (frame.contains(centre) && o > best_iou) best = &r, best_iou = o;
        }
        if (!best) continue;
        ++found;
        const cv::Rect2f& b = best->face.box;
        const double side = std::max(b.width, b.height);
        scale.push_back(frame.width / side);
        scale_w.push_back(frame.width / b.width);
        scale_h.push_back(frame.height / b.height);
        shift_x.push_back((frame.x + frame.width / 2 - (b.x + b.width / 2)) / side);
        shift_y.push_back((frame.y + frame.height / 2 - (b.y + b.height / 2)) / side);
        frame_iou.push_back(iou(framing.to_frame(b), frame));
        hits.emplace_back(i, b);
        if (accuracy) {
          correct += best->label_index == samples[i].label;
          int raw = argmax(model->predict({model->crop(c, b)}, false, false, kView)[0].probabilities);
          correct_raw += raw == samples[i].label;
          correct_pre += pre[i] == samples[i].label;
        }
      }
      Summary s = summarize(scale), sw = summarize(scale_w), sh = summarize(scale_h), sx = summarize(shift_x),
              sy = summarize(shift_y), fi = summarize(frame_iou), t = summarize(ms);
      // The framing measured here (medians), and how well it predicts each frame; with
      // --accuracy, the model on crops by it (no second detection: the boxes are kept).
      fer::BoxFraming measured;
      measured.frame_scale = float(s.median), measured.shift_x = float(sx.median), measured.shift_y = float(sy.median);
      std::vector<double> measured_iou;
      int correct_measured = 0;
      for (const auto& [i, b] : hits) {
        cv::Rect frame_i;
        cv::Mat c = make_canvas(cv::imread(samples[i].path, cv::IMREAD_GRAYSCALE), upscale, canvas, p, &frame_i);
        measured_iou.push_back(iou(measured.to_frame(b), cv::Rect2f(frame_i)));
        if (accuracy)
          correct_measured +=
              argmax(model->predict({model->crop(c, measured.to_reference(b))}, false, false, kView)[0].probabilities) == samples[i].label;
      }
      Summary mi = summarize(measured_iou);
      if (name == "haar" && !haar_measured) haar_measured = measured;
      auto q = [](const Summary& v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.3f [%.3f,%.3f]", v.median, v.p25, v.p75);
        return std::string(buf);
      };
      char wh[64];
      std::snprintf(wh, sizeof wh, "%.3f / %.3f", sw.median, sh.median);
      std::printf("%-14s %-9s %5.1f%% %22s %22s %22s %22s %5.3f/%5.3f %8.1f", pipeline->detector_name().c_str(),
                  p.c_str(), 100.0 * found / double(samples.size()), q(s).c_str(), wh, q(sx).c_str(), q(sy).c_str(),
                  fi.median, mi.median, t.median);
      nlohmann::json j = {{"found", found},
                          {"detection_rate", found / double(samples.size())},
                          {"scale", to_json(s)},
                          {"scale_w", to_json(sw)},
                          {"scale_h", to_json(sh)},
                          {"shift_x", to_json(sx)},
                          {"shift_y", to_json(sy)},
                          {"frame_iou_with_framing", to_json(fi)},
                          {"frame_iou_with_measured_framing", to_json(mi)},
                          {"ms_per_image", t.median},
                          {"framing_in_library",
                           {{"frame_scale", framing.frame_scale},
                            {"shift_x", framing.shift_x},
                            {"shift_y", framing.shift_y}}}};
      if (accuracy) {
        double n = std::max(found, 1);
        std::printf(" %8.4f %8.4f %8.4f %8.4f %8.4f", correct / n, correct_measured / n, correct_raw / n,
                    correct_pre / n, correct / double(samples.size()));
        j["accuracy_with_framing"] = correct / n;
        j["accuracy_with_measured_framing"] = correct_measured / n;
        j["accuracy_raw_box"] = correct_raw / n;
        j["accuracy_precropped_same_images"] = correct_pre / n;
        j["accuracy_all_images_misses_wrong"] = correct / double(samples.size());
      }
      std::printf("\n");
      std::fflush(stdout);
      report["detectors"][name + "/" + p] = j;
    }
  }
  std::printf("\nscale: FER-2013 frame side / box side (max(w, h)); shift: (frame centre - box centre) / box side;\n"
              "median [p25,p75]. frameIoU: median IoU of the frame predicted from the box with the true frame, by the\n"
              "library's framing (lib) and by the medians measured here (meas).\n");
  if (accuracy)
    std::printf("acc: through fer::Pipeline (library framing), acc_meas: crop by the framing measured here, acc_raw: crop of\n"
                "the raw box as if it were a reference box (before issue 8), acc_pre: pre-cropped, same\n"
                "images; acc_all: with framing over all images, a missed face counted wrong.\n");
  if (!photos_dir.empty()) {
    fer::BoxFraming haar_framing = fer::Detector::create("haar")->framing();
    if (haar_measured) haar_framing = *haar_measured;
    std::printf("(Haar framing used: %s)\n", haar_measured ? "measured above" : "the library's");
    report["photo_cross_check"] = photo_cross_check(photos_dir, fer_bench::split_list(detectors), haar_framing);
  }
  std::string dumped = report.dump(2);
  std::printf("\n%s\n", dumped.c_str());
  if (!json_path.empty()) std::ofstream(json_path) << dumped << "\n";
  return 0;
}
