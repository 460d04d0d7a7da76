// Fuzzes the TF.js weights reader: the input is a manifest and one shard,
// split at the first NUL byte; the shard is written as "shard.bin" next to it.
#include "detect/tfjs_weights.hpp"
#include "fuzz_common.hpp"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* split = std::find(data, data + size, uint8_t(0));
  const std::string& dir = fer::fuzz::scratch_dir();
  fer::fuzz::write_file(dir + "/manifest.json", data, size_t(split - data));
  const uint8_t* shard = split == data + size ? split : split + 1;
  fer::fuzz::write_file(dir + "/shard.bin", shard, size_t(data + size - shard));
  fer::fuzz::expect_only_fer_errors([&] {
    auto weights = fer::detail::read_tfjs_weights(dir + "/manifest.json");
    (void)weights;
  });
  return 0;
}
