/// @file video.hpp
/// @brief Reading frames from video files, image sequences and cameras.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace fer {

/// One frame read from a VideoSource.
struct VideoFrame {
  cv::Mat image;          ///< 8-bit BGR
  double timestamp = 0;   ///< seconds since the start (files: index / fps; cameras: wall clock)
  int64_t index = -1;     ///< 0-based frame number
};

/// Frames from a video file, an image sequence or a camera, through OpenCV's
/// videoio. Not thread-safe.
class VideoSource {
 public:
  /// Opens a video file or an image-sequence pattern with a printf-style index
  /// ("frames/img_%04d.png"). `fps` > 0 overrides the frame rate used for
  /// timestamps (default: the file's, else 30, and 30 for image sequences,
  /// which have none). A path with '%' is a pattern only with exactly one
  /// integer index (%d, %4d, %04d; %% for a literal '%') and is not an
  /// existing file; others are InvalidArgument. Throws NotFound when the file
  /// or the first image of the sequence does not exist, Unsupported when no
  /// OpenCV backend can decode it.
  explicit VideoSource(const std::string& path, double fps = 0);
  /// Opens camera `index` (0 = the default camera). Throws NotFound when it
  /// cannot be opened.
  static VideoSource camera(int index);
  ~VideoSource();
  VideoSource(VideoSource&&) noexcept;
  VideoSource& operator=(VideoSource&&) noexcept;

  /// Reads the next frame; false at the end of the input (or when a camera stops).
  bool read(VideoFrame& frame);

  /// Frame rate used for timestamps (cameras: what the driver reports, 0 if unknown).
  double fps() const;
  /// Size of the frames (may be 0x0 until the first frame for some backends).
  cv::Size frame_size() const;
  /// Number of frames when known (files), else -1.
  int64_t frame_count() const;
  /// True for cameras (frames come in real time and timestamps are wall-clock).
  bool is_live() const;
  /// What was opened, for messages ("video file clip.mp4", "camera 0").
  const std::string& description() const;

 private:
  VideoSource();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fer
