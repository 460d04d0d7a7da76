#include "support.hpp"

#include "io/crc32.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <atomic>

namespace {

using Bytes = std::vector<uint8_t>;

uint64_t read_u64(const Bytes& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + size_t(i)];
  return v;
}
void write_u32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}
void write_u64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}
void reseal(Bytes& b) { write_u32(b, b.size() - 4, fer::detail::crc32(b.data(), b.size() - 4)); }

// Rewrites the JSON header of a valid file (keeping the data) and re-seals it,
// so that the loader's checks beyond the checksum are reached.
Bytes edit_header(const Bytes& file, const std::function<void(nlohmann::json&)>& edit) {
  uint64_t hsize = read_u64(file, 16), dsize = read_u64(file, 24);
  size_t data_start = size_t((32 + hsize + 63) / 64 * 64);
  auto h = nlohmann::json::parse(file.begin() + 32, file.begin() + 32 + long(hsize));
  edit(h);
  std::string header = h.dump();
  Bytes out(file.begin(), file.begin() + 32);
  write_u64(out, 16, header.size());
  for (char c : header) out.push_back(uint8_t(c));
  while (out.size() % 64) out.push_back(0);
  out.insert(out.end(), file.begin() + long(data_start), file.begin() + long(data_start + dsize));
  out.resize(out.size() + 4);
  reseal(out);
  return out;
}

fer::Status load_status(const Bytes& b) {
  try {
    fer::Model::from_bytes(b.data(), b.size(), "test");
    return fer::Status::Ok;
  } catch (const fer::Error& e) {
    return e.status();
  }
}

std::vector<cv::Mat> fixed_inputs(const fer::Model& m, int n) {
  std::vector<cv::Mat> v;
  cv::RNG rng(42);
  for (int i = 0; i < n; ++i) {
    cv::Mat face(64, 64, CV_8UC3);
    rng.fill(face, cv::RNG::UNIFORM, 0, 255);
    v.push_back(m.prepare(face));
  }
  return v;
}

}  // namespace

TEST_CASE("model file round-trips bit-exactly, with identical outputs") {
  fer::set_num_threads(1);
  for (std::string storage : {"float32", "bfloat16"}) {
    CAPTURE(storage);
    auto model = fer_test::tiny_model(3, storage);
    Bytes bytes = model->to_bytes();
    auto loaded = fer::Model::from_bytes(bytes.data(), bytes.size());
    CHECK(loaded->to_bytes() == bytes);
    CHECK(loaded->info().architecture == "small_cnn");
    CHECK(loaded->info().classes == fer::fer2013_classes());
    CHECK(loaded->info().provenance.at("dataset") == "none");
    CHECK(loaded->info().metrics.at("val_accuracy") == 0.125);
    CHECK_FALSE(loaded->info().trained);

    // Outputs of the loaded model equal those of a model holding the same (stored) weights.
    auto reloaded = fer::Model::from_bytes(bytes.data(), bytes.size());
    auto in = fixed_inputs(*loaded, 3);
    auto a = loaded->predict(in), b = reloaded->predict(in);
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].probabilities == b[i].probabilities);
    if (storage == "float32") {
      auto c = model->predict(in);
      for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].probabilities == c[i].probabilities);
    }
  }
}

