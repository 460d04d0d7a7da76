// Dataset readers (folder, fer2013csv, ferplus, rafdb, affectnet), the FERPlus
// majority rule and the packed cache, on tiny fixtures written to a temp dir.
#include "support.hpp"

#include "io/crc32.hpp"
#include "io/dataset_internal.hpp"

#include <doctest/doctest.h>
#include <fer/train.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <iterator>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

/// A fresh, empty folder under the tests' temp dir.
fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::path(FER_TEST_TMP_DIR) / "datasets" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
  REQUIRE(f.good());
}

/// A gray test image whose pixels encode `seed` (so images can be told apart).
cv::Mat test_image(int seed, int width = 48, int height = 48) {
  cv::Mat img(height, width, CV_8UC1);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) img.at<uint8_t>(y, x) = uint8_t((seed * 37 + x * 3 + y * 5) % 256);
  return img;
}

void write_image(const fs::path& path, const cv::Mat& img) {
  fs::create_directories(path.parent_path());
  REQUIRE(cv::imwrite(path.string(), img));
}

bool same_pixels(const fer::Dataset& d, size_t i, const cv::Mat& img) {
  if (img.cols != d.width || img.rows != d.height || img.channels() != d.channels) return false;
  for (int y = 0; y < img.rows; ++y)
    if (std::memcmp(img.ptr(y), d.image(i) + size_t(y) * d.width * d.channels, size_t(d.width) * d.channels) != 0)
      return false;
  return true;
}

/// Runs `fn`, expecting fer::Error with `status` and a message holding every part.
void expect_error(const std::function<void()>& fn, fer::Status status, std::initializer_list<std::string> parts) {
  try {
    fn();
    FAIL("expected fer::Error(" << std::string(fer::status_name(status)) << ")");
  } catch (const fer::Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.status() == status);
    for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "missing '" << p << "'");
  }
}

fer::DatasetSpec spec_for(const std::string& format, const fs::path& path) {
  fer::DatasetSpec spec;
  spec.format = format;
  spec.path = path.string();
  return spec;
}

std::string pixel_string(const cv::Mat& img, int count = -1) {
  std::string s;
  int n = count < 0 ? int(img.total()) : count;
  for (int i = 0; i < n; ++i) s += (i ? " " : "") + std::to_string(img.data[i % img.total()]);
  return s;
}

Bytes read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
void write_bytes(const fs::path& p, const Bytes& b) {
  fs::remove(p);  // rewriting in place (O_TRUNC) can force a flush per file on ext4
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

void check_same(const fer::Dataset& a, const fer::Dataset& b) {
  CHECK(a.width == b.width);
  CHECK(a.height == b.height);
  CHECK(a.channels == b.channels);
  CHECK(a.classes == b.classes);
  CHECK(a.pixels == b.pixels);
  CHECK(a.labels == b.labels);
  REQUIRE(a.soft_labels.size() == b.soft_labels.size());
  if (!a.soft_labels.empty())  // memcmp on the null data() of empty vectors is undefined
    CHECK(std::memcmp(a.soft_labels.data(), b.soft_labels.data(), a.soft_labels.size() * sizeof(float)) == 0);
  CHECK(a.sources == b.sources);
  CHECK(a.dropped == b.dropped);
  CHECK(a.notes == b.notes);
}

}  // namespace

// --- folder ------------------------------------------------------------------

TEST_CASE("dataset folder: aliases map to canonical classes in FER-2013 order") {
  fs::path root = fresh_dir("folder");
  // No disgust, fear, surprise: a subset must work; order is FER-2013's.
  const char* folders[] = {"neutral", "Happy", "angry", "sad"};
  int seed = 0;
  for (const char* f : folders)
    for (int i = 0; i < 3; ++i) write_image(root / "train" / f / ("img" + std::to_string(i) + ".png"), test_image(seed++));
  write_text(root / "train" / "sad" / "README.txt", "not an image");
  write_text(root / "train" / ".hidden", "ignored");

  fer::DatasetSpec spec = spec_for("folder", root);
  spec.split = "train";
  fer::Dataset d = fer::read_dataset(spec);
  CHECK(d.classes == std::vector<std::string>{"anger", "happiness", "sadness", "neutral"});
  REQUIRE(d.size() == 12);
  CHECK(d.class_counts() == std::vector<int64_t>{3, 3, 3, 3});
  CHECK(d.width == 48);
  CHECK(d.height == 48);
  CHECK(d.channels == 1);
  CHECK_FALSE(d.has_soft_labels());
  // Class by class, files sorted: anger first (folder "angry" held seeds 6..8).
  CHECK(d.sources[0] == "angry/img0.png");
  CHECK(d.labels[0] == 0);
  CHECK(same_pixels(d, 0, test_image(6)));
  CHECK(d.sources[11] == "neutral/img2.png");
  CHECK(same_pixels(d, 11, test_image(2)));
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].find("skipped 1") != std::string::npos);

  // Three channels: gray PNGs become BGR with equal channels.
  spec.channels = 3;
  fer::Dataset c = fer::read_dataset(spec);
  CHECK(c.image_bytes() == 48 * 48 * 3);
  CHECK(c.image(0)[0] == d.image(0)[0]);
  CHECK(c.image(0)[2] == d.image(0)[0]);
}

