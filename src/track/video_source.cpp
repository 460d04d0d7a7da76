#include <fer/error.hpp>
#include <fer/video.hpp>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace fer {

struct VideoSource::Impl {
  cv::VideoCapture capture;
  std::string description;
  double fps = 0;
  bool live = false;
  bool sequence = false;
  int64_t next_index = 0;
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
};

namespace {
// Backends this OpenCV build can decode files with, for error messages.
// OpenCV backends that read files. gPhoto2 is left out: it reads cameras, and
// probing it on every file loads (and unloads) every camera driver it has.
std::vector<cv::VideoCaptureAPIs> file_backend_list() {
  std::vector<cv::VideoCaptureAPIs> out;
  for (cv::VideoCaptureAPIs api : cv::videoio_registry::getStreamBackends())
    if (api != cv::CAP_GPHOTO2) out.push_back(api);
  return out;
}

std::string file_backends() {
  std::string out;
  for (cv::VideoCaptureAPIs api : file_backend_list())
    out += (out.empty() ? "" : ", ") + cv::videoio_registry::getBackendName(api);
  return out.empty() ? "none" : out;
}

// Whether `pattern` has exactly one integer conversion (%d, %Nd or %0Nd, N at
// most two digits) and otherwise only literal "%%": the only patterns handed
// to snprintf, so that a path such as "%s%n" cannot read or write memory.
bool is_sequence_pattern(const std::string& pattern) {
  int conversions = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (i + 1 < pattern.size() && pattern[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1, digits = 0;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j])) && digits < 3) ++j, ++digits;
    if (digits > 2 || j >= pattern.size() || pattern[j] != 'd') return false;
    ++conversions;
    i = j;
  }
  return conversions == 1;
}

// First existing file of a printf-style sequence pattern (indices 0 and 1 tried), or "".
std::string first_of_sequence(const std::string& pattern) {
  for (int i = 0; i < 2; ++i) {
    char name[4096];
    std::snprintf(name, sizeof name, pattern.c_str(), i);
    if (std::filesystem::exists(name)) return name;
  }
  return {};
}
}  // namespace

VideoSource::VideoSource() : impl_(std::make_unique<Impl>()) {}

VideoSource::VideoSource(const std::string& path, double fps) : VideoSource() {
  if (path.empty()) throw Error(Status::InvalidArgument, "video input path is empty");
  if (!(fps >= 0 && fps <= 1000))  // NaN too; 0 = the file's own rate
    throw Error(Status::InvalidArgument, "video frame rate must be 0 (the file's own) to 1000 fps, got " +
                                             std::to_string(fps));
  // A '%' makes a pattern, unless the path names an existing file as it is.
  bool sequence = path.find('%') != std::string::npos && !std::filesystem::exists(path);
  if (sequence && !is_sequence_pattern(path))
    throw Error(Status::InvalidArgument, "'" + path + "' is neither an existing file nor an image-sequence pattern "
                                                      "with one printf-style index such as frames/img_%04d.png "
                                                      "(%% for a literal percent sign)");
  if (sequence) {
    if (first_of_sequence(path).empty())
      throw Error(Status::NotFound, "image sequence '" + path +
                                        "': no file for index 0 or 1 (the pattern needs a printf-style index such "
                                        "as frames/img_%04d.png)");
    impl_->description = "image sequence " + path;
    impl_->sequence = true;
  } else {
    if (!std::filesystem::exists(path)) throw Error(Status::NotFound, "video file '" + path + "' does not exist");
    if (std::filesystem::is_directory(path))
      throw Error(Status::InvalidArgument, "'" + path + "' is a folder: pass a video file or an image-sequence "
                                                        "pattern such as " + path + "/%04d.png");
    impl_->description = "video file " + path;
  }
  bool opened = false;
  try {
    if (sequence) {
      opened = impl_->capture.open(path, cv::CAP_IMAGES);
    } else {
      for (cv::VideoCaptureAPIs api : file_backend_list())
        if ((opened = impl_->capture.open(path, api))) break;
    }
  } catch (const cv::Exception& e) {
    throw Error(Status::Unsupported, "cannot open " + impl_->description + ": " + e.what());
  }
  if (!opened)
    throw Error(Status::Unsupported, "cannot decode " + impl_->description +
                                         ": no OpenCV video backend could read it (backends in this build: " +
                                         file_backends() + ")");
  // An image sequence has no frame rate (OpenCV reports 1 for one): 30 unless given.
  double reported = sequence ? 0.0 : impl_->capture.get(cv::CAP_PROP_FPS);
  impl_->fps = fps > 0 ? fps : (reported > 0 && reported < 1000 ? reported : 30.0);
}

