// Readers of the dataset formats users already have: a folder per class,
// fer2013.csv, FERPlus (label.csv + PNGs), RAF-DB basic and AffectNet-style csv.
#include "io/dataset_internal.hpp"

#include <fer/error.hpp>
#include <fer/expression.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>

namespace fer::detail {

namespace fs = std::filesystem;

namespace {

/// FER-2013 order, then contempt: the order every reader's classes follow.
std::vector<std::string> canonical_order() {
  std::vector<std::string> order = fer2013_classes();
  order.push_back(expression_name(Expression::Contempt));
  return order;
}

int class_index(const std::vector<std::string>& classes, const std::string& name) {
  auto it = std::find(classes.begin(), classes.end(), name);
  if (it == classes.end()) throw Error(Status::Internal, "dataset reader: class '" + name + "' is not in the class list");
  return int(it - classes.begin());
}

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

/// Output image of the dataset's size, channels and class list, with room for n images.
Dataset empty_dataset(const DatasetSpec& spec, std::vector<std::string> classes) {
  Dataset d;
  d.width = spec.width;
  d.height = spec.height;
  d.channels = spec.channels;
  d.classes = std::move(classes);
  return d;
}

/// Decodes the jobs into `d` (labels, sources and soft labels already filled).
void decode_into(Dataset& d, const std::vector<ImageJob>& jobs, const DatasetSpec& spec) {
  d.pixels.assign(jobs.size() * d.image_bytes(), 0);
  decode_images(jobs, spec, d.pixels.data());
}

void reject_split(const DatasetSpec& spec, const char* hint) {
  if (!spec.split.empty())
    throw Error(Status::InvalidArgument,
                spec.format + " datasets have no split (got '" + spec.split + "'); " + hint);
}

/// Header column index by case-insensitive name, or -1.
int find_column(const std::vector<std::string>& header, const char* name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (to_lower(trim(header[i])) == name) return int(i);
  return -1;
}

bool is_image_file(const fs::path& p) {
  std::string ext = to_lower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

}  // namespace

// --- folder: root/<class>/<images> ----------------------------------------

Dataset read_folder_dataset(const DatasetSpec& spec) {
  fs::path root = spec.split.empty() ? fs::path(spec.path) : fs::path(spec.path) / spec.split;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(Status::NotFound, "dataset folder not found: " + root.string());

  const std::vector<std::string> order = canonical_order();
  std::map<std::string, std::string> folder_of;  // canonical class -> folder name
  std::vector<std::string> unknown;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory()) continue;
    auto e = parse_expression(name);
    if (!e) {
      unknown.push_back(name);
      continue;
    }
    std::string canonical = expression_name(*e);
    auto [it, inserted] = folder_of.emplace(canonical, name);
    if (!inserted) {
      std::string a = std::min(it->second, name), b = std::max(it->second, name);
      throw Error(Status::InvalidArgument, "dataset folder " + root.string() + ": class folders '" + a + "' and '" + b +
                                               "' both mean '" + canonical + "'; merge or remove one");
    }
  }
  const std::string known = "expression names " + join(order) +
                            " or aliases such as angry, disgusted, fearful, scared, happy, sad, surprised";
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    throw Error(Status::InvalidArgument, "dataset folder " + root.string() + ": unknown class folder" +
                                             (unknown.size() > 1 ? "s '" : " '") + join(unknown, "', '") +
                                             "'; class folders must be named by the " + known +
                                             " (for a folder of splits, set the split, e.g. 'train')");
  }
  if (folder_of.empty())
    throw Error(Status::InvalidArgument, "dataset folder " + root.string() +
                                             " has no class folders; expected <folder>/<class>/<images> with " + known);

  std::vector<std::string> classes;
  for (const auto& c : order)
    if (folder_of.count(c)) classes.push_back(c);
  Dataset d = empty_dataset(spec, classes);

  std::vector<ImageJob> jobs;
  int64_t skipped = 0;
  std::vector<std::string> empty_classes;
  for (size_t label = 0; label < classes.size(); ++label) {
    const std::string& folder = folder_of[classes[label]];
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(root / folder)) {
      std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(name);
      else ++skipped;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) empty_classes.push_back(folder);
    for (const auto& f : files) {
      jobs.push_back({(root / folder / f).string(), std::string(), cv::Rect()});
      d.labels.push_back(int32_t(label));
      d.sources.push_back(folder + "/" + f);
    }
  }
  if (skipped)
    d.notes.push_back("folder " + root.string() + ": skipped " + std::to_string(skipped) +
                      " entries in class folders that are not .jpg/.jpeg/.png/.bmp files");
  if (!empty_classes.empty())
    d.notes.push_back("folder " + root.string() + ": class folder(s) without images: " + join(empty_classes));
  decode_into(d, jobs, spec);
  return d;
}

