#include "detect/tfjs_weights.hpp"

#include <fer/error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

namespace fer::detail {

namespace {

using json = nlohmann::json;

// Limits far above any real model (face-api's largest file is 6 MB), low
// enough that a hostile manifest cannot make us allocate without bound.
constexpr int64_t kMaxManifestBytes = int64_t(16) << 20;
constexpr int64_t kMaxGroupBytes = int64_t(1) << 30;
constexpr size_t kMaxRank = 8;

std::string folder_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

int64_t file_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(Status::NotFound, "TF.js weights: cannot open " + path);
  return int64_t(in.tellg());
}

void read_into(const std::string& path, uint8_t* dest, int64_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Status::NotFound, "TF.js weights: cannot open " + path);
  in.read(reinterpret_cast<char*>(dest), std::streamsize(bytes));
  if (in.gcount() != std::streamsize(bytes)) throw Error(Status::IoError, "TF.js weights: short read from " + path);
}

// A shard path from the manifest must stay inside the manifest's folder.
void check_shard_path(const std::string& manifest, const std::string& shard) {
  bool bad = shard.empty() || shard[0] == '/' || shard.find('\0') != std::string::npos;
  size_t start = 0;
  while (!bad && start <= shard.size()) {
    size_t end = shard.find('/', start);
    if (end == std::string::npos) end = shard.size();
    if (shard.compare(start, end - start, "..") == 0 && end - start == 2) bad = true;
    start = end + 1;
  }
  if (bad) throw Error(Status::CorruptData, manifest + ": shard path '" + shard + "' leaves the manifest's folder");
}

struct Encoding {
  bool as_int = false;      // the weight's dtype is int32 (values are rounded)
  std::string stored = "";  // float32, int32, uint8, uint16 or float16
  double scale = 1.0, min = 0.0;
  int64_t bytes_per_value() const {
    return stored == "uint8" ? 1 : (stored == "uint16" || stored == "float16") ? 2 : 4;
  }
};

Encoding parse_encoding(const json& w, const std::string& where) {
  Encoding e;
  const json& dtype = w.at("dtype");
  if (!dtype.is_string()) throw Error(Status::CorruptData, where + ": \"dtype\" is not a string");
  std::string d = dtype.get<std::string>();
  if (d != "float32" && d != "int32")
    throw Error(Status::Unsupported, where + ": dtype '" + d + "' is not supported (float32 or int32 only)");
  e.as_int = d == "int32";
  e.stored = d;
  auto q = w.find("quantization");
  if (q == w.end() || q->is_null()) return e;
  if (!q->is_object() || !q->contains("dtype") || !q->at("dtype").is_string())
    throw Error(Status::CorruptData, where + ": \"quantization\" needs a string \"dtype\"");
  e.stored = q->at("dtype").get<std::string>();
  if (e.stored == "float16") return e;
  if (e.stored != "uint8" && e.stored != "uint16")
    throw Error(Status::Unsupported, where + ": quantization dtype '" + e.stored + "' is not supported");
  for (const char* key : {"scale", "min"}) {
    if (!q->contains(key) || !q->at(key).is_number())
      throw Error(Status::CorruptData, where + ": quantization needs a numeric \"" + key + "\"");
  }
  e.scale = q->at("scale").get<double>();
  e.min = q->at("min").get<double>();
  if (!std::isfinite(e.scale) || !std::isfinite(e.min))
    throw Error(Status::CorruptData, where + ": quantization scale/min is not finite");
  return e;
}

std::vector<int64_t> parse_shape(const json& w, const std::string& where, int64_t* numel) {
  const json& shape = w.at("shape");
  if (!shape.is_array() || shape.size() > kMaxRank)
    throw Error(Status::CorruptData,
                where + ": \"shape\" must be an array of at most " + std::to_string(kMaxRank) + " sizes");
  std::vector<int64_t> dims;
  int64_t n = 1;
  for (const json& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      throw Error(Status::CorruptData,
                  where + ": shape " + shape.dump() + " has a size that is not a non-negative integer");
    int64_t v = d.get<int64_t>();
    // Bounded by the group's byte limit, so the product cannot overflow.
    if (v > 0 && n > kMaxGroupBytes / v)
      throw Error(Status::CorruptData, where + ": shape " + shape.dump() + " is absurdly large");
    n *= v;
    dims.push_back(v);
  }
  *numel = n;
  return dims;
}

