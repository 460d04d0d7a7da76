// Fuzzes the C API's image entry point: fer_pipeline_process with image views
// of arbitrary declared size, stride and pixel format over a real buffer of
// stride x height bytes (a C caller owns that contract). Nothing may crash or
// throw; every outcome must be a fer_status, and a result set must be readable.
#include <fer/fer.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

fer_pipeline* pipeline() {
  static fer_pipeline* p = [] {
    fer_pipeline_options options;
    fer_pipeline_options_init(&options);
    options.detector = "haar";
    options.threads = 1;
    options.return_features = 1;
    fer_pipeline* out = nullptr;
    if (fer_pipeline_create(&options, &out) != FER_OK) std::abort();
    return out;
  }();
  return p;
}

uint16_t u16(const uint8_t* d) { return uint16_t(d[0] | (d[1] << 8)); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  // Sizes up to 200 px keep an execution fast; the declared format is any int.
  int32_t width = int32_t(u16(data) % 201) - 2;  // includes 0 and negatives
  int32_t height = int32_t(u16(data + 2) % 201) - 2;
  int32_t format;
  std::memcpy(&format, data + 4, 4);
  if ((format & 0xF0) == 0) format &= 0x7;  // mostly valid formats, some invalid ones
  const uint8_t* pixels = data + 8;
  size_t pixel_bytes = size - 8;
  size_t bpp = 4;
  size_t rows = height > 0 ? size_t(height) : 1;
  size_t row_bytes = width > 0 ? size_t(width) * bpp : 1;
  // The stride is sometimes too small (a caller's mistake the API must catch).
  size_t stride = row_bytes + (pixel_bytes ? pixels[0] % 16 : 0);
  if (pixel_bytes && pixels[0] == 0xFF) stride = row_bytes / 2;
  std::vector<uint8_t> buffer(stride * rows + 1, 0);
  for (size_t i = 0; i < buffer.size() && pixel_bytes; ++i) buffer[i] = pixels[i % pixel_bytes];

  fer_image_view view;
  view.data = (pixel_bytes && pixels[pixel_bytes - 1] == 0) ? nullptr : buffer.data();
  view.width = width;
  view.height = height;
  view.stride = stride;
  view.format = fer_pixel_format(format);

  fer_results* results = nullptr;
  fer_status status = fer_pipeline_process(pipeline(), &view, &results);
  if (status == FER_OK) {
    size_t count = 0;
    if (fer_results_count(results, &count) != FER_OK) std::abort();
    for (size_t i = 0; i < count; ++i) {
      fer_face face;
      const float* probabilities = nullptr;
      size_t n = 0;
      if (fer_results_face(results, i, &face) != FER_OK) std::abort();
      if (fer_results_probabilities(results, i, &probabilities, &n) != FER_OK || n == 0) std::abort();
    }
    fer_results_destroy(results);
  } else if (results != nullptr || fer_last_error()[0] == '\0') {
    std::abort();  // out-parameter touched on failure, or no message
  }
  return 0;
}
