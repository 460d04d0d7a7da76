// The TF.js weights reader on small manifests and shards written here,
// including damaged and hostile ones.
#include "detect/tfjs_weights.hpp"

#include <fer/error.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using fer::detail::read_tfjs_weights;

struct Bytes {
  std::vector<uint8_t> data;
  void f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    for (int i = 0; i < 4; ++i) data.push_back(uint8_t(b >> (8 * i)));
  }
  void i32(int32_t v) {
    for (int i = 0; i < 4; ++i) data.push_back(uint8_t(uint32_t(v) >> (8 * i)));
  }
  void u16(uint16_t v) {
    data.push_back(uint8_t(v));
    data.push_back(uint8_t(v >> 8));
  }
  void u8(uint8_t v) { data.push_back(v); }
};

// A fresh folder per test case under the build's test tmp dir.
std::string fresh_dir(const std::string& name) {
  std::string dir = std::string(FER_TEST_TMP_DIR) + "/tfjs_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Runs `f`, expecting a fer::Error with `status` whose message contains every one of `parts`.
template <class F>
void expect_error(F f, fer::Status status, std::vector<std::string> parts) {
  try {
    f();
    FAIL("no error thrown");
  } catch (const fer::Error& e) {
    CHECK(e.status() == status);
    for (const auto& p : parts) CHECK_MESSAGE(std::string(e.what()).find(p) != std::string::npos, e.what());
  }
}

// One group, one shard, one float32 weight of `shape` with `bytes` bytes of data.
std::string single_weight(const std::string& dir, const std::string& shape, size_t bytes,
                          const std::string& quant = "") {
  std::string manifest = dir + "/m.json";
  write(manifest, R"([{"paths": ["w.bin"], "weights": [{"name": "layer/w", "shape": )" + shape +
                      R"(, "dtype": "float32")" + quant + "}]}]");
  write(dir + "/w.bin", std::vector<uint8_t>(bytes, 0));
  return manifest;
}

}  // namespace

TEST_CASE("tfjs weights: every encoding, several shards and groups") {
  std::string dir = fresh_dir("ok");
  Bytes a, b, c;
  for (float v : {1.5f, -2.f, 0.25f, 8.f, 3.f, -1.f}) a.f32(v);  // f: 2x3 float32
  a.i32(-7);                                                     // n: int32 scalar
  for (uint8_t q : {0, 1, 255}) a.u8(q);                         // q8: uint8 quantized
  for (uint16_t q : {0, 1000}) b.u16(q);                         // q16: uint16 quantized
  for (uint16_t h : {0x3c00, 0xc000, 0x3555}) b.u16(h);          // h: float16
  for (uint8_t q : {2, 3}) c.u8(q);                              // iq: int32 quantized (rounded)
  // Group 0 spreads its bytes over two shards, cut inside a value.
  std::vector<uint8_t> all = a.data;
  all.insert(all.end(), b.data.begin(), b.data.end());
  write(dir + "/g0-1.bin", std::vector<uint8_t>(all.begin(), all.begin() + 5));
  write(dir + "/g0-2.bin", std::vector<uint8_t>(all.begin() + 5, all.end()));
  write(dir + "/g1.bin", c.data);
  write(dir + "/m.json", R"([
    {"paths": ["g0-1.bin", "g0-2.bin"], "weights": [
      {"name": "f", "shape": [2, 3], "dtype": "float32"},
      {"name": "n", "shape": [], "dtype": "int32"},
      {"name": "q8", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
      {"name": "q16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2}},
      {"name": "h", "shape": [3, 1], "dtype": "float32", "quantization": {"dtype": "float16"}}]},
    {"paths": ["g1.bin"], "weights": [
      {"name": "iq", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.4, "min": 1}}]}])");

  auto w = read_tfjs_weights(dir + "/m.json");
  CHECK(w.tensors().size() == 6);
  const auto& f = w.get("f", {2, 3});
  CHECK(f[0][0].item<float>() == 1.5f);
  CHECK(f[1][2].item<float>() == -1.f);
  CHECK(w.get("n").dim() == 0);
  CHECK(w.get("n").item<float>() == -7.f);
  auto q8 = w.get("q8", {3});
  CHECK(q8[0].item<float>() == doctest::Approx(-1.0));
  CHECK(q8[1].item<float>() == doctest::Approx(-0.5));
  CHECK(q8[2].item<float>() == doctest::Approx(126.5));
  auto q16 = w.get("q16");
  CHECK(q16[1].item<float>() == doctest::Approx(3.0));
  auto h = w.get("h", {3, 1});
  CHECK(h[0][0].item<float>() == 1.f);
  CHECK(h[1][0].item<float>() == -2.f);
  CHECK(h[2][0].item<float>() == doctest::Approx(0.33325));
  auto iq = w.get("iq");
  CHECK(iq[0].item<float>() == 2.f);  // 2 * 0.4 + 1 = 1.8 -> 2
  CHECK(iq[1].item<float>() == 2.f);  // 3 * 0.4 + 1 = 2.2 -> 2

  expect_error([&] { w.get("absent"); }, fer::Status::NotFound, {"m.json", "'absent'"});
  expect_error([&] { w.get("f", {3, 2}); }, fer::Status::ShapeMismatch, {"'f'", "[2,3]", "[3,2]"});
}

TEST_CASE("tfjs weights: half floats decode exactly") {
  using fer::detail::half_to_float;
  CHECK(half_to_float(0x0000) == 0.f);
  CHECK(std::signbit(half_to_float(0x8000)));
  CHECK(half_to_float(0x3c00) == 1.f);
  CHECK(half_to_float(0x7bff) == 65504.f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.f, -24));  // smallest subnormal
  CHECK(half_to_float(0x03ff) == std::ldexp(1023.f, -24));
  CHECK(half_to_float(0x0400) == std::ldexp(1.f, -14));  // smallest normal
  CHECK(std::isinf(half_to_float(0xfc00)));
  CHECK(std::isnan(half_to_float(0x7e00)));
}

