#include "io/model_file.hpp"

#include "io/byte_order.hpp"
#include "io/atomic_file.hpp"
#include "io/crc32.hpp"

#include <fer/error.hpp>
#include <fer/landmarks.hpp>
#include <fer/model.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sys/stat.h>

namespace fer {

namespace detail {
std::shared_ptr<Model> build_model(const ModelInfo& info);  // pipeline/model.cpp
int64_t minimum_parameter_count(const std::string& architecture, const Config& config);  // models/registry.cpp
}

namespace {

using json = nlohmann::json;
using detail::get_u32;
using detail::get_u64;
using detail::put_u32;
using detail::put_u64;

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return uint16_t((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);  // round to nearest even
  return uint16_t(u >> 16);
}
float bf16_to_float(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

size_t storage_bytes(const std::string& storage) {
  if (storage == "float32") return 4;
  if (storage == "bfloat16") return 2;
  throw Error(Status::InvalidArgument, "unknown weight storage '" + storage + "'; use float32 or bfloat16");
}

json config_json(const Config& c) {
  json j = json::object();
  for (const auto& [k, v] : c.values()) j[k] = v;
  return j;
}

// --- reading: every accessor names the field it failed on ------------------

struct Reader {
  std::string origin;

  [[noreturn]] void fail(Status s, const std::string& what) const {
    throw Error(s, "model file " + origin + ": " + what);
  }
  const json& field(const json& obj, const char* key, json::value_t type, const char* type_name) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(Status::CorruptData, std::string("missing field '") + key + "'");
    bool ok = it->type() == type || (type == json::value_t::number_float && it->is_number()) ||
              (type == json::value_t::number_unsigned && it->is_number_integer() && it->get<int64_t>() >= 0);
    if (!ok) fail(Status::CorruptData, std::string("field '") + key + "' must be " + type_name);
    return *it;
  }
  std::string str(const json& o, const char* k) const { return field(o, k, json::value_t::string, "a string").get<std::string>(); }
  double num(const json& o, const char* k) const {
    double v = field(o, k, json::value_t::number_float, "a number").get<double>();
    if (!std::isfinite(v)) fail(Status::CorruptData, std::string("field '") + k + "' is not finite");
    return v;
  }
  int64_t integer(const json& o, const char* k, int64_t lo, int64_t hi) const {
    const json& j = field(o, k, json::value_t::number_unsigned, "a non-negative integer");
    int64_t v = j.get<int64_t>();
    if (v < lo || v > hi)
      fail(Status::CorruptData, std::string("field '") + k + "' = " + std::to_string(v) + " is outside [" +
                                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
  }
  bool boolean(const json& o, const char* k) const { return field(o, k, json::value_t::boolean, "true or false").get<bool>(); }
  const json& object(const json& o, const char* k) const { return field(o, k, json::value_t::object, "an object"); }
  const json& array(const json& o, const char* k) const { return field(o, k, json::value_t::array, "an array"); }

  Config config(const json& o, const char* k) const {
    Config c;
    for (const auto& [key, v] : object(o, k).items()) {
      if (!v.is_string()) fail(Status::CorruptData, std::string("option '") + key + "' in '" + k + "' must be a string");
      c.set(key, v.get<std::string>());
    }
    return c;
  }
  std::vector<float> floats(const json& o, const char* k) const {
    std::vector<float> out;
    for (const auto& v : array(o, k)) {
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        fail(Status::CorruptData, std::string("field '") + k + "' must hold finite numbers");
      out.push_back(v.get<float>());
    }
    return out;
  }
};

struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t offset = 0, nbytes = 0;
};

json tensor_table(const TensorList& list, size_t elem, uint64_t& offset) {
  json arr = json::array();
  for (const auto& t : list) {
    uint64_t nbytes = uint64_t(t.data.size()) * elem;
    arr.push_back({{"name", t.name}, {"shape", t.shape}, {"offset", offset}, {"nbytes", nbytes}});
    offset += nbytes;
  }
  return arr;
}

void append_tensors(std::vector<uint8_t>& out, const TensorList& list, const std::string& storage) {
  for (const auto& t : list) {
    if (storage == "float32") {
      size_t at = out.size();
      out.resize(at + t.data.size() * 4);
      for (size_t i = 0; i < t.data.size(); ++i) {
        uint32_t u;
        std::memcpy(&u, &t.data[i], 4);
        for (int b = 0; b < 4; ++b) out[at + 4 * i + b] = uint8_t(u >> (8 * b));
      }
    } else {
      for (float f : t.data) {
        uint16_t h = float_to_bf16(f);
        out.push_back(uint8_t(h));
        out.push_back(uint8_t(h >> 8));
      }
    }
  }
}

std::vector<TensorEntry> read_table(const Reader& r, const json& tensors, const char* key, uint64_t data_size,
                                    size_t elem) {
  std::vector<TensorEntry> out;
  std::set<std::string> names;
  for (const auto& e : r.array(tensors, key)) {
    if (!e.is_object()) r.fail(Status::CorruptData, std::string("tensor table '") + key + "' holds a non-object");
    TensorEntry t;
    t.name = r.str(e, "name");
    if (!names.insert(t.name).second) r.fail(Status::CorruptData, "tensor '" + t.name + "' appears twice");
    uint64_t numel = 1;
    for (const auto& d : r.array(e, "shape")) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 31))
        r.fail(Status::CorruptData, "tensor '" + t.name + "' has an invalid dimension");
      t.shape.push_back(d.get<int64_t>());
      numel *= uint64_t(t.shape.back());
      if (numel > data_size) r.fail(Status::CorruptData, "tensor '" + t.name + "' is larger than the file's data");
    }
    t.offset = uint64_t(r.integer(e, "offset", 0, int64_t(data_size)));
    t.nbytes = uint64_t(r.integer(e, "nbytes", 0, int64_t(data_size)));
    if (t.nbytes != numel * elem)
      r.fail(Status::CorruptData, "tensor '" + t.name + "' declares " + std::to_string(t.nbytes) +
                                      " bytes, its shape needs " + std::to_string(numel * elem));
    if (t.offset + t.nbytes > data_size)
      r.fail(Status::CorruptData, "tensor '" + t.name + "' runs past the end of the data section");
    out.push_back(std::move(t));
  }
  return out;
}

