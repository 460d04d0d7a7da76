// A model's own test-time view (ModelInfo::view), chosen on validation data:
// the one-pass view ("none" or "center") under which it is more accurate.
#include <fer/error.hpp>
#include <fer/train.hpp>

#include <cstdio>

namespace fer {

ViewChoice choose_view(Model& model, const Dataset& data, const EvalOptions& options, const std::string& source) {
  if (options.occlusion != "none")
    throw Error(Status::InvalidArgument, "a model's view is chosen on the images as they are: occlusion must be none");
  ViewChoice choice;
  choice.view = "none";
  std::string summary;
  for (const char* view : {"none", "center"}) {
    EvalOptions eo = options;
    eo.tta = view;
    const double accuracy = evaluate(model, data, eo).accuracy;
    choice.accuracy[view] = accuracy;
    if (accuracy > choice.accuracy[choice.view]) choice.view = view;
    char line[64];
    std::snprintf(line, sizeof line, "%s %.2f%%", view, 100 * accuracy);
    summary += (summary.empty() ? "" : ", ") + std::string(line);
  }
  ModelInfo& info = model.info();
  info.view = choice.view;
  for (const auto& [view, accuracy] : choice.accuracy) info.metrics["view_accuracy_" + view] = accuracy;
  info.provenance["view_chosen_on"] = (source.empty() ? std::string("a dataset") : source) + " (" +
                                      std::to_string(data.size()) + " images, " + options.precision + "): " + summary;
  return choice;
}

}  // namespace fer
