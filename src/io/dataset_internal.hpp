// Internal pieces shared by the dataset readers (src/io/dataset*.cpp) and their tests.
#pragma once

#include <fer/dataset.hpp>

#include <opencv2/core.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fer::detail {

// --- parallel work --------------------------------------------------------

/// Runs fn(0) ... fn(n-1) on `threads` threads (0 = all cores). If calls throw,
/// rethrows the exception of the lowest failing index (later indices may be
/// skipped), so error messages do not depend on thread timing. Once `stop` is
/// set and true, the indices not yet started fail with Error(Cancelled).
void parallel_for_ordered(size_t n, int threads, const std::function<void(size_t)>& fn,
                          const std::atomic<bool>* stop = nullptr);

// --- images -----------------------------------------------------------------

/// One image file to decode into slot `index` of a dataset's pixels.
struct ImageJob {
  std::string path;   ///< file to decode
  std::string where;  ///< the row that named it ("label.csv line 12"), empty if none
  cv::Rect crop;      ///< face box to cut out (clipped to the image); empty = whole image
};

/// Decodes `jobs` in parallel (spec.threads, 0 = all cores) into `out`, job i
/// at out + i * image bytes. On failure throws the error of the first failing
/// job in job order, so messages do not depend on thread timing.
void decode_images(const std::vector<ImageJob>& jobs, const DatasetSpec& spec, uint8_t* out);

/// Converts a decoded 8-bit gray/BGR image to spec.channels, crops `crop`,
/// checks or (with spec.resize) adapts its size, and writes it HWC to `out`.
/// `what` names the image in error messages.
void fit_image(const cv::Mat& image, const cv::Rect& crop, const DatasetSpec& spec, const std::string& what,
               uint8_t* out);

// --- text files -----------------------------------------------------------

/// Whole file as text; NotFound if it does not exist, IoError if unreadable.
std::string read_text_file(const std::string& path, const std::string& what);

/// Walks a text buffer line by line (LF or CRLF), counting lines from 1 and
/// skipping a UTF-8 byte-order mark.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text);
  /// Next line without its terminator; false at the end.
  bool next(std::string_view& line);
  size_t line_number() const { return line_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t line_ = 0;
};

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
/// Returns false on an unterminated quote.
bool split_csv_line(std::string_view line, std::vector<std::string>& fields);

/// Parses a whole (space-trimmed) decimal integer; false if it is not one.
bool parse_int(std::string_view text, int64_t& value);

/// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

/// Lower-case ASCII copy.
std::string to_lower(std::string_view s);

// --- FERPlus ----------------------------------------------------------------

/// Outcome of the FERPlus majority rule for one image.
struct FerplusLabel {
  /// 0..7: emotion in ferplus_classes() order; 8: the majority voted unknown;
  /// 9: the majority voted not-a-face; -1: no vote has a strict majority.
  int label = -1;
  std::array<float, 8> soft{};  ///< outlier-filtered emotion votes, normalised (zero unless 0 <= label < 8)
  bool kept() const { return label >= 0 && label < 8; }
};

/// The FERPlus authors' majority rule on the 10 vote counts (neutral, happiness,
/// surprise, sadness, anger, disgust, fear, contempt, unknown, NF): counts of 1
/// or less are discarded as outliers; the largest remaining count wins if it is
/// more than half of the remaining total.
FerplusLabel ferplus_label(const std::array<int, 10>& votes);

// --- readers (src/io/dataset_readers.cpp) -----------------------------------

Dataset read_folder_dataset(const DatasetSpec& spec);
Dataset read_fer2013_csv(const DatasetSpec& spec);
Dataset read_ferplus(const DatasetSpec& spec);
Dataset read_rafdb(const DatasetSpec& spec);
Dataset read_affectnet(const DatasetSpec& spec);

}  // namespace fer::detail