TEST_CASE("weights that would make every output NaN are refused: non-finite values, negative variances") {
  auto model = fer_test::tiny_model(3, "float32");
  auto spoiled = [&](const std::function<bool(fer::NamedTensor&)>& spoil) {
    auto m = fer::Model::from_bytes(model->to_bytes().data(), model->to_bytes().size());
    fer::TensorList state = m->extractor().state();
    bool done = false;
    for (auto& t : state) done = done || spoil(t);
    REQUIRE(done);
    m->extractor().load_state(state);
    return m->to_bytes();
  };
  auto message = [](const Bytes& b) {
    try {
      fer::Model::from_bytes(b.data(), b.size(), "test");
      return std::string("loaded");
    } catch (const fer::Error& e) {
      return std::string(fer::status_name(e.status())) + ": " + e.what();
    }
  };
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  Bytes nan = spoiled([](fer::NamedTensor& t) { t.data[0] = std::nanf(""); return true; });
  CHECK(message(nan).find("corrupt_data") == 0);
  CHECK(message(nan).find("non-finite") != std::string::npos);
  Bytes negative = spoiled([&](fer::NamedTensor& t) {
    if (!ends_with(t.name, "running_var")) return false;
    t.data[0] = -1.f;
    return true;
  });
  CHECK(message(negative).find("negative variance") != std::string::npos);
  // Each value finite, the folded batch norm not (a huge scale over a zero variance): int8 refuses it.
  auto huge = fer::Model::from_bytes(model->to_bytes().data(), model->to_bytes().size());
  fer::TensorList state = huge->extractor().state();
  for (auto& t : state) {
    if (ends_with(t.name, "running_var")) t.data.assign(t.data.size(), 0.f);
    if (ends_with(t.name, ".weight") && t.shape.size() == 1) t.data.assign(t.data.size(), 1e38f);  // BN gammas
  }
  huge->extractor().load_state(state);
  // Its own calibration sees the Inf activations and says so; given sane ranges, int8 refuses the folding.
  CHECK_THROWS_WITH_AS(huge->calibrate(fixed_inputs(*huge, 2)), doctest::Contains("non-finite"), fer::Error);
  auto sane = fer::Model::from_bytes(model->to_bytes().data(), model->to_bytes().size());
  sane->calibrate(fixed_inputs(*sane, 2));
  huge->info().activation_ranges = sane->info().activation_ranges;
  try {
    huge->set_precision(fer::Precision::Int8);
    FAIL("a batch norm that folds to Inf was quantized");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::CorruptData);
  } catch (const std::exception& e) {
    FAIL("not a fer::Error: " << e.what());
  }
}

TEST_CASE("model save and load through a file") {
  auto model = fer_test::tiny_model(5);
  std::string path = std::string(FER_TEST_TMP_DIR) + "/roundtrip.fermodel";
  model->save(path);
  auto loaded = fer::Model::load(path);
  CHECK(loaded->to_bytes() == model->to_bytes());
  std::remove(path.c_str());
  try {
    fer::Model::load(path);
    FAIL("expected NotFound");
  } catch (const fer::Error& e) {
    CHECK(e.status() == fer::Status::NotFound);
  }
}

