#include "support.hpp"

#include "pipeline/tta.hpp"

#include <fer/train.hpp>

#include <doctest/doctest.h>

namespace {

fer::Status process_status(fer::Pipeline& p, const cv::Mat& image) {
  try {
    p.process(image);
    return fer::Status::Ok;
  } catch (const fer::Error& e) {
    return e.status();
  }
}

fer::Pipeline make_pipeline(int64_t max_pixels = fer::kDefaultMaxImagePixels) {
  fer::PipelineOptions o;
  o.threads = 1;
  o.max_image_pixels = max_pixels;
  return fer::Pipeline(o, fer_test::tiny_model());
}

}  // namespace

TEST_CASE("the pipeline accepts 8-bit gray, BGR and BGRA images of many sizes") {
  fer::Pipeline p = make_pipeline();
  for (int type : {CV_8UC1, CV_8UC3, CV_8UC4}) {
    for (cv::Size size : {cv::Size(1, 1), cv::Size(7, 3), cv::Size(48, 48), cv::Size(640, 480), cv::Size(2000, 30),
                          cv::Size(1920, 1080)}) {
      CAPTURE(type);
      CAPTURE(size);
      cv::Mat img(size, type, cv::Scalar::all(128));
      CHECK(process_status(p, img) == fer::Status::Ok);
    }
  }
  // A non-contiguous view (region of a larger image) is fine too.
  cv::Mat big(300, 400, CV_8UC3, cv::Scalar(1, 2, 3));
  CHECK(process_status(p, big(cv::Rect(13, 17, 201, 150))) == fer::Status::Ok);
}

TEST_CASE("rejected images give InvalidArgument with a message") {
  fer::Pipeline p = make_pipeline(1 << 20);
  cv::Mat empty;
  cv::Mat sixteen(32, 32, CV_16UC1, cv::Scalar(1000));
  cv::Mat two(32, 32, CV_8UC2, cv::Scalar(1, 2));
  cv::Mat floats(32, 32, CV_32FC3, cv::Scalar(0.5, 0.5, 0.5));
  cv::Mat signed8(32, 32, CV_8SC3, cv::Scalar(1, 1, 1));
  cv::Mat too_big(1025, 1024, CV_8UC1, cv::Scalar(0));
  int sizes[3] = {4, 4, 4};
  cv::Mat three_d(3, sizes, CV_8UC1, cv::Scalar(0));
  for (const cv::Mat* m : {&empty, &sixteen, &two, &floats, &signed8, &too_big, &three_d}) {
    try {
      p.process(*m);
      FAIL("expected an error");
    } catch (const fer::Error& e) {
      CHECK(e.status() == fer::Status::InvalidArgument);
      CHECK(std::string(e.what()).size() > 20);
    }
  }
  try {
    p.process(sixteen);
  } catch (const fer::Error& e) {
    CHECK(std::string(e.what()).find("16-bit") != std::string::npos);
  }
}

TEST_CASE("recognize() on explicit boxes, including boxes partly outside the image") {
  fer::Pipeline p = make_pipeline();
  cv::Mat img(100, 120, CV_8UC3, cv::Scalar(90, 80, 70));
  std::vector<fer::Face> faces(3);
  faces[0].box = cv::Rect2f(10, 10, 40, 40);
  faces[1].box = cv::Rect2f(-20, 80, 50, 50);  // hangs over two edges
  faces[2].box = cv::Rect2f(110, -5, 30, 30);
  auto r = p.recognize(img, faces);
  CHECK(r.size() == 3);
  std::vector<fer::Face> outside(1);
  outside[0].box = cv::Rect2f(500, 500, 10, 10);
  CHECK_THROWS_AS(p.recognize(img, outside), fer::Error);
  std::vector<fer::Face> degenerate(1);
  degenerate[0].box = cv::Rect2f(5, 5, 0, 10);
  CHECK_THROWS_AS(p.recognize(img, degenerate), fer::Error);
  // A box far larger than the image (it would ask for terabytes of border) or with a NaN corner.
  std::vector<fer::Face> huge(1);
  huge[0].box = cv::Rect2f(0, 0, 1e6f, 1e6f);
  CHECK_THROWS_WITH_AS(p.recognize(img, huge), doctest::Contains("times the 120x100 image"), fer::Error);
  huge[0].box = cv::Rect2f(-5e9f, -5e9f, 1e10f, 1e10f);
  CHECK_THROWS_AS(p.recognize(img, huge), fer::Error);
  huge[0].box = cv::Rect2f(std::nanf(""), 5, 10, 10);
  CHECK_THROWS_AS(p.recognize(img, huge), fer::Error);
  // The largest box accepted (16 times the longer side) still recognizes.
  huge[0].box = cv::Rect2f(-900, -900, 1920, 1920);
  CHECK(p.recognize(img, huge).size() == 1);
}

