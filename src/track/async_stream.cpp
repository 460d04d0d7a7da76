#include <fer/async_stream.hpp>
#include <fer/error.hpp>
#include <fer/image.hpp>
#include <fer/threads.hpp>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace fer {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct QueuedFrame {
  cv::Mat image;
  double timestamp = 0;
  int64_t submit_index = 0;
  Clock::time_point submitted;
};
}  // namespace

struct AsyncStream::Impl {
  Impl(Stream s, AsyncStreamOptions o) : stream(std::move(s)), options(std::move(o)) {
    if (options.queue_capacity < 1) throw Error(Status::InvalidArgument, "queue_capacity must be >= 1");
    if (options.result_capacity < 1) throw Error(Status::InvalidArgument, "result_capacity must be >= 1");
    if (!(options.latency_budget >= 0) || !std::isfinite(options.latency_budget))
      throw Error(Status::InvalidArgument, "latency_budget must be a finite number of seconds >= 0 (0 = no budget)");
    max_pixels = stream.pipeline().options().max_image_pixels;
    threads = stream.pipeline().options().threads;
    if (std::optional<double> t = stream.last_timestamp()) {  // a Stream already under way
      has_last_timestamp = true;
      last_timestamp = *t;
    }
  }

  void run();
  // Under the lock: the worker ends; waiting frames are dropped.
  void fail(std::exception_ptr e) {
    error = std::move(e);
    accepting = false;
    stats.dropped_stopped += int64_t(frames.size());
    frames.clear();
  }

  Stream stream;
  const AsyncStreamOptions options;
  int64_t max_pixels = 0;
  int threads = 0;

  mutable std::mutex mutex;
  std::condition_variable frame_ready;   // worker: a frame, close or stop
  std::condition_variable frame_room;    // submit(): room in the frame queue
  std::condition_variable result_ready;  // next(), wait(): a result or the worker's end
  std::condition_variable result_room;   // worker (Block): room in the results queue
  std::deque<QueuedFrame> frames;
  std::deque<AsyncResult> results;
  AsyncStreamStats stats;
  bool accepting = true;     // submit() takes frames
  bool closed = false;       // no more frames will come
  bool stopping = false;     // stop(): drop everything, end now
  bool worker_done = false;  // the worker loop has returned
  bool has_last_timestamp = false;
  double last_timestamp = 0;
  std::exception_ptr error;
  bool error_delivered = false;

  std::thread::id worker_id;  // set under `mutex` when the worker starts

  std::mutex join_mutex;
  std::thread worker;
};

void AsyncStream::Impl::run() {
  // Intra-op thread counts are per thread under OpenMP: apply the pipeline's here.
  try {
    set_num_threads(threads);
  } catch (...) {
  }
  std::unique_lock<std::mutex> lock(mutex);
  worker_id = std::this_thread::get_id();
  for (;;) {
    frame_ready.wait(lock, [&] { return stopping || closed || !frames.empty(); });
    if (stopping || frames.empty()) break;
    QueuedFrame item = std::move(frames.front());
    frames.pop_front();
    stats.queued = int64_t(frames.size());
    frame_room.notify_one();
    Clock::time_point taken = Clock::now();
    double waited = seconds_between(item.submitted, taken);
    if (options.latency_budget > 0 && waited > options.latency_budget) {
      ++stats.dropped_late;
      continue;
    }
    lock.unlock();

    AsyncResult r;
    std::exception_ptr failure;
    try {
      r.frame = stream.push(item.image, item.timestamp);
    } catch (...) {
      failure = std::current_exception();
    }
    const bool push_failed = bool(failure);
    r.image = std::move(item.image);
    r.submit_index = item.submit_index;
    r.queued_seconds = waited;
    r.latency_seconds = seconds_between(item.submitted, Clock::now());

    if (!failure && options.on_result) {
      try {
        options.on_result(r);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      ++stats.processed;
      stats.last_latency_seconds = r.latency_seconds;
      (failure ? stats.results_dropped : stats.delivered)++;
    } else {
      lock.lock();
    }
    if (push_failed) ++stats.dropped_stopped;  // the frame that failed was not processed
    if (failure) {
      fail(failure);
      frame_room.notify_all();
      break;
    }
    if (options.on_result) continue;

    ++stats.processed;
    stats.last_latency_seconds = r.latency_seconds;
    if (results.size() >= options.result_capacity) {
      if (options.policy == QueuePolicy::DropOldest) {
        results.pop_front();
        ++stats.results_dropped;
      } else {
        result_room.wait(lock, [&] { return stopping || results.size() < options.result_capacity; });
        if (stopping) {
          ++stats.results_dropped;
          break;
        }
      }
    }
    results.push_back(std::move(r));
    result_ready.notify_all();
  }
  worker_done = true;
  stats.queued = int64_t(frames.size());
  result_ready.notify_all();
  frame_room.notify_all();
}

AsyncStream::AsyncStream(Stream stream, AsyncStreamOptions options)
    : impl_(std::make_unique<Impl>(std::move(stream), std::move(options))) {
  impl_->worker = std::thread([s = impl_.get()] { s->run(); });
}

AsyncStream::~AsyncStream() {
  if (impl_) stop();
}

bool AsyncStream::submit(const cv::Mat& frame, double timestamp) {
  Impl& s = *impl_;
  if (!std::isfinite(timestamp))
    throw Error(Status::InvalidArgument, "frame timestamps must be finite seconds, got " + std::to_string(timestamp));
  validate_image(frame, s.max_pixels);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.accepting) return false;
  }
  QueuedFrame item;
  item.image = frame.clone();  // the caller may reuse its buffer (cameras do)
  item.timestamp = timestamp;

  std::unique_lock<std::mutex> lock(s.mutex);
  auto check_timestamp = [&] {  // before anything is dropped for this frame
    if (s.has_last_timestamp && timestamp < s.last_timestamp)
      throw Error(Status::InvalidArgument, "frame timestamps must not go back in time: got " +
                                               std::to_string(timestamp) + " s after " +
                                               std::to_string(s.last_timestamp) + " s");
  };
  check_timestamp();
  if (s.frames.size() >= s.options.queue_capacity) {
    if (s.options.policy == QueuePolicy::DropOldest) {
      if (s.accepting) {
        s.frames.pop_front();
        ++s.stats.dropped_full;
      }
    } else {
      s.frame_room.wait(lock, [&] { return !s.accepting || s.frames.size() < s.options.queue_capacity; });
    }
  }
  if (!s.accepting) return false;
  check_timestamp();  // again: another thread may have submitted while this one waited for room
  s.has_last_timestamp = true;
  s.last_timestamp = timestamp;
  item.submit_index = s.stats.submitted++;
  item.submitted = Clock::now();
  s.frames.push_back(std::move(item));
  s.stats.queued = int64_t(s.frames.size());
  s.frame_ready.notify_one();
  return true;
}

