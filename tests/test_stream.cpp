// Video: tracker, Kalman filter, association, smoothing, Stream, VideoSource, overlay.
//
// The stream tests run on a clip synthesised from a sample photo (pans, zooms,
// a face leaving and re-entering, an occlusion, a brightness change) whose
// ground truth follows from the camera path. Without the photo the clip's
// background is synthetic and only the Haar-detector test is skipped.
#include "support.hpp"

#include "track/association.hpp"
#include "track/kalman.hpp"
#include "track/smoother.hpp"
#include "track/tracker.hpp"

#include <fer/overlay.hpp>
#include <fer/stream.hpp>
#include <fer/video.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

namespace {

using fer::detail::BoxKalman;
using fer::detail::LabelSmoother;
using fer::detail::Tracker;
using fer::detail::TrackerOptions;

cv::Rect2f centred(float cx, float cy, float side) { return {cx - side / 2, cy - side / 2, side, side}; }

// ---------------------------------------------------------------------------
// The synthetic clip. Content is a function of time, so a 10 fps and a 30 fps
// rendering show the same thing.
// ---------------------------------------------------------------------------

struct TruthFace {
  int face;            // 0 = left (A), 1 = middle (B), 2 = right (C) face of the photo
  cv::Rect2f box;      // in frame coordinates
  float visible;       // fraction of the box inside the frame
  bool occluded;
};

class Clip {
 public:
  static constexpr double kDuration = 6.0;

  explicit Clip(cv::Size size) : size_(size) {
    std::string path = fer_test::face_api_dir() + "/demo/sample3.jpg";
    photo_ = cv::imread(path, cv::IMREAD_COLOR);
    real_ = !photo_.empty();
    if (!real_) {  // a textured stand-in with bright discs where the faces are
      photo_.create(1350, 1920, CV_8UC3);
      cv::randu(photo_, cv::Scalar::all(40), cv::Scalar::all(120));
      for (const cv::Rect2f& f : faces_)
        cv::circle(photo_, (f.tl() + f.br()) * 0.5f, int(f.width / 2), cv::Scalar(150, 180, 220), cv::FILLED);
    }
  }
  bool real_photo() const { return real_; }
  /// From 3 s on, face B's colours are inverted: a change of appearance that
  /// even an untrained model responds to (a stand-in for a change of expression).
  bool appearance_change = false;

  // Camera window in photo pixels: centre x and width (4:3, centre y fixed).
  // 0-1.5 s: zoom out and in with faces A and B in view; 1.5-2.5 s: pan right
  // (A leaves, C enters); 2.5-4 s: hold; 4-5 s: pan back (A re-enters, C leaves).
  void view(double t, double& cx, double& width) const {
    static const double kKeys[][3] = {{0.0, 880, 960},  {0.75, 880, 1100}, {1.5, 880, 960}, {2.5, 1330, 960},
                                      {4.0, 1330, 960}, {5.0, 880, 960},   {6.0, 880, 960}};
    const size_t n = sizeof(kKeys) / sizeof(kKeys[0]);
    t = std::clamp(t, 0.0, kKeys[n - 1][0]);
    for (size_t i = 0; i + 1 < n; ++i)
      if (t <= kKeys[i + 1][0]) {
        double u = (t - kKeys[i][0]) / (kKeys[i + 1][0] - kKeys[i][0]);
        cx = kKeys[i][1] + u * (kKeys[i + 1][1] - kKeys[i][1]);
        width = kKeys[i][2] + u * (kKeys[i + 1][2] - kKeys[i][2]);
        return;
      }
  }
  // Photo -> frame transform at time t.
  cv::Matx23d transform(double t) const {
    double cx = 0, width = 0;
    view(t, cx, width);
    double s = size_.width / width, x0 = cx - width / 2, y0 = 460 - width * 0.375;
    return {s, 0, -x0 * s, 0, s, -y0 * s};
  }
  static double brightness(double t) { return t < 5.0 ? 1.0 : 1.0 - 0.45 * std::min(1.0, (t - 5.0) / 0.5); }
  static bool occluded(int face, double t) { return face == 1 && t >= 1.0 && t < 1.2; }
  static constexpr double kAppearanceChange = 3.0;

  std::vector<TruthFace> truth(double t) const {
    cv::Matx23d m = transform(t);
    std::vector<TruthFace> out;
    for (int i = 0; i < 3; ++i) {
      const cv::Rect2f& f = faces_[size_t(i)];
      cv::Rect2f b(float(m(0, 0) * f.x + m(0, 2)), float(m(1, 1) * f.y + m(1, 2)), float(m(0, 0) * f.width),
                   float(m(1, 1) * f.height));
      float visible = (b & cv::Rect2f(0, 0, float(size_.width), float(size_.height))).area() / b.area();
      out.push_back({i, b, visible, occluded(i, t)});
    }
    return out;
  }

