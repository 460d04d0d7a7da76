/* The C API, compiled as C99: statuses, NULL handling, untouched out-parameters,
   image views with strides, pipelines, results and model files. */
#include <fer/fer.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ABI: the layout of the public structs is pinned (LP64). A change here is an
   ABI break and needs a new SOVERSION. C99 has no _Static_assert: a negative
   array size fails the build instead. */
#define FER_STATIC_ASSERT(name, cond) typedef char fer_static_assert_##name[(cond) ? 1 : -1]
FER_STATIC_ASSERT(options_size_first, offsetof(fer_pipeline_options, struct_size) == 0);
FER_STATIC_ASSERT(model_info_size_first, offsetof(fer_model_info, struct_size) == 0);
FER_STATIC_ASSERT(status_values, FER_OK == 0 && FER_INVALID_ARGUMENT == 1 && FER_CORRUPT_DATA == 4 && FER_INTERNAL == 10);
#if UINTPTR_MAX == 0xffffffffffffffffu
FER_STATIC_ASSERT(image_view_layout, sizeof(fer_image_view) == 32 && offsetof(fer_image_view, stride) == 16);
FER_STATIC_ASSERT(box_layout, sizeof(fer_box) == 16);
FER_STATIC_ASSERT(face_layout, sizeof(fer_face) == 40 && offsetof(fer_face, label) == 24);
FER_STATIC_ASSERT(options_layout, sizeof(fer_pipeline_options) == 56 && offsetof(fer_pipeline_options, score_threshold) == 32);
FER_STATIC_ASSERT(model_info_layout, sizeof(fer_model_info) == 48);
#endif

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

static void write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "wb");
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

