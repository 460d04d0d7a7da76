/// @file registry.hpp
/// @brief Components registered by name: detectors, feature extractors, classifiers.
#pragma once

#include <fer/error.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fer {

/// A thread-safe map from names to factories of one interface type.
/// Built-in components are registered lazily the first time a registry is
/// used; users add their own with add().
template <class Interface, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Interface>(Args...)>;

  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  /// Registers a factory; replaces nothing: a second add() of a name throws.
  void add(const std::string& name, Factory factory, const std::string& description = {}) {
    if (name.empty() || !factory)
      throw Error(Status::InvalidArgument, kind_ + " registry: name and factory must be non-empty");
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.count(name))
      throw Error(Status::InvalidArgument, kind_ + " '" + name + "' is already registered");
    entries_.emplace(name, Entry{std::move(factory), description});
  }

  bool contains(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.count(name) != 0;
  }

  /// Registered names in alphabetical order.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }

  std::string description(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    return it == entries_.end() ? std::string() : it->second.description;
  }

  /// Creates the component; an unknown name throws UnknownComponent listing the known ones.
  std::unique_ptr<Interface> create(const std::string& name, Args... args) const {
    Factory factory;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(name);
      if (it == entries_.end()) {
        std::string known;
        for (const auto& kv : entries_) known += (known.empty() ? "" : ", ") + kv.first;
        throw Error(Status::UnknownComponent,
                    "unknown " + kind_ + " '" + name + "'; registered: " + (known.empty() ? "(none)" : known));
      }
      factory = it->second.factory;
    }
    auto made = factory(std::forward<Args>(args)...);
    if (!made) throw Error(Status::Internal, kind_ + " factory '" + name + "' returned null");
    return made;
  }

 private:
  struct Entry {
    Factory factory;
    std::string description;
  };
  std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace fer
