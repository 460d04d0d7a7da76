// Multi-face tracker: Kalman prediction + IoU association, with track lifetimes.
#pragma once

#include "track/kalman.hpp"

#include <fer/types.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fer::detail {

/// The most tracks kept alive at once (see Tracker::update).
constexpr size_t kMaxTracks = 256;

struct TrackerOptions {
  float iou_threshold = 0.3f;        ///< a detection joins a track with at least this IoU, or else
  float max_centre_distance = 0.75f; ///< when their centres are at most this many box sides apart
                                     ///< (and sizes within 1.5x); 0 = IoU only
  double max_missed_seconds = 1.0;   ///< a track ends when it has been missing this long: from the first
                                     ///< detection run that did not find it, without a match since
  KalmanNoise noise;
};

/// One tracked face.
struct Track {
  int64_t id = -1;
  BoxKalman filter;
  Face detection;                    ///< the last detection matched to this track
  double start_time = 0;             ///< time of the detection that started it
  double last_detection_time = 0;    ///< time of the last matched detection
  int64_t frames_since_detection = 0;  ///< frames since then (0 on a frame where a detection matched)
  int missed_detections = 0;         ///< consecutive detection runs that did not find this track
  double first_miss_time = 0;        ///< time of the first of those runs
  bool detected_now = false;         ///< a detection matched it on the current frame
};

/// Keeps tracks across frames. Ids start at 1 and are never reused by one
/// Tracker, not even after reset(). Not thread-safe.
class Tracker {
 public:
  explicit Tracker(const TrackerOptions& options = {});

  /// Moves every track to `timestamp` (seconds; never earlier than the last
  /// one: InvalidArgument) and ends tracks missing for longer than
  /// max_missed_seconds. Between detection runs a track is not missing: it is
  /// followed by prediction.
  void predict(double timestamp);
  /// Associates the detections of the current frame with the tracks, corrects
  /// matched tracks, counts a miss for the others and starts a track for every
  /// unmatched detection. Returns the track id of each detection.
  std::vector<int64_t> update(const std::vector<Face>& detections);

  /// Rescales every track to frames resized by `sx` horizontally and `sy`
  /// vertically (a stream whose resolution changed), so that they still match
  /// the same faces.
  void rescale(double sx, double sy);

  const std::vector<Track>& tracks() const { return tracks_; }
  double time() const { return time_; }
  /// Whether a frame has been predicted since construction or reset().
  bool started() const { return started_; }
  const TrackerOptions& options() const { return options_; }
  /// Drops every track and the clock; the id counter continues.
  void reset();

 private:
  TrackerOptions options_;
  std::vector<Track> tracks_;
  double time_ = 0;
  bool started_ = false;
  int64_t next_id_ = 1;
};

}  // namespace fer::detail
