// The bf16 + channels-last inference path against the fp32 reference, and the
// heap setting (fer::tune_heap).
#include "support.hpp"

#include <fer/threads.hpp>

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

namespace {

std::vector<cv::Mat> fixed_faces(const fer::Model& m, int n) { return fer_test::smooth_random_faces(m, n, 7, 5); }

}  // namespace

TEST_CASE("fast path: precision names parse, and auto follows the CPU") {
  CHECK(fer::parse_precision("fp32") == fer::Precision::Float32);
  CHECK(fer::parse_precision("bf16") == fer::Precision::BFloat16);
  CHECK(fer::parse_precision("auto") ==
        (fer::cpu_has_native_bf16() ? fer::Precision::BFloat16 : fer::Precision::Float32));
  CHECK_THROWS_AS(fer::parse_precision("int4"), fer::Error);
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

// bf16 mode stores convolution and linear weights in bf16; the model's state
// must still be the exact fp32 weights, switching back must restore fp32 outputs
// bit for bit, and loading a state in bf16 mode must work like in fp32.
TEST_CASE("fast path: bf16-stored weights keep the exact fp32 state and switch back losslessly") {
  fer::set_num_threads(1);
  for (const std::string& arch : {"small_cnn", "mobile_fer", "vit_asf"}) {
    CAPTURE(arch);
    fer::ModelInfo info = fer::untrained_default_info();
    info.architecture = arch;
    info.architecture_config.set("width", 0.5);
    auto model = fer::Model::create(info, 11);
    auto faces = fixed_faces(*model, 3);
    const fer::TensorList fp32_state = model->extractor().state();
    const auto fp32_out = model->predict(faces, true, false);

    model->set_precision(fer::Precision::BFloat16);
    const fer::TensorList bf16_state = model->extractor().state();
    REQUIRE(bf16_state.size() == fp32_state.size());
    for (size_t i = 0; i < fp32_state.size(); ++i) {
      CAPTURE(fp32_state[i].name);
      CHECK(bf16_state[i].name == fp32_state[i].name);
      CHECK(bf16_state[i].data == fp32_state[i].data);  // exact, not bf16-rounded
    }
    const auto bf16_out = model->predict(faces, true, false);
    double diff = 0, feature_diff = 0;
    for (size_t i = 0; i < faces.size(); ++i) {
      for (size_t k = 0; k < fp32_out[i].probabilities.size(); ++k)
        diff = std::max(diff, double(std::abs(bf16_out[i].probabilities[k] - fp32_out[i].probabilities[k])));
      for (size_t k = 0; k < fp32_out[i].features.size(); ++k)
        feature_diff = std::max(feature_diff, double(std::abs(bf16_out[i].features[k] - fp32_out[i].features[k])));
    }
    CHECK(feature_diff > 0);  // bf16 really ran
    CHECK(diff < 0.05);

    // Loading a state in bf16 mode: the same outputs as before the load.
    model->extractor().load_state(fp32_state);
    const auto reloaded = model->predict(faces, true, false);
    for (size_t i = 0; i < faces.size(); ++i) CHECK(reloaded[i].probabilities == bf16_out[i].probabilities);
    // A failed load (wrong shapes) changes nothing and keeps bf16 mode working.
    fer::TensorList bad = fp32_state;
    bad[0].shape.push_back(1);
    CHECK_THROWS_AS(model->extractor().load_state(bad), fer::Error);
    CHECK(model->predict(faces, true, false)[0].probabilities == bf16_out[0].probabilities);

    // Back in fp32 the weights are exactly the fp32 ones again; they stay
    // channels-last, which may change the convolution algorithm (summation
    // order) but not the result beyond float rounding.
    model->set_precision(fer::Precision::Float32);
    const auto back = model->predict(faces, true, false);
    double back_diff = 0;
    for (size_t i = 0; i < faces.size(); ++i) {
      for (size_t k = 0; k < back[i].probabilities.size(); ++k)
        back_diff = std::max(back_diff, double(std::abs(back[i].probabilities[k] - fp32_out[i].probabilities[k])));
      for (size_t k = 0; k < back[i].features.size(); ++k)
        back_diff = std::max(back_diff, double(std::abs(back[i].features[k] - fp32_out[i].features[k])));
    }
    CHECK(back_diff < 1e-4);
    CHECK(model->extractor().state()[0].data == fp32_state[0].data);
  }
  fer::set_num_threads(0);
}

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

}  // namespace

TEST_CASE("fast path: with the heap setting, a network's freed activation buffers are reused without page faults") {
  (void)fer::extractor_registry();  // what applies the setting in a program
  if (!fer::tune_heap()) {
    MESSAGE("SKIPPED: the heap setting is off here (FER_HEAP_TUNING=0, the process's own malloc settings, "
            "a sanitizer's allocator, or not glibc)");
    return;
  }
  // The allocation pattern of a forward pass: each layer's output allocated
  // and written, then its input freed. With glibc's defaults the freed top of
  // the heap goes back to the system and every pass faults its pages in again
  // (measured in a C program: 19,589 faults over these 5 passes; 0 with the setting).
  auto forward = [] {
    const size_t mib = size_t(1) << 20;
    const size_t sizes[] = {9 * mib, 9 * mib, 4 * mib, 4 * mib, 2 * mib, 2 * mib, mib};
    void* input = nullptr;
    for (size_t n : sizes) {
      void* output = std::malloc(n);
      REQUIRE(output != nullptr);
      std::memset(output, 1, n);
      std::free(input);
      input = output;
    }
    std::free(input);
  };
  forward();  // the heap grows to hold a pass once
  const long before = minor_faults();
  for (int i = 0; i < 5; ++i) forward();
  const long faults = minor_faults() - before;
  MESSAGE("page faults over 5 passes: " << faults);
  CHECK(faults < 500);
}
