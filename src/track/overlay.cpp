#include "core/image.hpp"

#include <fer/error.hpp>
#include <fer/overlay.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fer {

namespace {
// A stable, distinct colour per track id (BGR): golden-ratio steps around the hue circle.
cv::Scalar track_colour(int64_t id) {
  double hue = std::fmod(double(id) * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 200, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return {double(c[0]), double(c[1]), double(c[2])};
}

cv::Scalar class_colour(size_t k) {
  static const cv::Scalar kColours[] = {{60, 60, 230},  {60, 160, 60},  {180, 80, 160}, {40, 200, 240},
                                        {200, 120, 40}, {240, 200, 60}, {200, 200, 200}, {120, 60, 120}};
  return kColours[k % (sizeof(kColours) / sizeof(kColours[0]))];
}

// A BGR colour as drawn on `image`: opaque on BGRA (OpenCV would write the
// Scalar's fourth value, 0, as alpha), its luminance on gray.
cv::Scalar ink(const cv::Mat& image, const cv::Scalar& bgr) {
  if (image.channels() == 4) return {bgr[0], bgr[1], bgr[2], 255};
  if (image.channels() == 1) return cv::Scalar::all(0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2]);
  return bgr;
}

// Text with a filled background; `org` is the top-left corner of the label.
void label_at(cv::Mat& image, const std::string& text, cv::Point org, double font, int thick, const cv::Scalar& bg) {
  int base = 0;
  cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, thick, &base);
  cv::rectangle(image, cv::Rect(org.x, org.y, ts.width + 6, ts.height + base + 6), ink(image, bg), cv::FILLED);
  cv::putText(image, text, org + cv::Point(3, ts.height + 3), cv::FONT_HERSHEY_SIMPLEX, font,
              ink(image, {0, 0, 0}), thick, cv::LINE_AA);
}
}  // namespace

void blend_attention(cv::Mat& image, const cv::Rect2f& box_f, const cv::Mat& attention, double alpha) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
    throw Error(Status::InvalidArgument, "blend_attention needs a non-empty 8-bit gray, BGR or BGRA image, got " +
                                             detail::describe(image));
  if (!(alpha >= 0 && alpha <= 1)) throw Error(Status::InvalidArgument, "attention alpha must be in [0, 1]");
  if (attention.empty()) return;
  if (attention.type() != CV_32FC1)
    throw Error(Status::InvalidArgument, "an attention map must be CV_32F with one channel, got " +
                                             detail::describe(attention));
  // Nothing to draw for a box that is not finite, outside the image, or far
  // larger than it (checked in float: its int corners would overflow).
  if (!detail::face_box_problem(box_f, image.size()).empty()) return;
  // Integer box, clipped; the map is resized to the whole box so a box partly
  // outside the image shows the matching part of the map.
  cv::Rect box(cv::Point(int(std::lround(box_f.x)), int(std::lround(box_f.y))),
               cv::Point(int(std::lround(box_f.x + box_f.width)), int(std::lround(box_f.y + box_f.height))));
  cv::Rect visible = box & cv::Rect(0, 0, image.cols, image.rows);
  if (visible.empty() || double(box.width) * double(box.height) > 16.0 * double(image.total())) return;

  cv::Mat map = attention.clone();
  cv::patchNaNs(map, 0.0);
  double lo = 0, hi = 0;
  cv::minMaxLoc(map, &lo, &hi);
  cv::Mat unit;  // 0..255 from the minimum to the maximum (a flat map is all 0)
  double scale = hi - lo > 1e-12 ? 255.0 / (hi - lo) : 0.0;
  map.convertTo(unit, CV_8U, scale, -lo * scale);
  cv::Mat stretched;
  cv::resize(unit, stretched, box.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat heat;
  cv::applyColorMap(stretched(visible - box.tl()), heat, cv::COLORMAP_JET);

  cv::Mat roi = image(visible);
  if (roi.channels() == 1) {
    cv::cvtColor(heat, heat, cv::COLOR_BGR2GRAY);
  } else if (roi.channels() == 4) {
    cv::cvtColor(heat, heat, cv::COLOR_BGR2BGRA);
  }
  cv::Mat blended;
  cv::addWeighted(roi, 1.0 - alpha, heat, alpha, 0.0, blended);
  if (roi.channels() == 4) {  // keep the image's alpha channel
    const int from_to[] = {3, 3};
    cv::mixChannels(&roi, 1, &blended, 1, from_to, 1);
  }
  blended.copyTo(roi);
}