TensorList read_tensors(const std::vector<TensorEntry>& entries, const uint8_t* data, size_t elem) {
  TensorList out;
  for (const auto& e : entries) {
    NamedTensor t;
    t.name = e.name;
    t.shape = e.shape;
    size_t n = size_t(e.nbytes / elem);
    t.data.resize(n);
    const uint8_t* p = data + e.offset;
    for (size_t i = 0; i < n; ++i) {
      if (elem == 4) {
        uint32_t u = get_u32(p + 4 * i);
        std::memcpy(&t.data[i], &u, 4);
      } else {
        t.data[i] = bf16_to_float(uint16_t(p[2 * i] | (p[2 * i + 1] << 8)));
      }
    }
    // A NaN or Inf weight, or a negative batch-norm variance (its square root),
    // would make every output NaN: refused here, by name.
    const std::string var = "running_var";
    const bool variance = t.name.size() >= var.size() && t.name.compare(t.name.size() - var.size(), var.size(), var) == 0;
    for (float v : t.data) {
      if (!std::isfinite(v))
        throw Error(Status::CorruptData, "tensor '" + t.name + "' holds a non-finite value (NaN or Inf)");
      if (variance && v < 0) throw Error(Status::CorruptData, "tensor '" + t.name + "' holds a negative variance");
    }
    out.push_back(std::move(t));
  }
  return out;
}

