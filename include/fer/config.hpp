/// @file config.hpp
/// @brief String key/value settings for components (architecture options).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace fer {

/// Settings of a component such as an architecture ("width" -> "1.0").
/// Stored as strings so that a model file can carry any component's options;
/// the typed getters validate and throw fer::Error(InvalidArgument).
class Config {
 public:
  Config() = default;
  Config(std::initializer_list<std::pair<const std::string, std::string>> init) : values_(init) {}

  Config& set(const std::string& key, const std::string& value);
  Config& set(const std::string& key, int64_t value);
  Config& set(const std::string& key, double value);

  bool has(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;

  const std::map<std::string, std::string>& values() const { return values_; }
  bool operator==(const Config& other) const { return values_ == other.values_; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace fer
