// fer::Dataset, read_dataset's dispatch, and the helpers every reader uses:
// parallel image decoding, text/CSV parsing and the FERPlus majority rule.
#include "io/dataset_internal.hpp"

#include <fer/error.hpp>
#include <fer/threads.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

namespace fer {

namespace fs = std::filesystem;

std::vector<int64_t> Dataset::class_counts() const {
  std::vector<int64_t> counts(classes.size(), 0);
  for (int32_t l : labels)
    if (l >= 0 && size_t(l) < counts.size()) ++counts[size_t(l)];
  return counts;
}

void Dataset::validate() const {
  auto fail = [](const std::string& m) { throw Error(Status::CorruptData, "dataset: " + m); };
  if (width <= 0 || height <= 0 || width > 65536 || height > 65536)
    fail("image size " + std::to_string(width) + "x" + std::to_string(height) + " is not in 1..65536");
  if (channels != 1 && channels != 3) fail("channels must be 1 or 3, got " + std::to_string(channels));
  if (classes.empty()) fail("no class names");
  std::set<std::string> seen;
  for (const auto& c : classes)
    if (c.empty() || !seen.insert(c).second) fail("class names must be non-empty and unique");
  size_t n = labels.size();
  if (n != 0 && image_bytes() > std::numeric_limits<size_t>::max() / n) fail("image data size overflows");
  if (pixels.size() != n * image_bytes())
    fail("pixels hold " + std::to_string(pixels.size()) + " bytes, " + std::to_string(n) + " images of " +
         std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels) + " need " +
         std::to_string(n * image_bytes()));
  for (size_t i = 0; i < n; ++i)
    if (labels[i] < 0 || size_t(labels[i]) >= classes.size())
      fail("label " + std::to_string(labels[i]) + " of image " + std::to_string(i) + " is not a class index (0.." +
           std::to_string(classes.size() - 1) + ")");
  if (!soft_labels.empty()) {
    size_t k = classes.size();
    if (soft_labels.size() != n * k)
      fail("soft labels hold " + std::to_string(soft_labels.size()) + " values, expected " + std::to_string(n * k));
    for (size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (size_t c = 0; c < k; ++c) {
        float p = soft_labels[i * k + c];
        if (!std::isfinite(p) || p < 0.f) fail("soft label of image " + std::to_string(i) + " is negative or not finite");
        sum += p;
      }
      if (std::abs(sum - 1.0) > 1e-3) fail("soft labels of image " + std::to_string(i) + " sum to " + std::to_string(sum));
    }
  }
  if (!sources.empty() && sources.size() != n)
    fail(std::to_string(sources.size()) + " sources for " + std::to_string(n) + " images");
  if (dropped < 0) fail("negative dropped count");
}

bool reads_test_split(const DatasetSpec& spec) {
  auto is_test = [](const std::string& name) {
    const std::string s = detail::to_lower(name);
    return s == "test" || s == "privatetest" || s == "fer2013test";
  };
  if (spec.format == "fer2013csv" || spec.format == "rafdb")  // a split selects rows; none: the whole file
    return spec.split.empty() || is_test(spec.split);
  if (spec.format != "folder" && spec.format != "ferplus") return false;  // affectnet: no split to tell by
  if (is_test(spec.split)) return true;  // also ferplus's alias "test" for FER2013Test
  // The folder that is read (path/split): its own name, whatever way it is written
  // ("data/test/", "data" + "fer2013/test", "." inside it).
  fs::path p = fs::path(spec.path) / spec.split;
  std::error_code ec;
  const fs::path absolute = fs::absolute(p, ec);
  p = (ec ? p : absolute).lexically_normal();
  while (!p.empty() && !p.has_filename() && p.has_relative_path()) p = p.parent_path();  // "data/test/" -> "data/test"
  return is_test(p.filename().string());
}

void refuse_test_split(const DatasetSpec& spec, const std::string& purpose) {
  if (!reads_test_split(spec)) return;
  const std::string tail = " (a test split is reported once, never tuned on)";
  if (spec.split.empty() && (spec.format == "fer2013csv" || spec.format == "rafdb"))
    throw Error(Status::InvalidArgument, purpose + " on a whole " + spec.format +
                                             " file (every split, the test split included) needs a split (--split, "
                                             "split=): the training or validation split" + tail);
  throw Error(Status::InvalidArgument,
              purpose + " tunes on its data: give the training or validation split, not the test split (" +
                  (spec.split.empty() ? "folder " + spec.path : "split '" + spec.split + "'") + ")" + tail);
}

