// Matching tracked boxes to detected boxes by overlap.
#pragma once

#include <opencv2/core.hpp>

#include <utility>
#include <vector>

namespace fer::detail {

/// Intersection over union of two boxes (0 when either is empty).
float iou(const cv::Rect2f& a, const cv::Rect2f& b);

/// Greedy one-to-one matching by decreasing IoU: returns (index in `a`, index
/// in `b`) pairs whose IoU is at least `min_iou`, ordered by decreasing IoU.
/// With the few faces of a frame this equals the optimal assignment except in
/// contrived ties, at O(n m log(n m)).
std::vector<std::pair<int, int>> match_by_iou(const std::vector<cv::Rect2f>& a, const std::vector<cv::Rect2f>& b,
                                              float min_iou);

/// Greedy one-to-one matching by decreasing closeness of box centres, for
/// boxes that do not overlap enough (a fast move between detections): pairs
/// whose centres are at most `max_distance` times the side of the `a` box
/// apart and whose sides differ by less than a factor 1.5. Same output order
/// and tie rule as match_by_iou.
std::vector<std::pair<int, int>> match_by_distance(const std::vector<cv::Rect2f>& a, const std::vector<cv::Rect2f>& b,
                                                   float max_distance);

}  // namespace fer::detail