  cv::Mat frame(double t) const {
    cv::Mat out;
    cv::warpAffine(photo_, out, cv::Mat(transform(t)), size_, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    for (const TruthFace& f : truth(t)) {
      if (appearance_change && f.face == 1 && t >= kAppearanceChange) {
        cv::Rect r = cv::Rect(f.box) & cv::Rect(0, 0, out.cols, out.rows);
        cv::Mat roi = out(r);
        cv::bitwise_not(roi, roi);
      }
      if (f.occluded) {  // a hand-sized grey patch over the face
        cv::Rect2f b = f.box;
        cv::rectangle(out, cv::Rect(b.x - b.width * 0.1f, b.y - b.height * 0.1f, b.width * 1.2f, b.height * 1.2f),
                      cv::Scalar(128, 128, 128), cv::FILLED);
      }
    }
    double b = brightness(t);
    if (b != 1.0) out.convertTo(out, CV_8U, b);
    return out;
  }

 private:
  cv::Size size_;
  cv::Mat photo_;
  bool real_ = false;
  // Face boxes in sample3.jpg (1920x1350): the Haar detector's boxes on the
  // photo, matching the by-eye centres of tests/data/sample_faces.txt.
  std::vector<cv::Rect2f> faces_{{560, 344, 232, 232}, {1024, 228, 272, 272}, {1480, 312, 248, 248}};
};

// A detector that reports the clip's ground truth: faces at least 60% in view
// and not occluded, with a little deterministic jitter.
std::vector<fer::Face> g_truth_faces;

class TruthDetector : public fer::Detector {
 public:
  std::string name() const override { return "stream_test_truth"; }
  std::vector<fer::Face> detect(const cv::Mat&) override { return g_truth_faces; }
};

void register_truth_detector() {
  if (!fer::detector_registry().contains("stream_test_truth"))
    fer::detector_registry().add(
        "stream_test_truth", [](const fer::DetectorOptions&) { return std::make_unique<TruthDetector>(); },
        "test only: the synthetic clip's ground truth");
}

void set_truth(const Clip& clip, double t, int64_t frame) {
  g_truth_faces.clear();
  for (const TruthFace& f : clip.truth(t)) {
    if (f.visible < 0.6f || f.occluded) continue;
    float jx = float((frame * 7 + f.face * 3) % 5 - 2), jy = float((frame * 3 + f.face * 5) % 5 - 2);
    fer::Face face;
    face.box = cv::Rect2f(f.box.x + jx, f.box.y + jy, f.box.width, f.box.height);
    face.score = 0.9f;
    g_truth_faces.push_back(face);
  }
}

// Per frame: the ground-truth face (or -1) each reported face belongs to.
struct Observation {
  double t;
  int face;
  int64_t id;
  std::vector<float> raw, smoothed;
  int raw_label, smoothed_label;
};

int truth_of(const Clip& clip, double t, const cv::Rect2f& box) {
  int best = -1;
  float best_iou = 0.3f;
  for (const TruthFace& f : clip.truth(t)) {
    float v = fer::detail::iou(f.box, box);
    if (v > best_iou) best_iou = v, best = f.face;
  }
  return best;
}

std::vector<Observation> run_clip(fer::Stream& stream, const Clip& clip, double fps, bool truth_detector,
                                  double duration = Clip::kDuration) {
  std::vector<Observation> out;
  int64_t frames = int64_t(std::llround(duration * fps));
  for (int64_t i = 0; i < frames; ++i) {
    double t = double(i) / fps;
    if (truth_detector) set_truth(clip, t, i);
    fer::StreamFrame r = stream.push(clip.frame(t), t);
    for (const fer::TrackedFace& f : r.faces)
      out.push_back({t, truth_of(clip, t, f.result.face.box), f.track_id, f.result.probabilities, f.smoothed,
                     f.result.label_index, f.smoothed_label_index});
  }
  return out;
}

// A recognizer that reads the face's mean brightness: feature = mean of the
// normalized crop, class k's logit = -40 (feature - centre_k)^2 with centres
// spread over [-1, 1]. Its labels follow the clip's brightness changes, so
// smoothing and hysteresis have real changes to work on (an untrained network's
// output barely moves between frames).
class BrightnessExtractor : public fer::FeatureExtractor {
 public:
  std::string architecture() const override { return "test_brightness"; }
  const fer::Config& config() const override { return config_; }
  int feature_dim() const override { return 1; }
  fer::FeatureBatch extract(const std::vector<cv::Mat>& crops) const override {
    fer::FeatureBatch b;
    b.features.create(int(crops.size()), 1, CV_32F);
    for (size_t i = 0; i < crops.size(); ++i) b.features.at<float>(int(i), 0) = float(cv::mean(crops[i])[0]);
    return b;
  }
  fer::TensorList state() const override { return {}; }
  void load_state(const fer::TensorList&) override {}
  int64_t parameter_count() const override { return 0; }

 private:
  fer::Config config_;
};

class BrightnessClassifier : public fer::Classifier {
 public:
  explicit BrightnessClassifier(int classes) : classes_(classes) {}
  std::string name() const override { return "test_brightness"; }
  const fer::Config& config() const override { return config_; }
  int num_classes() const override { return classes_; }
  cv::Mat logits(const cv::Mat& features) const override {
    cv::Mat out(features.rows, classes_, CV_32F);
    for (int i = 0; i < features.rows; ++i)
      for (int k = 0; k < classes_; ++k) {
        float d = features.at<float>(i, 0) - (-1.f + 2.f * float(k) / float(classes_ - 1));
        out.at<float>(i, k) = -40.f * d * d;
      }
    return out;
  }
  fer::TensorList state() const override { return {}; }
  void load_state(const fer::TensorList&) override {}

