// Restores sharp FER-2013 training images from the FERPlus copies.
//
// The fer2013 folder-per-class training split shipped in ../shared/data has
// every image blurred (variance of the Laplacian: median 6, against about
// 2,150 for its val/ and test/ images), while FERPlus ships the same training
// images losslessly (FER2013Train/*.png, median about 2,060). This tool pairs
// each blurred image with its sharp copy by content (8x8 area-averaged
// thumbnails, which the blur barely changes, nearest neighbour), checks every
// pair at full resolution against the blur it estimates, and writes the sharp
// image under the FER-2013 label of the blurred one:
//
//   fer_restore_fer2013 --blurred /tmp/ferdata/fer2013/train \
//       --sharp /tmp/ferdata/ferplus/FER2013Train --out /tmp/ferdata/fer2013_train_restored
//
// Only FERPlus's training images are used, so nothing from val/ or test/ leaks
// in. Images without a confident match are left out and counted.
#include <opencv2/core.hpp>
#include <opencv2/flann.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr int kThumb = 8;

cv::Mat thumbnail(const cv::Mat& gray) {
  cv::Mat small, f;
  cv::resize(gray, small, cv::Size(kThumb, kThumb), 0, 0, cv::INTER_AREA);
  small.convertTo(f, CV_32F);
  return f.reshape(1, 1);
}

struct Image {
  std::string label, name;
  cv::Mat pixels;
};

std::vector<Image> read_images(const fs::path& dir, bool class_folders) {
  std::vector<Image> out;
  std::vector<fs::path> files;
  if (class_folders) {
    for (const auto& c : fs::directory_iterator(dir))
      if (c.is_directory())
        for (const auto& f : fs::directory_iterator(c.path())) files.push_back(f.path());
  } else {
    for (const auto& f : fs::directory_iterator(dir))
      if (f.path().extension() == ".png") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    cv::Mat m = cv::imread(f.string(), cv::IMREAD_GRAYSCALE);
    if (m.empty() || m.size() != cv::Size(48, 48)) {
      std::fprintf(stderr, "skipping %s (unreadable or not 48x48)\n", f.c_str());
      continue;
    }
    out.push_back({class_folders ? f.parent_path().filename().string() : "", f.filename().string(), m});
  }
  return out;
}

double rms(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  d.convertTo(d, CV_32F);
  return std::sqrt(cv::mean(d.mul(d))[0]);
}

}  // namespace

int main(int argc, char** argv) {
  std::string blurred_dir, sharp_dir, out_dir;
  double max_rms = 12.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--blurred")) blurred_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--sharp")) sharp_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--out")) out_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--max-rms")) max_rms = std::atof(argv[i + 1]);
  }
  if (blurred_dir.empty() || sharp_dir.empty() || out_dir.empty()) {
    std::fprintf(stderr, "usage: %s --blurred FER2013_TRAIN_DIR --sharp FERPLUS_TRAIN_DIR --out DIR [--max-rms 12]\n",
                 argv[0]);
    return 2;
  }
  auto blurred = read_images(blurred_dir, true);
  auto sharp = read_images(sharp_dir, false);
  std::printf("%zu blurred images, %zu sharp candidates\n", blurred.size(), sharp.size());
  if (blurred.empty() || sharp.empty()) return 1;

  cv::Mat sharp_sig((int)sharp.size(), kThumb * kThumb, CV_32F), blurred_sig((int)blurred.size(), kThumb * kThumb, CV_32F);
  for (size_t i = 0; i < sharp.size(); ++i) thumbnail(sharp[i].pixels).copyTo(sharp_sig.row(int(i)));
  for (size_t i = 0; i < blurred.size(); ++i) thumbnail(blurred[i].pixels).copyTo(blurred_sig.row(int(i)));
  cv::flann::Index index(sharp_sig, cv::flann::KDTreeIndexParams(4));
  cv::Mat idx, dist;
  index.knnSearch(blurred_sig, idx, dist, 3, cv::flann::SearchParams(128));

  // Estimate the blur: the Gaussian sigma that best maps sharp copies onto blurred images.
  double best_sigma = 0, best_err = 1e18;
  for (double sigma = 0.5; sigma <= 6.01; sigma += 0.1) {
    double err = 0;
    for (size_t i = 0; i < blurred.size(); i += 97) {
      cv::Mat b;
      cv::GaussianBlur(sharp[size_t(idx.at<int>(int(i), 0))].pixels, b, cv::Size(0, 0), sigma);
      err += rms(b, blurred[i].pixels);
    }
    if (err < best_err) best_err = err, best_sigma = sigma;
  }
  std::printf("estimated blur: Gaussian sigma %.1f px\n", best_sigma);

  // Accept the best of the 3 nearest thumbnails when, blurred by that sigma, it
  // matches the blurred image at full resolution within max_rms grey levels.
  int kept = 0, rejected = 0;
  std::vector<double> errors;
  for (size_t i = 0; i < blurred.size(); ++i) {
    double err = 1e18;
    int pick = -1;
    for (int k = 0; k < 3; ++k) {
      int j = idx.at<int>(int(i), k);
      cv::Mat b;
      cv::GaussianBlur(sharp[size_t(j)].pixels, b, cv::Size(0, 0), best_sigma);
      double e = rms(b, blurred[i].pixels);
      if (e < err) err = e, pick = j;
    }
    errors.push_back(err);
    if (err > max_rms) {
      ++rejected;
      continue;
    }
    fs::path dst = fs::path(out_dir) / blurred[i].label;
    fs::create_directories(dst);
    cv::imwrite((dst / (fs::path(blurred[i].name).stem().string() + ".png")).string(), sharp[size_t(pick)].pixels);
    ++kept;
  }
  std::sort(errors.begin(), errors.end());
  auto q = [&](double p) { return errors[size_t(p * double(errors.size() - 1))]; };
  std::printf("match error (RMS grey levels after blurring the sharp copy): median %.2f, 90%% %.2f, 99%% %.2f, max %.2f\n",
              q(0.5), q(0.9), q(0.99), q(1.0));
  std::printf("restored %d images into %s; %d without a confident match left out (error > %.1f)\n", kept,
              out_dir.c_str(), rejected, max_rms);
  return 0;
}
