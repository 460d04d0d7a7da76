#include "core/image.hpp"
#include "detect/framing.hpp"
#include "track/smoother.hpp"
#include "track/tracker.hpp"

#include <fer/detector.hpp>
#include <fer/error.hpp>
#include <fer/image.hpp>
#include <fer/stream.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

namespace fer {

struct Stream::Impl {
  Impl(Pipeline p, const StreamOptions& o) : pipeline(std::move(p)), options(o), tracker(tracker_options(o)) {}

  static detail::TrackerOptions tracker_options(const StreamOptions& o) {
    if (o.detect_every < 1) throw Error(Status::InvalidArgument, "detect_every must be >= 1 (1 = every frame)");
    if (o.redetect_every < 1) throw Error(Status::InvalidArgument, "redetect_every must be >= 1 (1 = every frame)");
    if (!(o.smoothing_seconds >= 0) || !std::isfinite(o.smoothing_seconds))
      throw Error(Status::InvalidArgument, "smoothing_seconds must be >= 0 (0 = no smoothing)");
    if (!(o.label_margin >= 0 && o.label_margin < 1))
      throw Error(Status::InvalidArgument, "label_margin must be in [0, 1)");
    if (!(o.min_visible_fraction >= 0 && o.min_visible_fraction <= 1))
      throw Error(Status::InvalidArgument, "min_visible_fraction must be in [0, 1]");
    detail::TrackerOptions t;
    t.iou_threshold = o.iou_threshold;
    t.max_missed_seconds = o.max_missed_seconds;
    return t;
  }

  // Per-track state the tracker does not keep.
  struct TrackState {
    detail::LabelSmoother smoother;
    int64_t frames_reported = 0;
  };

  float confidence(const detail::Track& t) const {
    if (t.missed_detections > 0) return 0.f;  // the detector looked and did not find it
    double since = tracker.time() - t.last_detection_time;
    return options.max_missed_seconds > 0 ? float(std::exp(-since / options.max_missed_seconds)) : 1.f;
  }

  // A track's box can be recognized on a frame of `size`: at least one whole
  // pixel of it inside the frame, and of what the pipeline crops of it (box
  // crops cut the box mapped to the reference framing, which for a box with a
  // sliver in view can lie wholly outside: recognize() would throw).
  bool croppable(const cv::Rect2f& box, const cv::Size& size) const {
    const std::string problem = pipeline.model().needs_landmarks()
                                    ? detail::face_box_problem(box, size)
                                    : detail::box_crop_problem(pipeline.detector_framing(), box, size);
    return problem.empty() && detail::covers_a_pixel(box, size);
  }