TEST_CASE("dataset folder: rejects unknown classes, missing folders, wrong sizes and bad images") {
  fs::path root = fresh_dir("folder_bad");
  write_image(root / "ok" / "happy" / "a.png", test_image(1));
  write_image(root / "ok" / "bored" / "a.png", test_image(2));
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "ok")); }, fer::Status::InvalidArgument,
               {"bored", "anger", "happiness", "contempt"});
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "absent")); }, fer::Status::NotFound, {"absent"});

  write_image(root / "dup" / "happy" / "a.png", test_image(1));
  write_image(root / "dup" / "happiness" / "b.png", test_image(1));
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "dup")); }, fer::Status::InvalidArgument,
               {"happy", "happiness"});

  write_image(root / "size" / "sad" / "a.png", test_image(1));
  write_image(root / "size" / "sad" / "big.png", test_image(2, 64, 60));
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "size")); }, fer::Status::ShapeMismatch,
               {"big.png", "64x60", "48x48", "resize"});
  fer::DatasetSpec resized = spec_for("folder", root / "size");
  resized.resize = true;
  CHECK(fer::read_dataset(resized).size() == 2);

  write_image(root / "junk" / "fear" / "a.png", test_image(1));
  write_text(root / "junk" / "fear" / "broken.jpg", "this is not a JPEG");
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "junk")); }, fer::Status::CorruptData,
               {"broken.jpg", "decode"});

  fs::create_directories(root / "empty" / "fear");
  expect_error([&] { fer::read_dataset(spec_for("folder", root / "empty")); }, fer::Status::InvalidArgument,
               {"no images"});
  fer::DatasetSpec bad_format = spec_for("csv", root);
  expect_error([&] { fer::read_dataset(bad_format); }, fer::Status::InvalidArgument, {"csv", "fer2013csv", "ferplus"});
}

TEST_CASE("dataset decoding reports the first bad image whatever the thread count") {
  fs::path root = fresh_dir("folder_threads");
  for (int i = 0; i < 40; ++i) write_image(root / "sad" / ("img" + std::to_string(100 + i) + ".png"), test_image(i));
  write_image(root / "sad" / "img105x.png", test_image(1, 30, 30));
  write_image(root / "sad" / "img130x.png", test_image(1, 20, 20));
  std::string first;
  for (int threads : {1, 2, 4, 8}) {
    fer::DatasetSpec spec = spec_for("folder", root);
    spec.threads = threads;
    try {
      fer::read_dataset(spec);
      FAIL("expected an error");
    } catch (const fer::Error& e) {
      if (first.empty()) first = e.what();
      CHECK(std::string(e.what()) == first);
    }
  }
  CHECK(first.find("img105x.png") != std::string::npos);
}

TEST_CASE("dataset reading stops on request (DatasetSpec::stop) and reads as before while not requested") {
  fs::path root = fresh_dir("folder_stop");
  for (int i = 0; i < 20; ++i) write_image(root / "sad" / ("img" + std::to_string(i) + ".png"), test_image(i));
  std::string csv = "emotion,pixels,Usage\n";
  for (int i = 0; i < 5; ++i) csv += "4," + pixel_string(test_image(i)) + ",Training\n";
  write_text(root / "fer2013.csv", csv);
  std::atomic<bool> stop{false};
  for (int threads : {1, 2}) {
    fer::DatasetSpec folder = spec_for("folder", root);
    fer::DatasetSpec table = spec_for("fer2013csv", root / "fer2013.csv");
    folder.threads = table.threads = threads;
    folder.stop = table.stop = &stop;
    stop = false;
    CHECK(fer::read_dataset(folder).size() == 20);
    CHECK(fer::read_dataset(table).size() == 5);
    stop = true;
    expect_error([&] { fer::read_dataset(folder); }, fer::Status::Cancelled,
                 {"reading the folder dataset", root.string(), "stopped on request"});
    expect_error([&] { fer::read_dataset(table); }, fer::Status::Cancelled, {"fer2013csv", "stopped on request"});
  }
}

// --- fer2013csv -------------------------------------------------------------------

