#include <fer/error.hpp>
#include <fer/recognizer.hpp>

#include <fstream>
#include <sstream>

namespace fer {

const char* precision_name(Precision p) noexcept {
  switch (p) {
    case Precision::BFloat16: return "bf16";
    case Precision::Int8: return "int8";
    default: return "fp32";
  }
}

namespace {
// Whether the first "flags" line of /proc/cpuinfo names one of `wanted`.
bool cpu_flag(std::initializer_list<const char*> wanted) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;)
      for (const char* f : wanted)
        if (w == f) return true;
    return false;
  }
  return false;
}
}  // namespace

bool cpu_has_native_bf16() {
  static const bool has = cpu_flag({"avx512_bf16", "amx_bf16"});
  return has;
}

bool cpu_has_native_int8() {
  static const bool has = cpu_flag({"avx512_vnni", "avx_vnni", "amx_int8"});
  return has;
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  if (name == "int8") return Precision::Int8;
  if (name == "auto") return cpu_has_native_bf16() ? Precision::BFloat16 : Precision::Float32;
  throw Error(Status::InvalidArgument, "precision must be fp32, bf16, int8 or auto, got '" + name + "'");
}

}  // namespace fer