 private:
  int classes_;
  fer::Config config_;
};

std::shared_ptr<fer::Model> brightness_model() {
  fer::ModelInfo info = fer::untrained_default_info();
  int classes = int(info.classes.size());
  return std::make_shared<fer::Model>(info, std::make_unique<BrightnessExtractor>(),
                                      std::make_unique<BrightnessClassifier>(classes));
}

// One compute thread unless asked: on a busy machine more threads only wait.
fer::Stream truth_stream(const fer::StreamOptions& so, int threads = 1) {
  register_truth_detector();
  fer::PipelineOptions po;
  po.detector = "stream_test_truth";
  po.threads = threads;
  return fer::Stream(po, brightness_model(), so);
}

// Ids are never reused: a track id, once it stops appearing, never appears
// again after another id has started; and ids appear in increasing order.
void check_ids_not_reused(const std::vector<Observation>& obs) {
  std::map<int64_t, double> first, last;
  for (const Observation& o : obs) {
    if (!first.count(o.id)) first[o.id] = o.t;
    last[o.id] = o.t;
  }
  int64_t previous = 0;
  double previous_start = -1;
  for (const auto& [id, start] : first) {
    CHECK(id > previous);
    CHECK(start >= previous_start);  // a larger id never started earlier
    previous = id;
    previous_start = start;
  }
  // Each id belongs to one ground-truth face.
  std::map<int64_t, std::set<int>> faces;
  for (const Observation& o : obs)
    if (o.face >= 0) faces[o.id].insert(o.face);
  for (const auto& entry : faces)
    CHECK_MESSAGE(entry.second.size() == 1, "track " << entry.first << " covers several faces");
}

int label_changes(const std::vector<Observation>& obs, int face, bool smoothed) {
  int changes = 0, last = -1;
  for (const Observation& o : obs) {
    if (o.face != face) continue;
    int l = smoothed ? o.smoothed_label : o.raw_label;
    if (last >= 0 && l != last) ++changes;
    last = l;
  }
  return changes;
}

}  // namespace

// ---------------------------------------------------------------------------
// Building blocks on synthetic boxes (no assets needed).
// ---------------------------------------------------------------------------

TEST_CASE("track: IoU and greedy association") {
  using fer::detail::iou;
  CHECK(iou({0, 0, 10, 10}, {0, 0, 10, 10}) == doctest::Approx(1.0));
  CHECK(iou({0, 0, 10, 10}, {20, 0, 10, 10}) == 0.f);
  CHECK(iou({0, 0, 10, 10}, {5, 0, 10, 10}) == doctest::Approx(50.0 / 150.0));
  CHECK(iou({0, 0, 0, 0}, {0, 0, 0, 0}) == 0.f);

  std::vector<cv::Rect2f> tracks{{0, 0, 10, 10}, {100, 0, 10, 10}, {200, 0, 10, 10}};
  std::vector<cv::Rect2f> dets{{101, 1, 10, 10}, {1, 0, 10, 10}, {500, 0, 10, 10}, {3, 0, 10, 10}};
  auto m = fer::detail::match_by_iou(tracks, dets, 0.3f);
  REQUIRE(m.size() == 2);
  std::map<int, int> by_track(m.begin(), m.end());
  CHECK(by_track.at(0) == 1);  // the closer of the two candidates
  CHECK(by_track.at(1) == 0);
  CHECK(!by_track.count(2));
  CHECK(fer::detail::match_by_iou(tracks, dets, 0.95f).empty());
  CHECK(fer::detail::match_by_iou({}, dets, 0.3f).empty());

  // Fallback for fast moves: no overlap, but centres within 0.75 box sides and similar sizes.
  std::vector<cv::Rect2f> moved{{7, 0, 10, 10}, {300, 0, 10, 10}, {107, 0, 20, 20}};
  auto d = fer::detail::match_by_distance(tracks, moved, 0.75f);
  REQUIRE(d.size() == 1);
  CHECK(d[0] == std::make_pair(0, 0));  // 0.7 sides apart (IoU 0.18); the 20 px box is too big for track 1
  CHECK(fer::detail::match_by_distance(tracks, moved, 0.5f).empty());
}

TEST_CASE("track: Kalman filter follows constant velocity in real time") {
  // A face moving at (120, -60) px/s, seen at 10 and at 30 fps for one second.
  for (double fps : {10.0, 30.0}) {
    CAPTURE(fps);
    BoxKalman kf(centred(100, 300, 80));
    for (int i = 1; i <= int(fps); ++i) {
      double t = i / fps;
      kf.predict(1.0 / fps);
      kf.update(centred(float(100 + 120 * t), float(300 - 60 * t), 80));
    }
    CHECK(kf.velocity().x == doctest::Approx(120).epsilon(0.1));
    CHECK(kf.velocity().y == doctest::Approx(-60).epsilon(0.1));
    double before = kf.position_stddev();
    kf.predict(0.5);  // half a second without detection
    cv::Rect2f b = kf.box();
    CHECK(b.x + b.width / 2 == doctest::Approx(100 + 120 * 1.5).epsilon(0.03));
    CHECK(b.y + b.height / 2 == doctest::Approx(300 - 60 * 1.5).epsilon(0.03));
    CHECK(b.width == doctest::Approx(80).epsilon(0.05));
    CHECK(kf.position_stddev() > before);  // less certain while coasting
  }
  BoxKalman still(centred(50, 50, 40));
  still.predict(0);
  CHECK(still.box().x == doctest::Approx(30));

  // An absurd gap between frames (finite timestamps 1e200 s apart) keeps the
  // state finite: the covariance would overflow to inf and the box turn NaN.
  Tracker tracker;
  tracker.predict(0);
  std::vector<int64_t> first = tracker.update({fer::Face{centred(100, 100, 50), 0.9f, {}}});
  tracker.predict(1e200);
  std::vector<int64_t> later = tracker.update({fer::Face{centred(100, 100, 50), 0.9f, {}}});
  REQUIRE(tracker.tracks().size() == 1);
  CHECK(later == first);
  cv::Rect2f b = tracker.tracks()[0].filter.box();
  CHECK((std::isfinite(b.x) && std::isfinite(b.y) && std::isfinite(b.width) && std::isfinite(b.height)));
  CHECK(b.x == doctest::Approx(75).epsilon(0.01));

  // Rescaling (a stream changing resolution) scales position, size and velocity.
  BoxKalman moving(centred(100, 100, 40));
  for (int i = 1; i <= 10; ++i) {
    moving.predict(0.1);
    moving.update(centred(float(100 + 10 * i), 100, 40));
  }
  cv::Point2f v = moving.velocity();
  cv::Rect2f before = moving.box();
  moving.scale(0.5, 2.0);
  CHECK(moving.box().x + moving.box().width / 2 == doctest::Approx((before.x + before.width / 2) * 0.5));
  CHECK(moving.box().height == doctest::Approx(before.height * 2));
  CHECK(moving.velocity().x == doctest::Approx(v.x * 0.5));
}

TEST_CASE("track: tracker keeps ids, ends tracks after the max missed time, never reuses ids") {
  TrackerOptions o;
  o.max_missed_seconds = 0.5;
  Tracker tracker(o);
  auto det = [](float cx, float cy) {
    fer::Face f;
    f.box = centred(cx, cy, 60);
    f.score = 1;
    return f;
  };
  // Two faces moving right at 90 px/s, 30 fps, detections every third frame.
  int64_t id_a = -1, id_b = -1;
  for (int i = 0; i < 30; ++i) {
    double t = i / 30.0;
    tracker.predict(t);
    if (i % 3 == 0) {
      auto ids = tracker.update({det(float(100 + 90 * t), 100), det(float(400 + 90 * t), 120)});
      if (i == 0) id_a = ids[0], id_b = ids[1];
      CHECK(ids[0] == id_a);
      CHECK(ids[1] == id_b);
    }
  }
  CHECK(id_a == 1);
  CHECK(id_b == 2);
  // Between detections the prediction stays on the face.
  tracker.predict(31 / 30.0);
  for (const auto& t : tracker.tracks()) {
    float cx = t.filter.box().x + 30;
    CHECK(cx == doctest::Approx((t.id == id_a ? 100 : 400) + 90 * 31 / 30.0).epsilon(0.02));
    CHECK(!t.detected_now);
    CHECK(t.frames_since_detection > 0);
  }
  // Face B disappears for 0.3 s (< max missed): same id when it is back.
  double t = 1.1;
  tracker.predict(t);
  auto ids = tracker.update({det(float(100 + 90 * t), 100)});
  CHECK(ids[0] == id_a);
  CHECK(tracker.tracks().size() == 2);
  t = 1.3;
  tracker.predict(t);
  ids = tracker.update({det(float(100 + 90 * t), 100), det(float(400 + 90 * t), 120)});
  CHECK(ids[0] == id_a);
  CHECK(ids[1] == id_b);
  // Face B away for 0.8 s (> max missed): its track ends; it comes back with a new id.
  for (double u = 1.4; u < 2.1; u += 0.1) {
    tracker.predict(u);
    tracker.update({det(float(100 + 90 * u), 100)});
  }
  CHECK(tracker.tracks().size() == 1);
  t = 2.2;
  tracker.predict(t);
  ids = tracker.update({det(float(100 + 90 * t), 100), det(float(400 + 90 * t), 120)});
  CHECK(ids[0] == id_a);
  CHECK(ids[1] == 3);
  // reset() drops tracks but the counter continues.
  tracker.reset();
  tracker.predict(0);
  CHECK(tracker.update({det(10, 10)})[0] == 4);
  CHECK_THROWS_AS(tracker.predict(-1), fer::Error);
  CHECK_THROWS_AS(tracker.predict(std::nan("")), fer::Error);
  TrackerOptions forever;
  forever.max_missed_seconds = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS((Tracker{forever}), fer::Error);
}

TEST_CASE("track: frames whose timestamps do not advance cannot grow the tracks without bound") {
  Tracker tracker{TrackerOptions{}};
  // A flickering false positive in a new place on every frame, all at time 0: time never ends a track.
  for (int i = 0; i < 1000; ++i) {
    tracker.predict(0.0);
    fer::Face f;
    f.box = centred(float(50 + 97 * (i % 40)), float(50 + 89 * (i / 40)), 20);
    f.score = 1;
    tracker.update({f});
    REQUIRE(tracker.tracks().size() <= fer::detail::kMaxTracks);
  }
  CHECK(tracker.tracks().size() == fer::detail::kMaxTracks);
  // The newest detection is kept, and tracks stay in id order.
  CHECK(tracker.tracks().back().id == 1000);
  CHECK(tracker.tracks().back().detected_now);
  for (size_t i = 1; i < tracker.tracks().size(); ++i) CHECK(tracker.tracks()[i - 1].id < tracker.tracks()[i].id);
}

TEST_CASE("track: smoothing uses real time, not frames") {
  // A probability rising linearly, 0.5 + 0.3 t, seen at 10 and at 30 fps: both
  // give the exact low-pass response 0.8 - 0.3 tau (1 - exp(-1 / tau)) at t = 1.
  const double tau = 0.5;
  for (double fps : {10.0, 30.0}) {
    CAPTURE(fps);
    LabelSmoother s(tau, 0.f);
    for (int i = 0; i <= int(fps); ++i) {
      float x = float(0.5 + 0.3 * i / fps);
      s.update({x, 1 - x}, i / fps);
    }
    CHECK(s.probabilities()[0] == doctest::Approx(0.8 - 0.3 * tau * (1 - std::exp(-1 / tau))).epsilon(1e-4));
  }
  // A sudden change: after a second the two rates agree closely, where a
  // fixed weight per frame would not.
  std::map<double, float> real_time, per_frame;
  for (double fps : {10.0, 30.0}) {
    LabelSmoother s(tau, 0.f);
    s.update({0.9f, 0.1f}, 0);
    float ema = 0.1f;
    for (int i = 1; i <= int(fps); ++i) {
      s.update({0.2f, 0.8f}, i / fps);
      ema += 0.2f * (0.8f - ema);
    }
    real_time[fps] = s.probabilities()[1];
    per_frame[fps] = ema;
  }
  CHECK(std::abs(real_time[10.0] - real_time[30.0]) < 0.01);
  CHECK(std::abs(per_frame[10.0] - per_frame[30.0]) > 0.05);
  CHECK(real_time[30.0] == doctest::Approx(0.8 - 0.7 * std::exp(-1 / tau)).epsilon(0.02));

  LabelSmoother none(0.0, 0.f);
  none.update({0.9f, 0.1f}, 0);
  none.update({0.2f, 0.8f}, 0.01);
  CHECK(none.probabilities()[1] == doctest::Approx(0.8));
  CHECK(none.label() == 1);
  LabelSmoother same_time(tau, 0.f);
  same_time.update({0.9f, 0.1f}, 1);
  same_time.update({0.2f, 0.8f}, 1);  // no time passed: no change
  CHECK(same_time.probabilities()[1] == doctest::Approx(0.1));
  // Steps of a few ulps (0.1 + 0.2 after 0.3) or a denormal: the update stays a
  // blend of the inputs (in [0, 1], finite), not 1.2 / -0.2 or NaN.
  for (const auto& step : {std::pair<double, double>{0.3, 0.1 + 0.2}, {0.0, 5e-324}, {-1e308, 1e308}}) {
    const double t0 = step.first, t1 = step.second;  // not a structured binding: CAPTURE's lambda captures it
    CAPTURE(t1 - t0);
    LabelSmoother tiny(0.3, 0.1f);
    tiny.update({1.f, 0.f}, t0);
    tiny.update({0.f, 1.f}, t1);
    for (float v : tiny.probabilities()) CHECK((std::isfinite(v) && v >= 0.f && v <= 1.f));
  }
  LabelSmoother mismatch(tau, 0.f);
  mismatch.update({0.9f, 0.1f}, 0);
  CHECK_THROWS_AS(mismatch.update({0.2f, 0.3f, 0.5f}, 1), fer::Error);
}

TEST_CASE("track: label hysteresis stops flicker") {
  // The raw label alternates every frame between two close classes.
  LabelSmoother s(0.2, 0.1f);
  int raw_changes = 0, smoothed_changes = 0, raw_last = -1, smoothed_last = -1;
  for (int i = 0; i < 60; ++i) {
    std::vector<float> p = i % 2 ? std::vector<float>{0.42f, 0.48f, 0.1f} : std::vector<float>{0.48f, 0.42f, 0.1f};
    int raw = int(std::max_element(p.begin(), p.end()) - p.begin());
    s.update(p, i / 30.0);
    if (raw_last >= 0 && raw != raw_last) ++raw_changes;
    if (smoothed_last >= 0 && s.label() != smoothed_last) ++smoothed_changes;
    raw_last = raw;
    smoothed_last = s.label();
  }
  CHECK(raw_changes == 59);
  CHECK(smoothed_changes == 0);
  // A real change of expression still switches the label.
  for (int i = 60; i < 90; ++i) s.update({0.1f, 0.2f, 0.7f}, i / 30.0);
  CHECK(s.label() == 2);
}

// ---------------------------------------------------------------------------
// Stream on the synthetic clip with a ground-truth detector.
// ---------------------------------------------------------------------------

TEST_CASE("stream: stable ids, a new id after a long absence, no id reuse (ground-truth detector)") {
  Clip clip({640, 480});
  if (!clip.real_photo()) MESSAGE("sample3.jpg not found (run scripts/setup.sh): using a synthetic background");
  fer::StreamOptions so;
  so.detect_every = 3;
  so.max_missed_seconds = 0.5;
  fer::Stream stream = truth_stream(so);
  std::vector<Observation> obs = run_clip(stream, clip, 30, true);

  std::map<int, std::set<int64_t>> ids;
  std::map<int, int> frames_seen;
  for (const Observation& o : obs) {
    CHECK(o.face >= 0);  // every reported face is a real one
    if (o.face < 0) continue;
    ++frames_seen[o.face];
    if (o.face == 0) ids[o.t < 3.0 ? 0 : 10].insert(o.id);
    else ids[o.face].insert(o.id);
  }
  // B stays in view (occluded 0.2 s < max missed): one id all along.
  CHECK(ids[1].size() == 1);
  CHECK(frames_seen[1] >= 170);  // of 180; the occluded frames may be dropped
  // A leaves for about 2.4 s (> max missed) and comes back with a new id.
  REQUIRE(ids[0].size() == 1);
  REQUIRE(ids[10].size() == 1);
  CHECK(*ids[10].begin() > *ids[0].begin());
  CHECK(*ids[10].begin() > *ids[2].rbegin());  // newer than C's track too: never reused
  CHECK(ids[2].size() == 1);                   // C enters once
  check_ids_not_reused(obs);
}

TEST_CASE("stream: 10 fps and 30 fps give the same smoothed output; hysteresis; thread count") {
  Clip clip({640, 480});
  clip.appearance_change = true;
  fer::StreamOptions so;
  so.detect_every = 1;
  so.smoothing_seconds = 0.3;
  so.max_missed_seconds = 0.5;
  std::vector<Observation> at10, at30;
  {
    fer::Stream s10 = truth_stream(so, 1);
    at10 = run_clip(s10, clip, 10, true);
    fer::Stream s30 = truth_stream(so, 1);
    at30 = run_clip(s30, clip, 30, true);
  }
  // Face B at the common timestamps (every 0.1 s), after the first second.
  std::map<long, const Observation*> b30;
  for (const Observation& o : at30)
    if (o.face == 1) b30[std::lround(o.t * 30)] = &o;
  double max_diff = 0, sum_diff = 0, max_raw_diff = 0, max_raw_change = 0, count = 0;
  std::vector<float> first_raw;
  for (const Observation& o : at10) {
    if (o.face != 1) continue;
    if (first_raw.empty()) first_raw = o.raw;
    for (size_t k = 0; k < o.raw.size(); ++k) max_raw_change = std::max(max_raw_change, double(std::abs(o.raw[k] - first_raw[k])));
    auto it = b30.find(std::lround(o.t * 30));
    if (o.t < 1.0 || it == b30.end()) continue;
    double rd = 0, sd = 0;
    for (size_t k = 0; k < o.smoothed.size(); ++k) {
      sd = std::max(sd, double(std::abs(o.smoothed[k] - it->second->smoothed[k])));
      rd = std::max(rd, double(std::abs(o.raw[k] - it->second->raw[k])));
    }
    max_diff = std::max(max_diff, sd);
    sum_diff += sd;
    max_raw_diff = std::max(max_raw_diff, rd);
    ++count;
  }
  INFO("10 vs 30 fps: smoothed probabilities differ by " << sum_diff / count << " on average, " << max_diff
                                                             << " at most (" << count << " timestamps; raw: "
                                                             << max_raw_diff << " at most, varying by up to "
                                                             << max_raw_change << " over the clip)");
  CHECK(count >= 40);
  CHECK(max_raw_change > 0.5);     // the content does move the probabilities
  CHECK(sum_diff / count < 0.01);
  CHECK(max_diff < 0.06);          // the largest gap is right at the sudden change (t = 3 s)

  // The displayed (smoothed) label changes no more often than the raw one.
  for (int face : {0, 1, 2}) {
    CAPTURE(face);
    int raw = label_changes(at30, face, false), smoothed = label_changes(at30, face, true);
    INFO("face " << face << ": raw label changed " << raw << " times, smoothed label " << smoothed << " times");
    CHECK(smoothed <= raw);
    if (raw >= 3) CHECK(smoothed < raw);
  }

  // A frame-based EMA (the same weight per frame) would not match across rates.
  double frame_based = 0;
  {
    std::vector<float> e10, e30;
    std::map<long, std::vector<float>> at;
    for (const Observation& o : at30)
      if (o.face == 1) {
        if (e30.empty()) e30 = o.raw;
        for (size_t k = 0; k < e30.size(); ++k) e30[k] += 0.25f * (o.raw[k] - e30[k]);
        at[std::lround(o.t * 30)] = e30;
      }
    for (const Observation& o : at10)
      if (o.face == 1) {
        if (e10.empty()) e10 = o.raw;
        for (size_t k = 0; k < e10.size(); ++k) e10[k] += 0.25f * (o.raw[k] - e10[k]);
        auto it = at.find(std::lround(o.t * 30));
        if (o.t >= 1.0 && it != at.end())
          for (size_t k = 0; k < e10.size(); ++k) frame_based = std::max(frame_based, double(std::abs(e10[k] - it->second[k])));
      }
  }
  INFO("a per-frame EMA (weight 0.25) would differ by " << frame_based);
  CHECK(frame_based > 3 * max_diff);

  // Same ids and (within float tolerance) the same output on 2 threads (first 2 s).
  fer::Stream s2 = truth_stream(so, 2);
  std::vector<Observation> two = run_clip(s2, clip, 10, true, 2.0);
  fer::set_num_threads(0);
  REQUIRE(two.size() > 20);
  REQUIRE(two.size() <= at10.size());
  for (size_t i = 0; i < two.size(); ++i) {
    CHECK(two[i].id == at10[i].id);
    for (size_t k = 0; k < two[i].smoothed.size(); ++k)
      CHECK(two[i].smoothed[k] == doctest::Approx(at10[i].smoothed[k]).epsilon(1e-3));
  }
}

TEST_CASE("stream: Haar detector on the generated clip") {
  Clip clip({640, 480});
  if (!clip.real_photo()) {
    MESSAGE("skipped: assets/face-api/demo/sample3.jpg not found (run scripts/setup.sh)");
    return;
  }
  fer::PipelineOptions po;
  po.detector = "haar";
  po.threads = 1;
  po.max_detect_side = 320;  // faces are about 165 px here; keeps the test fast
  fer::StreamOptions so;
  so.detect_every = 5;
  so.max_missed_seconds = 0.5;
  fer::Stream stream(po, fer_test::tiny_model(), so);
  std::vector<Observation> obs = run_clip(stream, clip, 15, false);
  // Id switches per face while it is in view: a change of id between
  // consecutive sightings, A's planned re-entry (after > 1 s away) excepted.
  std::map<int, int64_t> last_id;
  std::map<int, double> last_seen;
  std::map<int, int> seen, switches;
  int total_switches = 0, unmatched = 0;
  for (const Observation& o : obs) {
    if (o.face < 0) {
      ++unmatched;
      continue;
    }
    ++seen[o.face];
    if (last_id.count(o.face) && last_id[o.face] != o.id && !(o.face == 0 && o.t - last_seen[o.face] > 1.0)) {
      ++switches[o.face];
      ++total_switches;
    }
    last_id[o.face] = o.id;
    last_seen[o.face] = o.t;
  }
  INFO("Haar clip (90 frames, 15 fps): face A/B/C reported on " << seen[0] << "/" << seen[1] << "/" << seen[2]
                                                                << " frames; id switches A/B/C " << switches[0] << "/"
                                                                << switches[1] << "/" << switches[2] << "; "
                                                                << unmatched << " reports matching no face");
  CHECK(seen[1] >= 80);         // B is in view on all 90 frames (occluded on 3)
  CHECK(switches[1] == 0);      // B, always in view, keeps one id
  CHECK(total_switches <= 2);   // stated budget for the clip: at most 2 id switches
  CHECK(unmatched <= 5);
  check_ids_not_reused(obs);
}

TEST_CASE("stream: while a face is missing or nothing is tracked, detection is rate-limited") {
  // The face is detected on frame 0, then gone: its track turns unsure and the
  // stream looks for it again, but only every redetect_every frames until the
  // scheduled detection (detect_every) or the end of the track.
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  for (int redetect : {1, 2, 3}) {
    CAPTURE(redetect);
    fer::StreamOptions so;
    so.detect_every = 10;
    so.redetect_every = redetect;
    so.max_missed_seconds = 0.5;
    fer::Stream s = truth_stream(so);
    std::vector<int> ran;
    for (int i = 0; i < 40; ++i) {
      g_truth_faces.clear();
      if (i == 0) g_truth_faces = {fer::Face{centred(100, 100, 80), 0.9f, {}}};
      if (s.push(frame, i / 30.0).detection_ran) ran.push_back(i);
    }
    // Frame 0 finds the face; its track stays confident until the scheduled run
    // on frame 10 misses it. From then on (track unsure, later nothing tracked)
    // the detector runs exactly every `redetect` frames.
    std::vector<int> expected = {0};
    for (int i = 10; i < 40; i += redetect) expected.push_back(i);
    std::string got; for (int v : ran) got += std::to_string(v) + " ";
    CAPTURE(got);
    CHECK(ran == expected);
  }
  // A face that stays found is detected on schedule only.
  fer::StreamOptions so;
  so.detect_every = 10;
  so.redetect_every = 2;
  fer::Stream s = truth_stream(so);
  int detections = 0;
  for (int i = 0; i < 40; ++i) {
    g_truth_faces = {fer::Face{centred(100, 100, 80), 0.9f, {}}};
    detections += s.push(frame, i / 30.0).detection_ran;
  }
  CHECK(detections == 4);
}

TEST_CASE("stream: a change of frame size keeps the faces and their ids") {
  // The same scene at 640x480, then at 320x240 (an adaptive stream): the
  // tracks follow the new scale at once and the detector runs on the first
  // frame of the new size, so the face keeps its id and nothing stale is shown.
  fer::StreamOptions so;
  so.detect_every = 5;
  fer::Stream s = truth_stream(so);
  cv::Mat big(480, 640, CV_8UC3, cv::Scalar(90, 90, 90)), small(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  g_truth_faces = {fer::Face{cv::Rect2f(100, 100, 80, 80), 0.9f, {}}};
  fer::StreamFrame f0 = s.push(big, 0.0);
  REQUIRE(f0.faces.size() == 1);
  const int64_t id = f0.faces[0].track_id;
  s.push(big, 1 / 30.0);
  g_truth_faces = {fer::Face{cv::Rect2f(50, 50, 40, 40), 0.9f, {}}};
  fer::StreamFrame f2 = s.push(small, 2 / 30.0);
  CHECK(f2.detection_ran);
  REQUIRE(f2.faces.size() == 1);
  CHECK(f2.faces[0].track_id == id);
  CHECK(f2.faces[0].result.face.box.x == doctest::Approx(50).epsilon(0.1));
  CHECK(f2.faces[0].result.face.box.width == doctest::Approx(40).epsilon(0.1));
  for (int i = 3; i < 12; ++i) {
    fer::StreamFrame f = s.push(small, i / 30.0);
    REQUIRE(f.faces.size() == 1);
    CHECK(f.faces[0].track_id == id);
  }
}

TEST_CASE("stream: options and timestamps are validated") {
  fer::StreamOptions bad;
  bad.detect_every = 0;
  CHECK_THROWS_AS(truth_stream(bad), fer::Error);
  bad = {};
  bad.redetect_every = 0;
  CHECK_THROWS_AS(truth_stream(bad), fer::Error);
  bad = {};
  bad.iou_threshold = 0;
  CHECK_THROWS_AS(truth_stream(bad), fer::Error);
  bad = {};
  bad.smoothing_seconds = -1;
  CHECK_THROWS_AS(truth_stream(bad), fer::Error);

  fer::Stream s = truth_stream({});
  g_truth_faces = {fer::Face{centred(100, 100, 80), 0.9f, {}}};
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  fer::StreamFrame f = s.push(frame, 1.0);
  CHECK(f.index == 0);
  CHECK(f.detection_ran);
  REQUIRE(f.faces.size() == 1);
  CHECK(f.faces[0].track_id == 1);
  CHECK(f.faces[0].detected);
  CHECK(f.faces[0].smoothed == f.faces[0].result.probabilities);  // first frame: nothing to smooth with
  CHECK(f.faces[0].smoothed_label == s.pipeline().model().info().classes[size_t(f.faces[0].smoothed_label_index)]);
  CHECK_THROWS_AS(s.push(frame, 0.5), fer::Error);                // backwards
  CHECK_THROWS_AS(s.push(cv::Mat(), 2.0), fer::Error);            // empty frame
  CHECK_THROWS_AS(s.push(cv::Mat(10, 10, CV_32F), 2.0), fer::Error);
  f = s.push(frame, 1.1);                                         // predicted, not detected
  CHECK(!f.detection_ran);
  REQUIRE(f.faces.size() == 1);
  CHECK(!f.faces[0].detected);
  CHECK(f.faces[0].frames_missed == 1);
  CHECK(f.faces[0].frames_tracked == 2);
  CHECK(f.faces[0].age_seconds == doctest::Approx(0.1));
  s.reset();
  f = s.push(frame, 0.0);  // after reset time may start over; ids keep counting
  REQUIRE(f.faces.size() == 1);
  CHECK(f.faces[0].track_id == 2);
}

// The ground truth again, framed as Haar frames its boxes: box crops cut a
// smaller square than the box (BoxFraming::to_reference).
class HaarFramedTruthDetector : public TruthDetector {
 public:
  std::string name() const override { return "stream_test_truth_haar_framed"; }
  fer::BoxFraming framing() const override { return {1.026f, 0.004f, 0.009f}; }
};

TEST_CASE("stream: a box with only a sliver in view is not recognized, and the stream goes on") {
  // min_visible_fraction 0 lets a track with 5 px of its box in view be shown,
  // but what a box crop cuts of it (the box mapped to the reference framing)
  // lies wholly outside the frame: recognizing it threw and stopped the stream.
  if (!fer::detector_registry().contains("stream_test_truth_haar_framed"))
    fer::detector_registry().add(
        "stream_test_truth_haar_framed",
        [](const fer::DetectorOptions&) { return std::make_unique<HaarFramedTruthDetector>(); },
        "test only: the ground truth, framed as Haar frames faces");
  fer::PipelineOptions po;
  po.detector = "stream_test_truth_haar_framed";
  po.threads = 1;
  fer::StreamOptions so;
  so.min_visible_fraction = 0.f;
  so.detect_every = 1;
  fer::Stream s(po, brightness_model(), so);
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  const fer::Face sliver{cv::Rect2f(-95.f, 70.f, 100.f, 100.f), 0.9f, {}};
  const fer::Face half{cv::Rect2f(-50.f, 70.f, 100.f, 100.f), 0.9f, {}};
  g_truth_faces = {sliver, half};
  fer::StreamFrame f;
  REQUIRE_NOTHROW(f = s.push(frame, 0.0));
  REQUIRE(f.faces.size() == 1);  // the half-visible face only
  CHECK(f.faces[0].result.face.box.x == doctest::Approx(-50.f).epsilon(0.01));
  REQUIRE_NOTHROW(f = s.push(frame, 0.1));  // and the next frame too
  CHECK(f.faces.size() == 1);

  // Pipeline::recognize given that box says which face and why.
  fer::Pipeline p(po, brightness_model());
  CHECK(p.recognize(frame, {half}).size() == 1);
  try {
    p.recognize(frame, {half, sliver});
    FAIL("a box whose crop lies outside the image was recognized");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
    CHECK(std::string(e.what()).find("faces[1]: face box lies almost wholly outside the image") != std::string::npos);
  }
  // Pipeline::detect is the pipeline's own detector, without recognition.
  std::vector<fer::Face> found = p.detect(frame);
  REQUIRE(found.size() == 2);
  CHECK(found[0].box == sliver.box);
}

TEST_CASE("stream: after a gap of max_missed_seconds the detector runs, whatever the frame count") {
  // A face found on frame 0, then the camera stalls for 10 s and the face is
  // gone: the next frame is 2 frames after the last detection run (neither
  // detect_every nor redetect_every would run the detector), but motion
  // cannot carry a track over 10 s: the detector runs and the track ends.
  fer::StreamOptions so;
  so.detect_every = 10;
  so.redetect_every = 5;
  so.max_missed_seconds = 1.0;
  fer::Stream s = truth_stream(so);
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(90, 90, 90));
  g_truth_faces = {fer::Face{centred(100, 100, 80), 0.9f, {}}};
  CHECK(s.push(frame, 0.0).detection_ran);
  g_truth_faces.clear();
  fer::StreamFrame f = s.push(frame, 0.5);  // within the gap: tracked by motion, no detection
  CHECK(!f.detection_ran);
  CHECK(f.faces.size() == 1);
  f = s.push(frame, 10.5);
  CHECK(f.detection_ran);
  CHECK(f.faces.empty());
  // Frames closer together than the gap follow the frame schedule again.
  CHECK(!s.push(frame, 10.6).detection_ran);
  // max_missed_seconds 0 (tracks end at the first miss): no gap rule.
  so.max_missed_seconds = 0;
  fer::Stream z = truth_stream(so);
  g_truth_faces = {fer::Face{centred(100, 100, 80), 0.9f, {}}};
  CHECK(z.push(frame, 0.0).detection_ran);
  CHECK(!z.push(frame, 100.0).detection_ran);
}

// ---------------------------------------------------------------------------
// VideoSource and overlay.
// ---------------------------------------------------------------------------

TEST_CASE("video: image sequences, files and clear errors") {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(FER_TEST_TMP_DIR) / "stream_sequence";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Clip clip({160, 120});
  for (int i = 0; i < 4; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", i);
    REQUIRE(cv::imwrite((dir / name).string(), clip.frame(i * 0.5)));
  }
  fer::VideoSource seq((dir / "%03d.png").string(), 10);
  CHECK(seq.fps() == 10);
  CHECK(!seq.is_live());
  fer::VideoFrame frame;
  int n = 0;
  while (seq.read(frame)) {
    CHECK(frame.index == n);
    CHECK(frame.timestamp == doctest::Approx(n / 10.0));
    CHECK(frame.image.size() == cv::Size(160, 120));
    CHECK(frame.image.type() == CV_8UC3);
    ++n;
  }
  CHECK(n == 4);
  // Without a frame rate, an image sequence runs at 30 frames a second.
  fer::VideoSource seq30((dir / "%03d.png").string());
  CHECK(seq30.fps() == 30);
  REQUIRE(seq30.read(frame));
  REQUIRE(seq30.read(frame));
  CHECK(frame.timestamp == doctest::Approx(1 / 30.0));
  // 16-bit frames are scaled to 8 bits, not clipped at 255 (all white).
  fs::path deep = dir / "deep";
  fs::create_directories(deep);
  for (int i = 0; i < 2; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", i);
    REQUIRE(cv::imwrite((deep / name).string(), cv::Mat(24, 32, CV_16UC3, cv::Scalar(32768, 16384, 65535))));
  }
  fer::VideoSource seq16((deep / "%03d.png").string());
  REQUIRE(seq16.read(frame));
  REQUIRE(frame.image.type() == CV_8UC3);
  cv::Scalar mean16 = cv::mean(frame.image);
  CHECK(mean16[0] == doctest::Approx(128).epsilon(0.02));
  CHECK(mean16[1] == doctest::Approx(64).epsilon(0.02));
  CHECK(mean16[2] == doctest::Approx(255).epsilon(0.02));

  auto status_of = [](auto&& open) {
    try {
      open();
    } catch (const fer::Error& e) {
      return e.status();
    }
    return fer::Status::Ok;
  };
  CHECK(status_of([&] { fer::VideoSource((dir / "missing.mp4").string()); }) == fer::Status::NotFound);
  CHECK(status_of([&] { fer::VideoSource((dir / "nothing_%04d.png").string()); }) == fer::Status::NotFound);
  CHECK(status_of([&] { fer::VideoSource(dir.string()); }) == fer::Status::InvalidArgument);
  CHECK(status_of([&] { fer::VideoSource(""); }) == fer::Status::InvalidArgument);
  std::ofstream((dir / "text.mp4").string()) << "this is not a video\n";
  CHECK(status_of([&] { fer::VideoSource((dir / "text.mp4").string()); }) == fer::Status::Unsupported);
  CHECK(status_of([&] { fer::VideoSource::camera(-1); }) == fer::Status::InvalidArgument);
  // Only one integer index makes a pattern: a path is never a format string for anything else.
  for (const char* hostile : {"%s%s%s%s%n.png", "%d_%d.png", "%x.png", "%123d.png", "img_%", "%.9999d.png", "%ld.png"})
    CHECK(status_of([&] { fer::VideoSource((dir / hostile).string()); }) == fer::Status::InvalidArgument);
  CHECK(status_of([&] { fer::VideoSource((dir / "100%%_%03d.png").string()); }) == fer::Status::NotFound);
  // An existing file whose name has a '%' is that file, not a pattern.
  std::ofstream((dir / "100%s.mp4").string()) << "this is not a video either\n";
  CHECK(status_of([&] { fer::VideoSource((dir / "100%s.mp4").string()); }) == fer::Status::Unsupported);
}

TEST_CASE("overlay: draws ids, labels, bars and FPS") {
  cv::Mat image(240, 320, CV_8UC3, cv::Scalar(30, 30, 30));
  fer::TrackedFace f;
  f.track_id = 7;
  f.result.face.box = cv::Rect2f(40, 60, 80, 80);
  f.result.probabilities = {0.2f, 0.5f, 0.3f};
  f.result.label_index = 1;
  f.result.label = "happiness";
  f.smoothed = {0.1f, 0.6f, 0.3f};
  f.smoothed_label_index = 1;
  f.smoothed_label = "happiness";
  f.detected = true;
  fer::OverlayOptions o;
  o.class_names = {"anger", "happiness", "neutral"};
  o.fps = 59.9;
  cv::Mat before = image.clone();
  fer::draw_overlay(image, {f}, o);
  cv::Mat diff;
  cv::absdiff(image, before, diff);
  CHECK(cv::countNonZero(diff.reshape(1)) > 500);
  // A face at the right edge puts its bars on the left; nothing draws outside the image.
  f.result.face.box = cv::Rect2f(250, 20, 60, 60);
  CHECK_NOTHROW(fer::draw_overlay(image, {f}, o));
  cv::Mat gray(100, 100, CV_8UC1, cv::Scalar(0));
  CHECK_NOTHROW(fer::draw_overlay(gray, {}, o));
  // BGRA stays opaque where drawn (colours are not written with alpha 0, the
  // bar panel does not darken alpha); gray gets each colour's brightness, not
  // its blue component (dark for this track's green).
  cv::Mat bgra(240, 320, CV_8UC4, cv::Scalar(30, 30, 30, 255));
  f.result.face.box = cv::Rect2f(40, 60, 80, 80);
  fer::draw_overlay(bgra, {f}, o);
  cv::Mat channels[4];
  cv::split(bgra, channels);
  CHECK(cv::countNonZero(channels[3] != 255) == 0);
  CHECK(cv::countNonZero(channels[0] != 30) > 500);
  cv::Mat dark(240, 320, CV_8UC1, cv::Scalar(0));
  o.probability_bars = false;
  o.fps = -1;
  fer::draw_overlay(dark, {f}, o);
  double lo = 0, hi = 0;
  cv::minMaxLoc(dark(cv::Rect(50, 59, 60, 3)), &lo, &hi);  // the box's top edge
  CHECK(hi > 120);
  cv::Mat wrong(10, 10, CV_32FC3);
  CHECK_THROWS_AS(fer::draw_overlay(wrong, {f}, o), fer::Error);
}

// Throughput on the generated clip (push() time only; frames are rendered
// outside the timing): run with `fer_unit_tests -ns -tc="stream: throughput*"`.
TEST_CASE("stream: throughput on the generated clip" * doctest::skip()) {
  for (cv::Size size : {cv::Size(640, 480), cv::Size(1920, 1440)}) {
    Clip clip(size);
    for (int threads : {1, 2}) {
      fer::PipelineOptions po;
      po.threads = threads;
      fer::Stream stream(po, fer::StreamOptions{});  // the default model, as users get it
      std::vector<double> ms;
      size_t faces = 0, detections = 0;
      for (int i = 0; i < 180; ++i) {
        cv::Mat frame = clip.frame(i / 30.0);
        auto t0 = std::chrono::steady_clock::now();
        fer::StreamFrame r = stream.push(frame, i / 30.0);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        faces += r.faces.size();
        detections += r.detection_ran;
      }
      double total = 0;
      for (double v : ms) total += v;
      std::sort(ms.begin(), ms.end());
      MESSAGE(size.width << "x" << size.height << ", " << threads << " thread(s): " << 1000.0 * ms.size() / total
                         << " FPS, p50 " << ms[ms.size() / 2] << " ms, p99 " << ms[ms.size() * 99 / 100] << " ms ("
                         << double(faces) / ms.size() << " faces/frame, detector on " << detections
                         << " of 180 frames, model " << stream.pipeline().model().info().architecture
                         << std::string(stream.pipeline().model().info().trained ? "" : ", untrained") << ")");
    }
  }
  fer::set_num_threads(0);
}