Dataset read_dataset(const DatasetSpec& spec) {
  const std::string known = "folder, fer2013csv, ferplus, rafdb, affectnet";
  if (spec.path.empty()) throw Error(Status::InvalidArgument, "dataset spec: path is empty");
  if (spec.width <= 0 || spec.height <= 0 || spec.width > 4096 || spec.height > 4096)
    throw Error(Status::InvalidArgument, "dataset spec: image size " + std::to_string(spec.width) + "x" +
                                             std::to_string(spec.height) + " is not in 1..4096");
  if (spec.channels != 1 && spec.channels != 3)
    throw Error(Status::InvalidArgument,
                "dataset spec: channels must be 1 (gray) or 3 (BGR), got " + std::to_string(spec.channels));
  if (spec.threads < 0 || spec.threads > kMaxThreads)
    throw Error(Status::InvalidArgument, "dataset spec: threads must be in [0, " + std::to_string(kMaxThreads) +
                                             "] (0 = all cores)");

  Dataset d;
  try {
    if (spec.format == "folder") d = detail::read_folder_dataset(spec);
    else if (spec.format == "fer2013csv") d = detail::read_fer2013_csv(spec);
    else if (spec.format == "ferplus") d = detail::read_ferplus(spec);
    else if (spec.format == "rafdb") d = detail::read_rafdb(spec);
    else if (spec.format == "affectnet") d = detail::read_affectnet(spec);
    else throw Error(Status::InvalidArgument, "unknown dataset format '" + spec.format + "'; known formats: " + known);
  } catch (const Error& e) {
    if (e.status() != Status::Cancelled) throw;
    throw Error(Status::Cancelled, "reading the " + spec.format + " dataset " + spec.path + " stopped on request");
  } catch (const fs::filesystem_error& e) {  // e.g. a folder that cannot be listed
    throw Error(Status::IoError, spec.format + " dataset " + spec.path + ": " + e.what());
  } catch (const cv::Exception& e) {
    throw Error(Status::Internal, spec.format + " dataset " + spec.path + ": OpenCV failed: " + e.what());
  }

  if (d.size() == 0)
    throw Error(Status::InvalidArgument, spec.format + " dataset " + spec.path +
                                             (spec.split.empty() ? "" : " (split '" + spec.split + "')") +
                                             " holds no images");
  d.validate();
  return d;
}