TEST_CASE("model inputs: crop gives the model's input type and size") {
  auto m = fer_test::tiny_model();
  cv::Mat img(200, 300, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  cv::Mat in = m->crop(img, cv::Rect2f(50, 40, 80, 100));
  CHECK(in.type() == CV_32FC1);
  CHECK(in.size() == cv::Size(48, 48));
  // Uniform gray 128 maps to (128/255 - 0.5) / 0.5.
  cv::Mat gray(60, 60, CV_8UC1, cv::Scalar(128));
  cv::Mat g = m->prepare(gray);
  CHECK(g.at<float>(10, 10) == doctest::Approx((128.0 / 255.0 - 0.5) / 0.5).epsilon(1e-5));
  // Predictions are deterministic for the same input.
  auto a = m->predict({g}), b = m->predict({g});
  CHECK(a[0].probabilities == b[0].probabilities);
}

TEST_CASE("pipeline options are validated") {
  fer::PipelineOptions o;
  o.threads = -1;
  CHECK_THROWS_AS(fer::Pipeline(o, fer_test::tiny_model()), fer::Error);
  o.threads = 1;
  o.detector = "does_not_exist";
  CHECK_THROWS_AS(fer::Pipeline(o, fer_test::tiny_model()), fer::Error);
  o.detector = "haar";
  o.model_path = "/nonexistent/model.fermodel";
  try {
    fer::Pipeline bad(o);
    FAIL("expected NotFound");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::NotFound);
  }
}

TEST_CASE("thread count option") {
  fer::set_num_threads(2);
  CHECK(fer::num_threads() == 2);
  fer::set_num_threads(1);
  CHECK(fer::num_threads() == 1);
  CHECK(fer::default_num_threads() >= 1);
  CHECK(fer::default_num_threads() <= fer::kMaxThreads);
  // An absurd count is refused before LibTorch would start that many threads.
  CHECK_THROWS_WITH_AS(fer::set_num_threads(fer::kMaxThreads + 1), doctest::Contains("at most 1024"), fer::Error);
  CHECK(fer::num_threads() == 1);  // unchanged
  fer::PipelineOptions o;
  o.threads = 1 << 20;
  CHECK_THROWS_AS(fer::Pipeline(o, fer_test::tiny_model()), fer::Error);
}

namespace {
// A labelled dataset of `n` gray 48x48 smooth random images (uniform noise,
// Gaussian-blurred), labels i % 7, with `classes`; deterministic for `seed`.
fer::Dataset smooth_random_dataset(const std::vector<std::string>& classes, int n, uint64_t seed) {
  fer::Dataset d;
  d.width = d.height = 48;
  d.classes = classes;
  cv::RNG rng(seed);
  for (int i = 0; i < n; ++i) {
    cv::Mat img(48, 48, CV_8UC1);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    cv::GaussianBlur(img, img, cv::Size(5, 5), 0);
    d.pixels.insert(d.pixels.end(), img.datastart, img.dataend);
    d.labels.push_back(i % 7);
    d.sources.push_back("synthetic " + std::to_string(i));
  }
  return d;
}
}  // namespace

