// Writes the seed corpora of the fuzz targets: one small valid input per
// target (and per reader), so that fuzzing starts from the accepted formats.
//   fer_fuzz_seeds OUT_DIR   ->  OUT_DIR/<target>/seed_*
#include <fer/dataset.hpp>
#include <fer/model.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> text(uint8_t prefix, const std::string& s) {
  std::vector<uint8_t> out{prefix};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

std::string dir(const std::string& root, const std::string& name) {
  std::string d = root + "/" + name;
  ::mkdir(d.c_str(), 0755);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fer_fuzz_seeds OUT_DIR\n";
    return 2;
  }
  const std::string root = argv[1];
  ::mkdir(root.c_str(), 0755);

  // model_file: the smallest built-in model, bf16 weights.
  fer::ModelInfo info = fer::untrained_default_info();
  info.architecture_config.set("width", 0.25);
  info.storage = "bfloat16";
  write(dir(root, "model_file") + "/seed_small_cnn", fer::Model::create(info, 1)->to_bytes());
  // and the same calibrated for int8 (activation ranges in the header).
  auto calibrated = fer::Model::create(info, 2);
  std::vector<cv::Mat> faces;
  for (int i = 0; i < 4; ++i) faces.push_back(calibrated->prepare(cv::Mat(48, 48, CV_8UC1, cv::Scalar(40 + 50 * i))));
  calibrated->calibrate(faces);
  write(dir(root, "model_file") + "/seed_small_cnn_int8", calibrated->to_bytes());

  // tfjs_weights: manifest, NUL, shard (a float32 2x2 and a uint8-quantized 3-vector).
  const std::string manifest =
      R"([{"paths":["shard.bin"],"weights":[{"name":"a/w","shape":[2,2],"dtype":"float32"},)"
      R"({"name":"b/q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}}]}])";
  std::vector<uint8_t> tfjs(manifest.begin(), manifest.end());
  tfjs.push_back(0);
  const float w[4] = {1.f, -2.f, 0.5f, 4.f};
  const uint8_t* wb = reinterpret_cast<const uint8_t*>(w);
  tfjs.insert(tfjs.end(), wb, wb + sizeof w);
  tfjs.insert(tfjs.end(), {0, 2, 255});
  write(dir(root, "tfjs_weights") + "/seed_manifest", tfjs);

  // datasets: one seed per reader (see fuzz_datasets.cpp for the prefix byte).
  const std::string ds = dir(root, "datasets");
  std::string pixels;
  for (int i = 0; i < 48 * 48; ++i) pixels += (i ? " " : "") + std::to_string((i * 7) % 256);
  write(ds + "/seed_fer2013csv", text(0, "emotion,pixels,Usage\n3," + pixels + ",Training\n0," + pixels + ",PublicTest\n"));
  write(ds + "/seed_ferplus", text(1, "fer0000000.png,\"(0, 0, 48, 48)\",4,0,0,1,3,2,0,0,0,0\n"
                                      "fer0000001.png,\"(0, 0, 48, 48)\",0,6,1,1,0,0,0,0,2,0\n"));
  fer::Dataset d;
  d.width = d.height = 8;
  d.channels = 1;
  d.classes = {"happiness", "neutral"};
  d.pixels.assign(2 * 64, 7);
  d.labels = {0, 1};
  d.soft_labels = {0.75f, 0.25f, 0.f, 1.f};
  d.sources = {"a.png", "b.png"};
  const std::string packed = ds + "/packed.tmp";
  fer::write_packed_dataset(d, packed);
  std::ifstream in(packed, std::ios::binary);
  std::vector<uint8_t> packed_bytes{2};
  packed_bytes.insert(packed_bytes.end(), std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::remove(packed.c_str());
  write(ds + "/seed_packed", packed_bytes);

  // c_image: a 64x64 gray image (format 0, stride padding from the first pixel).
  std::vector<uint8_t> image = {64, 0, 64, 0, 0, 0, 0, 0};
  for (int i = 0; i < 64 * 64; ++i) image.push_back(uint8_t(3 + (i * 13) % 250));
  write(dir(root, "c_image") + "/seed_gray64", image);
  std::cout << "seeds written to " << root << "\n";
  return 0;
}