VideoSource VideoSource::camera(int index) {
  if (index < 0) throw Error(Status::InvalidArgument, "camera index must be >= 0, got " + std::to_string(index));
  VideoSource s;
  s.impl_->description = "camera " + std::to_string(index);
  s.impl_->live = true;
  bool opened = false;
  try {
    opened = s.impl_->capture.open(index);
  } catch (const cv::Exception& e) {
    throw Error(Status::NotFound, "cannot open camera " + std::to_string(index) + ": " + e.what());
  }
  if (!opened)
    throw Error(Status::NotFound, "cannot open camera " + std::to_string(index) +
                                      ": no such device, it is busy, or no permission (is /dev/video" +
                                      std::to_string(index) + " present?)");
  double reported = s.impl_->capture.get(cv::CAP_PROP_FPS);
  s.impl_->fps = reported > 0 && reported < 1000 ? reported : 0.0;
  s.impl_->opened = std::chrono::steady_clock::now();
  return s;
}

VideoSource::~VideoSource() = default;
VideoSource::VideoSource(VideoSource&&) noexcept = default;
VideoSource& VideoSource::operator=(VideoSource&&) noexcept = default;

namespace {
// A decoded frame as 8-bit BGR. Image sequences come through OpenCV as their
// files are stored: 16-bit PNG/TIFF are scaled by 1/256 (not clipped at 255,
// which turns them white), floating-point frames are taken as 0..1.
cv::Mat to_bgr8(const cv::Mat& decoded, const std::string& source) {
  cv::Mat image;
  switch (decoded.depth()) {
    case CV_8U: image = decoded; break;
    case CV_8S: decoded.convertTo(image, CV_8U, 1.0, 128.0); break;
    case CV_16U: decoded.convertTo(image, CV_8U, 1.0 / 256.0); break;
    case CV_16S: decoded.convertTo(image, CV_8U, 1.0 / 256.0, 128.0); break;
    case CV_32S: decoded.convertTo(image, CV_8U, 1.0 / 16777216.0, 128.0); break;
    default: decoded.convertTo(image, CV_8U, 255.0); break;  // CV_32F, CV_64F, CV_16F
  }
  switch (image.channels()) {
    case 1: cv::cvtColor(image, image, cv::COLOR_GRAY2BGR); break;
    case 2: {  // gray + alpha
      cv::Mat gray;
      cv::extractChannel(image, gray, 0);
      cv::cvtColor(gray, image, cv::COLOR_GRAY2BGR);
      break;
    }
    case 3: break;
    case 4: cv::cvtColor(image, image, cv::COLOR_BGRA2BGR); break;
    default:
      throw Error(Status::Unsupported, source + ": a frame with " + std::to_string(image.channels()) +
                                           " channels (expected gray, BGR or BGRA)");
  }
  return image;
}
}  // namespace

bool VideoSource::read(VideoFrame& frame) {
  // An image sequence knows its length; reading past it only makes OpenCV warn.
  if (impl_->sequence && frame_count() >= 0 && impl_->next_index >= frame_count()) return false;
  cv::Mat image;
  if (!impl_->capture.read(image) || image.empty()) return false;
  frame.image = to_bgr8(image, impl_->description);
  frame.index = impl_->next_index++;
  frame.timestamp = impl_->live ? std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->opened).count()
                                : double(frame.index) / impl_->fps;
  return true;
}

double VideoSource::fps() const { return impl_->fps; }
cv::Size VideoSource::frame_size() const {
  return {int(impl_->capture.get(cv::CAP_PROP_FRAME_WIDTH)), int(impl_->capture.get(cv::CAP_PROP_FRAME_HEIGHT))};
}
int64_t VideoSource::frame_count() const {
  if (impl_->live) return -1;
  double n = impl_->capture.get(cv::CAP_PROP_FRAME_COUNT);
  return n > 0 ? int64_t(n) : -1;
}
bool VideoSource::is_live() const { return impl_->live; }
const std::string& VideoSource::description() const { return impl_->description; }

}  // namespace fer
