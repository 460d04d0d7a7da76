// Runs a libfer model on already-normalized input tensors and writes its
// probabilities and features, so that benchmarks/pytorch_eager can check its
// PyTorch re-implementations against libfer on the same inputs.
//
//   fer_eager_reference MODEL.fermodel INPUTS.bin OUTPUTS.bin [fp32|bf16] [THREADS]
//
// INPUTS.bin:  u32 N, C, H, W (little-endian), then N*C*H*W float32 (NCHW, as
//              Model::prepare would return them: normalized).
// OUTPUTS.bin: u32 N, K, D, then N*K float32 probabilities, then N*D float32 features.
#include <fer/fer.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void put_u32(std::ofstream& f, uint32_t v) {
  unsigned char b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

uint32_t get_u32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 6) {
    std::fprintf(stderr, "usage: %s MODEL.fermodel INPUTS.bin OUTPUTS.bin [fp32|bf16] [THREADS]\n", argv[0]);
    return 2;
  }
  try {
    std::string precision = argc > 4 ? argv[4] : "fp32";
    fer::set_num_threads(argc > 5 ? std::stoi(argv[5]) : 1);
    auto model = fer::Model::load(argv[1]);
    model->set_precision(fer::parse_precision(precision));

    std::vector<char> in = read_all(argv[2]);
    if (in.size() < 16) throw std::runtime_error("input file too short");
    uint32_t n = get_u32(in.data()), c = get_u32(in.data() + 4), h = get_u32(in.data() + 8), w = get_u32(in.data() + 12);
    size_t per = size_t(c) * h * w;
    if (n == 0 || c == 0 || c > 4 || in.size() != 16 + 4 * size_t(n) * per)
      throw std::runtime_error("input file size does not match its N x C x H x W header");
    const auto& info = model->info();
    if (int(c) != info.input.channels || int(h) != info.input.height || int(w) != info.input.width)
      throw std::runtime_error("inputs are " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) +
                               ", the model takes " + std::to_string(info.input.channels) + "x" +
                               std::to_string(info.input.height) + "x" + std::to_string(info.input.width));

    // NCHW planes -> H x W x C interleaved CV_32FC(C) images (what Model::prepare returns).
    std::vector<cv::Mat> crops;
    for (uint32_t i = 0; i < n; ++i) {
      std::vector<float> chw(per);
      std::memcpy(chw.data(), in.data() + 16 + 4 * size_t(i) * per, 4 * per);  // little-endian host assumed
      cv::Mat img(int(h), int(w), CV_32FC(int(c)));
      for (uint32_t y = 0; y < h; ++y) {
        float* row = img.ptr<float>(int(y));
        for (uint32_t x = 0; x < w; ++x)
          for (uint32_t k = 0; k < c; ++k) row[x * c + k] = chw[(size_t(k) * h + y) * w + x];
      }
      crops.push_back(img);
    }

    // The network itself, in the plain view (the PyTorch model sees the same inputs as they are).
    auto preds = model->predict(crops, /*with_features=*/true, /*with_attention=*/false, "none");
    uint32_t classes = uint32_t(preds.front().probabilities.size());
    uint32_t dim = uint32_t(preds.front().features.size());
    std::ofstream out(argv[3], std::ios::binary);
    put_u32(out, n);
    put_u32(out, classes);
    put_u32(out, dim);
    for (const auto& p : preds) out.write(reinterpret_cast<const char*>(p.probabilities.data()), 4 * classes);
    for (const auto& p : preds) out.write(reinterpret_cast<const char*>(p.features.data()), 4 * dim);
    if (!out) throw std::runtime_error(std::string("cannot write ") + argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