TEST_CASE("threads saving the same file at once leave one of their files, whole") {
  auto a = fer_test::tiny_model(5), b = fer_test::tiny_model(6);
  const Bytes bytes_a = a->to_bytes(), bytes_b = b->to_bytes();
  const std::string path = std::string(FER_TEST_TMP_DIR) + "/contended.fermodel";
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        try {
          (t % 2 ? a : b)->save(path);
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  const Bytes saved = fer::Model::load(path)->to_bytes();
  CHECK((saved == bytes_a || saved == bytes_b));
  const std::filesystem::path file(path);
  for (const auto& e : std::filesystem::directory_iterator(file.parent_path()))
    CHECK(e.path().filename().string().rfind("contended.fermodel.tmp", 0) == std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("a failed write (file size limit, as on a full disk) leaves the previous model file intact") {
  auto old_model = fer_test::tiny_model(5), new_model = fer_test::tiny_model(6);
  const std::string path = std::string(FER_TEST_TMP_DIR) + "/full_disk.fermodel";
  old_model->save(path);
  const auto old_bytes = old_model->to_bytes();
  REQUIRE(old_bytes.size() > 8192);

  // RLIMIT_FSIZE makes write() fail with EFBIG past the limit, as ENOSPC would.
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  fer::Status status = fer::Status::Ok;
  try {
    new_model->save(path);
  } catch (const fer::Error& e) {
    status = e.status();
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous_handler);

  CHECK(status == fer::Status::IoError);
  CHECK(message.find("disk full") != std::string::npos);
  CHECK(fer::Model::load(path)->to_bytes() == old_bytes);
  const std::filesystem::path file(path);
  for (const auto& e : std::filesystem::directory_iterator(file.parent_path()))  // no temporary file left behind
    CHECK(e.path().filename().string().rfind(file.filename().string() + ".tmp", 0) == std::string::npos);
  new_model->save(path);  // and with room again, the new file replaces it
  CHECK(fer::Model::load(path)->to_bytes() == new_model->to_bytes());
  std::remove(path.c_str());
}

TEST_CASE("a model file truncated at any byte is rejected as corrupt") {
  Bytes bytes = fer_test::tiny_model(7)->to_bytes();
  REQUIRE(bytes.size() > 1000);
  for (size_t n = 0; n < bytes.size(); ++n) {
    fer::Status s = load_status(Bytes(bytes.begin(), bytes.begin() + long(n)));
    if (s != fer::Status::CorruptData) {
      CAPTURE(n);
      CHECK(s == fer::Status::CorruptData);
      break;
    }
  }
  // And one extra byte at the end is also caught.
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(load_status(longer) == fer::Status::CorruptData);
}

TEST_CASE("flipped bytes, wrong magic and foreign files are rejected") {
  Bytes bytes = fer_test::tiny_model(9)->to_bytes();
  for (size_t at : {size_t(40), bytes.size() / 2, bytes.size() - 10}) {
    Bytes b = bytes;
    b[at] ^= 0x20;
    CHECK(load_status(b) == fer::Status::CorruptData);
  }
  Bytes magic = bytes;
  magic[1] = 'X';
  CHECK(load_status(magic) == fer::Status::CorruptData);
  // A zip file (what torch::save writes) or text is not a model.
  Bytes zip = {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(load_status(zip) == fer::Status::CorruptData);
  std::string text = "{\"format\": \"libfer-model\"}";
  CHECK(load_status(Bytes(text.begin(), text.end())) == fer::Status::CorruptData);
  CHECK(load_status(Bytes{}) == fer::Status::CorruptData);
}

TEST_CASE("wrong format version or unknown flags are rejected with UnsupportedVersion") {
  Bytes b = fer_test::tiny_model(11)->to_bytes();
  // Flags a later writer may set (offset 12) change how the file is read: refused, whichever bit.
  for (uint32_t flags : {1u, 0x80000000u}) {
    Bytes flagged = b;
    write_u32(flagged, 12, flags);
    reseal(flagged);
    CHECK(load_status(flagged) == fer::Status::UnsupportedVersion);
  }
  write_u32(b, 8, fer::kModelFormatVersion + 1);
  reseal(b);
  CHECK(load_status(b) == fer::Status::UnsupportedVersion);
  write_u32(b, 8, 0);
  reseal(b);
  CHECK(load_status(b) == fer::Status::UnsupportedVersion);
}

TEST_CASE("absurd declared sizes are rejected before allocating") {
  Bytes b = fer_test::tiny_model(13)->to_bytes();
  Bytes huge_header = b;
  write_u64(huge_header, 16, uint64_t(1) << 40);
  reseal(huge_header);
  CHECK(load_status(huge_header) == fer::Status::CorruptData);
  Bytes huge_data = b;
  write_u64(huge_data, 24, ~uint64_t(0) - 8);
  reseal(huge_data);
  CHECK(load_status(huge_data) == fer::Status::CorruptData);
  // A tensor claiming billions of elements.
  Bytes big_tensor = edit_header(b, [](nlohmann::json& h) { h["tensors"]["extractor"][0]["shape"] = {1 << 30, 1 << 30}; });
  CHECK(load_status(big_tensor) == fer::Status::CorruptData);
}

TEST_CASE("header edits: unknown architecture, shape mismatch, bad fields") {
  Bytes b = fer_test::tiny_model(15)->to_bytes();
  CHECK(load_status(edit_header(b, [](nlohmann::json&) {})) == fer::Status::Ok);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["architecture"]["name"] = "resnet9000"; })) ==
        fer::Status::UnknownComponent);
  // Width 0.5 builds a network whose tensors are larger than the stored ones.
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["architecture"]["config"]["width"] = "0.5"; })) ==
        fer::Status::ShapeMismatch);
  // A tensor whose declared shape differs from the network's.
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) {
          auto& t = h["tensors"]["classifier"][0];
          auto shape = t["shape"].get<std::vector<int64_t>>();
          t["shape"] = {shape[1], shape[0]};
        })) == fer::Status::ShapeMismatch);
  // Class count that disagrees with the head's tensors.
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["classes"].push_back("contempt"); })) ==
        fer::Status::ShapeMismatch);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h.erase("classes"); })) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["input"]["channels"] = "one"; })) ==
        fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["input"]["channels"] = 2; })) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["format"] = "something-else"; })) ==
        fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["classes"] = {"a", "a", "b", "c", "d", "e", "f"}; })) !=
        fer::Status::Ok);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["storage"] = "int4"; })) != fer::Status::Ok);
  // The model's own test-time view: a one-pass view name; a later build's unknown view is unsupported.
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["view"] = "center"; })) == fer::Status::Ok);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["view"] = "zoom"; })) == fer::Status::Unsupported);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["view"] = "auto"; })) == fer::Status::Unsupported);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["view"] = 1; })) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["tensors"]["extractor"][0]["offset"] = 1 << 30; })) ==
        fer::Status::CorruptData);
  // A missing tensor leaves a gap in the data section; a renamed one is not the network's.
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) {
          auto& e = h["tensors"]["extractor"];
          e.erase(e.size() - 1);
        })) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["tensors"]["extractor"][0]["name"] = "renamed"; })) ==
        fer::Status::ShapeMismatch);
  // int8 activation ranges: [min, max] pairs of finite numbers, min <= max, within +-1e30.
  auto with_range = [&](nlohmann::json range) {
    return load_status(edit_header(b, [&](nlohmann::json& h) { h["int8"]["activation_ranges"]["input"] = range; }));
  };
  CHECK(with_range({-1.0, 2.5}) == fer::Status::Ok);
  CHECK(with_range({1.0, -1.0}) == fer::Status::CorruptData);
  CHECK(with_range({0.0, 1e31}) == fer::Status::CorruptData);
  CHECK(with_range({0.0}) == fer::Status::CorruptData);
  CHECK(with_range({"a", 1.0}) == fer::Status::CorruptData);
  CHECK(with_range(nlohmann::json::object()) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["int8"] = 3; })) == fer::Status::CorruptData);
  CHECK(load_status(edit_header(b, [](nlohmann::json& h) { h["int8"]["activation_ranges"][""] = {0, 1}; })) ==
        fer::Status::CorruptData);
}

