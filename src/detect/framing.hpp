// How each built-in detector's boxes sit on a FER-2013 face (see fer::BoxFraming):
// the medians measured on FER-2013 val (PublicTest), never on test, by
//   build/benchmarks/fer2013_framing /tmp/ferdata/fer2013 --limit 700 --accuracy
// (each image upscaled x4 into a mid-grey canvas 4 times its side; box side =
// max(w, h); scale = frame side / box side; shift = (frame centre - box centre) / box side).
// 2026-11-28, 700 val images (every 5th); found / median [p25, p75]:
//   haar           80.6%  scale 1.026 [0.952, 1.101]  shift_x 0.004 [-0.013, 0.017]  shift_y  0.009 [ 0.000, 0.025]
//   tiny_face      68.6%  scale 0.975 [0.849, 1.069]  shift_x 0.015 [-0.005, 0.038]  shift_y -0.093 [-0.129,-0.061]
//   ssd_mobilenet  69.1%  scale 1.010 [0.919, 1.098]  shift_x 0.012 [-0.014, 0.038]  shift_y -0.021 [-0.052, 0.009]
// On whole photos (the benchmark's cross-check through Haar on the six sample
// photos) the DNN detectors' frames come out about 10% smaller (scale 0.88-0.90):
// on FER-2013's cut-off faces they see no hair or neck and box tighter.
#pragma once

#include "core/image.hpp"

#include <fer/detector.hpp>

#include <string>

namespace fer::detail {

// Haar's boxes are the frame, give or take.
inline constexpr BoxFraming kHaarFraming{1.026f, 0.004f, 0.009f};
// Tiny Face's boxes sit lower than the frame (they reach below the chin).
inline constexpr BoxFraming kTinyFaceFraming{0.975f, 0.015f, -0.093f};
// SSD's boxes are taller than wide (max side = height), about the frame's height.
inline constexpr BoxFraming kSsdMobilenetFraming{1.010f, 0.012f, -0.021f};

// True when at least one whole pixel of `box` lies inside an image of `size`
// (a sliver of 0.1 px crops nothing).
inline bool covers_a_pixel(const cv::Rect2f& box, const cv::Size& size) {
  const cv::Rect2f in = box & cv::Rect2f(0.f, 0.f, float(size.width), float(size.height));
  return in.width >= 1.f && in.height >= 1.f;
}

// Empty when a box crop (Pipeline::recognize: Model::crop of
// framing.to_reference(box)) can be cut from an image of `size`: the box is a
// usable face box (face_box_problem) and at least one whole pixel of the
// reference box lies inside the image. A box with a sliver inside the image
// can have its reference box (smaller, maybe shifted) wholly outside.
inline std::string box_crop_problem(const BoxFraming& framing, const cv::Rect2f& box, const cv::Size& size) {
  std::string problem = face_box_problem(box, size);
  if (!problem.empty()) return problem;
  if (!covers_a_pixel(framing.to_reference(box), size))
    return "face box lies almost wholly outside the image: the part a box crop cuts (the box mapped to the "
           "reference framing, BoxFraming::to_reference) is outside it";
  return {};
}

}  // namespace fer::detail