ModelInfo read_info(const Reader& r, const json& h) {
  ModelInfo info;
  if (r.str(h, "format") != "libfer-model") r.fail(Status::CorruptData, "header is not a libfer model header");
  const json& arch = r.object(h, "architecture");
  info.architecture = r.str(arch, "name");
  info.architecture_config = r.config(arch, "config");
  const json& head = r.object(h, "head");
  info.head = r.str(head, "name");
  info.head_config = r.config(head, "config");
  const json& in = r.object(h, "input");
  info.input.width = int(r.integer(in, "width", 8, 1024));
  info.input.height = int(r.integer(in, "height", 8, 1024));
  info.input.channels = int(r.integer(in, "channels", 1, 3));
  info.input.mean = r.floats(in, "mean");
  info.input.std = r.floats(in, "std");
  const json& crop = r.object(h, "crop");
  info.crop.method = r.str(crop, "method");
  info.crop.margin = float(r.num(crop, "margin"));
  info.crop.square = r.boolean(crop, "square");
  if (crop.contains("template")) {  // absent in files written before aligned crops existed
    for (const auto& p : r.array(crop, "template")) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
        r.fail(Status::CorruptData, "crop template points must be [x, y] pairs of numbers");
      info.crop.template_points.emplace_back(p[0].get<float>(), p[1].get<float>());
    }
  }
  for (const auto& c : r.array(h, "classes")) {
    if (!c.is_string()) r.fail(Status::CorruptData, "class names must be strings");
    info.classes.push_back(c.get<std::string>());
  }
  info.trained = r.boolean(h, "trained");
  info.storage = r.str(h, "storage");
  for (const auto& [k, v] : r.object(h, "provenance").items()) {
    if (!v.is_string()) r.fail(Status::CorruptData, "provenance '" + k + "' must be a string");
    info.provenance[k] = v.get<std::string>();
  }
  for (const auto& [k, v] : r.object(h, "metrics").items()) {
    if (!v.is_number()) r.fail(Status::CorruptData, "metric '" + k + "' must be a number");
    info.metrics[k] = v.get<double>();
  }
  if (h.contains("view")) info.view = r.str(h, "view");  // absent: "none" (and in files from before views)
  if (h.contains("int8")) {  // absent in files without int8 calibration
    const json& ranges = r.object(r.object(h, "int8"), "activation_ranges");
    if (ranges.size() > 100000) r.fail(Status::CorruptData, "too many int8 activation ranges");
    for (const auto& [k, v] : ranges.items()) {
      if (k.empty() || !v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
        r.fail(Status::CorruptData, "int8 activation range '" + k + "' must be a [min, max] pair of numbers");
      // The values are checked with the rest of the model info (validate_info);
      // clamped first so that a value too large for a float converts safely,
      // and stays beyond the limit there.
      auto narrow = [](double d) { return float(std::clamp(d, -1e38, 1e38)); };
      info.activation_ranges[k] = {narrow(v[0].get<double>()), narrow(v[1].get<double>())};
    }
  }
  return info;
}

}  // namespace

namespace detail {

void validate_info(const ModelInfo& info, const std::string& origin, Status invalid) {
  auto fail = [&](Status s, const std::string& m) { throw Error(s == Status::InvalidArgument ? invalid : s, origin + ": " + m); };
  if (info.architecture.empty()) fail(Status::InvalidArgument, "architecture name is empty");
  if (info.input.channels != 1 && info.input.channels != 3)
    fail(Status::InvalidArgument, "input channels must be 1 or 3, got " + std::to_string(info.input.channels));
  if (info.input.width != info.input.height || info.input.width < 8 || info.input.width > 1024)
    fail(Status::InvalidArgument, "input must be square, 8 to 1024 pixels, got " + std::to_string(info.input.width) +
                                      "x" + std::to_string(info.input.height));
  if (info.input.mean.size() != size_t(info.input.channels) || info.input.std.size() != size_t(info.input.channels))
    fail(Status::InvalidArgument, "normalization needs one mean and one std per input channel");
  for (float s : info.input.std)
    if (!(s > 0.f) || !std::isfinite(s)) fail(Status::InvalidArgument, "normalization std must be positive");
  for (float m : info.input.mean)
    if (!std::isfinite(m)) fail(Status::InvalidArgument, "normalization mean must be finite");
  if (info.crop.method != "box" && info.crop.method != "aligned")
    fail(Status::Unsupported, "unknown crop method '" + info.crop.method + "' (known: box, aligned)");
  if (!info.crop.template_points.empty() && info.crop.template_points.size() != 5)
    fail(Status::InvalidArgument, "the crop template needs 5 points (eyes, nose tip, mouth corners), got " +
                                      std::to_string(info.crop.template_points.size()));
  for (const auto& p : info.crop.template_points)
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || std::abs(p.x) > 10.f || std::abs(p.y) > 10.f)
      fail(Status::InvalidArgument, "crop template points must be finite, within [-10, 10]");
  if (!(info.crop.margin >= -0.4f && info.crop.margin <= 2.0f))
    fail(Status::InvalidArgument, "crop margin must be in [-0.4, 2]");
  if (info.classes.size() < 2 || info.classes.size() > 1000)
    fail(Status::InvalidArgument, "a model needs 2 to 1000 classes, got " + std::to_string(info.classes.size()));
  std::set<std::string> seen;
  for (const auto& c : info.classes)
    if (c.empty() || !seen.insert(c).second) fail(Status::InvalidArgument, "class names must be non-empty and unique");
  for (const auto& [point, range] : info.activation_ranges)
    if (point.empty() || !(std::abs(range.first) <= kMaxActivationMagnitude) ||
        !(std::abs(range.second) <= kMaxActivationMagnitude) || range.first > range.second)
      fail(Status::InvalidArgument, "int8 activation range '" + point +
                                        "' must be named, finite, within +-1e30, with min <= max");
  if (info.view != "none" && info.view != "center")
    fail(Status::Unsupported, "unknown test-time view '" + info.view + "' (known: none, center)");
  storage_bytes(info.storage);
}

}  // namespace detail

