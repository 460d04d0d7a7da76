/// @file types.hpp
/// @brief Plain result types: detected faces and recognition results.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace fer {

/// A detected face in image coordinates (pixels of the input image).
struct Face {
  cv::Rect2f box;                       ///< face box
  float score = 0.f;                    ///< detector confidence in [0, 1]
  std::vector<cv::Point2f> landmarks;   ///< empty unless the detector gives them
};

/// Recognition of one face.
struct FaceResult {
  Face face;
  int label_index = -1;              ///< index into the model's class names
  std::string label;                 ///< class name of the most probable class
  std::vector<float> probabilities;  ///< one per class, sums to 1
  std::vector<float> features;       ///< feature vector, when requested
  cv::Mat attention;                 ///< CV_32F attention map, when requested and the model has one
};

}  // namespace fer