AsyncStream::Next AsyncStream::next(AsyncResult& out, double timeout_seconds) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  auto have_something = [&] { return !s.results.empty() || s.worker_done; };
  if (std::isnan(timeout_seconds)) throw Error(Status::InvalidArgument, "next(): the timeout is NaN");
  if (timeout_seconds < 0 || timeout_seconds > 1e9) {  // no limit (beyond 31 years: the clock would overflow)
    s.result_ready.wait(lock, have_something);
  } else {
    auto wait = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
    if (!s.result_ready.wait_for(lock, wait, have_something)) return Next::Timeout;
  }
  if (!s.results.empty()) {
    out = std::move(s.results.front());
    s.results.pop_front();
    ++s.stats.delivered;
    s.result_room.notify_one();
    return Next::Ready;
  }
  if (s.error && !s.error_delivered) {
    s.error_delivered = true;
    std::rethrow_exception(s.error);
  }
  return Next::Finished;
}

AsyncStream::Next AsyncStream::next(StreamFrame& out, double timeout_seconds) {
  AsyncResult r;
  Next n = next(r, timeout_seconds);
  if (n == Next::Ready) out = std::move(r.frame);
  return n;
}

void AsyncStream::close() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.closed = true;
  s.accepting = false;
  s.frame_ready.notify_all();
  s.frame_room.notify_all();
}

void AsyncStream::wait() {
  close();
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mutex);
  s.result_ready.wait(lock, [&] { return s.worker_done; });
  if (s.error && !s.error_delivered && s.results.empty()) {
    s.error_delivered = true;
    std::rethrow_exception(s.error);
  }
}

void AsyncStream::stop() {
  Impl& s = *impl_;
  bool on_worker = false;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    on_worker = s.worker_id == std::this_thread::get_id();
    s.closed = true;
    s.accepting = false;
    s.stopping = true;
    s.stats.dropped_stopped += int64_t(s.frames.size());
    s.frames.clear();
    s.stats.queued = 0;
    s.frame_ready.notify_all();
    s.frame_room.notify_all();
    s.result_room.notify_all();
  }
  // From the result callback (on the worker): the worker ends by itself once
  // the callback returns. Taking join_mutex there could deadlock with another
  // thread that holds it while joining this worker.
  if (on_worker) return;
  std::lock_guard<std::mutex> join_lock(s.join_mutex);
  if (s.worker.joinable()) s.worker.join();
}

AsyncStreamStats AsyncStream::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

const AsyncStreamOptions& AsyncStream::options() const { return impl_->options; }

const Pipeline& AsyncStream::pipeline() const { return impl_->stream.pipeline(); }

}  // namespace fer
