// AsyncStream: a Stream on a worker thread behind a bounded frame queue.
//
// The worker is held inside the detector by a gate the test opens, so which
// frames are dropped follows from the order of calls, not from timing.
#include "support.hpp"

#include <fer/async_stream.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace {

// The worker blocks in detect() until the test grants a permit.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  int permits = 1 << 30;  // open unless a test closes it
  int entered = 0;        // detect() calls so far
  int throw_at = -1;      // detect() call (0-based) that throws

  void close() {
    std::lock_guard<std::mutex> l(m);
    permits = 0;
  }
  void grant(int n) {
    std::lock_guard<std::mutex> l(m);
    permits += n;
    cv.notify_all();
  }
  void open() { grant(1 << 30); }
  void reset() {
    std::lock_guard<std::mutex> l(m);
    permits = 1 << 30;
    entered = 0;
    throw_at = -1;
  }
  // Waits until detect() has been entered `n` times (guards against hanging only).
  bool wait_entered(int n) {
    std::unique_lock<std::mutex> l(m);
    return cv.wait_for(l, std::chrono::seconds(60), [&] { return entered >= n; });
  }
} g_gate;

class GateDetector : public fer::Detector {
 public:
  std::string name() const override { return "async_test_gate"; }
  std::vector<fer::Face> detect(const cv::Mat& image) override {
    std::unique_lock<std::mutex> l(g_gate.m);
    int call = g_gate.entered++;
    g_gate.cv.notify_all();
    g_gate.cv.wait(l, [] { return g_gate.permits > 0; });
    --g_gate.permits;
    if (call == g_gate.throw_at) throw fer::Error(fer::Status::Internal, "gate detector failed on purpose");
    fer::Face f;
    f.box = cv::Rect2f(float(image.cols) / 4, float(image.rows) / 4, float(image.cols) / 2, float(image.rows) / 2);
    f.score = 0.9f;
    return {f};
  }
};

// Boxes around the bright (> 200) blobs of the image: faces follow the frame
// content, whichever thread runs the detector.
class BlobDetector : public fer::Detector {
 public:
  std::string name() const override { return "async_test_blobs"; }
  std::vector<fer::Face> detect(const cv::Mat& image) override {
    cv::Mat gray, mask, labels, stats, centroids;
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
    cv::compare(gray, 200, mask, cv::CMP_GT);
    int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids);
    std::vector<fer::Face> out;
    for (int i = 1; i < n; ++i) {
      if (stats.at<int>(i, cv::CC_STAT_AREA) < 400) continue;
      fer::Face f;
      f.box = cv::Rect2f(float(stats.at<int>(i, cv::CC_STAT_LEFT)), float(stats.at<int>(i, cv::CC_STAT_TOP)),
                         float(stats.at<int>(i, cv::CC_STAT_WIDTH)), float(stats.at<int>(i, cv::CC_STAT_HEIGHT)));
      f.score = 0.9f;
      out.push_back(f);
    }
    return out;
  }
};

void register_detectors() {
  auto& r = fer::detector_registry();
  if (!r.contains("async_test_gate"))
    r.add("async_test_gate", [](const fer::DetectorOptions&) { return std::make_unique<GateDetector>(); },
          "test only: blocks until the test lets it through");
  if (!r.contains("async_test_blobs"))
    r.add("async_test_blobs", [](const fer::DetectorOptions&) { return std::make_unique<BlobDetector>(); },
          "test only: boxes around bright blobs");
}

std::shared_ptr<fer::Model> shared_tiny_model() {
  static std::shared_ptr<fer::Model> model = fer_test::tiny_model(3);
  return model;
}

fer::Stream make_stream(const std::string& detector, int detect_every = 1) {
  register_detectors();
  fer::PipelineOptions po;
  po.detector = detector;
  po.threads = 1;
  fer::StreamOptions so;
  so.detect_every = detect_every;
  return fer::Stream(po, shared_tiny_model(), so);
}

cv::Mat plain_frame(int i) { return cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(double(20 + i % 100))); }

// Two textured bright squares moving across a dark frame; one leaves at frame 25.
cv::Mat blob_frame(int i) {
  cv::Mat f(240, 320, CV_8UC3, cv::Scalar(30, 40, 50));
  auto square = [&](int x, int y, int side, int seed) {
    cv::Rect r = cv::Rect(x, y, side, side) & cv::Rect(0, 0, f.cols, f.rows);
    if (r.area() <= 0) return;
    cv::Mat roi = f(r);
    cv::RNG rng{uint64_t(seed)};
    rng.fill(roi, cv::RNG::UNIFORM, cv::Scalar::all(205), cv::Scalar::all(256));
  };
  square(20 + 4 * i, 40 + i, 64, 1000 + i);
  if (i < 25) square(200 - 2 * i, 150, 72, 2000 + i);
  return f;
}

