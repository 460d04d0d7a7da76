#include "track/tracker.hpp"

#include "track/association.hpp"

#include <fer/error.hpp>

#include <algorithm>
#include <cmath>

namespace fer::detail {

Tracker::Tracker(const TrackerOptions& options) : options_(options) {
  if (!(options.iou_threshold > 0 && options.iou_threshold <= 1))
    throw Error(Status::InvalidArgument, "tracker: iou_threshold must be in (0, 1], got " +
                                             std::to_string(options.iou_threshold));
  if (!(options.max_missed_seconds >= 0) || !std::isfinite(options.max_missed_seconds))
    throw Error(Status::InvalidArgument, "tracker: max_missed_seconds must be finite and >= 0");
}

void Tracker::predict(double timestamp) {
  if (!std::isfinite(timestamp))
    throw Error(Status::InvalidArgument, "frame timestamp must be a finite number of seconds");
  if (started_ && timestamp < time_)
    throw Error(Status::InvalidArgument, "frame timestamps must not go backwards: " + std::to_string(timestamp) +
                                             " s after " + std::to_string(time_) + " s");
  double dt = started_ ? timestamp - time_ : 0.0;
  time_ = timestamp;
  started_ = true;
  for (Track& t : tracks_) {
    t.filter.predict(dt);
    ++t.frames_since_detection;
    t.detected_now = false;
  }
  tracks_.erase(std::remove_if(tracks_.begin(), tracks_.end(),
                               [&](const Track& t) {
                                 return t.missed_detections > 0 &&
                                        timestamp - t.first_miss_time > options_.max_missed_seconds;
                               }),
                tracks_.end());
}

std::vector<int64_t> Tracker::update(const std::vector<Face>& detections) {
  std::vector<cv::Rect2f> predicted, detected;
  predicted.reserve(tracks_.size());
  for (const Track& t : tracks_) predicted.push_back(t.filter.box());
  detected.reserve(detections.size());
  for (const Face& f : detections) detected.push_back(f.box);

  // Overlap first; then, among what is left, close centres (a move faster
  // than the prediction between two detection runs).
  std::vector<std::pair<int, int>> pairs = match_by_iou(predicted, detected, options_.iou_threshold);
  if (options_.max_centre_distance > 0 && pairs.size() < std::min(predicted.size(), detected.size())) {
    std::vector<int> rest_t, rest_d;
    std::vector<cv::Rect2f> rest_tb, rest_db;
    std::vector<char> tu(predicted.size(), 0), du(detected.size(), 0);
    for (const auto& [ti, di] : pairs) tu[size_t(ti)] = du[size_t(di)] = 1;
    for (size_t i = 0; i < predicted.size(); ++i)
      if (!tu[i]) rest_t.push_back(int(i)), rest_tb.push_back(predicted[i]);
    for (size_t j = 0; j < detected.size(); ++j)
      if (!du[j]) rest_d.push_back(int(j)), rest_db.push_back(detected[j]);
    for (const auto& [ri, rj] : match_by_distance(rest_tb, rest_db, options_.max_centre_distance))
      pairs.emplace_back(rest_t[size_t(ri)], rest_d[size_t(rj)]);
  }

  std::vector<int64_t> ids(detections.size(), -1);
  std::vector<char> matched(tracks_.size(), 0);
  for (const auto& [ti, di] : pairs) {
    Track& t = tracks_[size_t(ti)];
    t.filter.update(detected[size_t(di)]);
    t.detection = detections[size_t(di)];
    t.last_detection_time = time_;
    t.frames_since_detection = 0;
    t.missed_detections = 0;
    t.detected_now = true;
    matched[size_t(ti)] = 1;
    ids[size_t(di)] = t.id;
  }
  for (size_t i = 0; i < matched.size(); ++i)
    if (!matched[i] && tracks_[i].missed_detections++ == 0) tracks_[i].first_miss_time = time_;
  for (size_t d = 0; d < detections.size(); ++d) {
    if (ids[d] >= 0) continue;
    Track t;
    t.id = next_id_++;
    t.filter = BoxKalman(detections[d].box, options_.noise);
    t.detection = detections[d];
    t.start_time = t.last_detection_time = time_;
    t.detected_now = true;
    ids[d] = t.id;
    tracks_.push_back(std::move(t));
  }
  // Tracks end by time; frames whose timestamps do not advance (allowed)
  // never age them, so the count is bounded too: past kMaxTracks the tracks
  // missed longest go first (those seen this run are never dropped).
  if (tracks_.size() > kMaxTracks) {
    std::stable_sort(tracks_.begin(), tracks_.end(),
                     [](const Track& a, const Track& b) { return a.missed_detections < b.missed_detections; });
    while (tracks_.size() > kMaxTracks && tracks_.back().missed_detections > 0) tracks_.pop_back();
    std::sort(tracks_.begin(), tracks_.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  }
  return ids;
}

void Tracker::rescale(double sx, double sy) {
  if (!(sx > 0) || !(sy > 0) || !std::isfinite(sx) || !std::isfinite(sy))
    throw Error(Status::InvalidArgument, "tracker: rescale factors must be finite and > 0");
  for (Track& t : tracks_) {
    t.filter.scale(sx, sy);
    cv::Rect2f& b = t.detection.box;
    b = cv::Rect2f(float(b.x * sx), float(b.y * sy), float(b.width * sx), float(b.height * sy));
    for (cv::Point2f& p : t.detection.landmarks) p = cv::Point2f(float(p.x * sx), float(p.y * sy));
  }
}

void Tracker::reset() {
  tracks_.clear();
  time_ = 0;
  started_ = false;
}

}  // namespace fer::detail