float read_value(const uint8_t* p, const Encoding& e) {
  if (e.stored == "uint8") return float(p[0] * e.scale + e.min);
  if (e.stored == "uint16") return float((p[0] | (p[1] << 8)) * e.scale + e.min);
  if (e.stored == "float16") return half_to_float(uint16_t(p[0] | (p[1] << 8)));
  uint32_t bits = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  if (e.stored == "int32") return float(int32_t(bits));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal: normalise the mantissa
    int shift = 0;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      ++shift;
    }
    bits = sign | (uint32_t(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

const torch::Tensor& TfjsWeights::get(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw Error(Status::NotFound, source_ + ": weight '" + name + "' is missing; is this the right model file?");
  if (!shape.empty() && it->second.sizes() != torch::IntArrayRef(shape)) {
    auto str = [](torch::IntArrayRef s) {
      std::string out = "[";
      for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw Error(Status::ShapeMismatch,
                source_ + ": weight '" + name + "' has shape " + str(it->second.sizes()) + ", expected " + str(shape));
  }
  return it->second;
}

TfjsWeights read_tfjs_weights(const std::string& manifest_path) {
  TfjsWeights out;
  out.source_ = manifest_path;
  int64_t manifest_bytes = file_size(manifest_path);
  if (manifest_bytes > kMaxManifestBytes)
    throw Error(Status::CorruptData,
                manifest_path + ": " + std::to_string(manifest_bytes) + " bytes is too large for a weights manifest");
  std::string text(size_t(manifest_bytes), '\0');
  read_into(manifest_path, reinterpret_cast<uint8_t*>(text.data()), manifest_bytes);
  json manifest;
  try {
    manifest = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(Status::CorruptData, manifest_path + ": not a JSON weights manifest (" + e.what() + ")");
  }
  if (!manifest.is_array() || manifest.empty())
    throw Error(Status::CorruptData, manifest_path + ": a weights manifest is a non-empty JSON array of groups");

  const std::string folder = folder_of(manifest_path);
  try {
    for (size_t g = 0; g < manifest.size(); ++g) {
      const json& group = manifest[g];
      const std::string gwhere = manifest_path + " group " + std::to_string(g);
      if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() || group["paths"].empty() ||
          !group.contains("weights") || !group["weights"].is_array())
        throw Error(Status::CorruptData, gwhere + ": needs \"paths\" (shard files) and \"weights\" arrays");

      // Concatenate the shards; their real sizes bound every later allocation.
      std::vector<std::string> shards;
      int64_t total = 0;
      for (const json& p : group["paths"]) {
        if (!p.is_string()) throw Error(Status::CorruptData, gwhere + ": a shard path is not a string");
        std::string rel = p.get<std::string>();
        check_shard_path(manifest_path, rel);
        std::string path = folder + rel;
        if (!std::ifstream(path, std::ios::binary))
          throw Error(Status::NotFound, manifest_path + " names shard " + path + ", which cannot be opened");
        total += file_size(path);
        if (total > kMaxGroupBytes)
          throw Error(Status::CorruptData, gwhere + ": shards exceed " + std::to_string(kMaxGroupBytes) + " bytes");
        shards.push_back(path);
      }
      std::vector<uint8_t> data(static_cast<size_t>(total));
      int64_t at = 0;
      for (const std::string& path : shards) {
        int64_t n = file_size(path);
        if (at + n > total) throw Error(Status::IoError, path + ": file changed while reading");
        read_into(path, data.data() + at, n);
        at += n;
      }
      const std::string shard_names =
          shards.size() == 1 ? shards[0] : shards[0] + " (+" + std::to_string(shards.size() - 1) + " shards)";

      int64_t offset = 0;
      for (const json& w : group["weights"]) {
        if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("shape") ||
            !w.contains("dtype"))
          throw Error(Status::CorruptData, gwhere + ": a weight entry needs \"name\", \"shape\" and \"dtype\"");
        const std::string name = w["name"].get<std::string>();
        const std::string where = manifest_path + ": weight '" + name + "'";
        if (out.tensors_.count(name)) throw Error(Status::CorruptData, where + " appears twice");
        int64_t numel = 0;
        std::vector<int64_t> shape = parse_shape(w, where, &numel);
        Encoding enc = parse_encoding(w, where);
        int64_t bytes = numel * enc.bytes_per_value();
        if (bytes > total - offset)
          throw Error(Status::CorruptData, where + " needs " + std::to_string(bytes) + " bytes at offset " +
                                               std::to_string(offset) + " but " + shard_names + " holds only " +
                                               std::to_string(total) + " bytes (truncated shard or wrong manifest?)");
        torch::Tensor t = torch::empty(shape, torch::kFloat32);
        float* dst = t.data_ptr<float>();
        const uint8_t* src = data.data() + offset;
        const int64_t step = enc.bytes_per_value();
        for (int64_t i = 0; i < numel; ++i) {
          float v = read_value(src + i * step, enc);
          if (!std::isfinite(v))  // e.g. a float16 with an all-ones exponent: every output would be NaN
            throw Error(Status::CorruptData, where + " holds a non-finite value (NaN or Inf) at index " +
                                                 std::to_string(i));
          dst[i] = enc.as_int ? std::round(v) : v;
        }
        offset += bytes;
        out.tensors_.emplace(name, std::move(t));
      }
      if (offset != total)
        throw Error(Status::CorruptData, shard_names + ": " + std::to_string(total - offset) +
                                             " bytes left over after the weights of " + manifest_path +
                                             " (manifest and shards do not match)");
    }
  } catch (const json::exception& e) {
    throw Error(Status::CorruptData, manifest_path + ": malformed weights manifest (" + e.what() + ")");
  }
  return out;
}

}  // namespace fer::detail