namespace detail {

// --- images -----------------------------------------------------------------

void fit_image(const cv::Mat& image, const cv::Rect& crop, const DatasetSpec& spec, const std::string& what,
               uint8_t* out) {
  cv::Mat img = image;
  if (img.depth() != CV_8U || (img.channels() != 1 && img.channels() != 3 && img.channels() != 4))
    throw Error(Status::CorruptData, what + " is not an 8-bit gray or colour image");
  if (!crop.empty()) {
    cv::Rect box = crop & cv::Rect(0, 0, img.cols, img.rows);
    if (box.empty())
      throw Error(Status::CorruptData, what + ": face box (" + std::to_string(crop.x) + ", " + std::to_string(crop.y) +
                                           ", " + std::to_string(crop.width) + ", " + std::to_string(crop.height) +
                                           ") lies outside the " + std::to_string(img.cols) + "x" +
                                           std::to_string(img.rows) + " image");
    img = img(box);
  }
  if (spec.channels == 1 && img.channels() != 1) {
    cv::Mat gray;
    cv::cvtColor(img, gray, img.channels() == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
    img = gray;
  } else if (spec.channels == 3 && img.channels() != 3) {
    cv::Mat bgr;
    cv::cvtColor(img, bgr, img.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
    img = bgr;
  }
  if (img.cols != spec.width || img.rows != spec.height) {
    if (!spec.resize)
      throw Error(Status::ShapeMismatch, what + " is " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
                                             (crop.empty() ? "" : " (face box)") + ", expected " +
                                             std::to_string(spec.width) + "x" + std::to_string(spec.height) +
                                             "; set DatasetSpec::resize to resize images");
    bool shrink = img.cols >= spec.width && img.rows >= spec.height;
    cv::Mat resized;
    cv::resize(img, resized, cv::Size(spec.width, spec.height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    img = resized;
  }
  size_t row = size_t(spec.width) * size_t(spec.channels);
  for (int y = 0; y < spec.height; ++y) std::copy_n(img.ptr<uint8_t>(y), row, out + size_t(y) * row);
}

namespace {

// A path's type, following symlinks; not-found when it or a folder on the way
// does not exist. Other failures (permissions, loops, over-long names) are an
// IoError naming `what`.
fs::file_status file_status(const std::string& path, const std::string& what) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw Error(Status::IoError, "cannot look up " + what + ": " + ec.message());
  return status;
}

std::string describe_job(const ImageJob& job) {
  return "image " + job.path + (job.where.empty() ? "" : " (" + job.where + ")");
}

void decode_one(const ImageJob& job, const DatasetSpec& spec, uint8_t* out) {
  // Reading the bytes ourselves tells a missing file from an undecodable one
  // (and keeps OpenCV from logging a warning for each missing file).
  std::vector<uint8_t> bytes;
  {
    // Checked before opening: opening a FIFO (or a device) would block or
    // read forever.
    auto status = file_status(job.path, describe_job(job));
    if (!fs::exists(status)) throw Error(Status::NotFound, describe_job(job) + " not found");
    if (!fs::is_regular_file(status)) throw Error(Status::InvalidArgument, describe_job(job) + " is not a regular file");
    std::ifstream f(job.path, std::ios::binary);
    if (!f) {
      const int err = errno;
      throw Error(Status::IoError, "cannot open " + describe_job(job) + ": " + std::generic_category().message(err));
    }
    f.seekg(0, std::ios::end);
    std::streamoff size = f.tellg();
    f.seekg(0, std::ios::beg);
    if (size <= 0) throw Error(Status::CorruptData, describe_job(job) + " is empty");
    bytes.resize(size_t(size));
    if (!f.read(reinterpret_cast<char*>(bytes.data()), size)) throw Error(Status::IoError, "cannot read " + describe_job(job));
  }
  cv::Mat img;
  try {
    img = cv::imdecode(bytes, spec.channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error(Status::CorruptData, "cannot decode " + describe_job(job) + ": " + e.what());
  }
  if (img.empty())
    throw Error(Status::CorruptData, "cannot decode " + describe_job(job) + " (not a JPEG, PNG or BMP image, or damaged)");
  try {
    fit_image(img, job.crop, spec, describe_job(job), out);
  } catch (const cv::Exception& e) {
    throw Error(Status::CorruptData, "cannot convert " + describe_job(job) + ": " + e.what());
  }
}

}  // namespace

void parallel_for_ordered(size_t n, int threads, const std::function<void(size_t)>& fn,
                          const std::atomic<bool>* stop) {
  size_t workers = size_t(threads > 0 ? threads : default_num_threads());
  workers = std::max<size_t>(1, std::min(workers, n));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  size_t error_index = n;
  std::exception_ptr error;
  // Indices are taken in order and a taken index always finishes, so once one
  // fails every lower index has run: the lowest failing index is the first.
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        if (stop && stop->load(std::memory_order_relaxed)) throw Error(Status::Cancelled, "stopped on request");
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (i < error_index) {
          error_index = i;
          error = std::current_exception();
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  try {
    for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  } catch (...) {
    failed = true;
    for (auto& th : pool) th.join();
    throw;
  }
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

void decode_images(const std::vector<ImageJob>& jobs, const DatasetSpec& spec, uint8_t* out) {
  const size_t bytes = size_t(spec.width) * size_t(spec.height) * size_t(spec.channels);
  parallel_for_ordered(jobs.size(), spec.threads, [&](size_t i) { decode_one(jobs[i], spec, out + i * bytes); },
                       spec.stop);
}

// --- text files -----------------------------------------------------------

std::string read_text_file(const std::string& path, const std::string& what) {
  auto status = file_status(path, what + " " + path);
  if (!fs::exists(status)) throw Error(Status::NotFound, what + " not found: " + path);
  if (fs::is_directory(status)) throw Error(Status::InvalidArgument, what + " " + path + " is a folder, not a file");
  if (!fs::is_regular_file(status))  // a FIFO would block the open, a device read forever
    throw Error(Status::InvalidArgument, what + " " + path + " is not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int err = errno;
    throw Error(Status::IoError, "cannot open " + what + " " + path + ": " + std::generic_category().message(err));
  }
  std::string text;
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0) throw Error(Status::IoError, "cannot read " + what + " " + path);
  f.seekg(0, std::ios::beg);
  text.resize(size_t(size));
  if (!f.read(text.data(), size)) throw Error(Status::IoError, "cannot read " + what + " " + path);
  return text;
}

LineCursor::LineCursor(std::string_view text) : text_(text) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool LineCursor::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  if (end == std::string_view::npos) end = text_.size();
  line = text_.substr(pos_, end - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos_ = end + 1;
  ++line_;
  return true;
}

bool split_csv_line(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  size_t i = 0;
  for (;;) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) return false;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      // Text after the closing quote up to the separator is kept, as most readers do.
      while (i < line.size() && line[i] != ',') field += line[i++];
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field.assign(line.substr(i, end - i));
      i = end;
    }
    fields.push_back(field);
    if (i >= line.size()) return true;
    ++i;  // the comma
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view text, int64_t& value) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

// --- FERPlus ----------------------------------------------------------------

FerplusLabel ferplus_label(const std::array<int, 10>& votes) {
  std::array<int, 10> v{};
  int total = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = votes[i] > 1 ? votes[i] : 0;  // a single vote is an outlier
    total += v[i];
  }
  FerplusLabel out;
  size_t top = size_t(std::max_element(v.begin(), v.end()) - v.begin());
  if (2 * v[top] <= total) return out;  // no strict majority (also: no votes left)
  out.label = int(top);
  if (!out.kept()) return out;
  int emotions = 0;
  for (size_t i = 0; i < 8; ++i) emotions += v[i];
  for (size_t i = 0; i < 8; ++i) out.soft[i] = float(v[i]) / float(emotions);
  return out;
}

}  // namespace detail
}  // namespace fer
