#include <fer/expression.hpp>

#include <algorithm>
#include <cctype>
#include <utility>

namespace fer {

const char* expression_name(Expression e) noexcept {
  switch (e) {
    case Expression::Anger: return "anger";
    case Expression::Disgust: return "disgust";
    case Expression::Fear: return "fear";
    case Expression::Happiness: return "happiness";
    case Expression::Sadness: return "sadness";
    case Expression::Surprise: return "surprise";
    case Expression::Neutral: return "neutral";
    case Expression::Contempt: return "contempt";
  }
  return "unknown";
}

std::optional<Expression> parse_expression(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  static const std::pair<const char*, Expression> kAliases[] = {
      {"anger", Expression::Anger},         {"angry", Expression::Anger},
      {"disgust", Expression::Disgust},     {"disgusted", Expression::Disgust},
      {"fear", Expression::Fear},           {"fearful", Expression::Fear},
      {"scared", Expression::Fear},         {"happiness", Expression::Happiness},
      {"happy", Expression::Happiness},     {"joy", Expression::Happiness},
      {"sadness", Expression::Sadness},     {"sad", Expression::Sadness},
      {"surprise", Expression::Surprise},   {"surprised", Expression::Surprise},
      {"neutral", Expression::Neutral},     {"contempt", Expression::Contempt},
  };
  for (const auto& [alias, e] : kAliases)
    if (s == alias) return e;
  return std::nullopt;
}

std::vector<std::string> fer2013_classes() {
  return {"anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"};
}

std::vector<std::string> ferplus_classes() {
  return {"neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"};
}

}  // namespace fer
