#include <fer/error.hpp>
#include <fer/recognizer.hpp>

#include <fstream>
#include <sstream>

namespace fer {

const char* precision_name(Precision p) noexcept { return p == Precision::BFloat16 ? "bf16" : "fp32"; }

bool cpu_has_native_bf16() {
  static const bool has = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      for (std::string w; words >> w;)
        if (w == "avx512_bf16" || w == "amx_bf16") return true;
      return false;
    }
    return false;
  }();
  return has;
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  if (name == "auto") return cpu_has_native_bf16() ? Precision::BFloat16 : Precision::Float32;
  throw Error(Status::InvalidArgument, "precision must be fp32, bf16 or auto, got '" + name + "'");
}

}  // namespace fer