TEST_CASE("a spec that reads a test split is recognised, and tuning on one is refused before any reading") {
  auto spec = [](const char* format, const char* path, const char* split) {
    fer::DatasetSpec s;
    s.format = format;
    s.path = path;
    s.split = split;
    return s;
  };
  // Test splits: by name (any case), by folder name (trailing slash or not), or a whole file holding every split.
  for (const fer::DatasetSpec& s :
       {spec("folder", "/data/fer2013/test", ""), spec("folder", "/data/fer2013/test/", ""),
        spec("folder", "/data/fer2013", "test"), spec("fer2013csv", "/data/fer2013.csv", "PrivateTest"),
        spec("fer2013csv", "/data/fer2013.csv", ""), spec("ferplus", "/data/ferplus", "TEST"),
        spec("ferplus", "/data/ferplus/FER2013Test", ""), spec("ferplus", "/data/ferplus", "FER2013Test/"),
        spec("folder", "/data", "fer2013/test/"), spec("folder", "/data/fer2013/test/.", ""),
        spec("rafdb", "/data/raf", "")}) {
    CAPTURE(s.path);
    CAPTURE(s.split);
    CHECK(fer::reads_test_split(s));
  }
  for (const fer::DatasetSpec& s :
       {spec("folder", "/data/fer2013/val", ""), spec("folder", "/data/tests", ""), spec("folder", "/data/test", "train"),
        spec("fer2013csv", "/data/fer2013.csv", "PublicTest"), spec("ferplus", "/data/ferplus", "valid"),
        spec("rafdb", "/data/raf", "train"), spec("folder", "/data/fer2013/test/..", ""),
        spec("affectnet", "/data/test.csv", "")}) {  // affectnet: nothing to tell a test csv by
    CAPTURE(s.path);
    CAPTURE(s.split);
    CHECK_FALSE(fer::reads_test_split(s));
  }
  CHECK_NOTHROW(fer::refuse_test_split(spec("folder", "/data/fer2013/val", ""), "tuning"));
  CHECK_THROWS_WITH_AS(fer::refuse_test_split(spec("folder", "/data/fer2013/test/", ""), "tuning"),
                       doctest::Contains("tuning tunes on its data: give the training or validation split, not the "
                                         "test split (folder /data/fer2013/test/)"),
                       fer::Error);
  CHECK_THROWS_WITH_AS(fer::refuse_test_split(spec("fer2013csv", "/data/fer2013.csv", ""), "tuning"),
                       doctest::Contains("needs a split (--split, split=)"), fer::Error);
  // int8 calibration on a spec: refused before the (here missing) data is looked for.
  auto model = fer_test::tiny_model();
  CHECK_THROWS_WITH_AS(fer::calibrate(*model, spec("folder", "/nonexistent/test", ""), {}),
                       doctest::Contains("int8 calibration tunes on its data"), fer::Error);
  CHECK_THROWS_AS(fer::calibrate(*model, spec("folder", "/nonexistent/val", ""), {}), fer::Error);  // not found
}

TEST_CASE("dataset fer2013csv: labels, Usage splits and exact pixels") {
  fs::path dir = fresh_dir("fer2013csv");
  std::string csv = "emotion,pixels,Usage\r\n";
  const int emotions[] = {0, 3, 6, 4, 2, 5};
  const char* usages[] = {"Training", "Training", "PublicTest", "PrivateTest", "Training", "PublicTest"};
  for (int i = 0; i < 6; ++i)
    csv += std::to_string(emotions[i]) + "," + pixel_string(test_image(i)) + "," + usages[i] + "\r\n";
  write_text(dir / "fer2013.csv", csv);

  fer::DatasetSpec spec = spec_for("fer2013csv", dir / "fer2013.csv");
  fer::Dataset all = fer::read_dataset(spec);
  CHECK(all.classes == fer::fer2013_classes());
  REQUIRE(all.size() == 6);
  CHECK(all.labels == std::vector<int32_t>{0, 3, 6, 4, 2, 5});
  CHECK(all.sources[0] == "fer2013.csv:2");
  for (size_t i = 0; i < 6; ++i) CHECK(same_pixels(all, i, test_image(int(i))));

  spec.split = "Training";
  fer::Dataset train = fer::read_dataset(spec);
  CHECK(train.labels == std::vector<int32_t>{0, 3, 2});
  CHECK(same_pixels(train, 2, test_image(4)));
  spec.split = "val";
  CHECK(fer::read_dataset(spec).labels == std::vector<int32_t>{6, 5});
  spec.split = "PrivateTest";
  CHECK(fer::read_dataset(spec).size() == 1);
  spec.split = "holdout";
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::InvalidArgument, {"holdout", "PublicTest"});

  spec.split = "";
  spec.width = spec.height = 64;
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::ShapeMismatch, {"fer2013.csv", "48x48", "resize"});
  spec.resize = true;
  CHECK(fer::read_dataset(spec).image_bytes() == 64 * 64);
}

