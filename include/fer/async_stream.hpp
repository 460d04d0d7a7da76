/// @file async_stream.hpp
/// @brief A Stream on its own worker thread, fed through a bounded frame queue
/// with a drop policy and a latency budget (for live sources such as cameras).
#pragma once

#include <fer/stream.hpp>

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace fer {

/// What submit() does when the frame queue is full.
enum class QueuePolicy {
  DropOldest,  ///< drop the oldest waiting frame (live sources: the newest frame always gets in)
  Block,       ///< wait for room (files: nothing is dropped for lack of room)
};

/// One processed frame as an AsyncStream hands it out.
struct AsyncResult {
  StreamFrame frame;              ///< the Stream's result (frame.index counts processed frames only)
  cv::Mat image;                  ///< the frame as submitted (the AsyncStream's own copy)
  int64_t submit_index = 0;       ///< 0-based number of the submit() call that brought the frame
  double queued_seconds = 0;      ///< time the frame waited in the queue
  double latency_seconds = 0;     ///< time from submit() to the result being ready
};

struct AsyncStreamOptions {
  size_t queue_capacity = 2;        ///< frames waiting for the worker (>= 1)
  QueuePolicy policy = QueuePolicy::DropOldest;
  double latency_budget = 0;        ///< seconds; a frame that waited longer than this when the worker
                                    ///< takes it is dropped (0 = no budget)
  size_t result_capacity = 4;       ///< results waiting for next() (>= 1). When full, DropOldest drops the
                                    ///< oldest result and Block makes the worker wait for the consumer
  /// When set, results go to this function (on the worker thread) instead of
  /// the results queue; next() then only reports Finished or the worker's error.
  /// An exception it throws stops the stream like a processing error. It may
  /// call stop(), close(), stats() and submit() with QueuePolicy::DropOldest,
  /// even while another thread is in stop() or the destructor. It must not
  /// destroy the AsyncStream (its worker thread cannot join itself), nor call
  /// wait(), next() or submit() with QueuePolicy::Block: they would wait for
  /// the worker it runs on.
  std::function<void(AsyncResult&)> on_result;
};

/// Counters of an AsyncStream. At any time: submitted == processed + dropped()
/// + queued + (1 while the worker is on a frame); processed == delivered +
/// results_dropped + results waiting in the queue.
struct AsyncStreamStats {
  int64_t submitted = 0;        ///< frames accepted by submit()
  int64_t processed = 0;        ///< frames the Stream processed
  int64_t dropped_full = 0;     ///< frames dropped from a full queue (DropOldest)
  int64_t dropped_late = 0;     ///< frames dropped for being older than the latency budget
  int64_t dropped_stopped = 0;  ///< frames not processed because of stop() or a processing error
                                ///< (those left in the queue, and the frame that failed)
  int64_t results_dropped = 0;  ///< results dropped: results queue full (DropOldest) or stop() while waiting
  int64_t delivered = 0;        ///< results handed out by next() or the callback
  int64_t queued = 0;           ///< frames waiting now
  double last_latency_seconds = 0;  ///< submit() to result ready, latest processed frame
  int64_t dropped() const { return dropped_full + dropped_late + dropped_stopped; }
};

/// Runs a Stream on a worker thread. One thread (e.g. a capture loop) submits
/// frames, another (or the same, with care) takes results with next(). Both
/// queues are bounded, so memory stays bounded whatever the rates are.
///
/// With QueuePolicy::Block a full frame queue makes submit() wait and a full
/// results queue makes the worker wait: read results on another thread than
/// the one that submits (or use on_result), else both wait on each other.
///
/// Thread-safe: submit(), close(), stop(), stats() and next() may be called
/// from any threads; frames are processed in submission order.
class AsyncStream {
 public:
  /// Takes over `stream` and starts the worker. Throws InvalidArgument for a
  /// zero capacity or a negative or non-finite latency budget.
  explicit AsyncStream(Stream stream, AsyncStreamOptions options = {});
  /// stop(): drops waiting frames and joins the worker (never waits for a consumer).
  ~AsyncStream();
  AsyncStream(const AsyncStream&) = delete;
  AsyncStream& operator=(const AsyncStream&) = delete;

  /// Queues a copy of `frame`. `timestamp_seconds` as for Stream::push (checked
  /// here: finite, never earlier than the previous submitted one; else
  /// InvalidArgument, as is an image Pipeline::process would reject). Returns
  /// false, queuing nothing, once the stream is closed, stopped or has failed.
  bool submit(const cv::Mat& frame, double timestamp_seconds);

  enum class Next {
    Ready,     ///< `out` holds the next result
    Timeout,   ///< nothing arrived in time
    Finished,  ///< closed (or stopped) and every result has been handed out
  };
  /// Waits up to `timeout_seconds` (< 0 or over 1e9: without limit; NaN:
  /// InvalidArgument) for the next result,
  /// in submission order. When the worker failed, the results from before the
  /// failure come first, then this call throws the worker's exception (once).
  Next next(AsyncResult& out, double timeout_seconds = -1);
  Next next(StreamFrame& out, double timeout_seconds = -1);

  /// End of input: submit() refuses further frames; those queued are still
  /// processed (subject to the latency budget). Does not wait.
  void close();
  /// close(), then waits until the worker has processed every queued frame.
  /// Rethrows the worker's exception (on_result mode, or when no result is
  /// left before it; else next() throws it after those results). With
  /// QueuePolicy::Block, results must be read meanwhile (or on_result set).
  void wait();
  /// Stops at once: waiting frames are dropped (dropped_stopped), a worker
  /// waiting for room in the results queue drops its result, and the worker is
  /// joined after the frame it is on. Results already queued stay readable.
  void stop();

  AsyncStreamStats stats() const;
  const AsyncStreamOptions& options() const;
  /// The wrapped stream's pipeline (its model and options); read-only.
  const Pipeline& pipeline() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fer