// --- fer2013csv: emotion,pixels,Usage ----------------------------------------

namespace {

/// Usage value selected by a split name, "" for all rows.
std::string fer2013_usage(const std::string& split) {
  std::string s = to_lower(split);
  if (s.empty()) return "";
  if (s == "training" || s == "train") return "Training";
  if (s == "publictest" || s == "val" || s == "valid" || s == "validation") return "PublicTest";
  if (s == "privatetest" || s == "test") return "PrivateTest";
  throw Error(Status::InvalidArgument, "fer2013csv split '" + split +
                                           "' is not Training, PublicTest or PrivateTest (or train, val, test)");
}

/// Parses space-separated 0..255 values into out[0..expected); returns how many
/// values there are, or throws a message via `bad` when one is not a byte.
size_t parse_pixels(std::string_view s, uint8_t* out, size_t expected, std::string& bad) {
  size_t count = 0, i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && value <= 255) value = value * 10 + unsigned(s[i++] - '0');
    if (i == start || value > 255 || (i < s.size() && s[i] != ' ' && s[i] != '\t')) {
      size_t end = s.find_first_of(" \t", start);
      bad = std::string(s.substr(start, std::min<size_t>(end == std::string_view::npos ? s.size() - start : end - start, 16)));
      return count;
    }
    if (count < expected) out[count] = uint8_t(value);
    ++count;
  }
  return count;
}

}  // namespace

Dataset read_fer2013_csv(const DatasetSpec& spec) {
  const std::string text = read_text_file(spec.path, "fer2013 csv");
  const std::string usage_wanted = fer2013_usage(spec.split);
  auto at = [&](size_t line) { return "fer2013 csv " + spec.path + " line " + std::to_string(line); };
  constexpr int kSide = 48;
  if ((spec.width != kSide || spec.height != kSide) && !spec.resize)
    throw Error(Status::ShapeMismatch, "fer2013 csv " + spec.path + " holds 48x48 images, the spec asks for " +
                                           std::to_string(spec.width) + "x" + std::to_string(spec.height) +
                                           "; set DatasetSpec::resize to resize them");

  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string> fields;
  if (!cursor.next(line) || !split_csv_line(line, fields))
    throw Error(Status::CorruptData, at(1) + ": expected the header emotion,pixels,Usage");
  const std::vector<std::string> header = fields;
  const int c_emotion = find_column(header, "emotion"), c_pixels = find_column(header, "pixels"),
            c_usage = find_column(header, "usage");
  if (c_emotion < 0 || c_pixels < 0)
    throw Error(Status::CorruptData, at(1) + ": the header needs columns 'emotion' and 'pixels' (emotion,pixels,Usage), got '" +
                                         std::string(line.substr(0, 80)) + "'");
  if (!usage_wanted.empty() && c_usage < 0)
    throw Error(Status::CorruptData, at(1) + ": split '" + spec.split + "' needs a 'Usage' column");

  Dataset d = empty_dataset(spec, fer2013_classes());
  const std::string file = fs::path(spec.path).filename().string();
  struct Row {
    std::string_view text;
    size_t line;
  };
  std::vector<Row> rows;
  while (cursor.next(line)) {
    if (trim(line).empty()) continue;
    size_t n = cursor.line_number();
    if (!split_csv_line(line, fields)) throw Error(Status::CorruptData, at(n) + ": unterminated quote");
    if (fields.size() != header.size())
      throw Error(Status::CorruptData, at(n) + ": expected " + std::to_string(header.size()) + " columns (" +
                                           join(header, ",") + "), got " + std::to_string(fields.size()));
    if (!usage_wanted.empty() && std::string(trim(fields[size_t(c_usage)])) != usage_wanted) continue;
    int64_t emotion = -1;
    if (!parse_int(fields[size_t(c_emotion)], emotion) || emotion < 0 || emotion > 6)
      throw Error(Status::CorruptData, at(n) + ": emotion '" + fields[size_t(c_emotion)].substr(0, 16) +
                                           "' is not 0..6 (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral)");
    rows.push_back({line, n});
    d.labels.push_back(int32_t(emotion));  // FER-2013 order is fer2013_classes() order
    d.sources.push_back(file + ":" + std::to_string(n));
  }

  d.pixels.assign(rows.size() * d.image_bytes(), 0);
  const size_t side_pixels = size_t(kSide) * kSide;
  parallel_for_ordered(rows.size(), spec.threads, [&](size_t i) {
    std::vector<std::string> f;
    split_csv_line(rows[i].text, f);
    cv::Mat img(kSide, kSide, CV_8UC1);
    std::string bad;
    size_t count = parse_pixels(f[size_t(c_pixels)], img.data, side_pixels, bad);
    if (!bad.empty())
      throw Error(Status::CorruptData, at(rows[i].line) + ": pixel value '" + bad + "' is not an integer 0..255");
    if (count != side_pixels)
      throw Error(Status::CorruptData, at(rows[i].line) + ": expected 2304 pixel values (48x48), got " +
                                           std::to_string(count));
    fit_image(img, cv::Rect(), spec, "image at " + at(rows[i].line), d.pixels.data() + i * d.image_bytes());
  }, spec.stop);
  return d;
}

