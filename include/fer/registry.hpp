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
  /// `options` declares the configuration keys the component reads, each as
  /// "key" or "key=hint" (e.g. "pool=avg|grid"): description() lists them and
  /// training refuses any other key for this component (a misspelt option would
  /// otherwise be ignored), except those every extractor (channels, input_size)
  /// or head (in_features, num_classes) is given. Without a declaration no key
  /// is refused.
  void add(const std::string& name, Factory factory, const std::string& description = {},
           std::vector<std::string> options = {}) {
    if (name.empty() || !factory)
      throw Error(Status::InvalidArgument, kind_ + " registry: name and factory must be non-empty");
    for (const auto& o : options)
      if (o.empty() || o.front() == '=')
        throw Error(Status::InvalidArgument, kind_ + " '" + name + "': an option declaration needs a key");
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.count(name))
      throw Error(Status::InvalidArgument, kind_ + " '" + name + "' is already registered");
    entries_.emplace(name, Entry{std::move(factory), description, std::move(options)});
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

  /// The description given to add(), followed by its declared options, if any:
  /// "... (options: channels, input_size, pool=avg|grid)". Empty for an unknown name.
  std::string description(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return {};
    std::string text = it->second.description;
    if (it->second.options.empty()) return text;
    std::string list;
    for (const auto& o : it->second.options) list += (list.empty() ? "" : ", ") + o;
    return text + (text.empty() ? "" : " ") + "(options: " + list + ")";
  }

  /// The option keys `name` declared (without hints), in declaration order;
  /// empty for an unknown name or a component that declared none.
  std::vector<std::string> options(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(name);
    std::vector<std::string> keys;
    if (it == entries_.end()) return keys;
    for (const auto& o : it->second.options) keys.push_back(o.substr(0, o.find('=')));
    return keys;
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
    std::vector<std::string> options;  // as declared, "key" or "key=hint"
  };
  std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace fer
