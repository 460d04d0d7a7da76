// Offline distillation targets: a teacher's probabilities for every training
// image, computed once and read by the trainer (TrainOptions::teacher_targets).
//
// File format, version 1. All integers little-endian.
//
//   offset  size  field
//   0       8     magic 89 'F' 'E' 'R' 'T' 0D 0A 1A
//   8       4     format version (1)
//   12      4     number of classes K (1 .. 1024)
//   16      8     number of images N
//   24      8     dataset fingerprint (fer::dataset_fingerprint)
//   32      8     size S of the string block
//   40      S     string block: K class names, then the provenance; each
//                 string is a u32 byte length followed by its UTF-8 bytes
//   ...     4NK   probabilities, float32 (IEEE 754 bits), row-major N x K
//   end-4   4     CRC-32 of every byte before it
//
// The reader checks the magic and version, checks that the sizes in the header
// add up to exactly the file size before allocating anything, verifies the
// checksum, then that every row is a probability distribution.
#include "io/atomic_file.hpp"
#include "io/byte_order.hpp"
#include "io/crc32.hpp"

#include <fer/error.hpp>
#include <fer/train.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace fer {

namespace {

using detail::get_u32;
using detail::get_u64;
using detail::put_string;
using detail::put_u32;
using detail::put_u64;

constexpr uint8_t kMagic[8] = {0x89, 'F', 'E', 'R', 'T', 0x0D, 0x0A, 0x1A};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 40;
constexpr uint32_t kMaxClasses = 1024;
constexpr uint64_t kMaxStringBlock = 1u << 24;
constexpr float kRowSumTolerance = 1e-3f;

// FNV-1a, 64 bit.
struct Fnv {
  uint64_t h = 14695981039346656037ull;
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
    bytes(b, 8);
  }
  void str(const std::string& s) {  // length-prefixed: "ab","c" differs from "a","bc"
    u64(s.size());
    bytes(s.data(), s.size());
  }
};

// Checks that every row of `p` (n x k) is a probability distribution; `fail` reports the first that is not.
template <class Fail>
void check_rows(const std::vector<float>& p, size_t k, Fail&& fail) {
  for (size_t i = 0; i * k < p.size(); ++i) {
    double sum = 0;
    for (size_t c = 0; c < k; ++c) {
      const float v = p[i * k + c];
      if (!(v >= 0.f && v <= 1.f)) fail("row " + std::to_string(i) + " holds " + std::to_string(v) + ", not a probability");
      sum += v;
    }
    if (std::abs(sum - 1.0) > kRowSumTolerance)
      fail("row " + std::to_string(i) + " sums to " + std::to_string(sum) + ", not 1");
  }
}

}  // namespace

uint64_t dataset_fingerprint(const Dataset& data) {
  Fnv f;
  f.u64(data.classes.size());
  for (const auto& c : data.classes) f.str(c);
  f.u64(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    f.u64(uint64_t(uint32_t(data.labels[i])));
    f.str(i < data.sources.size() ? data.sources[i] : std::string());
  }
  return f.h;
}

TeacherTargets compute_teacher_targets(const std::vector<const Model*>& models, const Dataset& data,
                                       const EvalOptions& options, const std::string& source) {
  if (options.occlusion != "none")
    throw Error(Status::InvalidArgument, "teacher targets are computed on the images as they are: occlusion must be none");
  for (const Model* m : models)
    if (m && m->info().classes != data.classes)
      throw Error(Status::InvalidArgument, "teacher targets need models with the dataset's classes in its order (" +
                                               m->info().architecture + " has " +
                                               std::to_string(m->info().classes.size()) + " classes, the data " +
                                               std::to_string(data.classes.size()) + ", or another order)");
  EvalReport r = evaluate(models, data, options);  // checks the models, the data and the options
  TeacherTargets t;
  t.classes = data.classes;
  t.probabilities = std::move(r.probabilities);
  t.dataset_fingerprint = dataset_fingerprint(data);
  nlohmann::json prov;
  nlohmann::json names = nlohmann::json::array();
  for (const Model* m : models) {
    const auto& p = m->info().provenance;
    auto cmd = p.find("command");
    names.push_back(m->info().architecture + (cmd == p.end() ? std::string() : " (" + cmd->second + ")"));
  }
  prov["models"] = names;
  prov["tta"] = r.tta;  // "auto" resolved: the views each model ran
  prov["precision"] = options.precision;
  prov["dataset"] = source;
  prov["images"] = data.size();
  prov["accuracy_on_these_labels"] = r.accuracy;
  t.provenance = prov.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // paths need not be UTF-8
  return t;
}

