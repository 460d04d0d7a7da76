// Fuzzes the model-file loader (Model::from_bytes) with checksums off, so that
// mutations reach the header, tensor-table and architecture checks behind them;
// a loaded model with int8 activation ranges is also quantized and run.
#include "fuzz_common.hpp"
#include "io/crc32.hpp"

#include <fer/model.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fer::detail::set_checksums_enabled_for_fuzzing(false);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fer::fuzz::expect_only_fer_errors([&] {
    auto model = fer::Model::from_bytes(data, size, "fuzz input");
    // A file that loads must also survive a save/load round trip.
    auto bytes = model->to_bytes();
    fer::Model::from_bytes(bytes.data(), bytes.size(), "fuzz round trip");
    // A calibrated model (small inputs only, to keep runs fast) must also
    // quantize and run in int8, whatever its weights and ranges hold.
    const fer::InputSpec& in = model->info().input;
    if (!model->info().activation_ranges.empty() && model->extractor().supports_int8() && in.width <= 64) {
      model->set_precision(fer::Precision::Int8);
      model->predict({cv::Mat(in.height, in.width, CV_32FC(in.channels), cv::Scalar::all(0.25))});
    }
  });
  return 0;
}