TEST_CASE("test-time augmentation: flip and ten-crop average the views of fer eval --tta") {
  auto m = fer_test::tiny_model();
  std::vector<cv::Mat> faces = fer_test::smooth_random_faces(*m, 3, 7);
  const auto none = m->predict(faces, true);
  const auto flip = m->predict(faces, true, false, "flip");
  const auto ten = m->predict(faces, true, false, "tencrop");
  std::vector<cv::Mat> mirrored;
  for (const cv::Mat& f : faces) {
    cv::Mat g;
    cv::flip(f, g, 1);
    mirrored.push_back(g);
  }
  const auto mirror = m->predict(mirrored);
  REQUIRE(flip.size() == faces.size());
  REQUIRE(ten.size() == faces.size());
  double ten_moved = 0;
  for (size_t i = 0; i < faces.size(); ++i) {
    double sum = 0;
    for (size_t k = 0; k < none[i].probabilities.size(); ++k) {
      const double mean = (none[i].probabilities[k] + mirror[i].probabilities[k]) / 2;
      CHECK(flip[i].probabilities[k] == doctest::Approx(mean).epsilon(1e-5));
      ten_moved += std::abs(ten[i].probabilities[k] - none[i].probabilities[k]);
      sum += ten[i].probabilities[k];
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
    // Features are those of the face itself, whatever the views.
    CHECK(flip[i].features == none[i].features);
    CHECK(ten[i].features == none[i].features);
  }
  CHECK(ten_moved > 1e-6);  // the crops are other inputs
  // center: one pass over the centre crop that ten-crop's first view is.
  const auto center = m->predict(faces, true, false, "center");
  const auto center_alone = m->predict(faces, false, false, "center");
  double center_moved = 0;
  for (size_t i = 0; i < faces.size(); ++i) {
    // One pass: the features are the centre crop's, the probabilities as without features.
    CHECK(center[i].features != none[i].features);
    CHECK(center[i].probabilities == center_alone[i].probabilities);
    double sum = 0;
    for (size_t k = 0; k < none[i].probabilities.size(); ++k) {
      sum += center[i].probabilities[k];
      center_moved += std::abs(center[i].probabilities[k] - none[i].probabilities[k]);
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(center_moved > 1e-6);
  torch::Tensor x = torch::rand({2, 1, 48, 48});
  const std::vector<torch::Tensor> one = fer::detail::test_time_views(x, "center");
  const std::vector<torch::Tensor> ten_views = fer::detail::test_time_views(x, "tencrop");
  REQUIRE(one.size() == 1);
  REQUIRE(ten_views.size() == 10);
  CHECK(torch::equal(one[0], ten_views[0]));
  CHECK_FALSE(torch::equal(one[0], x));
  // The same views as fer::evaluate: its mean cross-entropy over a dataset of
  // these faces equals the one computed from predict()'s probabilities.
  const fer::Dataset d = smooth_random_dataset(m->info().classes, 4, 3);
  std::vector<cv::Mat> inputs;
  for (size_t i = 0; i < d.size(); ++i)
    inputs.push_back(m->prepare(cv::Mat(d.height, d.width, CV_8UC1, const_cast<uint8_t*>(d.image(i)))));
  for (const char* tta : {"none", "center", "flip", "tencrop"}) {
    fer::EvalOptions e;
    e.tta = tta;
    const double eval_loss = fer::evaluate(*m, d, e).loss;
    const auto p = m->predict(inputs, false, false, tta);
    double loss = 0;
    for (size_t i = 0; i < p.size(); ++i) loss -= std::log(double(p[i].probabilities[size_t(d.labels[i])]));
    CHECK_MESSAGE(loss / double(p.size()) == doctest::Approx(eval_loss).epsilon(1e-4), tta);
  }
  CHECK_THROWS_WITH_AS(m->predict(faces, false, false, "mirror"), doctest::Contains("tta must be"), fer::Error);
  fer::PipelineOptions o;
  o.threads = 1;
  o.tta = "rotate";
  CHECK_THROWS_AS(fer::Pipeline(o, m), fer::Error);
}

TEST_CASE("test-time augmentation in the pipeline: the face's probabilities are the mean over its views") {
  auto m = fer_test::tiny_model();
  cv::Mat img(240, 320, CV_8UC3);
  cv::RNG(5).fill(img, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(img, img, cv::Size(9, 9), 0);
  const cv::Rect2f box(100, 60, 90, 110);
  fer::PipelineOptions o;
  o.threads = 1;
  o.detector = "haar";
  o.tta = "flip";
  fer::Pipeline p(o, m);
  fer::Face face;
  face.box = box;
  face.score = 1;
  const auto r = p.recognize(img, {face});
  REQUIRE(r.size() == 1);
  const cv::Mat in = m->crop(img, p.detector_framing().to_reference(box));
  const auto expect = m->predict({in}, false, false, "flip")[0].probabilities;
  for (size_t k = 0; k < expect.size(); ++k) CHECK(r[0].probabilities[k] == doctest::Approx(expect[k]).epsilon(1e-6));
  CHECK(r[0].label_index == int(std::max_element(expect.begin(), expect.end()) - expect.begin()));
}

TEST_CASE("a model's own view: tta auto runs it everywhere, the file keeps it, choose_view sets it") {
  auto m = fer_test::tiny_model();
  REQUIRE(m->info().view == "none");
  std::vector<cv::Mat> faces = fer_test::smooth_random_faces(*m, 3, 11);
  auto probs = [&](const std::string& tta) {
    std::vector<std::vector<float>> out;
    for (const auto& p : m->predict(faces, false, false, tta)) out.push_back(p.probabilities);
    return out;
  };
  const auto none = probs("none"), center = probs("center");
  REQUIRE(none != center);
  CHECK(probs("auto") == none);
  CHECK(m->resolve_view("auto") == "none");
  CHECK(m->resolve_view("tencrop") == "tencrop");
  m->info().view = "center";
  CHECK(m->resolve_view("auto") == "center");
  CHECK(probs("auto") == center);
  CHECK(m->predict(faces)[0].probabilities == center[0]);  // the default is auto
  CHECK(probs("none") == none);                          // an explicit view is kept
  // flip and tencrop views do not stack on the model's own view.
  const auto flip = m->predict(faces, false, false, "flip");
  m->info().view = "none";
  const auto flip_plain = m->predict(faces, false, false, "flip");
  for (size_t i = 0; i < faces.size(); ++i) CHECK(flip[i].probabilities == flip_plain[i].probabilities);
  m->info().view = "center";

  // The file keeps the view; files without one read "none" and keep their bytes.
  const std::vector<uint8_t> bytes = m->to_bytes();
  auto loaded = fer::Model::from_bytes(bytes.data(), bytes.size());
  CHECK(loaded->info().view == "center");
  auto plain = fer_test::tiny_model();
  const std::vector<uint8_t> plain_bytes = plain->to_bytes();
  CHECK(std::string(plain_bytes.begin(), plain_bytes.end()).find("\"view\"") == std::string::npos);
  CHECK(fer::Model::from_bytes(plain_bytes.data(), plain_bytes.size())->info().view == "none");
  m->info().view = "flip";  // not a one-pass view
  CHECK_THROWS_WITH_AS(m->to_bytes(), doctest::Contains("unknown test-time view 'flip'"), fer::Error);
  CHECK_THROWS_WITH_AS(m->predict(faces), doctest::Contains("own view must be none or center"), fer::Error);
  m->info().view = "center";

  // The pipeline's default (auto) runs the model's view; Pipeline::view says which.
  cv::Mat img(240, 320, CV_8UC3);
  cv::RNG(5).fill(img, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(img, img, cv::Size(9, 9), 0);
  fer::PipelineOptions o;
  o.threads = 1;
  o.detector = "haar";
  fer::Pipeline p(o, m);
  CHECK(p.view() == "center");
  fer::Face face;
  face.box = cv::Rect2f(100, 60, 90, 110);
  face.score = 1;
  const cv::Mat in = m->crop(img, p.detector_framing().to_reference(face.box));
  const auto expect = m->predict({in}, false, false, "center")[0].probabilities;
  const auto got = p.recognize(img, {face});
  REQUIRE(got.size() == 1);
  for (size_t k = 0; k < expect.size(); ++k) CHECK(got[0].probabilities[k] == doctest::Approx(expect[k]).epsilon(1e-6));
  o.tta = "none";
  CHECK(fer::Pipeline(o, m).view() == "none");

  // evaluate: auto resolves per model and the report names the views run.
  const fer::Dataset d = smooth_random_dataset(m->info().classes, 40, 3);
  fer::EvalOptions e;
  const fer::EvalReport auto_report = fer::evaluate(*m, d, e);
  e.tta = "center";
  const fer::EvalReport center_report = fer::evaluate(*m, d, e);
  CHECK(auto_report.tta == "center");
  CHECK(auto_report.loss == center_report.loss);
  e.tta = "auto";
  CHECK(fer::evaluate(std::vector<const fer::Model*>{m.get(), plain.get()}, d, e).tta == "center,none");
  m->info().view = "zoom";  // refused before any work
  CHECK_THROWS_WITH_AS(fer::evaluate(*m, d, e), doctest::Contains("own view must be none or center"), fer::Error);
  m->info().view = "center";

  // choose_view: the more accurate one-pass view, with its evidence.
  e.tta = "tencrop";  // ignored
  const fer::ViewChoice c = fer::choose_view(*m, d, e, "synthetic val");
  REQUIRE(c.accuracy.size() == 2);
  e.tta = "none";
  CHECK(c.accuracy.at("none") == fer::evaluate(*m, d, e).accuracy);
  CHECK(c.accuracy.at("center") == center_report.accuracy);
  CHECK(c.view == (c.accuracy.at("center") > c.accuracy.at("none") ? "center" : "none"));
  CHECK(m->info().view == c.view);
  CHECK(m->info().metrics.at("view_accuracy_center") == c.accuracy.at("center"));
  CHECK(m->info().provenance.at("view_chosen_on").find("synthetic val (40 images, fp32): none ") == 0);
  // A one-image dataset on which the views disagree, made so by shifting the
  // head's biases: "none" then predicts class a, "center" class b, so labelled
  // b the choice is center, labelled a it is none.
  fer::Dataset one = d;
  one.pixels.resize(size_t(d.width * d.height));
  for (int y = 0; y < d.height; ++y)  // a one-pixel checkerboard: resampled, the centre crop is another image
    for (int x = 0; x < d.width; ++x) one.pixels[size_t(y * d.width + x)] = uint8_t((x + y) % 2 ? 255 : 0);
  one.labels.resize(1);
  one.sources.resize(1);
  auto probabilities_in = [&](const char* view) {
    fer::EvalOptions x;
    x.tta = view;
    return fer::evaluate(*m, one, x).probabilities;
  };
  const std::vector<float> pn = probabilities_in("none"), pc = probabilities_in("center");
  REQUIRE(pn.size() == m->info().classes.size());
  size_t a = 0, b = 1;
  double moved = 0;  // how far the log-odds of a over b move between the views
  for (size_t i = 0; i < pn.size(); ++i)
    for (size_t j = 0; j < pn.size(); ++j) {
      const double dij = (std::log(pn[i]) - std::log(pn[j])) - (std::log(pc[i]) - std::log(pc[j]));
      if (dij > moved) a = i, b = j, moved = dij;
    }
  REQUIRE(moved > 1e-3);
  fer::TensorList head = m->classifier().state();
  bool shifted = false;
  for (fer::NamedTensor& t : head)
    if (t.shape == std::vector<int64_t>{int64_t(pn.size())}) {  // the bias
      for (size_t k = 0; k < pn.size(); ++k)
        t.data[k] += k == a ? -std::log(pn[a]) : k == b ? -std::log(pn[b]) - moved / 2 : -50.f;
      shifted = true;
    }
  REQUIRE(shifted);
  m->classifier().load_state(head);
  one.labels[0] = int32_t(b);
  m->info().view = "none";
  CHECK(fer::choose_view(*m, one, e).view == "center");
  CHECK(m->info().view == "center");
  CHECK(m->info().metrics.at("view_accuracy_center") == 1.0);
  CHECK(m->info().metrics.at("view_accuracy_none") == 0.0);
  one.labels[0] = int32_t(a);
  CHECK(fer::choose_view(*m, one, e).view == "none");
  CHECK(m->info().view == "none");
}

namespace {
// Smooth random 8-bit face images of assorted sizes and formats (not prepared).
std::vector<cv::Mat> raw_faces(int n, uint64_t seed) {
  cv::RNG rng(seed);
  const int types[] = {CV_8UC1, CV_8UC3, CV_8UC4};
  std::vector<cv::Mat> out;
  for (int i = 0; i < n; ++i) {
    cv::Mat img(30 + 7 * (i % 5), 40 + 3 * (i % 4), types[i % 3]);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    cv::GaussianBlur(img, img, cv::Size(5, 5), 0);
    out.push_back(img);
  }
  return out;
}
}  // namespace

TEST_CASE("predict_faces: prepare + predict in chunks, in order, errors naming the face") {
  auto m = fer_test::tiny_model();
  // Across the chunk boundary: each row equals the face predicted alone.
  const std::vector<cv::Mat> faces = raw_faces(int(fer::Model::kFaceChunk) + 13, 7);
  const std::vector<fer::Prediction> all = m->predict_faces(faces);
  REQUIRE(all.size() == faces.size());
  for (size_t i : {size_t(0), size_t(1), fer::Model::kFaceChunk - 1, fer::Model::kFaceChunk, faces.size() - 1}) {
    CAPTURE(i);
    const auto alone = m->predict({m->prepare(faces[i])})[0].probabilities;
    REQUIRE(all[i].probabilities.size() == alone.size());
    for (size_t k = 0; k < alone.size(); ++k) CHECK(all[i].probabilities[k] == doctest::Approx(alone[k]).epsilon(1e-5));
  }
  // Features, attention and test-time augmentation are predict()'s.
  const std::vector<cv::Mat> three(faces.begin(), faces.begin() + 3);
  std::vector<cv::Mat> prepared;
  for (const cv::Mat& f : three) prepared.push_back(m->prepare(f));
  const auto flip = m->predict_faces(three, true, false, "flip");
  const auto expect = m->predict(prepared, true, false, "flip");
  for (size_t i = 0; i < 3; ++i) {
    CHECK(flip[i].features == expect[i].features);
    for (size_t k = 0; k < expect[i].probabilities.size(); ++k)
      CHECK(flip[i].probabilities[k] == doctest::Approx(expect[i].probabilities[k]).epsilon(1e-5));
  }
  CHECK(m->predict_faces(std::vector<cv::Mat>{}).empty());
  // predict() itself runs more than kFaceChunk inputs a chunk at a time, in order.
  std::vector<cv::Mat> many;
  for (const cv::Mat& f : faces) many.push_back(m->prepare(f));
  const std::vector<fer::Prediction> direct = m->predict(many, true);
  REQUIRE(direct.size() == many.size());
  for (size_t i : {size_t(0), fer::Model::kFaceChunk - 1, fer::Model::kFaceChunk, many.size() - 1}) {
    CAPTURE(i);
    for (size_t k = 0; k < all[i].probabilities.size(); ++k)
      CHECK(direct[i].probabilities[k] == doctest::Approx(all[i].probabilities[k]).epsilon(1e-5));
    CHECK(!direct[i].features.empty());
  }

  // The fetching overload: each index once, in order.
  std::vector<size_t> asked;
  const auto fetched = m->predict_faces(three.size(), [&](size_t i) {
    asked.push_back(i);
    return three[i];
  });
  CHECK(asked == std::vector<size_t>{0, 1, 2});
  CHECK(fetched[2].probabilities == m->predict_faces(three)[2].probabilities);

  // A bad tta is refused before any face is fetched.
  asked.clear();
  CHECK_THROWS_AS(m->predict_faces(3, [&](size_t i) { asked.push_back(i); return three[i]; }, false, false, "mirror"),
                  fer::Error);
  CHECK(asked.empty());
  // An unusable face names its index; what the fetcher throws passes through.
  std::vector<cv::Mat> bad = three;
  bad[1] = cv::Mat(10, 10, CV_16UC1, cv::Scalar(3));
  try {
    m->predict_faces(bad);
    FAIL("a 16-bit face was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
    CHECK(std::string(e.what()).rfind("faces[1]: ", 0) == 0);
  }
  CHECK_THROWS_WITH(m->predict_faces(2, [](size_t) -> cv::Mat { throw fer::Error(fer::Status::IoError, "unreadable"); }),
                    "unreadable");
}

TEST_CASE("recognize_crops: each whole image is a face, recognized as predict_faces does") {
  auto m = fer_test::tiny_model();
  fer::PipelineOptions o;
  o.threads = 1;
  o.detector = "haar";
  o.tta = "flip";
  o.return_features = true;
  o.max_image_pixels = 100 * 100;
  fer::Pipeline p(o, m);
  const std::vector<cv::Mat> faces = raw_faces(4, 11);
  const auto r = p.recognize_crops(faces);
  const auto expect = m->predict_faces(faces, true, false, "flip");
  REQUIRE(r.size() == faces.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    CAPTURE(i);
    CHECK(r[i].face.box == cv::Rect2f(0.f, 0.f, float(faces[i].cols), float(faces[i].rows)));
    CHECK(r[i].probabilities == expect[i].probabilities);
    CHECK(r[i].features == expect[i].features);
    const auto best = std::max_element(expect[i].probabilities.begin(), expect[i].probabilities.end());
    CHECK(r[i].label_index == int(best - expect[i].probabilities.begin()));
    CHECK(r[i].label == m->info().classes[size_t(r[i].label_index)]);
  }
  // The pipeline's pixel limit applies, naming the image.
  std::vector<cv::Mat> with_large = faces;
  with_large.insert(with_large.begin() + 2, cv::Mat(101, 100, CV_8UC1, cv::Scalar(9)));
  try {
    p.recognize_crops(with_large);
    FAIL("an image over max_image_pixels was accepted");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::InvalidArgument);
    CHECK(std::string(e.what()).rfind("faces[2]: ", 0) == 0);
  }
  CHECK(p.recognize_crops({}).empty());
}
