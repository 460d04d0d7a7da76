// Fuzzes the dataset readers. The first byte picks the reader: 0 = the
// fer2013.csv reader, 1 = the FERPlus label.csv reader (over a folder with
// two valid images), 2 = the packed dataset cache; the rest is the file.
#include "fuzz_common.hpp"
#include "io/crc32.hpp"

#include <fer/dataset.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <sys/stat.h>

namespace {

std::string ferplus_dir() {
  static const std::string dir = [] {
    std::string d = fer::fuzz::scratch_dir() + "/ferplus";
    ::mkdir(d.c_str(), 0700);
    for (int i = 0; i < 2; ++i) {
      cv::Mat face(48, 48, CV_8UC1, cv::Scalar(40 + 100 * i));
      cv::imwrite(d + "/fer000000" + std::to_string(i) + ".png", face);
    }
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fer::detail::set_checksums_enabled_for_fuzzing(false);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int reader = data[0] % 3;
  ++data;
  --size;
  fer::DatasetSpec spec;
  spec.threads = 1;
  if (reader == 0) {
    spec.format = "fer2013csv";
    spec.path = fer::fuzz::scratch_dir() + "/fer2013.csv";
    fer::fuzz::write_file(spec.path, data, size);
  } else if (reader == 1) {
    spec.format = "ferplus";
    spec.path = ferplus_dir();
    fer::fuzz::write_file(spec.path + "/label.csv", data, size);
  } else {
    std::string path = fer::fuzz::scratch_dir() + "/cache.ferdata";
    fer::fuzz::write_file(path, data, size);
    fer::fuzz::expect_only_fer_errors([&] { fer::read_packed_dataset(path).validate(); });
    return 0;
  }
  fer::fuzz::expect_only_fer_errors([&] {
    fer::Dataset d = fer::read_dataset(spec);
    d.validate();
  });
  return 0;
}