TEST_CASE("dataset fer2013csv: malformed rows name the file and the line") {
  fs::path dir = fresh_dir("fer2013csv_bad");
  const std::string good = "3," + pixel_string(test_image(1)) + ",Training\n";
  auto check_bad = [&](const std::string& row, fer::Status status, std::initializer_list<std::string> parts) {
    write_text(dir / "bad.csv", "emotion,pixels,Usage\n" + good + good + row + good);
    expect_error([&] { fer::read_dataset(spec_for("fer2013csv", dir / "bad.csv")); }, status, parts);
  };
  check_bad("3," + pixel_string(test_image(1), 2303) + ",Training\n", fer::Status::CorruptData,
            {"bad.csv", "line 4", "2304", "2303"});
  check_bad("3," + pixel_string(test_image(1), 2305) + ",Training\n", fer::Status::CorruptData, {"bad.csv", "line 4", "2305"});
  check_bad("7," + pixel_string(test_image(1)) + ",Training\n", fer::Status::CorruptData, {"bad.csv", "line 4", "emotion"});
  check_bad("3," + pixel_string(test_image(1)) + "\n", fer::Status::CorruptData, {"bad.csv", "line 4", "columns"});
  check_bad("3,1 2 256 4,Training\n", fer::Status::CorruptData, {"bad.csv", "line 4", "256"});
  check_bad("3,1 2 x 4,Training\n", fer::Status::CorruptData, {"bad.csv", "line 4", "'x'"});

  write_text(dir / "header.csv", "label,image\n" + good);
  expect_error([&] { fer::read_dataset(spec_for("fer2013csv", dir / "header.csv")); }, fer::Status::CorruptData,
               {"header.csv", "line 1", "pixels"});
  expect_error([&] { fer::read_dataset(spec_for("fer2013csv", dir / "absent.csv")); }, fer::Status::NotFound,
               {"absent.csv"});
}

// --- ferplus ---------------------------------------------------------------------

