#include <fer/config.hpp>
#include <fer/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace fer {

Config& Config::set(const std::string& key, const std::string& value) {
  values_[key] = value;
  return *this;
}

Config& Config::set(const std::string& key, int64_t value) { return set(key, std::to_string(value)); }

Config& Config::set(const std::string& key, double value) {
  std::ostringstream os;
  os.precision(17);
  os << value;
  return set(key, os.str());
}

bool Config::has(const std::string& key) const { return values_.count(key) != 0; }

std::string Config::get_string(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int64_t Config::get_int(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    throw Error(Status::InvalidArgument, "option '" + key + "' must be an integer, got '" + it->second + "'");
  return v;
}

double Config::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0')
    throw Error(Status::InvalidArgument, "option '" + key + "' must be a number, got '" + it->second + "'");
  return v;
}

}  // namespace fer