void draw_overlay(cv::Mat& image, const std::vector<TrackedFace>& faces, const OverlayOptions& options) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
    throw Error(Status::InvalidArgument, "draw_overlay needs a non-empty 8-bit gray, BGR or BGRA image, got " +
                                             detail::describe(image));
  if (options.attention)  // under the boxes and labels
    for (const TrackedFace& f : faces) blend_attention(image, f.result.face.box, f.result.attention, options.attention_alpha);
  double font = options.font_scale > 0 ? options.font_scale : std::max(0.4, std::max(image.cols, image.rows) / 1400.0);
  int thick = std::max(1, int(font * 2));
  for (const TrackedFace& f : faces) {
    // A box that is not finite, outside the image or far larger than it has nothing to draw.
    if (!detail::face_box_problem(f.result.face.box, image.size()).empty()) continue;
    cv::Scalar colour = track_colour(f.track_id);
    cv::Rect box(f.result.face.box);
    cv::rectangle(image, box, ink(image, colour), f.detected ? thick + 1 : std::max(1, thick - 1), cv::LINE_AA);

    const std::vector<float>& p = f.smoothed.empty() ? f.result.probabilities : f.smoothed;
    int label = f.smoothed.empty() ? f.result.label_index : f.smoothed_label_index;
    const std::string& name = f.smoothed.empty() ? f.result.label : f.smoothed_label;
    char text[160];
    float conf = label >= 0 && size_t(label) < p.size() ? p[size_t(label)] : 0.f;
    std::snprintf(text, sizeof text, "#%lld %s %.0f%%", (long long)f.track_id, name.c_str(), 100.0 * conf);
    int base = 0;
    cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, thick, &base);
    label_at(image, text, cv::Point(box.x, std::max(0, box.y - ts.height - base - 6)), font, thick, colour);

    if (!options.probability_bars || p.empty()) continue;
    // A panel of bars (one per class) under the box, as wide as the box; beside
    // it (right, else left) when there is no room below.
    double bar_font = font * 0.55;
    int bar_thick = std::max(1, thick / 2);
    cv::Size name_size(0, 0);
    for (size_t k = 0; k < p.size(); ++k) {
      std::string cname = k < options.class_names.size() ? options.class_names[k] : std::to_string(k);
      cv::Size ns = cv::getTextSize(cname, cv::FONT_HERSHEY_SIMPLEX, bar_font, bar_thick, &base);
      name_size = cv::Size(std::max(name_size.width, ns.width), std::max(name_size.height, ns.height));
    }
    int line = name_size.height + base + 4;
    int panel_h = int(p.size()) * line + 4;
    int bar_max = std::max(40, box.width - name_size.width - 14);
    int panel_w = name_size.width + bar_max + 12;
    cv::Point at(box.x, box.y + box.height + 2);
    if (at.y + panel_h > image.rows) {
      at = cv::Point(box.x + box.width + 4, box.y);
      if (at.x + panel_w > image.cols) at.x = std::max(0, box.x - panel_w - 4);
    }
    int x0 = at.x;
    cv::Rect panel(at.x, at.y, panel_w, panel_h);
    cv::Rect clipped = panel & cv::Rect(0, 0, image.cols, image.rows);
    if (clipped.area() > 0) {
      cv::Mat roi = image(clipped);
      // Darken behind the bars so they stay readable (not the alpha channel).
      cv::multiply(roi, roi.channels() == 4 ? cv::Scalar(0.4, 0.4, 0.4, 1.0) : cv::Scalar::all(0.4), roi);
    }
    for (size_t k = 0; k < p.size(); ++k) {
      int y = panel.y + 2 + int(k) * line;
      std::string cname = k < options.class_names.size() ? options.class_names[k] : std::to_string(k);
      cv::putText(image, cname, cv::Point(x0 + 3, y + name_size.height + 1), cv::FONT_HERSHEY_SIMPLEX, bar_font,
                  ink(image, {255, 255, 255}), bar_thick, cv::LINE_AA);
      int len = std::max(1, int(bar_max * std::clamp(p[k], 0.f, 1.f)));
      cv::rectangle(image, cv::Rect(x0 + name_size.width + 8, y + 2, len, line - 4), ink(image, class_colour(k)),
                    cv::FILLED);
    }
  }
  if (options.fps >= 0) {
    char text[64];
    std::snprintf(text, sizeof text, "%.1f FPS", options.fps);
    label_at(image, text, cv::Point(4, 4), font, thick, {255, 255, 255});
  }
}

}  // namespace fer
