/// @file stream.hpp
/// @brief Video streams: face tracking with stable ids and temporal smoothing.
#pragma once

#include <fer/model.hpp>
#include <fer/pipeline.hpp>
#include <fer/types.hpp>

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fer {

/// How a Stream detects, tracks and smooths.
struct StreamOptions {
  int detect_every = 5;               ///< run the detector every N frames (1 = every frame); faces are
                                      ///< tracked by motion prediction in between. It also runs on a frame
                                      ///< max_missed_seconds or more after its last run (a stalled camera,
                                      ///< a sparse image sequence)
  float min_track_confidence = 0.5f;  ///< also detect on a frame when a track's confidence is below this
  int redetect_every = 2;             ///< ...or when nothing is tracked, but at most every N frames (1 = every
                                      ///< frame): bounds the detector's cost while a face is missing
  double smoothing_seconds = 0.3;     ///< EMA time constant of the probabilities (0 = no smoothing);
                                      ///< the weight of a frame comes from its real time step
  float label_margin = 0.1f;          ///< the smoothed label switches only when another class's smoothed
                                      ///< probability beats the current one's by this much
  double max_missed_seconds = 1.0;    ///< a track ends after being missing this long (counted from the
                                      ///< first detection run that did not find it)
  float iou_threshold = 0.3f;         ///< least IoU between a predicted box and a detection to join them
  float min_visible_fraction = 0.5f;  ///< tracked boxes with less of their area inside the frame are
                                      ///< not reported (nor recognized)
};

/// One face on one frame of a stream.
struct TrackedFace {
  FaceResult result;                ///< this frame's raw recognition; result.face.box is the tracked box
  int64_t track_id = -1;            ///< stable while the face is tracked; never reused within a stream
  std::vector<float> smoothed;      ///< smoothed probabilities, one per class
  int smoothed_label_index = -1;    ///< label shown to users (smoothed, with hysteresis)
  std::string smoothed_label;
  bool detected = false;            ///< the box comes from a detection on this frame (else predicted)
  float confidence = 0.f;           ///< tracking confidence in [0, 1]
  double age_seconds = 0;           ///< time since the track started
  int64_t frames_tracked = 0;       ///< frames this track was reported on, this one included
  int64_t frames_missed = 0;        ///< frames since the track's last matched detection (0 when detected)
  double seconds_missed = 0;        ///< seconds since the track's last matched detection
};

/// The result of Stream::push.
struct StreamFrame {
  int64_t index = 0;                ///< 0-based frame number within the stream
  double timestamp = 0;             ///< seconds, as pushed
  bool detection_ran = false;       ///< the detector ran on this frame
  std::vector<TrackedFace> faces;   ///< ordered by track id
  std::vector<Face> skipped;        ///< faces the detector found on this frame but smaller than the
                                    ///< pipeline's min_face_size: neither tracked nor recognized
};

/// Tracks and recognizes faces across the frames of one video. All faces of a
/// frame are recognized in one batch. Not thread-safe: one Stream per video and
/// thread (streams may share one Model).
class Stream {
 public:
  /// Takes over a pipeline (its model, options and detector: Pipeline::detect
  /// finds the faces, Pipeline::recognize recognizes them).
  explicit Stream(Pipeline pipeline, const StreamOptions& options = {});
  /// Builds the pipeline from options (the model loaded as Pipeline does).
  explicit Stream(const PipelineOptions& pipeline_options, const StreamOptions& options = {});
  /// Builds the pipeline around an already loaded model (shared read-only).
  Stream(const PipelineOptions& pipeline_options, std::shared_ptr<const Model> model,
         const StreamOptions& options = {});
  ~Stream();
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;

  /// Processes the next frame. `frame`: as Pipeline::process accepts;
  /// `timestamp_seconds`: finite and never earlier than the previous frame's
  /// (else Error(InvalidArgument)). Time drives the stream: an equal
  /// timestamp is accepted, but a frame that adds no time moves no box, ages
  /// no track and does not change the smoothed probabilities; pass real
  /// capture times. A frame of another size than the previous one (a stream
  /// changing resolution) rescales the tracks to it and runs the detector on
  /// it: after a pure rescale of the same view the faces keep their ids (a
  /// crop or rotation of the view gives them new ones).
  StreamFrame push(const cv::Mat& frame, double timestamp_seconds);
  /// Forgets every track (e.g. after a scene cut); ids keep counting up.
  void reset();

  const Pipeline& pipeline() const;
  const StreamOptions& options() const;
  /// Frames pushed so far.
  int64_t frame_count() const;
  /// Timestamp of the last frame pushed (the earliest the next may have);
  /// none before the first frame and after reset().
  std::optional<double> last_timestamp() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fer