int main(int argc, char** argv) {
  const char* tmp = argc > 1 ? argv[1] : ".";
  char path[1024];

  /* library */
  CHECK(fer_version_number() == FER_VERSION_NUMBER);
  CHECK(strcmp(fer_version(), "0.1.0") == 0);
  CHECK(strcmp(fer_status_string(FER_OK), "ok") == 0);
  CHECK(strcmp(fer_status_string(FER_CORRUPT_DATA), "corrupt_data") == 0);
  CHECK(strcmp(fer_status_string((fer_status)999), "unknown_status") == 0);

  /* destroy(NULL) is a no-op */
  fer_pipeline_destroy(NULL);
  fer_results_destroy(NULL);
  fer_model_destroy(NULL);

  /* registry */
  size_t n = 0;
  CHECK(fer_registry_count(FER_COMPONENT_DETECTOR, &n) == FER_OK && n >= 1);
  const char* name = NULL;
  int found_haar = 0;
  for (size_t i = 0; i < n; ++i)
    if (fer_registry_name(FER_COMPONENT_DETECTOR, i, &name) == FER_OK && strcmp(name, "haar") == 0) found_haar = 1;
  CHECK(found_haar);
  CHECK(fer_registry_count(FER_COMPONENT_EXTRACTOR, &n) == FER_OK && n >= 2);
  name = "untouched";
  CHECK(fer_registry_name(FER_COMPONENT_EXTRACTOR, 100000, &name) == FER_INVALID_ARGUMENT);
  CHECK(strcmp(name, "untouched") == 0);
  CHECK(strlen(fer_last_error()) > 0);
  CHECK(fer_registry_count((fer_component_kind)42, &n) == FER_INVALID_ARGUMENT);
  CHECK(fer_registry_count(FER_COMPONENT_DETECTOR, NULL) == FER_INVALID_ARGUMENT);

  /* pipeline creation */
  fer_pipeline* p = (fer_pipeline*)0x1;
  CHECK(fer_pipeline_create(NULL, NULL) == FER_INVALID_ARGUMENT);
  fer_pipeline_options bad_options;
  memset(&bad_options, 0, sizeof bad_options); /* struct_size not set */
  CHECK(fer_pipeline_create(&bad_options, &p) == FER_INVALID_ARGUMENT);
  CHECK(p == (fer_pipeline*)0x1);
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  CHECK(o.struct_size == sizeof o);
  o.threads = 1;
  o.detector = "no_such_detector";
  CHECK(fer_pipeline_create(&o, &p) == FER_UNKNOWN_COMPONENT);
  CHECK(strstr(fer_last_error(), "haar") != NULL);
  o.detector = NULL;
  o.model_path = "/nonexistent/model.fermodel";
  CHECK(fer_pipeline_create(&o, &p) == FER_NOT_FOUND);
  o.model_path = NULL;
  o.precision = "int3";
  CHECK(fer_pipeline_create(&o, &p) == FER_INVALID_ARGUMENT);
  o.precision = "fp32";
  o.return_features = 1;
  p = NULL;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK && p != NULL);
  if (!p) return 1;
  const char* detector = NULL;
  CHECK(fer_pipeline_detector_name(p, &detector) == FER_OK && strcmp(detector, "haar") == 0);
  const fer_model* pm = NULL;
  CHECK(fer_pipeline_model(p, &pm) == FER_OK && pm != NULL);
  fer_model_info info;
  info.struct_size = sizeof info;
  CHECK(fer_model_get_info(pm, &info) == FER_OK);
  CHECK(info.num_classes >= 7 && info.input_width > 0);

  /* images: a padded-stride gray view, BGR, BGRA, RGB */
  enum { W = 96, H = 80, STRIDE = 4 * W + 16 };
  uint8_t* pixels = (uint8_t*)calloc(STRIDE * H, 1);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < 4 * W; ++x) pixels[y * STRIDE + x] = (uint8_t)((x * 3 + y * 5) & 0xFF);
  fer_image_view view = {pixels, W, H, STRIDE, FER_PIXEL_GRAY8};
  fer_pixel_format formats[4] = {FER_PIXEL_GRAY8, FER_PIXEL_BGR24, FER_PIXEL_BGRA32, FER_PIXEL_RGB24};
  for (int k = 0; k < 4; ++k) {
    fer_results* r = NULL;
    view.format = formats[k];
    CHECK(fer_pipeline_process(p, &view, &r) == FER_OK && r != NULL);
    size_t count = 99;
    CHECK(fer_results_count(r, &count) == FER_OK && count < 99);
    fer_face face;
    CHECK(fer_results_face(r, count, &face) == FER_INVALID_ARGUMENT); /* one past the end */
    fer_results_destroy(r);
  }

  /* bad image views: each rejected, the out-parameter untouched */
  fer_results* untouched = (fer_results*)0x2;
  fer_image_view bad = view;
  bad.data = NULL;
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  bad = view;
  bad.stride = 10; /* smaller than a row */
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "stride") != NULL);
  bad = view;
  bad.width = 0;
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  bad = view;
  bad.width = 30000;
  bad.height = 30000;
  bad.stride = 30000;
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  bad = view;
  bad.format = (fer_pixel_format)17;
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(fer_pipeline_process(p, NULL, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(fer_pipeline_process(NULL, &view, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(untouched == (fer_results*)0x2);
  free(pixels);

  /* fuzz-style: random bytes as images of random sizes, strides and formats;
     every call returns FER_OK or FER_INVALID_ARGUMENT with a message. */
  srand(12345);
  for (int t = 0; t < 40; ++t) {
    int w = rand() % 160 - 8, h = rand() % 160 - 8;
    int fmt = rand() % 6;
    size_t bpp = fmt == 0 ? 1 : fmt == 2 ? 4 : 3;
    size_t row = (size_t)(w > 0 ? w : 1) * bpp;
    size_t stride = rand() % 4 == 0 ? row / 2 : row + (size_t)(rand() % 9);
    size_t bytes = stride * (size_t)(h > 0 ? h : 1) + 1;
    uint8_t* noise = (uint8_t*)malloc(bytes);
    for (size_t k = 0; k < bytes; ++k) noise[k] = (uint8_t)rand();
    fer_image_view v = {noise, w, h, stride, (fer_pixel_format)fmt};
    fer_results* r = NULL;
    fer_status st = fer_pipeline_process(p, &v, &r);
    CHECK(st == FER_OK || st == FER_INVALID_ARGUMENT);
    if (st == FER_OK) CHECK(r != NULL);
    else CHECK(r == NULL && strlen(fer_last_error()) > 0);
    fer_results_destroy(r);
    free(noise);
  }

  /* model files */
  fer_model* m = (fer_model*)0x3;
  snprintf(path, sizeof path, "%s/missing.fermodel", tmp);
  CHECK(fer_model_load(path, &m) == FER_NOT_FOUND);
  snprintf(path, sizeof path, "%s/garbage.fermodel", tmp);
  write_file(path, "this is not a model file at all, just text");
  CHECK(fer_model_load(path, &m) == FER_CORRUPT_DATA);
  CHECK(strstr(fer_last_error(), "garbage.fermodel") != NULL);
  CHECK(m == (fer_model*)0x3);
  CHECK(fer_model_load(NULL, &m) == FER_INVALID_ARGUMENT);
  const char* value = "untouched";
  CHECK(fer_model_provenance(pm, "no_such_key", &value) == FER_NOT_FOUND);
  CHECK(strcmp(value, "untouched") == 0);
  double metric = -1;
  CHECK(fer_model_metric(pm, "no_such_metric", &metric) == FER_NOT_FOUND && metric == -1);
  const char* cls = NULL;
  CHECK(fer_model_class_name(pm, 0, &cls) == FER_OK && cls != NULL && strlen(cls) > 0);
  CHECK(fer_model_class_name(pm, 1000, &cls) == FER_INVALID_ARGUMENT);
  fer_model_info small_info;
  small_info.struct_size = 3;
  CHECK(fer_model_get_info(pm, &small_info) == FER_INVALID_ARGUMENT);

  fer_pipeline_destroy(p);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("C API: all checks passed\n");
  return failures ? 1 : 0;
}
