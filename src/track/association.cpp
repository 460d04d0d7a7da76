#include "track/association.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace fer::detail {

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  float inter = (a & b).area();
  float uni = a.area() + b.area() - inter;
  return uni > 0 && inter > 0 ? inter / uni : 0.f;
}

namespace {
// Greedy one-to-one selection from (score, i, j) candidates, best score first.
std::vector<std::pair<int, int>> greedy(std::vector<std::tuple<float, int, int>> candidates, size_t na, size_t nb) {
  // Highest score first; ties broken by index so the result is deterministic.
  std::sort(candidates.begin(), candidates.end(), [](const auto& x, const auto& y) {
    if (std::get<0>(x) != std::get<0>(y)) return std::get<0>(x) > std::get<0>(y);
    return std::make_pair(std::get<1>(x), std::get<2>(x)) < std::make_pair(std::get<1>(y), std::get<2>(y));
  });
  std::vector<char> used_a(na, 0), used_b(nb, 0);
  std::vector<std::pair<int, int>> out;
  for (const auto& [score, i, j] : candidates) {
    if (used_a[size_t(i)] || used_b[size_t(j)]) continue;
    used_a[size_t(i)] = used_b[size_t(j)] = 1;
    out.emplace_back(i, j);
  }
  return out;
}
}  // namespace

std::vector<std::pair<int, int>> match_by_iou(const std::vector<cv::Rect2f>& a, const std::vector<cv::Rect2f>& b,
                                              float min_iou) {
  std::vector<std::tuple<float, int, int>> candidates;
  for (int i = 0; i < int(a.size()); ++i)
    for (int j = 0; j < int(b.size()); ++j) {
      float v = iou(a[size_t(i)], b[size_t(j)]);
      if (v > 0 && v >= min_iou) candidates.emplace_back(v, i, j);
    }
  return greedy(std::move(candidates), a.size(), b.size());
}

std::vector<std::pair<int, int>> match_by_distance(const std::vector<cv::Rect2f>& a, const std::vector<cv::Rect2f>& b,
                                                   float max_distance) {
  std::vector<std::tuple<float, int, int>> candidates;
  for (int i = 0; i < int(a.size()); ++i)
    for (int j = 0; j < int(b.size()); ++j) {
      const cv::Rect2f &p = a[size_t(i)], &q = b[size_t(j)];
      float side = std::sqrt(std::max(1.f, p.area())), other = std::sqrt(std::max(1.f, q.area()));
      if (other > 1.5f * side || side > 1.5f * other) continue;
      cv::Point2f d = (p.tl() + p.br()) * 0.5f - (q.tl() + q.br()) * 0.5f;
      float dist = std::sqrt(d.dot(d)) / side;
      if (dist <= max_distance) candidates.emplace_back(-dist, i, j);
    }
  return greedy(std::move(candidates), a.size(), b.size());
}

}  // namespace fer::detail
