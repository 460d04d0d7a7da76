// Uses the installed libfer: version check, registry, a pipeline on a synthetic image.
#include <fer/fer.hpp>

#include <cstdio>
#include <cstring>

int main() {
  if (std::strcmp(fer::version(), "0.1.0") != 0 || FER_VERSION_NUMBER != 100) {
    std::printf("version mismatch: header %d, library %s\n", FER_VERSION_NUMBER, fer::version());
    return 1;
  }
  fer::PipelineOptions options;
  options.threads = 1;
  fer::Pipeline pipeline(options, fer::Model::create(fer::untrained_default_info(), 1));
  std::vector<fer::Face> faces(1);
  faces[0].box = cv::Rect2f(8, 8, 48, 48);
  cv::Mat image(64, 64, CV_8UC3, cv::Scalar(100, 120, 140));
  auto results = pipeline.recognize(image, faces);
  if (results.size() != 1 || results[0].probabilities.size() != 7) return 1;
  std::printf("consumer OK: libfer %s, label %s\n", fer::version(), results[0].label.c_str());
  return 0;
}