TEST_CASE("tfjs weights: truncated and oversized shards name the file and the weight") {
  std::string dir = fresh_dir("sizes");
  expect_error([&] { read_tfjs_weights(single_weight(dir, "[4, 4]", 63)); }, fer::Status::CorruptData,
               {"'layer/w'", "w.bin", "64 bytes", "63 bytes"});
  expect_error([&] { read_tfjs_weights(single_weight(dir, "[4, 4]", 65)); }, fer::Status::CorruptData,
               {"w.bin", "1 bytes left over"});
  expect_error([&] { read_tfjs_weights(single_weight(dir, "[4, 4]", 0)); }, fer::Status::CorruptData, {"'layer/w'"});
  // Quantized weights take 1 byte per value.
  std::string q = R"(, "quantization": {"dtype": "uint8", "scale": 1, "min": 0})";
  CHECK(read_tfjs_weights(single_weight(dir, "[4, 4]", 16, q)).get("layer/w").numel() == 16);
  expect_error([&] { read_tfjs_weights(single_weight(dir, "[4, 4]", 15, q)); }, fer::Status::CorruptData,
               {"'layer/w'", "16 bytes"});
}

TEST_CASE("tfjs weights: a NaN or Inf weight is refused by name and index") {
  std::string dir = fresh_dir("nonfinite");
  const std::string manifest = dir + "/m.json";
  write(manifest, R"([{"paths": ["w.bin"], "weights": [)"
                  R"({"name": "ok", "shape": [2], "dtype": "float32"},)"
                  R"({"name": "h", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}}]}])");
  Bytes b;
  b.f32(1.f);
  b.f32(-2.f);
  for (uint16_t h : {0x3c00, 0x7c00, 0x0000}) b.u16(h);  // 1, +Inf, 0
  write(dir + "/w.bin", b.data);
  expect_error([&] { read_tfjs_weights(manifest); }, fer::Status::CorruptData, {"weight 'h'", "non-finite", "index 1"});
  Bytes nan;
  nan.f32(std::nanf(""));
  nan.f32(0.f);
  for (uint16_t h : {0x3c00, 0x3c00, 0x3c00}) nan.u16(h);
  write(dir + "/w.bin", nan.data);
  expect_error([&] { read_tfjs_weights(manifest); }, fer::Status::CorruptData, {"weight 'ok'", "index 0"});
  nan.data.assign(nan.data.size(), 0);  // the same file of zeros reads
  write(dir + "/w.bin", nan.data);
  CHECK(read_tfjs_weights(manifest).get("h").numel() == 3);
}

TEST_CASE("tfjs weights: absurd shapes fail before anything is allocated") {
  std::string dir = fresh_dir("shapes");
  for (const char* shape : {"[1099511627776, 1099511627776]", "[4611686018427387904, 4]", "[2147483647, 2147483647]",
                            "[100000, 100000, 100000]"})
    expect_error([&] { read_tfjs_weights(single_weight(dir, shape, 16)); }, fer::Status::CorruptData, {"'layer/w'"});
  for (const char* shape : {"[-1, 4]", "[2.5]", "[\"4\"]", "4", "[1,1,1,1,1,1,1,1,1]", "[18446744073709551615]"})
    expect_error([&] { read_tfjs_weights(single_weight(dir, shape, 16)); }, fer::Status::CorruptData,
                 {"'layer/w'", "shape"});
}

TEST_CASE("tfjs weights: malformed manifests and missing files") {
  std::string dir = fresh_dir("bad");
  expect_error([&] { read_tfjs_weights(dir + "/none.json"); }, fer::Status::NotFound, {"none.json"});

  auto bad = [&](const std::string& text, fer::Status status, std::vector<std::string> parts) {
    write(dir + "/m.json", text);
    write(dir + "/w.bin", std::vector<uint8_t>(16, 0));
    parts.push_back("m.json");
    expect_error([&] { read_tfjs_weights(dir + "/m.json"); }, status, parts);
  };
  bad("{not json", fer::Status::CorruptData, {"JSON"});
  bad("{}", fer::Status::CorruptData, {"array"});
  bad("[]", fer::Status::CorruptData, {"array"});
  bad(R"([{"weights": []}])", fer::Status::CorruptData, {"paths"});
  bad(R"([{"paths": ["gone.bin"], "weights": []}])", fer::Status::NotFound, {"gone.bin"});
  bad(R"([{"paths": ["../w.bin"], "weights": []}])", fer::Status::CorruptData, {"../w.bin"});
  bad(R"([{"paths": ["/etc/passwd"], "weights": []}])", fer::Status::CorruptData, {"/etc/passwd"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": "x", "shape": [4]}]}])", fer::Status::CorruptData, {"dtype"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": "x", "shape": [4], "dtype": "string"}]}])",
      fer::Status::Unsupported, {"'x'", "string"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": "x", "shape": [4], "dtype": "float32",
        "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}])",
      fer::Status::Unsupported, {"'x'", "int4"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": "x", "shape": [16], "dtype": "float32",
        "quantization": {"dtype": "uint8", "scale": "big"}}]}])",
      fer::Status::CorruptData, {"'x'", "scale"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": "x", "shape": [2], "dtype": "float32"},
                                           {"name": "x", "shape": [2], "dtype": "float32"}]}])",
      fer::Status::CorruptData, {"'x'", "twice"});
  bad(R"([{"paths": ["w.bin"], "weights": [{"name": 7, "shape": [4], "dtype": "float32"}]}])", fer::Status::CorruptData,
      {"name"});
}