TEST_CASE("tensors that alias the same bytes are rejected before they are read") {
  Bytes b = fer_test::tiny_model(19)->to_bytes();
  // Every tensor pointing at the largest one's bytes would multiply the memory read_tensors allocates.
  Bytes aliased = edit_header(b, [](nlohmann::json& h) {
    for (auto& t : h["tensors"]["extractor"]) t["offset"] = 0;
  });
  CHECK(load_status(aliased) == fer::Status::CorruptData);
}

TEST_CASE("a small file naming a huge architecture is refused before the network is built") {
  Bytes b = fer_test::tiny_model(21)->to_bytes();
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  // resnet50 at width 4 would be about 376 M parameters (1.5 GB) for a file of about 80 kB.
  for (const char* arch : {"resnet50", "ir50", "vit_asf"}) {
    Bytes hostile = edit_header(b, [&](nlohmann::json& h) {
      h["architecture"]["name"] = arch;
      h["architecture"]["config"] = {{"width", "4"}};
    });
    std::string message;
    try {
      fer::Model::from_bytes(hostile.data(), hostile.size(), "hostile");
    } catch (const fer::Error& e) {
      CHECK(e.status() == fer::Status::ShapeMismatch);
      message = e.what();
    }
    CAPTURE(message);
    CHECK(message.find("refusing to build") != std::string::npos);
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  CHECK(after.ru_maxrss - before.ru_maxrss < 200 * 1024);  // kB: nothing near the network's size was touched
}

TEST_CASE("header that is not JSON is rejected") {
  Bytes b = fer_test::tiny_model(17)->to_bytes();
  b[32] = '[';
  b[33] = '[';
  reseal(b);
  CHECK(load_status(b) == fer::Status::CorruptData);
}
