// Face alignment: five landmark points onto a template by a least-squares
// similarity transform.
#include <fer/error.hpp>
#include <fer/image.hpp>
#include <fer/landmarks.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace fer {

namespace {

bool finite(const cv::Point2f& p) { return std::isfinite(p.x) && std::isfinite(p.y); }

cv::Point2f mean_of(const std::vector<cv::Point2f>& pts, int first, int last) {
  cv::Point2f sum(0.f, 0.f);
  for (int i = first; i <= last; ++i) sum += pts[size_t(i)];
  return sum * (1.f / float(last - first + 1));
}

}  // namespace

std::vector<cv::Point2f> alignment_points(const std::vector<cv::Point2f>& landmarks) {
  for (const cv::Point2f& p : landmarks)
    if (!finite(p)) throw Error(Status::InvalidArgument, "alignment: landmarks must be finite");
  if (landmarks.size() == 5) return landmarks;
  if (landmarks.size() != 68)
    throw Error(Status::InvalidArgument, "alignment needs 68 (iBUG) or 5 landmark points, got " +
                                             std::to_string(landmarks.size()) +
                                             "; enable a landmark model (PipelineOptions::landmarks)");
  return {mean_of(landmarks, 36, 41), mean_of(landmarks, 42, 47), landmarks[30], landmarks[48], landmarks[54]};
}

std::vector<cv::Point2f> default_alignment_template() {
  // The mean of the five points of face-api's 68-point model on the 22 faces
  // of the sample photos, each face normalised to the bounding square of its
  // own 68 points (eyebrows to chin), made left-right symmetric and rounded
  // (tests/test_landmarks.cpp re-measures it).
  return {{0.30f, 0.26f}, {0.70f, 0.26f}, {0.50f, 0.535f}, {0.33f, 0.70f}, {0.67f, 0.70f}};
}

cv::Mat estimate_similarity(const std::vector<cv::Point2f>& from, const std::vector<cv::Point2f>& to) {
  if (from.size() != to.size() || from.size() < 2)
    throw Error(Status::InvalidArgument, "similarity transform: needs two equal-sized point sets of at least 2 points, got " +
                                             std::to_string(from.size()) + " and " + std::to_string(to.size()));
  const double n = double(from.size());
  double max = 0, may = 0, mbx = 0, mby = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    if (!finite(from[i]) || !finite(to[i])) throw Error(Status::InvalidArgument, "similarity transform: points must be finite");
    max += from[i].x / n, may += from[i].y / n, mbx += to[i].x / n, mby += to[i].y / n;
  }
  // With points as complex numbers, the least-squares a*z + t has
  // a = sum(conj(za) * zb) / sum(|za|^2) over the centred points.
  double den = 0, re = 0, im = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    double ax = from[i].x - max, ay = from[i].y - may, bx = to[i].x - mbx, by = to[i].y - mby;
    den += ax * ax + ay * ay;
    re += ax * bx + ay * by;
    im += ax * by - ay * bx;
  }
  if (!(den > 1e-12)) throw Error(Status::InvalidArgument, "similarity transform: the source points all coincide");
  const double c = re / den, s = im / den;
  cv::Mat m = (cv::Mat_<double>(2, 3) << c, -s, mbx - (c * max - s * may), s, c, mby - (s * max + c * may));
  return m;
}

cv::Mat alignment_transform(const std::vector<cv::Point2f>& landmarks, int size, float margin,
                            const std::vector<cv::Point2f>& templ) {
  if (size < 1 || size > 4096) throw Error(Status::InvalidArgument, "alignment: crop size must be 1 to 4096 pixels");
  if (!(margin >= -0.4f && margin <= 2.0f)) throw Error(Status::InvalidArgument, "alignment: margin must be in [-0.4, 2]");
  std::vector<cv::Point2f> dst = templ.empty() ? default_alignment_template() : templ;
  if (dst.size() != 5)
    throw Error(Status::InvalidArgument, "alignment: the template needs 5 points, got " + std::to_string(dst.size()));
  for (cv::Point2f& p : dst) p = (p + cv::Point2f(margin, margin)) * (float(size) / (1.f + 2.f * margin));
  return estimate_similarity(alignment_points(landmarks), dst);
}

cv::Mat align_face(const cv::Mat& image, const std::vector<cv::Point2f>& landmarks, int size, float margin,
                   const std::vector<cv::Point2f>& templ) {
  validate_image(image);
  cv::Mat m = alignment_transform(landmarks, size, margin, templ);
  const double scale = std::hypot(m.at<double>(0, 0), m.at<double>(1, 0));
  // Shrinking by more than 2: warp at an integer multiple of the size, then average areas.
  if (!(scale > 1e-6) || !std::isfinite(scale))
    throw Error(Status::InvalidArgument, "face landmarks are degenerate: they span no usable face");
  const int f = scale < 0.5 ? int(std::min(8.0, std::floor(1.0 / scale))) : 1;
  cv::Mat warped;
  cv::warpAffine(image, warped, m * double(f), cv::Size(size * f, size * f), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  if (f == 1) return warped;
  cv::Mat out;
  cv::resize(warped, out, cv::Size(size, size), 0, 0, cv::INTER_AREA);
  return out;
}

}  // namespace fer