// --- ferplus: label.csv + PNGs ---------------------------------------------

namespace {

fs::path ferplus_folder(const DatasetSpec& spec) {
  if (spec.split.empty()) return spec.path;
  std::string s = to_lower(spec.split);
  if (s == "train" || s == "training") return fs::path(spec.path) / "FER2013Train";
  if (s == "valid" || s == "val" || s == "validation") return fs::path(spec.path) / "FER2013Valid";
  if (s == "test") return fs::path(spec.path) / "FER2013Test";
  return fs::path(spec.path) / spec.split;
}

/// Parses "(x, y, w, h)".
bool parse_box(std::string_view s, cv::Rect& box) {
  s = trim(s);
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return false;
  s = s.substr(1, s.size() - 2);
  int64_t v[4];
  for (int k = 0; k < 4; ++k) {
    size_t comma = k < 3 ? s.find(',') : s.size();
    if (comma == std::string_view::npos) return false;
    if (!parse_int(s.substr(0, comma), v[k]) || v[k] < 0 || v[k] > 1000000) return false;
    s = comma < s.size() ? s.substr(comma + 1) : std::string_view();
  }
  if (v[2] <= 0 || v[3] <= 0) return false;
  box = cv::Rect(int(v[0]), int(v[1]), int(v[2]), int(v[3]));
  return true;
}

}  // namespace