TEST_CASE("dataset ferplus: the majority rule with outlier removal") {
  using fer::detail::ferplus_label;
  // Votes: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
  auto r = ferplus_label({6, 0, 1, 1, 0, 0, 0, 0, 2, 0});  // single votes dropped: 6 of 8
  CHECK(r.label == 0);
  CHECK(r.kept());
  CHECK(r.soft[0] == doctest::Approx(1.0));  // unknown votes are not an emotion
  r = ferplus_label({5, 0, 0, 3, 1, 0, 0, 0, 1, 0});  // 5 of 8
  CHECK(r.label == 0);
  CHECK(r.soft[0] == doctest::Approx(5.0 / 8));
  CHECK(r.soft[3] == doctest::Approx(3.0 / 8));
  CHECK(r.soft[4] == 0.f);
  // 4 of 9 after removing the single sadness vote: no majority.
  CHECK(ferplus_label({4, 0, 0, 1, 3, 2, 0, 0, 0, 0}).label == -1);
  // Tie: 5 of 10 is not more than half.
  CHECK(ferplus_label({5, 5, 0, 0, 0, 0, 0, 0, 0, 0}).label == -1);
  // Outlier removal creates the majority: 5 of 10 before, 5 of 5 after.
  r = ferplus_label({5, 1, 1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(r.label == 0);
  CHECK(r.soft[0] == doctest::Approx(1.0));
  // Outlier removal also removes the majority: 2 of 2 single votes left nothing.
  CHECK(ferplus_label({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}).label == -1);
  CHECK(ferplus_label({0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).label == -1);
  // Unknown and not-a-face majorities are not kept.
  r = ferplus_label({0, 2, 0, 0, 0, 0, 0, 0, 8, 0});
  CHECK(r.label == 8);
  CHECK_FALSE(r.kept());
  r = ferplus_label({0, 0, 0, 0, 0, 0, 0, 0, 0, 10});
  CHECK(r.label == 9);
  CHECK_FALSE(r.kept());
  // Contempt is the 8th emotion; soft labels come from filtered emotion votes only.
  r = ferplus_label({0, 0, 0, 0, 0, 0, 0, 7, 3, 0});
  CHECK(r.label == 7);
  CHECK(r.soft[7] == doctest::Approx(1.0));
  r = ferplus_label({0, 2, 0, 0, 0, 0, 3, 0, 0, 0});
  CHECK(r.label == 6);
  CHECK(r.soft[1] == doctest::Approx(0.4));
  CHECK(r.soft[6] == doctest::Approx(0.6));
}

namespace {

const char* const kFerplusRows[] = {
    "fer0000000.png,\"(0, 0, 48, 48)\",4,0,0,1,3,2,0,0,0,0",  // no majority: dropped
    "fer0000001.png,\"(0, 0, 48, 48)\",6,0,1,1,0,0,0,0,2,0",  // neutral
    "fer0000002.png,\"(0, 0, 48, 48)\",0,0,0,3,0,0,0,0,0,7",  // not a face: dropped
    "fer0000003.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,8,2",  // unknown: dropped
    "fer0000004.png,\"(0, 0, 48, 48)\",0,3,7,0,0,0,0,0,0,0",  // surprise, soft 0.3/0.7
    "fer0000005.png,\"(0, 0, 48, 48)\",5,5,0,0,0,0,0,0,0,0",  // tie: dropped
    "fer0000006.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,9,1,0",  // contempt
};

fs::path write_ferplus(const fs::path& folder) {
  std::string csv;
  for (size_t i = 0; i < std::size(kFerplusRows); ++i) {
    csv += std::string(kFerplusRows[i]) + "\n";
    write_image(folder / ("fer000000" + std::to_string(i) + ".png"), test_image(int(i)));
  }
  write_text(folder / "label.csv", csv);
  return folder;
}

}  // namespace

TEST_CASE("dataset ferplus: majority labels, soft labels and dropped images") {
  fs::path root = fresh_dir("ferplus");
  write_ferplus(root / "FER2013Train");
  fer::DatasetSpec spec = spec_for("ferplus", root);
  spec.split = "train";
  fer::Dataset d = fer::read_dataset(spec);
  CHECK(d.classes == fer::ferplus_classes());
  REQUIRE(d.size() == 3);
  CHECK(d.dropped == 4);
  CHECK(d.labels == std::vector<int32_t>{0, 2, 7});
  CHECK(d.sources == std::vector<std::string>{"fer0000001.png", "fer0000004.png", "fer0000006.png"});
  REQUIRE(d.has_soft_labels());
  CHECK(d.soft_labels[0] == doctest::Approx(1.0));
  CHECK(d.soft_labels[8 + 1] == doctest::Approx(0.3));
  CHECK(d.soft_labels[8 + 2] == doctest::Approx(0.7));
  CHECK(d.soft_labels[16 + 7] == doctest::Approx(1.0));
  CHECK(same_pixels(d, 1, test_image(4)));
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].find("dropped 4") != std::string::npos);
  CHECK(d.notes[0].find("2 without a majority, 1 unknown, 1 not a face") != std::string::npos);

  // The folder itself works too.
  CHECK(fer::read_dataset(spec_for("ferplus", root / "FER2013Train")).size() == 3);
}

TEST_CASE("dataset ferplus: malformed label files name the file and the line") {
  fs::path root = fresh_dir("ferplus_bad");
  auto check_bad = [&](const std::string& row, fer::Status status, std::initializer_list<std::string> parts) {
    fs::path folder = write_ferplus(root / "set");
    write_text(folder / "label.csv", std::string(kFerplusRows[1]) + "\n" + kFerplusRows[4] + "\n" + row + "\n");
    expect_error([&] { fer::read_dataset(spec_for("ferplus", folder)); }, status, parts);
  };
  check_bad("fer0000006.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,9,1", fer::Status::CorruptData,
            {"label.csv", "line 3", "12 columns"});
  check_bad("fer0000006.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,nine,1,0", fer::Status::CorruptData,
            {"label.csv", "line 3", "nine"});
  check_bad("fer0000006.png,\"(0, 0, 48)\",0,0,0,0,0,0,0,9,1,0", fer::Status::CorruptData,
            {"label.csv", "line 3", "face box"});
  check_bad("fer0000006.png,\"(0, 0, 48, 48),0,0,0,0,0,0,0,9,1,0", fer::Status::CorruptData,
            {"label.csv", "line 3", "quote"});
  check_bad("fer9999999.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,9,1,0", fer::Status::NotFound,
            {"fer9999999.png", "label.csv line 3", "not found"});
  // A FIFO named by a row, or standing for the label file, is refused without
  // being opened (opening it would block until some writer came along).
  fs::path fifos = write_ferplus(root / "fifo");
  fs::remove(fifos / "fer0000006.png");
  REQUIRE(::mkfifo((fifos / "fer0000006.png").c_str(), 0600) == 0);
  write_text(fifos / "label.csv",
             std::string(kFerplusRows[1]) + "\nfer0000006.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,9,1,0\n");
  expect_error([&] { fer::read_dataset(spec_for("ferplus", fifos)); }, fer::Status::InvalidArgument,
               {"fer0000006.png", "label.csv line 2", "not a regular file"});
  fs::remove(fifos / "label.csv");
  REQUIRE(::mkfifo((fifos / "label.csv").c_str(), 0600) == 0);
  expect_error([&] { fer::read_dataset(spec_for("ferplus", fifos)); }, fer::Status::InvalidArgument,
               {"label.csv", "not a regular file"});
  // A dropped row's image is never opened.
  fs::path folder = write_ferplus(root / "set");
  write_text(folder / "label.csv", std::string(kFerplusRows[1]) + "\nfer9999999.png,\"(0, 0, 48, 48)\",0,0,0,0,0,0,0,0,0,10\n");
  CHECK(fer::read_dataset(spec_for("ferplus", folder)).size() == 1);
}

TEST_CASE("dataset ferplus: wrong image size and a missing label file") {
  fs::path root = fresh_dir("ferplus_size");
  fs::path folder = write_ferplus(root / "set");
  write_image(folder / "fer0000004.png", test_image(4, 50, 48));
  expect_error([&] { fer::read_dataset(spec_for("ferplus", folder)); }, fer::Status::ShapeMismatch,
               {"fer0000004.png", "label.csv line 5", "50x48"});
  fs::remove(folder / "label.csv");
  expect_error([&] { fer::read_dataset(spec_for("ferplus", folder)); }, fer::Status::NotFound, {"label.csv"});
}

// --- rafdb -----------------------------------------------------------------------

TEST_CASE("dataset rafdb: labels, splits and the aligned images") {
  fs::path root = fresh_dir("rafdb");
  // RAF-DB labels: 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral.
  const char* names[] = {"train_00001", "train_00002", "train_00003", "test_0001", "test_0002"};
  const int labels[] = {5, 1, 7, 4, 6};
  std::string list;
  for (int i = 0; i < 5; ++i) {
    list += std::string(names[i]) + ".jpg " + std::to_string(labels[i]) + "\n";
    write_image(root / "Image" / "aligned" / (std::string(names[i]) + "_aligned.jpg"), test_image(i, 100, 100));
  }
  write_text(root / "list_patition_label.txt", list);

  fer::DatasetSpec spec = spec_for("rafdb", root);
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::ShapeMismatch,
               {"train_00001_aligned.jpg", "list_patition_label.txt line 1", "100x100"});
  spec.resize = true;
  fer::Dataset all = fer::read_dataset(spec);
  CHECK(all.classes == fer::fer2013_classes());
  // sadness, surprise, neutral, happiness, anger in fer2013_classes() indices.
  CHECK(all.labels == std::vector<int32_t>{4, 5, 6, 3, 0});
  CHECK(all.width == 48);
  spec.split = "train";
  CHECK(fer::read_dataset(spec).size() == 3);
  spec.split = "test";
  fer::Dataset test = fer::read_dataset(spec);
  CHECK(test.sources == std::vector<std::string>{"test_0001.jpg", "test_0002.jpg"});
  spec.split = "val";
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::InvalidArgument, {"val", "train", "test"});

  spec.split = "";
  write_text(root / "list_patition_label.txt", list + "train_00009.jpg 8\n");
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::CorruptData, {"list_patition_label.txt", "line 6", "1..7"});
  write_text(root / "list_patition_label.txt", list + "train_00009.jpg\n");
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::CorruptData, {"list_patition_label.txt", "line 6"});
  write_text(root / "list_patition_label.txt", list + "train_00009.jpg 2\n");
  expect_error([&] { fer::read_dataset(spec); }, fer::Status::NotFound,
               {"train_00009_aligned.jpg", "list_patition_label.txt line 6"});
}

