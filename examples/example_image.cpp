// Recognize the expressions of every face in a photo.
//   example_image photo.jpg
#include <fer/fer.hpp>

#include <opencv2/imgcodecs.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
    return 2;
  }
  try {
    fer::Pipeline pipeline;  // best detector available ("auto") + the default model
    cv::Mat image = cv::imread(argv[1]);
    if (image.empty()) throw fer::Error(fer::Status::IoError, std::string("cannot read image ") + argv[1]);
    for (const fer::FaceResult& r : pipeline.process(image))
      std::printf("face at (%.0f, %.0f) %.0fx%.0f: %s (%.2f)\n", r.face.box.x, r.face.box.y, r.face.box.width,
                  r.face.box.height, r.label.c_str(), r.probabilities[size_t(r.label_index)]);
    if (!pipeline.model().info().trained) std::printf("(the model is untrained: labels are not recognition)\n");
  } catch (const fer::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