Dataset read_ferplus(const DatasetSpec& spec) {
  const fs::path folder = ferplus_folder(spec);
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw Error(Status::NotFound, "ferplus folder not found: " + folder.string());
  const std::string label_path = (folder / "label.csv").string();
  const std::string text = read_text_file(label_path, "ferplus label file");
  auto at = [&](size_t line) { return "ferplus label file " + label_path + " line " + std::to_string(line); };

  Dataset d = empty_dataset(spec, ferplus_classes());
  std::vector<ImageJob> jobs;
  int64_t rows = 0, no_majority = 0, unknown = 0, not_face = 0;
  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string> f;
  while (cursor.next(line)) {
    if (trim(line).empty()) continue;
    size_t n = cursor.line_number();
    if (!split_csv_line(line, f)) throw Error(Status::CorruptData, at(n) + ": unterminated quote");
    if (f.size() != 12)
      throw Error(Status::CorruptData, at(n) + ": expected 12 columns (image, \"(x, y, w, h)\", 10 vote counts), got " +
                                           std::to_string(f.size()));
    std::string name(trim(f[0]));
    if (name.empty()) throw Error(Status::CorruptData, at(n) + ": empty image name");
    cv::Rect box;
    if (!parse_box(f[1], box))
      throw Error(Status::CorruptData, at(n) + ": face box '" + f[1].substr(0, 40) + "' is not \"(x, y, w, h)\"");
    std::array<int, 10> votes{};
    for (size_t k = 0; k < 10; ++k) {
      int64_t v = -1;
      if (!parse_int(f[2 + k], v) || v < 0 || v > 1000)
        throw Error(Status::CorruptData, at(n) + ": vote count " + std::to_string(k + 1) + " '" + f[2 + k].substr(0, 16) +
                                             "' is not an integer 0..1000");
      votes[k] = int(v);
    }
    ++rows;
    FerplusLabel label = ferplus_label(votes);
    if (!label.kept()) {
      ++d.dropped;
      if (label.label < 0) ++no_majority;
      else if (label.label == 8) ++unknown;
      else ++not_face;
      continue;
    }
    // Boxes are in the original 48x48 images' coordinates: the whole frame
    // (every row of the published files) means "no crop", so that a resized
    // copy of the images is resized (or rejected) rather than cut.
    if (box == cv::Rect(0, 0, 48, 48)) box = cv::Rect();
    jobs.push_back({(folder / name).string(), "label.csv line " + std::to_string(n), box});
    d.labels.push_back(label.label);
    d.soft_labels.insert(d.soft_labels.end(), label.soft.begin(), label.soft.end());
    d.sources.push_back(name);
  }
  d.notes.push_back("ferplus " + folder.string() + ": kept " + with_commas(int64_t(jobs.size())) + " of " +
                    with_commas(rows) + " images; dropped " + with_commas(d.dropped) + " by the majority rule (" +
                    with_commas(no_majority) + " without a majority, " + with_commas(unknown) + " unknown, " +
                    with_commas(not_face) + " not a face)");
  decode_into(d, jobs, spec);
  return d;
}

// --- rafdb: list_patition_label.txt + Image/aligned/ -----------------------

Dataset read_rafdb(const DatasetSpec& spec) {
  const std::string split = to_lower(spec.split);
  if (!split.empty() && split != "train" && split != "test")
    throw Error(Status::InvalidArgument, "rafdb split '" + spec.split + "' is not 'train' or 'test' (empty = both)");
  const fs::path root = spec.path;
  const std::string list_path = (root / "list_patition_label.txt").string();
  const std::string text = read_text_file(list_path, "rafdb label list");
  auto at = [&](size_t line) { return "rafdb label list " + list_path + " line " + std::to_string(line); };
  // RAF-DB basic labels 1..7.
  static const char* const kRafNames[7] = {"surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"};

  Dataset d = empty_dataset(spec, fer2013_classes());
  std::vector<ImageJob> jobs;
  LineCursor cursor(text);
  std::string_view line;
  while (cursor.next(line)) {
    if (trim(line).empty()) continue;
    size_t n = cursor.line_number();
    std::vector<std::string_view> tokens;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      if (i > start) tokens.push_back(line.substr(start, i - start));
    }
    if (tokens.size() != 2)
      throw Error(Status::CorruptData, at(n) + ": expected '<image> <label 1..7>', got " + std::to_string(tokens.size()) +
                                           " fields");
    int64_t label = 0;
    if (!parse_int(tokens[1], label) || label < 1 || label > 7)
      throw Error(Status::CorruptData, at(n) + ": label '" + std::string(tokens[1].substr(0, 16)) +
                                           "' is not 1..7 (surprise, fear, disgust, happiness, sadness, anger, neutral)");
    std::string name(tokens[0]);
    if (!split.empty() && name.rfind(split + "_", 0) != 0) continue;
    fs::path image = fs::path(name);
    std::string aligned = image.stem().string() + "_aligned" + image.extension().string();
    jobs.push_back({(root / "Image" / "aligned" / aligned).string(), "list_patition_label.txt line " + std::to_string(n),
                    cv::Rect()});
    d.labels.push_back(class_index(d.classes, kRafNames[label - 1]));
    d.sources.push_back(name);
  }
  decode_into(d, jobs, spec);
  return d;
}

// --- affectnet: csv with subDirectory_filePath, expression ----------------

namespace {

bool parse_number(std::string_view s, double& v) {
  s = trim(s);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(v);
}

}  // namespace

