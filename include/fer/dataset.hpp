/// @file dataset.hpp
/// @brief Labelled face-image datasets in memory, their readers and the packed cache.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fer {

/// A labelled set of equally sized 8-bit face images held in memory.
/// Readers convert every image to `channels` (1 = gray, 3 = BGR) at
/// width x height; an image of another size is resized only when the reader's
/// options allow it, otherwise it is an error naming the file.
/// A plain value: concurrent const access is safe.
struct Dataset {
  int width = 0;
  int height = 0;
  int channels = 1;
  std::vector<std::string> classes;  ///< class names, in label order
  std::vector<uint8_t> pixels;       ///< size() images, each height x width x channels (HWC), packed
  std::vector<int32_t> labels;       ///< hard label per image, in [0, classes.size())
  std::vector<float> soft_labels;    ///< size() x classes.size() target distributions, or empty
  std::vector<std::string> sources;  ///< where each image came from: its path in the dataset, or "file.csv:line"
  int64_t dropped = 0;               ///< rows the reader left out by its format's rule (see notes)
  std::vector<std::string> notes;    ///< what the reader did beyond the obvious (drops, skipped files)

  size_t size() const { return labels.size(); }
  size_t image_bytes() const { return size_t(width) * size_t(height) * size_t(channels); }
  const uint8_t* image(size_t i) const { return pixels.data() + i * image_bytes(); }
  bool has_soft_labels() const { return !soft_labels.empty(); }
  /// Number of images per class.
  std::vector<int64_t> class_counts() const;
  /// Throws Error(CorruptData) if the fields are inconsistent.
  void validate() const;
};

/// Which dataset format to read and how. Formats:
///  - "folder":     root/<class>/<image> (jpg, png, bmp), root = `path`, or
///                  `path`/`split` when `split` is set. Class folders are matched
///                  to canonical expression names through aliases ("angry" ->
///                  "anger"); classes are those present, in FER-2013 order, then
///                  contempt.
///  - "fer2013csv": the original fer2013.csv (emotion, pixels, Usage); `split`
///                  selects Usage ("Training", "PublicTest", "PrivateTest"; empty = all).
///  - "ferplus":    a FERPlus folder holding label.csv and the PNGs (`split`
///                  "train"/"valid"/"test" picks FER2013Train/Valid/Test under
///                  `path`); majority-vote labels by the FERPlus authors' rule
///                  (images without an emotion majority are dropped and counted),
///                  the outlier-filtered vote distribution as soft labels.
///  - "rafdb":      RAF-DB basic: `path` is the folder holding
///                  list_patition_label.txt and Image/aligned/; `split` = "train"/"test".
///  - "affectnet":  AffectNet-style csv (subDirectory_filePath, ..., expression);
///                  `path` is the csv, images are resolved relative to `image_root`
///                  (default: the csv's folder); rows with expression 8+ (none,
///                  uncertain, no face) are dropped and counted.
struct DatasetSpec {
  std::string format = "folder";
  std::string path;
  std::string split;        ///< format-specific subset selector (see above)
  std::string image_root;   ///< for formats that reference images by relative path
  int width = 48;           ///< output image size
  int height = 48;
  int channels = 1;         ///< 1 = gray, 3 = BGR
  bool resize = false;      ///< resize images of another size instead of rejecting them
  int threads = 0;          ///< decoding threads; 0 = all cores
  /// When set and it becomes true (e.g. from a SIGINT handler), decoding stops
  /// within an image per thread and read_dataset throws Error(Cancelled).
  /// Not part of what the data is: packed caches ignore it.
  const std::atomic<bool>* stop = nullptr;
};

/// Whether `spec` reads test images: for "folder" and "ferplus", the folder
/// read (`path`/`split`) is named "test", "PrivateTest" or "FER2013Test" (any
/// case; ferplus's split alias "test" too); for "fer2013csv" and "rafdb",
/// `split` names the test split or is empty (the whole file: every split, the
/// test split included). An "affectnet" csv cannot be told by its name: false.
/// Steps that tune on their data refuse such a spec (refuse_test_split): a
/// test split is reported once, never tuned on.
bool reads_test_split(const DatasetSpec& spec);
/// Throws InvalidArgument, naming `purpose` and the split, when
/// reads_test_split(spec). Used by training (its training and validation data),
/// int8 calibration (fer::calibrate on a spec, fer::quantize_file: fer quantize,
/// C fer_quantize, Python quantize) and fer::load_tuning_set (fer choose-view
/// and fer teacher-targets, and their Python forms). fer::choose_view and
/// fer::compute_teacher_targets take a Dataset and cannot tell; read it with
/// load_tuning_set, or call this on the spec you read it from.
void refuse_test_split(const DatasetSpec& spec, const std::string& purpose);

/// Reads a dataset, decoding images in parallel. Throws Error naming the file
/// and line: NotFound (missing file or image), CorruptData (malformed row,
/// undecodable image), ShapeMismatch (image of another size without `resize`),
/// InvalidArgument (bad spec, unknown class name, no images), Cancelled
/// (`spec.stop` became true while decoding).
Dataset read_dataset(const DatasetSpec& spec);

/// Writes the packed cache: one binary file with a versioned, checksummed
/// header followed by the images, labels and soft labels (see src/io/packed_dataset.cpp).
void write_packed_dataset(const Dataset& dataset, const std::string& path);
/// Reads a packed cache in one go; validates version, sizes and checksum.
/// Throws NotFound, CorruptData (truncated or damaged) or UnsupportedVersion.
Dataset read_packed_dataset(const std::string& path);

}  // namespace fer
