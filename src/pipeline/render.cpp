#include "core/image.hpp"

#include <fer/error.hpp>
#include <fer/render.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fer {

namespace {
// One colour per class index (BGR), readable on photos.
cv::Scalar class_colour(int index) {
  static const cv::Scalar kColours[] = {{60, 60, 230},  {60, 160, 60},  {180, 80, 160}, {40, 200, 240},
                                        {200, 120, 40}, {240, 200, 60}, {200, 200, 200}, {120, 60, 120}};
  return kColours[size_t(std::max(index, 0)) % (sizeof(kColours) / sizeof(kColours[0]))];
}
}  // namespace

void draw_results(cv::Mat& image, const std::vector<FaceResult>& results, const DrawOptions& options) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 && image.channels() != 4))
    throw Error(Status::InvalidArgument, "draw_results needs a non-empty 8-bit gray, BGR or BGRA image, got " +
                                             detail::describe(image));
  double font = options.font_scale > 0 ? options.font_scale : std::max(0.4, std::max(image.cols, image.rows) / 1400.0);
  int thick = std::max(1, int(font * 2));
  for (const FaceResult& r : results) {
    cv::Scalar colour = class_colour(r.label_index);
    cv::Rect box(r.face.box);
    cv::rectangle(image, box, colour, thick + 1);
    if (options.landmarks) {
      const int radius = std::max(1, int(std::lround(std::min(box.width, box.height) / 90.0)));
      for (const cv::Point2f& p : r.face.landmarks)
        cv::circle(image, cv::Point(int(std::lround(p.x)), int(std::lround(p.y))), radius, {80, 255, 80}, cv::FILLED,
                   cv::LINE_AA);
    }
    char text[128];
    float p = r.label_index >= 0 && size_t(r.label_index) < r.probabilities.size() ? r.probabilities[size_t(r.label_index)] : 0.f;
    std::snprintf(text, sizeof text, "%s %.0f%%", r.label.c_str(), 100.0 * p);
    int base = 0;
    cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, thick, &base);
    cv::Point org(box.x, std::max(ts.height + 4, box.y - 4));
    cv::rectangle(image, cv::Rect(org.x, org.y - ts.height - 4, ts.width + 4, ts.height + base + 4), colour, cv::FILLED);
    cv::putText(image, text, org + cv::Point(2, -2), cv::FONT_HERSHEY_SIMPLEX, font, {0, 0, 0}, thick, cv::LINE_AA);

    if (!options.probability_bars || r.probabilities.empty()) continue;
    // A bar per class under the box: name, then length proportional to probability.
    double bar_font = font * 0.6;
    int line = int(22 * bar_font / 0.5 * 0.7) + 2;
    int bar_max = std::max(30, box.width / 2);
    for (size_t k = 0; k < r.probabilities.size(); ++k) {
      cv::Point at(box.x, box.y + box.height + 4 + int(k) * line);
      std::string name = k < options.class_names.size() ? options.class_names[k] : std::to_string(k);
      cv::putText(image, name, at + cv::Point(0, line - 3), cv::FONT_HERSHEY_SIMPLEX, bar_font, {255, 255, 255},
                  std::max(1, thick / 2), cv::LINE_AA);
      int x0 = at.x + int(box.width / 2);
      cv::rectangle(image, cv::Rect(x0, at.y + 2, std::max(1, int(bar_max * r.probabilities[k])), line - 4),
                    class_colour(int(k)), cv::FILLED);
    }
  }
}

}  // namespace fer