// --- affectnet ---------------------------------------------------------------------

TEST_CASE("dataset affectnet: face crops, class order and skipped expressions") {
  fs::path root = fresh_dir("affectnet");
  // A 100x80 image with a distinct 48x48 face at (30, 20).
  auto photo = [](int seed) {
    cv::Mat img(80, 100, CV_8UC1, cv::Scalar(7));
    test_image(seed).copyTo(img(cv::Rect(30, 20, 48, 48)));
    return img;
  };
  const int expressions[] = {1, 8, 6, 7, 10, 0, 9};
  std::string csv = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n";
  for (int i = 0; i < 7; ++i) {
    std::string file = std::to_string(i % 2) + "/img" + std::to_string(i) + ".png";
    if (expressions[i] < 8) write_image(root / "images" / file, photo(i));
    csv += file + ",30,20,48,48,\"1.0;2.0;3.0\"," + std::to_string(expressions[i]) + ",0.1,-0.2\n";
  }
  write_text(root / "training.csv", csv);

  fer::DatasetSpec spec = spec_for("affectnet", root / "training.csv");
  spec.image_root = (root / "images").string();
  fer::Dataset d = fer::read_dataset(spec);
  CHECK(d.classes == std::vector<std::string>{"anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral",
                                              "contempt"});
  REQUIRE(d.size() == 4);
  CHECK(d.labels == std::vector<int32_t>{3, 0, 7, 6});
  CHECK(d.dropped == 3);
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].find("1 none, 1 uncertain, 1 no face") != std::string::npos);
  CHECK(same_pixels(d, 0, test_image(0)));
  CHECK(same_pixels(d, 3, test_image(5)));
  CHECK(d.sources[1] == "0/img2.png");

  // Without the box columns the whole 100x80 image is used (and needs resize).
  write_text(root / "nobox.csv", "subDirectory_filePath,expression\n0/img0.png,1\n");
  fer::DatasetSpec whole = spec_for("affectnet", root / "nobox.csv");
  whole.image_root = spec.image_root;
  expect_error([&] { fer::read_dataset(whole); }, fer::Status::ShapeMismatch, {"img0.png", "nobox.csv line 2", "100x80"});
  whole.resize = true;
  CHECK(fer::read_dataset(whole).size() == 1);

  write_text(root / "bad.csv", csv + "0/img0.png,30,20,48,48,\"\",11,0,0\n");
  fer::DatasetSpec bad = spec_for("affectnet", root / "bad.csv");
  bad.image_root = spec.image_root;
  expect_error([&] { fer::read_dataset(bad); }, fer::Status::CorruptData, {"bad.csv", "line 9", "expression"});
  write_text(root / "bad.csv", csv + "0/img0.png,30,twenty,48,48,\"\",1,0,0\n");
  expect_error([&] { fer::read_dataset(bad); }, fer::Status::CorruptData, {"bad.csv", "line 9", "twenty"});
  write_text(root / "bad.csv", csv + "0/img0.png,300,200,48,48,\"\",1,0,0\n");
  expect_error([&] { fer::read_dataset(bad); }, fer::Status::CorruptData, {"img0.png", "bad.csv line 9", "outside"});
  write_text(root / "bad.csv", csv + "0/missing.png,30,20,48,48,\"\",1,0,0\n");
  expect_error([&] { fer::read_dataset(bad); }, fer::Status::NotFound, {"missing.png", "bad.csv line 9"});
  write_text(root / "bad.csv", "subDirectory_filePath,face_x,expression\n0/img0.png,1,1\n");
  expect_error([&] { fer::read_dataset(bad); }, fer::Status::CorruptData, {"bad.csv", "line 1", "face_width"});
}

