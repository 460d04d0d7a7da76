// The bf16 + channels-last inference path against the fp32 reference.
#include "support.hpp"

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

namespace {

std::vector<cv::Mat> fixed_faces(const fer::Model& m, int n) {
  std::vector<cv::Mat> v;
  cv::RNG rng(7);
  for (int i = 0; i < n; ++i) {
    cv::Mat face(64, 64, CV_8UC3);
    rng.fill(face, cv::RNG::UNIFORM, 0, 255);
    cv::GaussianBlur(face, face, cv::Size(5, 5), 0);
    v.push_back(m.prepare(face));
  }
  return v;
}

}  // namespace

TEST_CASE("fast path: precision names parse, and auto follows the CPU") {
  CHECK(fer::parse_precision("fp32") == fer::Precision::Float32);
  CHECK(fer::parse_precision("bf16") == fer::Precision::BFloat16);
  CHECK(fer::parse_precision("auto") ==
        (fer::cpu_has_native_bf16() ? fer::Precision::BFloat16 : fer::Precision::Float32));
  CHECK_THROWS_AS(fer::parse_precision("int8"), fer::Error);
  CHECK(std::string(fer::precision_name(fer::Precision::BFloat16)) == "bf16");
}

// Tolerance: bf16 keeps 8 bits of mantissa; on these small random-weight models
// the class probabilities move by well under 0.05.
TEST_CASE("fast path: bf16 outputs of every architecture match fp32 within 0.05") {
  fer::set_num_threads(2);
  for (const std::string& arch : fer::extractor_registry().names()) {
    CAPTURE(arch);
    fer::ModelInfo info = fer::untrained_default_info();
    info.architecture = arch;
    if (arch == "mini_xception") info.input.width = info.input.height = 64;
    auto model = fer::Model::create(info, 3);
    auto in = fixed_faces(*model, 3);
    auto ref = model->predict(in, true);
    model->set_precision(fer::Precision::BFloat16);
    CHECK(model->precision() == fer::Precision::BFloat16);
    auto fast = model->predict(in, true);
    double max_diff = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      for (size_t k = 0; k < ref[i].probabilities.size(); ++k)
        max_diff = std::max(max_diff, double(std::abs(ref[i].probabilities[k] - fast[i].probabilities[k])));
    CHECK(max_diff < 0.05);
    // The weights themselves are untouched (only their layout changed): back in
    // fp32 the outputs return to the reference.
    model->set_precision(fer::Precision::Float32);
    auto again = model->predict(in, true);
    for (size_t k = 0; k < ref[0].probabilities.size(); ++k)
      CHECK(again[0].probabilities[k] == doctest::Approx(ref[0].probabilities[k]).epsilon(1e-4));
  }
}
