#include "support.hpp"

#include <doctest/doctest.h>

namespace {
class FixedDetector : public fer::Detector {
 public:
  std::string name() const override { return "fixed"; }
  std::vector<fer::Face> detect(const cv::Mat& image) override {
    fer::Face f;
    f.box = cv::Rect2f(0, 0, float(image.cols), float(image.rows));
    f.score = 1.f;
    return {f};
  }
};
}  // namespace

TEST_CASE("built-in components are registered by name") {
  auto detectors = fer::detector_registry().names();
  CHECK(std::find(detectors.begin(), detectors.end(), "haar") != detectors.end());
  CHECK(fer::extractor_registry().contains("small_cnn"));
  CHECK(fer::classifier_registry().contains("linear"));
  CHECK(fer::classifier_registry().contains("cosine"));
  CHECK_FALSE(fer::extractor_registry().description("small_cnn").empty());
}

TEST_CASE("an unknown name fails with UnknownComponent and lists the registered names") {
  try {
    fer::FeatureExtractor::create("no_such_net", fer::Config{});
    FAIL("expected an error");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::UnknownComponent);
    CHECK(std::string(e.what()).find("small_cnn") != std::string::npos);
    CHECK(std::string(e.what()).find("no_such_net") != std::string::npos);
  }
  CHECK_THROWS_AS(fer::Detector::create("nope"), fer::Error);
}

TEST_CASE("users can register their own detector and the pipeline uses it") {
  if (!fer::detector_registry().contains("fixed"))
    fer::detector_registry().add("fixed", [](const fer::DetectorOptions&) { return std::make_unique<FixedDetector>(); });
  // A name can be registered once only.
  CHECK_THROWS_AS(fer::detector_registry().add("fixed", [](const fer::DetectorOptions&) {
    return std::make_unique<FixedDetector>();
  }),
                  fer::Error);
  fer::PipelineOptions o;
  o.detector = "fixed";
  o.threads = 1;
  fer::Pipeline p(o, fer_test::tiny_model());
  CHECK(p.detector_name() == "fixed");
  cv::Mat img(60, 50, CV_8UC3, cv::Scalar(10, 100, 200));
  auto results = p.process(img);
  REQUIRE(results.size() == 1);
  CHECK(results[0].probabilities.size() == 7);
  float sum = 0;
  for (float v : results[0].probabilities) sum += v;
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(results[0].label == p.model().info().classes[size_t(results[0].label_index)]);
}

TEST_CASE("config getters validate their values") {
  fer::Config c{{"width", "1.5"}, {"n", "12"}, {"bad", "12x"}};
  CHECK(c.get_double("width", 0) == 1.5);
  CHECK(c.get_int("n", 0) == 12);
  CHECK(c.get_int("missing", 7) == 7);
  CHECK_THROWS_AS(c.get_int("bad", 0), fer::Error);
  CHECK_THROWS_AS(c.get_double("bad", 0), fer::Error);
}

TEST_CASE("expression names and aliases") {
  CHECK(std::string(fer::expression_name(fer::Expression::Happiness)) == "happiness");
  CHECK(fer::parse_expression("Happy") == fer::Expression::Happiness);
  CHECK(fer::parse_expression("angry") == fer::Expression::Anger);
  CHECK_FALSE(fer::parse_expression("bored").has_value());
  CHECK(fer::fer2013_classes().size() == 7);
  CHECK(fer::ferplus_classes().size() == 8);
  for (const auto& name : fer::ferplus_classes()) CHECK(fer::parse_expression(name).has_value());
}