// --- Dataset -------------------------------------------------------------------------

TEST_CASE("dataset validate and class_counts") {
  fer::Dataset d;
  d.width = 2;
  d.height = 2;
  d.classes = {"anger", "neutral"};
  d.labels = {1, 1, 0};
  d.pixels.assign(12, 9);
  CHECK_NOTHROW(d.validate());
  CHECK(d.class_counts() == std::vector<int64_t>{1, 2});

  auto broken = [&](const std::function<void(fer::Dataset&)>& edit) {
    fer::Dataset b = d;
    edit(b);
    expect_error([&] { b.validate(); }, fer::Status::CorruptData, {});
  };
  broken([](fer::Dataset& b) { b.pixels.pop_back(); });
  broken([](fer::Dataset& b) { b.labels[0] = 2; });
  broken([](fer::Dataset& b) { b.labels[0] = -1; });
  broken([](fer::Dataset& b) { b.classes = {"anger", "anger"}; });
  broken([](fer::Dataset& b) { b.channels = 2; });
  broken([](fer::Dataset& b) { b.soft_labels = {1, 0, 0, 1}; });
  broken([](fer::Dataset& b) { b.soft_labels = {1, 0, 0, 1, 0.5f, 0.6f}; });
  broken([](fer::Dataset& b) { b.sources = {"a"}; });
}

// --- packed cache --------------------------------------------------------------------

namespace {

fer::Dataset small_dataset() {
  fer::Dataset d;
  d.width = 3;
  d.height = 2;
  d.channels = 1;
  d.classes = {"anger", "happiness"};
  d.labels = {1, 0, 1};
  for (int i = 0; i < 18; ++i) d.pixels.push_back(uint8_t(i * 13));
  d.soft_labels = {0.25f, 0.75f, 1.f, 0.f, 0.1f, 0.9f};
  d.sources = {"a.png", "b.png", "c.png"};
  d.dropped = 2;
  d.notes = {"dropped 2"};
  return d;
}

}  // namespace

TEST_CASE("dataset packed cache round trip is exact") {
  fs::path dir = fresh_dir("packed");
  fer::Dataset small = small_dataset();
  fer::write_packed_dataset(small, (dir / "small.ferdata").string());
  check_same(fer::read_packed_dataset((dir / "small.ferdata").string()), small);

  // A real reader's output (ferplus: soft labels, notes, dropped) and a BGR one.
  fer::Dataset ferplus = fer::read_dataset(spec_for("ferplus", write_ferplus(dir / "ferplus")));
  fer::write_packed_dataset(ferplus, (dir / "ferplus.ferdata").string());
  check_same(fer::read_packed_dataset((dir / "ferplus.ferdata").string()), ferplus);

  fer::Dataset bgr;
  bgr.width = bgr.height = 5;
  bgr.channels = 3;
  bgr.classes = {"neutral", "contempt", "sadness"};
  bgr.labels = {2, 0};
  cv::RNG rng(3);
  for (int i = 0; i < 150; ++i) bgr.pixels.push_back(uint8_t(rng.uniform(0, 256)));
  fer::write_packed_dataset(bgr, (dir / "bgr.ferdata").string());
  check_same(fer::read_packed_dataset((dir / "bgr.ferdata").string()), bgr);
  for (const auto& e : fs::directory_iterator(dir))  // no temporary file left behind
    CHECK(e.path().filename().string().rfind("bgr.ferdata.tmp", 0) == std::string::npos);

  fer::Dataset inconsistent = bgr;
  inconsistent.labels.push_back(1);
  expect_error([&] { fer::write_packed_dataset(inconsistent, (dir / "x.ferdata").string()); },
               fer::Status::InvalidArgument, {"inconsistent"});
  expect_error([&] { fer::read_packed_dataset((dir / "absent.ferdata").string()); }, fer::Status::NotFound,
               {"absent.ferdata"});
}