// Polls `done` (guards against hanging only; no timing is asserted).
template <class F>
bool eventually(F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Reads every result until Finished.
std::vector<fer::AsyncResult> drain(fer::AsyncStream& s) {
  std::vector<fer::AsyncResult> out;
  fer::AsyncResult r;
  while (s.next(r) == fer::AsyncStream::Next::Ready) out.push_back(std::move(r));
  return out;
}

void check_counts(const fer::AsyncStreamStats& st, size_t left_in_results = 0) {
  CHECK(st.queued == 0);
  CHECK(st.submitted == st.processed + st.dropped());
  CHECK(st.processed == st.delivered + st.results_dropped + int64_t(left_in_results));
}

}  // namespace

TEST_CASE("async stream: options and inputs are validated") {
  fer::AsyncStreamOptions o;
  o.queue_capacity = 0;
  CHECK_THROWS_AS(fer::AsyncStream(make_stream("async_test_gate"), o), fer::Error);
  o = {};
  o.result_capacity = 0;
  CHECK_THROWS_AS(fer::AsyncStream(make_stream("async_test_gate"), o), fer::Error);
  o = {};
  o.latency_budget = -1;
  CHECK_THROWS_AS(fer::AsyncStream(make_stream("async_test_gate"), o), fer::Error);
  o.latency_budget = std::nan("");
  CHECK_THROWS_AS(fer::AsyncStream(make_stream("async_test_gate"), o), fer::Error);

  g_gate.reset();
  fer::AsyncStream s(make_stream("async_test_gate"));
  CHECK_THROWS_AS(s.submit(cv::Mat(), 0.0), fer::Error);
  CHECK_THROWS_AS(s.submit(cv::Mat(10, 10, CV_32F), 0.0), fer::Error);
  CHECK_THROWS_AS(s.submit(plain_frame(0), std::nan("")), fer::Error);
  CHECK(s.submit(plain_frame(0), 1.0));
  CHECK_THROWS_AS(s.submit(plain_frame(1), 0.5), fer::Error);  // back in time
  CHECK(s.submit(plain_frame(1), 1.0));                         // equal is fine
  fer::AsyncResult unused;
  CHECK_THROWS_AS(s.next(unused, std::nan("")), fer::Error);
  s.close();
  CHECK_FALSE(s.submit(plain_frame(2), 2.0));
  auto results = drain(s);
  CHECK(results.size() == 2);
  CHECK(s.stats().submitted == 2);

  SUBCASE("a Stream already under way keeps its clock") {
    fer::Stream under_way = make_stream("async_test_gate");
    CHECK_FALSE(under_way.last_timestamp().has_value());
    under_way.push(plain_frame(0), 10.0);
    REQUIRE(under_way.last_timestamp() == 10.0);
    fer::AsyncStream a(std::move(under_way));
    CHECK_THROWS_AS(a.submit(plain_frame(1), 5.0), fer::Error);  // before the Stream's last frame
    CHECK(a.submit(plain_frame(1), 10.0));
    a.close();
    CHECK(drain(a).size() == 1);
  }
}

TEST_CASE("async stream: results come in submission order; the frame copy goes with them") {
  g_gate.reset();
  fer::AsyncStreamOptions o;
  o.policy = fer::QueuePolicy::Block;
  o.queue_capacity = 2;
  o.result_capacity = 2;
  fer::AsyncStream s(make_stream("async_test_gate", 2), o);
  std::vector<fer::AsyncResult> got;
  std::thread consumer([&] { got = drain(s); });
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    cv::Mat f = plain_frame(i);
    REQUIRE(s.submit(f, i / 30.0));
    f.setTo(cv::Scalar::all(255));  // the stream holds its own copy
  }
  s.close();
  consumer.join();
  REQUIRE(got.size() == size_t(n));
  for (int i = 0; i < n; ++i) {
    CHECK(got[size_t(i)].submit_index == i);
    CHECK(got[size_t(i)].frame.index == i);
    CHECK(got[size_t(i)].frame.timestamp == doctest::Approx(i / 30.0));
    CHECK(got[size_t(i)].frame.detection_ran == (i % 2 == 0));
    CHECK(got[size_t(i)].image.at<cv::Vec3b>(0, 0)[0] == uchar(20 + i));
    CHECK(got[size_t(i)].latency_seconds >= got[size_t(i)].queued_seconds);
  }
  fer::AsyncStreamStats st = s.stats();
  CHECK(st.submitted == n);
  CHECK(st.processed == n);
  CHECK(st.delivered == n);
  CHECK(st.dropped() == 0);
  check_counts(st);
}

