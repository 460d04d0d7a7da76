// Overlay: attention heat maps blended over face boxes.
#include <fer/error.hpp>
#include <fer/overlay.hpp>

#include <doctest/doctest.h>
#include <opencv2/core.hpp>

#include <cmath>

namespace {

fer::TrackedFace face_at(const cv::Rect2f& box, int64_t id, bool with_map) {
  fer::TrackedFace f;
  f.track_id = id;
  f.detected = true;
  f.result.face.box = box;
  f.result.probabilities = {0.7f, 0.2f, 0.1f};
  f.result.label_index = 0;
  f.result.label = "happy";
  f.smoothed = f.result.probabilities;
  f.smoothed_label_index = 0;
  f.smoothed_label = "happy";
  if (with_map) {  // a 7x7 map peaking off-centre
    f.result.attention.create(7, 7, CV_32F);
    for (int y = 0; y < 7; ++y)
      for (int x = 0; x < 7; ++x) f.result.attention.at<float>(y, x) = float(-(x - 2) * (x - 2) - (y - 4) * (y - 4));
  }
  return f;
}

cv::Mat background(int type) {
  cv::Mat m(360, 480, type);
  cv::randu(m, cv::Scalar::all(30), cv::Scalar::all(220));
  return m;
}

// Pixels that differ between a and b (any channel).
cv::Mat diff_mask(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  if (d.channels() > 1) {
    cv::Mat per_pixel;
    cv::reduce(d.reshape(1, int(d.total())), per_pixel, 1, cv::REDUCE_MAX);
    d = per_pixel.reshape(1, a.rows);
  }
  return d > 0;
}

cv::Rect rounded(const cv::Rect2f& b) {
  return cv::Rect(cv::Point(int(std::lround(b.x)), int(std::lround(b.y))),
                  cv::Point(int(std::lround(b.x + b.width)), int(std::lround(b.y + b.height))));
}

}  // namespace

TEST_CASE("overlay: attention maps change the image only inside face boxes") {
  // One box partly outside the image, one inside, one without a map.
  std::vector<fer::TrackedFace> faces{face_at({40.4f, 60.2f, 120.f, 130.f}, 1, true),
                                      face_at({400.f, -30.f, 110.f, 100.f}, 2, true),
                                      face_at({220.f, 200.f, 90.f, 90.f}, 3, false)};
  fer::OverlayOptions plain;
  plain.class_names = {"happy", "sad", "neutral"};
  plain.fps = 12.5;
  fer::OverlayOptions heat = plain;
  heat.attention = true;

  for (int type : {CV_8UC3, CV_8UC1, CV_8UC4}) {
    CAPTURE(type);
    cv::Mat base = background(type);
    cv::Mat a = base.clone(), b = base.clone();
    fer::draw_overlay(a, faces, plain);
    fer::draw_overlay(b, faces, heat);
    cv::Mat changed = diff_mask(a, b);
    REQUIRE(cv::countNonZero(changed) > 0);

    cv::Mat allowed = cv::Mat::zeros(base.size(), CV_8U);
    for (const auto& f : faces)
      if (!f.result.attention.empty()) allowed(rounded(f.result.face.box) & cv::Rect(0, 0, base.cols, base.rows)) = 255;
    cv::Mat outside = changed & ~allowed;
    CHECK(cv::countNonZero(outside) == 0);
    // The face without a map is untouched inside its box as well (apart from what both draw).
    cv::Rect third = rounded(faces[2].result.face.box);
    CHECK(cv::countNonZero(changed(third)) == 0);
    // Both faces with a map show it: most of their visible pixels change.
    for (size_t i = 0; i < 2; ++i) {
      cv::Rect r = rounded(faces[i].result.face.box) & cv::Rect(0, 0, base.cols, base.rows);
      CHECK(cv::countNonZero(changed(r)) > r.area() / 2);
    }
    if (type == CV_8UC4) {  // the alpha channel is kept
      std::vector<cv::Mat> ca, cb;
      cv::split(a, ca);
      cv::split(b, cb);
      CHECK(cv::countNonZero(ca[3] != cb[3]) == 0);
    }
  }
}

TEST_CASE("overlay: attention is a no-op without maps, and the map's peak is the hot spot") {
  std::vector<fer::TrackedFace> faces{face_at({40.f, 60.f, 120.f, 120.f}, 1, false),
                                      face_at({300.f, 100.f, 100.f, 100.f}, 2, false)};
  fer::OverlayOptions plain, heat;
  heat.attention = true;
  cv::Mat base = background(CV_8UC3);
  cv::Mat a = base.clone(), b = base.clone();
  fer::draw_overlay(a, faces, plain);
  fer::draw_overlay(b, faces, heat);
  CHECK(cv::countNonZero(diff_mask(a, b)) == 0);

  // Maps present but the option off: no change either.
  std::vector<fer::TrackedFace> mapped{face_at({40.f, 60.f, 120.f, 120.f}, 1, true)};
  cv::Mat c = base.clone(), d = base.clone();
  fer::draw_overlay(c, mapped, plain);
  mapped[0].result.attention.release();
  fer::draw_overlay(d, mapped, plain);
  CHECK(cv::countNonZero(diff_mask(c, d)) == 0);

  // On a black image with alpha 1 the blend is the colour map itself: the
  // map's maximum (x = 2, y = 4 of 7) is JET's dark red, its minimum (corner
  // x = 6, y = 0) its dark blue.
  cv::Mat black = cv::Mat::zeros(200, 200, CV_8UC3);
  cv::Mat map(7, 7, CV_32F);
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 7; ++x) map.at<float>(y, x) = float(-(x - 2) * (x - 2) - (y - 4) * (y - 4));
  fer::blend_attention(black, cv::Rect2f(30, 30, 140, 140), map, 1.0);
  cv::Vec3b peak = black.at<cv::Vec3b>(30 + 140 * 9 / 14, 30 + 140 * 5 / 14);
  cv::Vec3b low = black.at<cv::Vec3b>(31, 168);
  CHECK(peak[2] > 100);
  CHECK(peak[0] < 40);
  CHECK(peak[1] < 40);
  CHECK(low[0] > 100);
  CHECK(low[1] < 40);
  CHECK(low[2] < 40);
  CHECK(black.at<cv::Vec3b>(10, 10) == cv::Vec3b(0, 0, 0));

  // Bad inputs are rejected; empty maps and boxes off the image change nothing.
  cv::Mat e = base.clone();
  CHECK_THROWS_AS(fer::blend_attention(e, cv::Rect2f(0, 0, 50, 50), cv::Mat(7, 7, CV_8U, cv::Scalar(1))), fer::Error);
  CHECK_THROWS_AS(fer::blend_attention(e, cv::Rect2f(0, 0, 50, 50), map, 1.5), fer::Error);
  fer::blend_attention(e, cv::Rect2f(0, 0, 50, 50), cv::Mat());
  fer::blend_attention(e, cv::Rect2f(1000, 1000, 50, 50), map);
  CHECK(cv::countNonZero(diff_mask(e, base)) == 0);
}