  Pipeline pipeline;  // its detector finds the faces, its model recognizes them
  StreamOptions options;
  detail::Tracker tracker;
  std::map<int64_t, TrackState> states;
  int64_t frames = 0;
  int64_t last_detection_frame = -1;
  double last_detection_time = 0;  // timestamp of that frame
  cv::Size last_size;  // of the previous frame; empty before the first (and after reset())
};

Stream::Stream(Pipeline pipeline, const StreamOptions& options)
    : impl_(std::make_unique<Impl>(std::move(pipeline), options)) {}
Stream::Stream(const PipelineOptions& pipeline_options, const StreamOptions& options)
    : Stream(Pipeline(pipeline_options), options) {}
Stream::Stream(const PipelineOptions& pipeline_options, std::shared_ptr<const Model> model, const StreamOptions& options)
    : Stream(Pipeline(pipeline_options, std::move(model)), options) {}
Stream::~Stream() = default;
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;

namespace {
float visible_fraction(const cv::Rect2f& box, const cv::Size& size) {
  float area = box.area();
  if (area <= 0) return 0.f;
  return (box & cv::Rect2f(0.f, 0.f, float(size.width), float(size.height))).area() / area;
}
}  // namespace

StreamFrame Stream::push(const cv::Mat& frame, double timestamp) {
  Impl& s = *impl_;
  validate_image(frame, s.pipeline.options().max_image_pixels);
  s.tracker.predict(timestamp);  // validates the timestamp

  // Another frame size (an adaptive stream, a camera renegotiating): the
  // tracks are carried over to the new size, and the detector runs now.
  const bool resized = !s.last_size.empty() && frame.size() != s.last_size;
  if (resized)
    s.tracker.rescale(double(frame.cols) / s.last_size.width, double(frame.rows) / s.last_size.height);
  s.last_size = frame.size();

  StreamFrame out;
  out.index = s.frames++;
  out.timestamp = timestamp;

  // Detect on schedule; earlier (but at most every redetect_every frames) when
  // nothing is tracked or a track in view is unsure (a track predicted out of
  // view has nothing to be found); and on a frame that comes max_missed_seconds
  // or more after the last run (a stalled camera, a sparse image sequence):
  // motion alone does not carry a track across such a gap.
  const int64_t since = s.last_detection_frame < 0 ? INT64_MAX : out.index - s.last_detection_frame;
  const bool gap = s.last_detection_frame >= 0 && s.options.max_missed_seconds > 0 &&
                   timestamp - s.last_detection_time >= s.options.max_missed_seconds;
  bool detect = resized || gap || since >= s.options.detect_every;
  if (!detect && since >= s.options.redetect_every) {
    detect = s.tracker.tracks().empty();
    for (const detail::Track& t : s.tracker.tracks())
      if (s.confidence(t) < s.options.min_track_confidence &&
          visible_fraction(t.filter.box(), frame.size()) >= std::max(s.options.min_visible_fraction, 1e-3f))
        detect = true;
  }
  if (detect) {
    s.tracker.update(s.pipeline.detect(frame, out.skipped));
    s.last_detection_frame = out.index;
    s.last_detection_time = timestamp;
    out.detection_ran = true;
  }

  // Tracks that the last detection run saw and that are in view, by id.
  std::vector<const detail::Track*> shown;
  for (const detail::Track& t : s.tracker.tracks())
    if (t.missed_detections == 0 && visible_fraction(t.filter.box(), frame.size()) >= s.options.min_visible_fraction &&
        s.croppable(t.filter.box(), frame.size()))
      shown.push_back(&t);
  std::sort(shown.begin(), shown.end(), [](const auto* a, const auto* b) { return a->id < b->id; });

  std::vector<Face> faces;
  faces.reserve(shown.size());
  for (const detail::Track* t : shown) {
    Face f;
    f.box = t->filter.box();
    f.score = t->detection.score;
    if (t->detected_now) f.landmarks = t->detection.landmarks;
    faces.push_back(std::move(f));
  }
  std::vector<FaceResult> results;
  if (!faces.empty()) results = s.pipeline.recognize(frame, faces);  // one batch for the frame

  const std::vector<std::string>& classes = s.pipeline.model().info().classes;
  out.faces.reserve(shown.size());
  for (size_t i = 0; i < shown.size(); ++i) {
    const detail::Track& t = *shown[i];
    auto it = s.states.find(t.id);
    if (it == s.states.end())
      it = s.states.emplace(t.id, Impl::TrackState{{s.options.smoothing_seconds, s.options.label_margin}, 0}).first;
    Impl::TrackState& st = it->second;
    st.smoother.update(results[i].probabilities, timestamp);
    ++st.frames_reported;

    TrackedFace tf;
    tf.result = std::move(results[i]);
    tf.track_id = t.id;
    tf.smoothed = st.smoother.probabilities();
    tf.smoothed_label_index = st.smoother.label();
    if (tf.smoothed_label_index >= 0 && size_t(tf.smoothed_label_index) < classes.size())
      tf.smoothed_label = classes[size_t(tf.smoothed_label_index)];
    tf.detected = t.detected_now;
    tf.confidence = s.confidence(t);
    tf.age_seconds = timestamp - t.start_time;
    tf.frames_tracked = st.frames_reported;
    tf.frames_missed = t.frames_since_detection;
    tf.seconds_missed = timestamp - t.last_detection_time;
    out.faces.push_back(std::move(tf));
  }

  // Forget the state of tracks that ended.
  for (auto it = s.states.begin(); it != s.states.end();) {
    bool alive = std::any_of(s.tracker.tracks().begin(), s.tracker.tracks().end(),
                             [&](const detail::Track& t) { return t.id == it->first; });
    it = alive ? std::next(it) : s.states.erase(it);
  }
  return out;
}

void Stream::reset() {
  impl_->tracker.reset();
  impl_->states.clear();
  impl_->last_detection_frame = -1;
  impl_->last_detection_time = 0;
  impl_->last_size = cv::Size();
}

const Pipeline& Stream::pipeline() const { return impl_->pipeline; }
const StreamOptions& Stream::options() const { return impl_->options; }
int64_t Stream::frame_count() const { return impl_->frames; }
std::optional<double> Stream::last_timestamp() const {
  if (!impl_->tracker.started()) return std::nullopt;
  return impl_->tracker.time();
}

}  // namespace fer