TEST_CASE("async stream: drop-oldest keeps the newest frames and counts the drops") {
  g_gate.reset();
  g_gate.close();
  fer::AsyncStreamOptions o;  // DropOldest, capacity 2
  o.result_capacity = 2;
  fer::AsyncStream s(make_stream("async_test_gate"), o);
  REQUIRE(s.submit(plain_frame(0), 0.0));
  REQUIRE(g_gate.wait_entered(1));  // the worker holds frame 0
  for (int i = 1; i <= 10; ++i) REQUIRE(s.submit(plain_frame(i), i / 30.0));
  fer::AsyncStreamStats st = s.stats();
  CHECK(st.submitted == 11);
  CHECK(st.dropped_full == 8);  // frames 1..8 made way for 9 and 10
  CHECK(st.queued == 2);
  // A frame from the past is refused before it can push out a queued one.
  CHECK_THROWS_AS(s.submit(plain_frame(11), 0.1), fer::Error);
  CHECK(s.stats().dropped_full == 8);
  CHECK(s.stats().queued == 2);
  g_gate.open();
  s.close();
  // A slow consumer: it reads only once everything is done; results beyond
  // the capacity (2) dropped the oldest.
  REQUIRE(eventually([&] { return s.stats().processed == 3; }));
  std::vector<fer::AsyncResult> got = drain(s);
  REQUIRE(got.size() == 2);
  CHECK(got[0].submit_index == 9);
  CHECK(got[1].submit_index == 10);
  st = s.stats();
  CHECK(st.processed == 3);
  CHECK(st.results_dropped == 1);  // frame 0's result
  CHECK(st.dropped_late == 0);
  check_counts(st);
}