std::vector<uint8_t> Model::to_bytes() const {
  detail::validate_info(info_, "model", Status::InvalidArgument);
  size_t elem = storage_bytes(info_.storage);
  TensorList ext = extractor_->state(), cls = classifier_->state();
  uint64_t offset = 0;
  json tensors;
  tensors["extractor"] = tensor_table(ext, elem, offset);
  tensors["classifier"] = tensor_table(cls, elem, offset);

  json h;
  h["format"] = "libfer-model";
  h["architecture"] = {{"name", info_.architecture}, {"config", config_json(info_.architecture_config)}};
  h["head"] = {{"name", info_.head}, {"config", config_json(info_.head_config)}};
  h["input"] = {{"width", info_.input.width},
                {"height", info_.input.height},
                {"channels", info_.input.channels},
                {"mean", info_.input.mean},
                {"std", info_.input.std}};
  h["crop"] = {{"method", info_.crop.method}, {"margin", info_.crop.margin}, {"square", info_.crop.square}};
  if (info_.crop.method == "aligned") {  // the template in the file, so later changes of the default do not move it
    json pts = json::array();
    for (const auto& p : info_.crop.template_points.empty() ? default_alignment_template() : info_.crop.template_points)
      pts.push_back({p.x, p.y});
    h["crop"]["template"] = pts;
  }
  h["classes"] = info_.classes;
  h["trained"] = info_.trained;
  h["storage"] = info_.storage;
  h["provenance"] = json(info_.provenance);
  h["metrics"] = json(info_.metrics);
  if (info_.view != "none") h["view"] = info_.view;  // only when set: files without a view keep their bytes
  if (!info_.activation_ranges.empty()) {
    json ranges = json::object();
    for (const auto& [point, range] : info_.activation_ranges) ranges[point] = {range.first, range.second};
    h["int8"] = {{"activation_ranges", ranges}};
  }
  h["tensors"] = tensors;
  // Provenance holds paths and command lines, which need not be UTF-8: such bytes become U+FFFD.
  std::string header = h.dump(-1, ' ', false, json::error_handler_t::replace);

  std::vector<uint8_t> out(detail::kModelMagic, detail::kModelMagic + 8);
  put_u32(out, kModelFormatVersion);
  put_u32(out, 0);
  put_u64(out, header.size());
  put_u64(out, offset);
  out.insert(out.end(), header.begin(), header.end());
  while (out.size() % 64) out.push_back(0);
  size_t data_start = out.size();
  append_tensors(out, ext, info_.storage);
  append_tensors(out, cls, info_.storage);
  if (out.size() - data_start != offset) throw Error(Status::Internal, "model writer: data size mismatch");
  put_u32(out, detail::crc32(out.data(), out.size()));
  return out;
}

void Model::save(const std::string& path) const {
  std::vector<uint8_t> bytes = to_bytes();
  detail::write_file_atomic(path, {{bytes.data(), bytes.size()}}, "model file");
}