Dataset read_affectnet(const DatasetSpec& spec) {
  reject_split(spec, "point the path at the training or the validation csv");
  const std::string text = read_text_file(spec.path, "affectnet csv");
  auto at = [&](size_t line) { return "affectnet csv " + spec.path + " line " + std::to_string(line); };
  const fs::path image_root =
      spec.image_root.empty() ? fs::path(spec.path).parent_path() : fs::path(spec.image_root);
  // AffectNet expression codes 0..7; 8 none, 9 uncertain, 10 no face are dropped.
  static const char* const kAffectNames[8] = {"neutral", "happiness", "sadness",  "surprise",
                                               "fear",    "disgust",   "anger",    "contempt"};

  LineCursor cursor(text);
  std::string_view line;
  std::vector<std::string> f;
  if (!cursor.next(line) || !split_csv_line(line, f))
    throw Error(Status::CorruptData, at(1) + ": expected a header with subDirectory_filePath and expression");
  const std::vector<std::string> header = f;
  const int c_file = find_column(header, "subdirectory_filepath"), c_expr = find_column(header, "expression");
  if (c_file < 0 || c_expr < 0)
    throw Error(Status::CorruptData, at(1) + ": the header needs columns 'subDirectory_filePath' and 'expression'");
  const int c_box[4] = {find_column(header, "face_x"), find_column(header, "face_y"),
                        find_column(header, "face_width"), find_column(header, "face_height")};
  const int box_columns = int(std::count_if(c_box, c_box + 4, [](int c) { return c >= 0; }));
  if (box_columns != 0 && box_columns != 4)
    throw Error(Status::CorruptData, at(1) + ": the face box needs all of face_x, face_y, face_width, face_height");

  Dataset d = empty_dataset(spec, canonical_order());
  std::vector<ImageJob> jobs;
  int64_t skipped[3] = {0, 0, 0};
  while (cursor.next(line)) {
    if (trim(line).empty()) continue;
    size_t n = cursor.line_number();
    if (!split_csv_line(line, f)) throw Error(Status::CorruptData, at(n) + ": unterminated quote");
    if (f.size() != header.size())
      throw Error(Status::CorruptData, at(n) + ": expected " + std::to_string(header.size()) + " columns, got " +
                                           std::to_string(f.size()));
    int64_t expr = -1;
    if (!parse_int(f[size_t(c_expr)], expr) || expr < 0 || expr > 10)
      throw Error(Status::CorruptData, at(n) + ": expression '" + f[size_t(c_expr)].substr(0, 16) +
                                           "' is not 0..10 (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, "
                                           "6 anger, 7 contempt, 8 none, 9 uncertain, 10 no face)");
    if (expr >= 8) {
      ++skipped[expr - 8];
      ++d.dropped;
      continue;
    }
    std::string file(trim(f[size_t(c_file)]));
    if (file.empty()) throw Error(Status::CorruptData, at(n) + ": empty subDirectory_filePath");
    cv::Rect box;
    if (box_columns == 4) {
      double v[4];
      for (int k = 0; k < 4; ++k)
        if (!parse_number(f[size_t(c_box[k])], v[k]) || std::abs(v[k]) > 1e6)
          throw Error(Status::CorruptData, at(n) + ": face box value '" + f[size_t(c_box[k])].substr(0, 16) +
                                               "' is not a number");
      if (v[2] < 1 || v[3] < 1)
        throw Error(Status::CorruptData, at(n) + ": face box width and height must be positive");
      box = cv::Rect(int(std::lround(v[0])), int(std::lround(v[1])), int(std::lround(v[2])), int(std::lround(v[3])));
    }
    jobs.push_back({(image_root / file).string(), fs::path(spec.path).filename().string() + " line " + std::to_string(n),
                    box});
    d.labels.push_back(class_index(d.classes, kAffectNames[expr]));
    d.sources.push_back(file);
  }
  if (d.dropped)
    d.notes.push_back("affectnet " + spec.path + ": dropped " + with_commas(d.dropped) + " rows without a basic expression (" +
                      with_commas(skipped[0]) + " none, " + with_commas(skipped[1]) + " uncertain, " +
                      with_commas(skipped[2]) + " no face)");
  decode_into(d, jobs, spec);
  return d;
}

}  // namespace fer::detail
