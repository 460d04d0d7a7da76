// Test helper: converts an image (e.g. a sample JPEG) into a binary PPM/PGM,
// downscaled to at most MAX_SIDE pixels, for the C tests and examples, which
// have no image decoder. Usage: fer_to_pnm INPUT OUTPUT.ppm|.pgm [MAX_SIDE [FRAMES SHIFT]]
// With FRAMES, OUTPUT is a pattern with one %d-style index (frame_%03d.ppm)
// and frame i is the image shifted right by i * SHIFT pixels (edges
// replicated): a short image sequence of a slowly panned photo, for video
// tests. Exits 77 (ctest's skip code) when INPUT does not exist.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s INPUT OUTPUT.ppm|.pgm [MAX_SIDE [FRAMES SHIFT]]\n", argv[0]);
    return 2;
  }
  std::string out = argv[2];
  bool gray = out.size() > 4 && out.compare(out.size() - 4, 4, ".pgm") == 0;
  cv::Mat image = cv::imread(argv[1], gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  if (image.empty()) {
    std::fprintf(stderr, "skipped: cannot read %s (run scripts/setup.sh to fetch the sample photos)\n", argv[1]);
    return 77;
  }
  int max_side = argc > 3 ? std::atoi(argv[3]) : 0;
  int side = std::max(image.cols, image.rows);
  if (max_side > 0 && side > max_side) {
    double f = double(max_side) / side;
    cv::resize(image, image, {}, f, f, cv::INTER_AREA);
  }
  const int frames = argc > 5 ? std::atoi(argv[4]) : 0;
  const int shift = argc > 5 ? std::atoi(argv[5]) : 0;
  if (frames <= 0) {
    if (!cv::imwrite(out, image)) {
      std::fprintf(stderr, "cannot write %s\n", out.c_str());
      return 1;
    }
    std::printf("%s: %dx%d\n", out.c_str(), image.cols, image.rows);
    return 0;
  }
  std::filesystem::create_directories(std::filesystem::path(out).parent_path());
  for (int i = 0; i < frames; ++i) {
    char name[4096];
    std::snprintf(name, sizeof name, out.c_str(), i);  // a test's own pattern, from CMake
    cv::Mat moved;
    cv::Mat shift_by = (cv::Mat_<double>(2, 3) << 1, 0, double(i * shift), 0, 1, 0);
    cv::warpAffine(image, moved, shift_by, image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    if (!cv::imwrite(name, moved)) {
      std::fprintf(stderr, "cannot write %s\n", name);
      return 1;
    }
  }
  std::printf("%s: %d frames of %dx%d\n", out.c_str(), frames, image.cols, image.rows);
  return 0;
}
