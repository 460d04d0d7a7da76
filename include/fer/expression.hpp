/// @file expression.hpp
/// @brief The facial expression labels libfer knows by name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fer {

/// The seven basic expressions (FER-2013) plus contempt (FERPlus).
/// A model file stores its class names in order; this enum names them.
enum class Expression : int {
  Anger = 0,
  Disgust = 1,
  Fear = 2,
  Happiness = 3,
  Sadness = 4,
  Surprise = 5,
  Neutral = 6,
  Contempt = 7,
};

/// Canonical lower-case name: "anger", "disgust", ..., "contempt".
const char* expression_name(Expression e) noexcept;

/// Parses a canonical name or a common dataset alias ("angry", "happy",
/// "sad", "surprised", ...), case-insensitively.
std::optional<Expression> parse_expression(std::string_view name);

/// The FER-2013 classes in its label order (0=anger ... 6=neutral).
std::vector<std::string> fer2013_classes();

/// The FERPlus emotion classes in its vote-column order.
std::vector<std::string> ferplus_classes();

}  // namespace fer