std::shared_ptr<Model> Model::from_bytes(const uint8_t* data, size_t size, const std::string& origin) {
  Reader r{origin};
  if (data == nullptr && size != 0) r.fail(Status::InvalidArgument, "null data");
  if (size < 8 || std::memcmp(data, detail::kModelMagic, 8) != 0)
    r.fail(Status::CorruptData, "not a libfer model file (wrong magic bytes)");
  if (size < detail::kModelFixedHeader + 4) r.fail(Status::CorruptData, "truncated (" + std::to_string(size) + " bytes)");
  uint32_t version = get_u32(data + 8);
  if (version == 0 || version > kModelFormatVersion)
    r.fail(Status::UnsupportedVersion, "format version " + std::to_string(version) + "; this build reads 1 to " +
                                           std::to_string(kModelFormatVersion) + " (upgrade libfer?)");
  if (get_u32(data + 12) != 0) r.fail(Status::UnsupportedVersion, "unknown flags set");
  uint64_t header_size = get_u64(data + 16), data_size = get_u64(data + 24);
  if (header_size > detail::kMaxModelHeader) r.fail(Status::CorruptData, "header size is absurd");
  uint64_t data_start = (detail::kModelFixedHeader + header_size + 63) / 64 * 64;
  if (data_size > detail::kMaxModelFile || data_start + data_size + 4 != size)
    r.fail(Status::CorruptData, "truncated or padded: sizes in the header need " +
                                    std::to_string(data_start + data_size + 4) + " bytes, the file has " +
                                    std::to_string(size));
  if (detail::checksums_enabled() && detail::crc32(data, size - 4) != get_u32(data + size - 4))
    r.fail(Status::CorruptData, "checksum mismatch (the file is damaged)");

  json h;
  try {
    h = json::parse(data + detail::kModelFixedHeader, data + detail::kModelFixedHeader + header_size);
  } catch (const json::exception& e) {
    r.fail(Status::CorruptData, std::string("header is not valid JSON: ") + e.what());
  }
  if (!h.is_object()) r.fail(Status::CorruptData, "header is not a JSON object");
  ModelInfo info = read_info(r, h);
  detail::validate_info(info, "model file " + origin, Status::CorruptData);
  size_t elem = storage_bytes(info.storage);
  const json& tensors = r.object(h, "tensors");
  auto ext_entries = read_table(r, tensors, "extractor", data_size, elem);
  auto cls_entries = read_table(r, tensors, "classifier", data_size, elem);
  // The tensors tile the data section in order, as the writer lays them out:
  // no two alias the same bytes, so reading them allocates no more than the file holds.
  uint64_t end = 0;
  for (const auto* list : {&ext_entries, &cls_entries})
    for (const auto& t : *list) {
      if (t.offset != end)
        r.fail(Status::CorruptData, "tensor '" + t.name + "' starts at byte " + std::to_string(t.offset) +
                                        " of the data section, expected " + std::to_string(end) +
                                        " (tensors must follow each other without gaps or overlap)");
      end += t.nbytes;
    }
  if (end != data_size)
    r.fail(Status::CorruptData, "the tensors cover " + std::to_string(end) + " bytes of a " +
                                    std::to_string(data_size) + "-byte data section");
  // Refuse to build an architecture far larger than the weights the file holds
  // (a small hostile file naming resnet50 at width 4 would otherwise allocate ~1.5 GB first).
  int64_t least = 0;
  try {
    least = detail::minimum_parameter_count(info.architecture, info.architecture_config);
  } catch (const Error& e) {
    r.fail(e.status(), e.what());
  }
  const uint64_t values = data_size / elem;
  if (least > 0 && uint64_t(least) > 4 * values + (uint64_t(1) << 20))
    r.fail(Status::ShapeMismatch, "architecture " + info.architecture + " with these options has at least " +
                                      std::to_string(least) + " parameters, but the file holds only " +
                                      std::to_string(values) + " weight values; refusing to build it");

  std::shared_ptr<Model> model;
  try {
    model = detail::build_model(info);
  } catch (const Error& e) {
    r.fail(e.status(), e.what());
  }
  const uint8_t* blob = data + data_start;
  try {
    model->extractor().load_state(read_tensors(ext_entries, blob, elem));
    model->classifier().load_state(read_tensors(cls_entries, blob, elem));
  } catch (const Error& e) {
    r.fail(e.status(), e.what());
  }
  return model;
}

std::shared_ptr<Model> Model::load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(Status::NotFound, "model file not found: " + path);
  if (!S_ISREG(st.st_mode)) throw Error(Status::InvalidArgument, "model path is not a regular file: " + path);
  if (uint64_t(st.st_size) > detail::kMaxModelFile)
    throw Error(Status::CorruptData, "model file " + path + " is larger than 2 GiB; not a libfer model");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(Status::IoError, "cannot open model file " + path);
  std::vector<uint8_t> bytes(size_t(st.st_size));
  if (!f.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size())))
    throw Error(Status::IoError, "cannot read model file " + path);
  return from_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace fer