TEST_CASE("async stream: frames older than the latency budget are dropped") {
  g_gate.reset();
  g_gate.close();
  fer::AsyncStreamOptions o;
  o.latency_budget = 0.05;
  fer::AsyncStream s(make_stream("async_test_gate"), o);
  REQUIRE(s.submit(plain_frame(0), 0.0));
  REQUIRE(g_gate.wait_entered(1));
  REQUIRE(s.submit(plain_frame(1), 0.1));
  REQUIRE(s.submit(plain_frame(2), 0.2));
  // They wait at least this long, past the budget, whatever the machine's load.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  g_gate.open();
  s.close();
  std::vector<fer::AsyncResult> got = drain(s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].submit_index == 0);
  fer::AsyncStreamStats st = s.stats();
  CHECK(st.dropped_late == 2);
  CHECK(st.dropped_full == 0);
  check_counts(st);

  // Without a budget the same wait drops nothing.
  g_gate.reset();
  g_gate.close();
  fer::AsyncStream patient(make_stream("async_test_gate"));
  REQUIRE(patient.submit(plain_frame(0), 0.0));
  REQUIRE(g_gate.wait_entered(1));
  REQUIRE(patient.submit(plain_frame(1), 0.1));
  REQUIRE(patient.submit(plain_frame(2), 0.2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  g_gate.open();
  patient.close();
  CHECK(drain(patient).size() == 3);
  CHECK(patient.stats().dropped() == 0);
}

TEST_CASE("async stream: the block policy loses nothing with a slow consumer") {
  g_gate.reset();
  fer::AsyncStreamOptions o;
  o.policy = fer::QueuePolicy::Block;
  o.queue_capacity = 1;
  o.result_capacity = 1;
  fer::AsyncStream s(make_stream("async_test_gate"), o);
  std::vector<fer::AsyncResult> got;
  std::thread consumer([&] {
    fer::AsyncResult r;
    while (s.next(r) == fer::AsyncStream::Next::Ready) {
      got.push_back(std::move(r));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  const int n = 30;
  for (int i = 0; i < n; ++i) REQUIRE(s.submit(plain_frame(i), i / 30.0));
  s.close();
  consumer.join();
  REQUIRE(got.size() == size_t(n));
  for (int i = 0; i < n; ++i) CHECK(got[size_t(i)].submit_index == i);
  fer::AsyncStreamStats st = s.stats();
  CHECK(st.dropped() == 0);
  CHECK(st.results_dropped == 0);
  CHECK(st.delivered == n);
  check_counts(st);
}

TEST_CASE("async stream: stop with pending frames, and no deadlock when nobody reads") {
  SUBCASE("stop drops the queued frames and keeps the finished result") {
    g_gate.reset();
    g_gate.close();
    fer::AsyncStream s(make_stream("async_test_gate"));
    REQUIRE(s.submit(plain_frame(0), 0.0));
    REQUIRE(g_gate.wait_entered(1));
    REQUIRE(s.submit(plain_frame(1), 0.1));
    REQUIRE(s.submit(plain_frame(2), 0.2));
    auto stopped = std::async(std::launch::async, [&] { s.stop(); });
    REQUIRE(eventually([&] { return s.stats().dropped_stopped == 2; }));
    g_gate.open();  // the worker finishes frame 0, then stop() returns
    stopped.get();
    CHECK_FALSE(s.submit(plain_frame(3), 0.3));
    std::vector<fer::AsyncResult> got = drain(s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].submit_index == 0);
    fer::AsyncStreamStats st = s.stats();
    CHECK(st.submitted == 3);
    CHECK(st.processed == 1);
    check_counts(st);
    CHECK(s.next(got[0], 0.0) == fer::AsyncStream::Next::Finished);
  }
  SUBCASE("block policy, a consumer that stopped reading, a submitter waiting for room") {
    g_gate.reset();
    fer::AsyncStreamOptions o;
    o.policy = fer::QueuePolicy::Block;
    o.queue_capacity = 1;
    o.result_capacity = 1;
    auto s = std::make_unique<fer::AsyncStream>(make_stream("async_test_gate"), o);
    std::atomic<int> accepted{0};
    std::atomic<bool> refused{false};
    std::thread submitter([&] {
      for (int i = 0; i < 20; ++i) {
        if (!s->submit(plain_frame(i), i / 30.0)) {
          refused = true;
          return;
        }
        ++accepted;
      }
    });
    // One result waits unread, the worker waits with the next, one frame is
    // queued and the submitter waits for room.
    REQUIRE(eventually([&] {
      auto st = s->stats();
      return st.processed == 2 && st.queued == 1 && accepted == 3;
    }));
    s->stop();
    submitter.join();
    CHECK(refused);
    fer::AsyncStreamStats st = s->stats();
    CHECK(st.submitted == 3);
    CHECK(st.dropped_stopped == 1);
    CHECK(st.results_dropped == 1);
    check_counts(st, 1);
    s.reset();  // the destructor returns too
  }
  SUBCASE("the destructor joins with frames queued and results unread") {
    g_gate.reset();
    {
      fer::AsyncStream s(make_stream("async_test_gate"));
      for (int i = 0; i < 10; ++i) s.submit(plain_frame(i), i / 30.0);
    }
    CHECK(true);
  }
  SUBCASE("the result callback calls stop() while another thread is stopping the stream") {
    // The other thread holds the join lock while it joins the worker; the
    // callback's stop() on that worker must not wait for that lock.
    g_gate.reset();
    std::atomic<bool> other_stopping{false};
    std::atomic<int> callbacks{0};
    std::unique_ptr<fer::AsyncStream> s;
    fer::AsyncStreamOptions o;
    o.on_result = [&](fer::AsyncResult&) {
      if (callbacks++ > 0) return;
      while (!other_stopping) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the other thread is joining by now
      s->stop();
    };
    s = std::make_unique<fer::AsyncStream>(make_stream("async_test_gate"), o);
    REQUIRE(s->submit(plain_frame(0), 0.0));
    REQUIRE(eventually([&] { return callbacks.load() > 0; }));
    other_stopping = true;
    auto stopped = std::async(std::launch::async, [&] { s->stop(); });
    REQUIRE(stopped.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    stopped.get();
    CHECK(s->stats().processed == 1);
    CHECK_FALSE(s->submit(plain_frame(1), 0.1));
    s.reset();
  }
}

TEST_CASE("async stream: an exception on the worker reaches the consumer") {
  SUBCASE("through next(), after the results before it") {
    g_gate.reset();
    g_gate.throw_at = 3;
    fer::AsyncStreamOptions o;
    o.policy = fer::QueuePolicy::Block;
    o.result_capacity = 8;
    fer::AsyncStream s(make_stream("async_test_gate"), o);
    for (int i = 0; i < 6; ++i)
      if (!s.submit(plain_frame(i), i / 30.0)) break;
    s.close();
    fer::AsyncResult r;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(s.next(r) == fer::AsyncStream::Next::Ready);
      CHECK(r.submit_index == i);
    }
    CHECK_THROWS_WITH_AS(s.next(r), doctest::Contains("failed on purpose"), fer::Error);
    CHECK(s.next(r) == fer::AsyncStream::Next::Finished);  // delivered once
    CHECK_FALSE(s.submit(plain_frame(9), 1.0));
    fer::AsyncStreamStats st = s.stats();
    CHECK(st.processed == 3);
    CHECK(st.dropped_stopped >= 1);  // the failed frame, and any queued behind it
    check_counts(st);
  }
  SUBCASE("through wait(), from the result callback") {
    g_gate.reset();
    std::vector<int64_t> seen;
    fer::AsyncStreamOptions o;
    o.policy = fer::QueuePolicy::Block;
    o.on_result = [&](fer::AsyncResult& r) {
      if (r.submit_index == 4) throw std::runtime_error("callback failed on purpose");
      seen.push_back(r.submit_index);
    };
    fer::AsyncStream s(make_stream("async_test_gate"), o);
    for (int i = 0; i < 8; ++i)
      if (!s.submit(plain_frame(i), i / 30.0)) break;
    CHECK_THROWS_WITH(s.wait(), doctest::Contains("callback failed on purpose"));
    CHECK(seen == std::vector<int64_t>{0, 1, 2, 3});
    fer::AsyncResult r;
    CHECK(s.next(r, 0.0) == fer::AsyncStream::Next::Finished);
    fer::AsyncStreamStats st = s.stats();
    CHECK(st.delivered == 4);
    CHECK(st.results_dropped == 1);
    check_counts(st);
  }
}

TEST_CASE("async stream: results equal a synchronous Stream on the same frames") {
  const int n = 40;
  std::vector<cv::Mat> frames;
  for (int i = 0; i < n; ++i) frames.push_back(blob_frame(i));

  fer::Stream sync = make_stream("async_test_blobs", 3);
  std::vector<fer::StreamFrame> expected;
  for (int i = 0; i < n; ++i) expected.push_back(sync.push(frames[size_t(i)], i / 25.0));

  for (bool callback : {false, true}) {
    CAPTURE(callback);
    fer::AsyncStreamOptions o;
    o.policy = fer::QueuePolicy::Block;
    std::vector<fer::StreamFrame> got;
    if (callback) o.on_result = [&](fer::AsyncResult& r) { got.push_back(std::move(r.frame)); };
    fer::AsyncStream s(make_stream("async_test_blobs", 3), o);
    std::thread consumer;
    if (!callback)
      consumer = std::thread([&] {
        fer::StreamFrame f;
        while (s.next(f) == fer::AsyncStream::Next::Ready) got.push_back(std::move(f));
      });
    for (int i = 0; i < n; ++i) REQUIRE(s.submit(frames[size_t(i)], i / 25.0));
    if (callback) s.wait();
    else {
      s.close();
      consumer.join();
    }
    REQUIRE(got.size() == expected.size());
    size_t faces = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const fer::StreamFrame& a = got[i];
      const fer::StreamFrame& e = expected[i];
      CHECK(a.index == e.index);
      CHECK(a.detection_ran == e.detection_ran);
      REQUIRE(a.faces.size() == e.faces.size());
      for (size_t k = 0; k < a.faces.size(); ++k) {
        const fer::TrackedFace& fa = a.faces[k];
        const fer::TrackedFace& fe = e.faces[k];
        ++faces;
        CHECK(fa.track_id == fe.track_id);
        CHECK(fa.result.face.box.x == doctest::Approx(fe.result.face.box.x));
        CHECK(fa.result.face.box.y == doctest::Approx(fe.result.face.box.y));
        CHECK(fa.smoothed_label_index == fe.smoothed_label_index);
        REQUIRE(fa.result.probabilities.size() == fe.result.probabilities.size());
        for (size_t c = 0; c < fa.result.probabilities.size(); ++c) {
          CHECK(fa.result.probabilities[c] == doctest::Approx(fe.result.probabilities[c]).epsilon(1e-5));
          CHECK(fa.smoothed[c] == doctest::Approx(fe.smoothed[c]).epsilon(1e-5));
        }
      }
    }
    CHECK(faces > size_t(n));  // two faces most of the time: the comparison is not empty
  }
}