TEST_CASE("dataset packed cache rejects truncated, bit-flipped and newer files") {
  fs::path dir = fresh_dir("packed_bad");
  const fs::path good = dir / "good.ferdata", bad = dir / "bad.ferdata";
  fer::write_packed_dataset(small_dataset(), good.string());
  const Bytes bytes = read_bytes(good);
  REQUIRE(bytes.size() > 64);

  auto status_of = [&](const Bytes& b) {
    write_bytes(bad, b);
    try {
      fer::read_packed_dataset(bad.string());
      return fer::Status::Ok;
    } catch (const fer::Error& e) {
      return e.status();
    }
  };
  int wrong = 0;
  for (size_t n = 0; n < bytes.size(); ++n)
    if (status_of(Bytes(bytes.begin(), bytes.begin() + long(n))) != fer::Status::CorruptData) ++wrong;
  CHECK_MESSAGE(wrong == 0, wrong << " truncations not reported as corrupt");
  Bytes padded = bytes;
  padded.push_back(0);
  CHECK(status_of(padded) == fer::Status::CorruptData);

  int accepted = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      Bytes b = bytes;
      b[i] ^= uint8_t(1u << bit);
      fer::Status s = status_of(b);
      if (s != fer::Status::CorruptData && s != fer::Status::UnsupportedVersion) ++accepted;
    }
  CHECK_MESSAGE(accepted == 0, accepted << " bit flips not rejected");

  // A newer version (with a valid checksum) is UnsupportedVersion, named as such.
  Bytes newer = bytes;
  newer[8] = 2;
  uint32_t crc = fer::detail::crc32(newer.data(), newer.size() - 4);
  for (int i = 0; i < 4; ++i) newer[newer.size() - 4 + size_t(i)] = uint8_t(crc >> (8 * i));
  write_bytes(bad, newer);
  expect_error([&] { fer::read_packed_dataset(bad.string()); }, fer::Status::UnsupportedVersion,
               {"bad.ferdata", "version 2"});
  // Sizes that claim more than the file holds are rejected before allocating.
  Bytes huge = bytes;
  for (int i = 0; i < 8; ++i) huge[32 + size_t(i)] = 0xFF;
  write_bytes(bad, huge);
  expect_error([&] { fer::read_packed_dataset(bad.string()); }, fer::Status::CorruptData, {"bad.ferdata", "file size"});
  // A resealed file whose labels are out of range fails validation.
  Bytes label = bytes;
  size_t labels_at = bytes.size() - 4 - 6 * 4 - 3 * 4;
  label[labels_at] = 5;
  crc = fer::detail::crc32(label.data(), label.size() - 4);
  for (int i = 0; i < 4; ++i) label[label.size() - 4 + size_t(i)] = uint8_t(crc >> (8 * i));
  write_bytes(bad, label);
  expect_error([&] { fer::read_packed_dataset(bad.string()); }, fer::Status::CorruptData, {"bad.ferdata", "label 5"});
}

// --- the real FER-2013 (skipped when it is not unpacked) ---------------------------------

TEST_CASE("dataset FER-2013 val folder has the documented per-class counts") {
  const char* env = std::getenv("FER_DATA_DIR");
  fs::path root = fs::path(env ? env : "/tmp/ferdata") / "fer2013";
  if (!fs::is_directory(root / "val")) {
    MESSAGE("skipped: " << (root / "val").string()
                        << " not found (unpack ../shared/data/fer2013.tar.gz there, or set FER_DATA_DIR)");
    return;
  }
  fer::DatasetSpec spec = spec_for("folder", root);
  spec.split = "val";
  auto start = std::chrono::steady_clock::now();
  fer::Dataset d = fer::read_dataset(spec);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("read FER-2013 val (" << d.size() << " images) in " << ms << " ms");
  CHECK(d.size() == 3589);
  CHECK(d.classes == fer::fer2013_classes());
  // anger, disgust, fear, happiness, sadness, surprise, neutral (data/README.md).
  CHECK(d.class_counts() == std::vector<int64_t>{467, 56, 496, 895, 653, 415, 607});
  CHECK(d.width == 48);
  CHECK(d.height == 48);
}