void save_teacher_targets(const TeacherTargets& t, const std::string& path) {
  const size_t k = t.classes.size();
  if (k == 0 || k > kMaxClasses) throw Error(Status::InvalidArgument, "teacher targets need 1 to 1024 classes");
  if (t.probabilities.size() % k != 0)
    throw Error(Status::InvalidArgument, "teacher targets: " + std::to_string(t.probabilities.size()) +
                                             " probabilities are not a whole number of rows of " + std::to_string(k));
  check_rows(t.probabilities, k, [](const std::string& what) {
    throw Error(Status::InvalidArgument, "teacher targets: " + what);
  });
  if (!t.provenance.empty() && !nlohmann::json::accept(t.provenance))
    throw Error(Status::InvalidArgument, "teacher targets: the provenance must be JSON text (or empty)");
  std::vector<uint8_t> strings;
  for (const auto& c : t.classes) put_string(strings, c);
  put_string(strings, t.provenance);
  if (strings.size() > kMaxStringBlock) throw Error(Status::InvalidArgument, "teacher targets: names too long");
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put_u32(out, kVersion);
  put_u32(out, uint32_t(k));
  put_u64(out, t.size());
  put_u64(out, t.dataset_fingerprint);
  put_u64(out, strings.size());
  out.insert(out.end(), strings.begin(), strings.end());
  out.reserve(out.size() + 4 * t.probabilities.size() + 4);
  for (float v : t.probabilities) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    put_u32(out, bits);
  }
  put_u32(out, detail::crc32(out.data(), out.size()));
  detail::write_file_atomic(path, {{out.data(), out.size()}}, "teacher targets");
}

TeacherTargets load_teacher_targets(const std::string& path) {
  auto fail = [&](const std::string& what) -> void {
    throw Error(Status::CorruptData, "teacher targets " + path + ": " + what);
  };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    const bool exists = std::filesystem::exists(path, ec);
    throw Error(exists ? Status::InvalidArgument : Status::NotFound,
                "teacher targets " + path + (exists ? ": not a regular file" : ": no such file"));
  }
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(Status::IoError, "teacher targets " + path + ": cannot read its size");
  if (file_size < kHeaderSize + 4) fail("shorter than its header (" + std::to_string(file_size) + " bytes)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Status::IoError, "teacher targets " + path + ": cannot open");
  uint8_t head[kHeaderSize];
  in.read(reinterpret_cast<char*>(head), kHeaderSize);
  if (!in) fail("cannot read the header");
  if (std::memcmp(head, kMagic, 8) != 0) fail("not a teacher-targets file (bad magic)");
  const uint32_t version = get_u32(head + 8);
  if (version != kVersion)
    throw Error(Status::UnsupportedVersion, "teacher targets " + path + ": format version " + std::to_string(version) +
                                                " (this build reads " + std::to_string(kVersion) + ")");
  const uint32_t k = get_u32(head + 12);
  const uint64_t n = get_u64(head + 16), fingerprint = get_u64(head + 24), s = get_u64(head + 32);
  if (k == 0 || k > kMaxClasses) fail(std::to_string(k) + " classes");
  if (s > kMaxStringBlock) fail("string block of " + std::to_string(s) + " bytes");
  // Sizes must add up to the file's before anything is allocated.
  const uint64_t rest = file_size - kHeaderSize - 4 - s;
  if (file_size - kHeaderSize - 4 < s || n > rest / (4ull * k) || rest != n * 4ull * k)
    fail("sizes in the header (" + std::to_string(n) + " x " + std::to_string(k) + ", strings " + std::to_string(s) +
         ") disagree with the file size " + std::to_string(file_size) + " (truncated?)");
  std::vector<uint8_t> bytes(static_cast<size_t>(file_size));
  std::memcpy(bytes.data(), head, kHeaderSize);
  in.read(reinterpret_cast<char*>(bytes.data() + kHeaderSize), std::streamsize(file_size - kHeaderSize));
  if (!in) fail("cannot read the file");
  if (detail::checksums_enabled() &&
      detail::crc32(bytes.data(), bytes.size() - 4) != get_u32(bytes.data() + bytes.size() - 4))
    fail("checksum mismatch (damaged file)");

  TeacherTargets t;
  t.dataset_fingerprint = fingerprint;
  size_t pos = kHeaderSize;
  const size_t strings_end = kHeaderSize + size_t(s);
  auto read_string = [&]() {
    if (strings_end - pos < 4) fail("string block ends early");
    const uint32_t len = get_u32(bytes.data() + pos);
    pos += 4;
    if (strings_end - pos < len) fail("string block ends early");
    std::string out(reinterpret_cast<const char*>(bytes.data() + pos), len);
    pos += len;
    return out;
  };
  for (uint32_t c = 0; c < k; ++c) t.classes.push_back(read_string());
  t.provenance = read_string();
  if (pos != strings_end) fail("string block has trailing bytes");
  // It goes into the provenance of the models trained from it: JSON text (valid UTF-8) or nothing.
  if (!t.provenance.empty() && !nlohmann::json::accept(t.provenance)) fail("its provenance is not JSON text");
  t.probabilities.resize(size_t(n) * k);
  for (size_t i = 0; i < t.probabilities.size(); ++i, pos += 4) {
    const uint32_t bits = get_u32(bytes.data() + pos);
    std::memcpy(&t.probabilities[i], &bits, 4);
  }
  check_rows(t.probabilities, k, fail);
  return t;
}

}  // namespace fer
