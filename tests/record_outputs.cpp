// Prints a model's fp32 probabilities on the fixed synthetic inputs, in the
// format of tests/data/shipped_models.txt (used when shipping a new model):
//   build/tests/fer_record_outputs models/NAME.fermodel
#include "shipped_inputs.hpp"

#include <fer/fer.hpp>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.fermodel\n", argv[0]);
    return 2;
  }
  try {
    fer::set_num_threads(1);
    auto model = fer::Model::load(argv[1]);
    auto preds = model->predict(fer_test::shipped_model_inputs(*model), false, false, "none");  // the weights, not the view
    std::string name = std::filesystem::path(argv[1]).filename().string();
    for (size_t i = 0; i < preds.size(); ++i) {
      std::printf("%s %zu", name.c_str(), i);
      for (float p : preds[i].probabilities) std::printf(" %.6f", p);
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
