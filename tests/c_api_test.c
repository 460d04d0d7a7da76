/* The C API, compiled as C99: statuses, NULL handling, untouched out-parameters,
   image views with strides, pipelines, results and model files. */
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c99 */

#include <fer/fer.h>

#include <math.h>
#include <pthread.h>
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
FER_STATIC_ASSERT(stream_options_size_first, offsetof(fer_stream_options, struct_size) == 0);
FER_STATIC_ASSERT(track_info_size_first, offsetof(fer_track_info, struct_size) == 0);
FER_STATIC_ASSERT(eval_options_size_first, offsetof(fer_eval_options, struct_size) == 0);
FER_STATIC_ASSERT(eval_report_size_first, offsetof(fer_eval_report, struct_size) == 0);
FER_STATIC_ASSERT(train_options_size_first, offsetof(fer_train_options, struct_size) == 0);
FER_STATIC_ASSERT(status_values, FER_OK == 0 && FER_INVALID_ARGUMENT == 1 && FER_CORRUPT_DATA == 4 && FER_INTERNAL == 10 && FER_CANCELLED == 11);
#if UINTPTR_MAX == 0xffffffffffffffffu
FER_STATIC_ASSERT(image_view_layout, sizeof(fer_image_view) == 32 && offsetof(fer_image_view, stride) == 16);
FER_STATIC_ASSERT(box_layout, sizeof(fer_box) == 16);
FER_STATIC_ASSERT(face_layout, sizeof(fer_face) == 40 && offsetof(fer_face, label) == 24);
FER_STATIC_ASSERT(options_layout, sizeof(fer_pipeline_options) == 80 && offsetof(fer_pipeline_options, score_threshold) == 32 &&
                                      offsetof(fer_pipeline_options, landmarks) == 56 &&
                                      offsetof(fer_pipeline_options, return_attention) == 64 &&
                                      offsetof(fer_pipeline_options, tta) == 72);
FER_STATIC_ASSERT(model_info_layout, sizeof(fer_model_info) == 56 && offsetof(fer_model_info, view) == 48);
FER_STATIC_ASSERT(stream_options_layout, sizeof(fer_stream_options) == 48 && offsetof(fer_stream_options, detect_every) == 24 &&
                                              offsetof(fer_stream_options, redetect_every) == 44);
FER_STATIC_ASSERT(track_info_layout, sizeof(fer_track_info) == 64 && offsetof(fer_track_info, smoothed_label_index) == 48);
FER_STATIC_ASSERT(eval_options_layout, sizeof(fer_eval_options) == 56 && offsetof(fer_eval_options, resize) == 32 &&
                                           offsetof(fer_eval_options, occlusion) == 40);
FER_STATIC_ASSERT(eval_report_layout, sizeof(fer_eval_report) == 48 && offsetof(fer_eval_report, accuracy) == 16);
FER_STATIC_ASSERT(epoch_report_layout, sizeof(fer_epoch_report) == 56 && offsetof(fer_epoch_report, train_loss) == 16);
FER_STATIC_ASSERT(train_options_layout, sizeof(fer_train_options) == 216 && offsetof(fer_train_options, epochs) == 88 &&
                                            offsetof(fer_train_options, on_epoch) == 120 &&
                                            offsetof(fer_train_options, split) == 136 &&
                                            offsetof(fer_train_options, kd_weight) == 168 &&
                                            offsetof(fer_train_options, soft_targets) == 192 &&
                                            offsetof(fer_train_options, teacher_precision) == 200 &&
                                            offsetof(fer_train_options, options_json) == 208);
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

/* A binary PPM (P6) or PGM (P5) with maxval 255; NULL if absent or malformed. */
static uint8_t* read_pnm(const char* path, int* width, int* height, int* channels) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char magic[3] = {0};
  int values[3], n = 0;
  uint8_t* data = NULL;
  if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) goto done;
  while (n < 3) {
    int c = fgetc(f);
    if (c == EOF) goto done;
    if (c == '#') {
      while (c != '\n' && c != EOF) c = fgetc(f);
    } else if (c >= '0' && c <= '9') {
      ungetc(c, f);
      if (fscanf(f, "%d", &values[n++]) != 1) goto done;
    }
  }
  fgetc(f); /* the one whitespace byte after maxval */
  if (values[0] <= 0 || values[1] <= 0 || values[2] != 255) goto done;
  *channels = magic[1] == '6' ? 3 : 1;
  *width = values[0];
  *height = values[1];
  data = (uint8_t*)malloc((size_t)values[0] * (size_t)values[1] * (size_t)*channels);
  if (data && fread(data, 1, (size_t)values[0] * (size_t)values[1] * (size_t)*channels, f) !=
                  (size_t)values[0] * (size_t)values[1] * (size_t)*channels) {
    free(data);
    data = NULL;
  }
done:
  fclose(f);
  return data;
}

static int sums_to_one(const float* p, size_t n) {
  double sum = 0;
  size_t i;
  for (i = 0; i < n; ++i) {
    if (!(p[i] >= 0.f && p[i] <= 1.f)) return 0;
    sum += p[i];
  }
  return sum > 0.999 && sum < 1.001;
}

/* Checks one face's attention map: w x h > 1 cell, non-negative, summing to 1. */
static int valid_attention(const float* map, int32_t w, int32_t h) {
  double sum = 0;
  int32_t i;
  if (!map || w < 2 || h < 2) return 0;
  for (i = 0; i < w * h; ++i) {
    if (!(map[i] >= 0.f)) return 0;
    sum += map[i];
  }
  return sum > 0.999 && sum < 1.001;
}

/* Checks the first face of `r`: a valid attention map if `expected`, else none. */
static void check_first_attention(const fer_results* r, int expected) {
  size_t n = 0;
  const float* map = (const float*)0x9;
  int32_t mw = -1, mh = -1;
  CHECK(fer_results_count(r, &n) == FER_OK && n >= 1);
  if (n < 1) return;
  CHECK(fer_results_attention(r, 0, &map, &mw, &mh) == FER_OK);
  if (expected)
    CHECK(valid_attention(map, mw, mh));
  else
    CHECK(map == NULL && mw == 0 && mh == 0);
}

/* Pipeline options for the attention tests: one thread, Haar, fp32, the acnn model, maps asked for. */
static fer_pipeline_options attention_options(const char* acnn_path) {
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  CHECK(o.return_attention == 0 && o.reserved == 0);
  o.threads = 1;
  o.detector = "haar";
  o.precision = "fp32";
  o.model_path = acnn_path;
  o.return_attention = 1;
  return o;
}

/* Attention maps of the shipped attention model (acnn), from a pipeline and a
   stream, only when asked for; none for a model without attention. */
static void test_attention(const char* ppm_path, const char* acnn_path) {
  int w = 0, h = 0, c = 0;
  uint8_t* rgb = read_pnm(ppm_path, &w, &h, &c);
  FILE* f = acnn_path ? fopen(acnn_path, "rb") : NULL;
  if (!rgb || !f) {
    printf("attention maps: skipped (no sample photo or no %s)\n", acnn_path ? acnn_path : "acnn model");
    free(rgb);
    if (f) fclose(f);
    return;
  }
  fclose(f);
  fer_image_view view = {rgb, w, h, (size_t)w * (size_t)c, c == 3 ? FER_PIXEL_RGB24 : FER_PIXEL_GRAY8};
  int with_model;
  for (with_model = 0; with_model < 2; ++with_model) {
    int ask;
    for (ask = 0; ask < 2; ++ask) {
      fer_pipeline_options o = attention_options(acnn_path);
      o.model_path = with_model ? acnn_path : NULL; /* NULL: the default model, no attention */
      o.return_attention = ask;
      fer_pipeline* p = NULL;
      CHECK(fer_pipeline_create(&o, &p) == FER_OK);
      fer_results* r = NULL;
      size_t n = 0, i;
      CHECK(p && fer_pipeline_process(p, &view, &r) == FER_OK);
      CHECK(fer_results_count(r, &n) == FER_OK && n >= 1);
      for (i = 0; i < n; ++i) {
        const float* map = (const float*)0x9;
        int32_t mw = -1, mh = -1;
        CHECK(fer_results_attention(r, i, &map, &mw, &mh) == FER_OK);
        if (with_model && ask)
          CHECK(valid_attention(map, mw, mh));
        else
          CHECK(map == NULL && mw == 0 && mh == 0);
      }
      {
        const float* untouched = (const float*)0x9;
        int32_t mw = 7, mh = 7;
        CHECK(fer_results_attention(r, n, &untouched, &mw, &mh) == FER_INVALID_ARGUMENT);
        CHECK(untouched == (const float*)0x9 && mw == 7 && mh == 7);
        CHECK(fer_results_attention(r, 0, NULL, &mw, &mh) == FER_INVALID_ARGUMENT);
        CHECK(fer_results_attention(NULL, 0, &untouched, &mw, &mh) == FER_INVALID_ARGUMENT);
      }
      fer_results_destroy(r);
      fer_pipeline_destroy(p);
    }
  }
  /* a stream's faces carry them too */
  {
    fer_pipeline_options o = attention_options(acnn_path);
    fer_stream* s = NULL;
    fer_results* r = NULL;
    CHECK(fer_stream_create(&o, NULL, &s) == FER_OK);
    CHECK(s && fer_stream_push(s, &view, 0.0, &r) == FER_OK);
    check_first_attention(r, 1);
    fer_results_destroy(r);
    fer_stream_destroy(s);
  }
  /* a model loaded in bf16 and shared keeps its precision, and its maps */
  {
    fer_model* m = (fer_model*)0x9;
    const char* precision = NULL;
    CHECK(fer_model_load_with_precision(acnn_path, "fp8", &m) == FER_INVALID_ARGUMENT && m == (fer_model*)0x9);
    CHECK(fer_model_load_with_precision(NULL, "bf16", &m) == FER_INVALID_ARGUMENT);
    CHECK(fer_model_load_with_precision(acnn_path, "bf16", NULL) == FER_INVALID_ARGUMENT);
    m = NULL;
    CHECK(fer_model_load_with_precision(acnn_path, "bf16", &m) == FER_OK && m != NULL);
    CHECK(m && fer_model_precision(m, &precision, NULL) == FER_OK && strcmp(precision, "bf16") == 0);
    fer_pipeline_options o = attention_options(NULL);
    fer_pipeline* p = NULL;
    fer_results* r = NULL;
    const fer_model* pm = NULL;
    CHECK(m && fer_pipeline_create_with_model(&o, m, &p) == FER_OK);
    fer_model_destroy(m);
    CHECK(p && fer_pipeline_model(p, &pm) == FER_OK && fer_model_precision(pm, &precision, NULL) == FER_OK &&
          strcmp(precision, "bf16") == 0);
    CHECK(p && fer_pipeline_process(p, &view, &r) == FER_OK);
    check_first_attention(r, 1);
    fer_results_destroy(r);
    fer_pipeline_destroy(p);
  }
  /* an older options struct (ending at landmarks) asks for none */
  {
    fer_pipeline_options o = attention_options(acnn_path);
    o.struct_size = offsetof(fer_pipeline_options, landmarks) + sizeof(const char*);
    fer_pipeline* p = NULL;
    fer_results* r = NULL;
    CHECK(fer_pipeline_create(&o, &p) == FER_OK);
    CHECK(p && fer_pipeline_process(p, &view, &r) == FER_OK);
    check_first_attention(r, 0);
    fer_results_destroy(r);
    fer_pipeline_destroy(p);
  }
  free(rgb);
}

/* The *_init_size functions write only the caller's bytes: a struct of an
   older, shorter layout (here: the first layout of each) followed by canary
   bytes gets its defaults and struct_size, and the canaries stay; the plain
   *_init wrote this header's whole struct into such a buffer (an FFI caller
   declaring only the fields it used corrupted its own heap). */
static void test_init_size(void) {
  enum { CANARY = 64 };
  unsigned char buf[sizeof(fer_train_options) + CANARY];
  size_t sizes[4], i, j;
  sizes[0] = offsetof(fer_pipeline_options, return_features) + sizeof(int32_t);
  sizes[1] = offsetof(fer_stream_options, min_visible_fraction) + sizeof(float);
  sizes[2] = offsetof(fer_eval_options, threads) + sizeof(int32_t);
  sizes[3] = offsetof(fer_train_options, user_data) + sizeof(void*);
  for (i = 0; i < 4; ++i) {
    size_t written = 0;
    memset(buf, 0xA5, sizeof buf);
    switch (i) {
      case 0: fer_pipeline_options_init_size((fer_pipeline_options*)(void*)buf, sizes[i]); break;
      case 1: fer_stream_options_init_size((fer_stream_options*)(void*)buf, sizes[i]); break;
      case 2: fer_eval_options_init_size((fer_eval_options*)(void*)buf, sizes[i]); break;
      default: fer_train_options_init_size((fer_train_options*)(void*)buf, sizes[i]); break;
    }
    memcpy(&written, buf, sizeof written);
    CHECK(written == sizes[i]);
    for (j = sizes[i]; j < sizeof buf; ++j) CHECK(buf[j] == 0xA5);
  }
  /* the short pipeline options are defaults a pipeline accepts */
  {
    fer_pipeline_options full;
    fer_pipeline* p = NULL;
    memset(buf, 0xA5, sizeof buf);
    fer_pipeline_options_init_size((fer_pipeline_options*)(void*)buf, sizes[0]);
    fer_pipeline_options_init(&full);
    CHECK(memcmp(buf + sizeof(size_t), (const unsigned char*)&full + sizeof(size_t), sizes[0] - sizeof(size_t)) == 0);
    ((fer_pipeline_options*)(void*)buf)->threads = 1;
    CHECK(fer_pipeline_create((const fer_pipeline_options*)(const void*)buf, &p) == FER_OK && p != NULL);
    fer_pipeline_destroy(p);
  }
  /* a size larger than this header's writes this header's struct; too small or NULL writes nothing */
  memset(buf, 0xA5, sizeof buf);
  fer_eval_options_init_size((fer_eval_options*)(void*)buf, sizeof buf);
  {
    size_t written = 0;
    memcpy(&written, buf, sizeof written);
    CHECK(written == sizeof(fer_eval_options));
    for (j = sizeof(fer_eval_options); j < sizeof buf; ++j) CHECK(buf[j] == 0xA5);
  }
  memset(buf, 0xA5, sizeof buf);
  fer_stream_options_init_size((fer_stream_options*)(void*)buf, 4);
  for (j = 0; j < sizeof buf; ++j) CHECK(buf[j] == 0xA5);
  fer_train_options_init_size(NULL, sizeof(fer_train_options));
}

/* A struct_size that ends inside a pointer field would copy half of the
   caller's pointer (the rest from the default NULL): refused, not followed.
   The string lives in a large heap block (mmap'ed, above 4 GiB on LP64), so a
   torn copy of its address would not point at it. An older stream-options size
   (ending at min_visible_fraction) is accepted, as its init_size writes it. A
   count of faces no memory can hold is refused as an argument. */
static void test_torn_struct_sizes(const fer_model* pm) {
  char* s = (char*)malloc((size_t)64 << 20);
  fer_eval_options eo;
  fer_eval_report rep;
  fer_train_options to;
  fer_model* m = (fer_model*)(void*)0x9;
  if (!s) return;
  strcpy(s, "eye");
  fer_eval_options_init(&eo);
  eo.occlusion = s;
  eo.struct_size = offsetof(fer_eval_options, occlusion) + 4;
  memset(&rep, 0, sizeof rep);
  rep.struct_size = sizeof rep;
  CHECK(fer_evaluate(pm, "/nonexistent", &eo, &rep) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "struct_size") != NULL);
  fer_train_options_init(&to);
  to.data_path = "/nonexistent";
  to.split = s;
  to.struct_size = offsetof(fer_train_options, split) + 4;
  CHECK(fer_train(&to, &m) == FER_INVALID_ARGUMENT && m == (fer_model*)(void*)0x9);
  CHECK(strstr(fer_last_error(), "struct_size") != NULL);
  free(s);
  {
    fer_pipeline_options po;
    fer_stream_options so;
    fer_stream* st = NULL;
    fer_pipeline_options_init(&po);
    po.threads = 1;
    fer_stream_options_init_size(&so, offsetof(fer_stream_options, min_visible_fraction) + sizeof(float));
    CHECK(fer_stream_create_with_model(&po, pm, &so, &st) == FER_OK && st != NULL);
    fer_stream_destroy(st);
    so.struct_size = offsetof(fer_stream_options, min_visible_fraction); /* too short */
    st = NULL;
    CHECK(fer_stream_create_with_model(&po, pm, &so, &st) == FER_INVALID_ARGUMENT && st == NULL);
  }
  {
    uint8_t pixels[48 * 48];
    fer_image_view v = {pixels, 48, 48, 48, FER_PIXEL_GRAY8};
    float probs[16];
    memset(pixels, 128, sizeof pixels);
    CHECK(fer_model_predict(pm, &v, SIZE_MAX / 7, NULL, probs, SIZE_MAX) == FER_INVALID_ARGUMENT);
  }
}

/* fer_pipeline_recognize: the faces fer_pipeline_process found, given back as
   boxes, get the same probabilities; bad boxes are refused. */
static void test_recognize_boxes(const char* ppm_path) {
  int w = 0, h = 0, c = 0;
  uint8_t* rgb = read_pnm(ppm_path, &w, &h, &c);
  if (!rgb) {
    printf("recognize at given boxes: skipped (no sample photo)\n");
    return;
  }
  fer_image_view view = {rgb, w, h, (size_t)w * (size_t)c, c == 3 ? FER_PIXEL_RGB24 : FER_PIXEL_GRAY8};
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.detector = "haar";
  o.precision = "fp32";
  fer_pipeline* p = NULL;
  fer_results *found = NULL, *given = NULL;
  size_t n = 0, m = 99, i, k;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK && p != NULL);
  CHECK(p && fer_pipeline_process(p, &view, &found) == FER_OK);
  CHECK(fer_results_count(found, &n) == FER_OK && n >= 2);
  fer_box boxes[16];
  for (i = 0; i < n && i < 16; ++i) {
    fer_face face;
    CHECK(fer_results_face(found, i, &face) == FER_OK);
    boxes[i] = face.box;
  }
  if (n > 16) n = 16;
  CHECK(p && fer_pipeline_recognize(p, &view, boxes, n, &given) == FER_OK && given != NULL);
  CHECK(fer_results_count(given, &m) == FER_OK && m == n);
  for (i = 0; i < n && i < m; ++i) {
    fer_face a, b;
    const float *pa = NULL, *pb = NULL;
    size_t ka = 0, kb = 0;
    CHECK(fer_results_face(found, i, &a) == FER_OK && fer_results_face(given, i, &b) == FER_OK);
    CHECK(b.box.x == a.box.x && b.box.width == a.box.width && b.score == 0.f && b.label_index == a.label_index);
    CHECK(fer_results_probabilities(found, i, &pa, &ka) == FER_OK &&
          fer_results_probabilities(given, i, &pb, &kb) == FER_OK && ka == kb && ka >= 7);
    for (k = 0; k < ka && k < kb; ++k) CHECK(fabsf(pa[k] - pb[k]) < 1e-5f);
  }
  fer_results_destroy(given);
  given = NULL;
  /* fer_pipeline_detect: the same boxes and scores, no labels or probabilities */
  {
    fer_results* detected = NULL;
    size_t nd = 0, ns = 99;
    CHECK(p && fer_pipeline_detect(p, &view, &detected) == FER_OK && detected != NULL);
    CHECK(fer_results_count(detected, &nd) == FER_OK && (nd == n || (n == 16 && nd >= 16)));
    CHECK(fer_results_skipped_count(detected, &ns) == FER_OK && ns == 0);
    for (i = 0; i < n && i < nd; ++i) {
      fer_face a, d;
      const float* pd = (const float*)0x5;
      size_t kd = 99;
      CHECK(fer_results_face(found, i, &a) == FER_OK && fer_results_face(detected, i, &d) == FER_OK);
      CHECK(d.box.x == a.box.x && d.box.y == a.box.y && d.box.width == a.box.width && d.score == a.score);
      CHECK(d.label_index == -1 && d.label != NULL && d.label[0] == '\0' && d.confidence == 0.f);
      CHECK(fer_results_probabilities(detected, i, &pd, &kd) == FER_OK && kd == 0);
    }
    fer_results_destroy(detected);
    detected = (fer_results*)0x5;
    CHECK(fer_pipeline_detect(p, NULL, &detected) == FER_INVALID_ARGUMENT && detected == (fer_results*)0x5);
  }
  CHECK(p && fer_pipeline_recognize(p, &view, NULL, 0, &given) == FER_OK && given != NULL);
  CHECK(fer_results_count(given, &m) == FER_OK && m == 0);
  fer_results_destroy(given);
  /* refused, the out-parameter untouched */
  {
    fer_results* untouched = (fer_results*)0x5;
    fer_box bad[2];
    bad[0] = boxes[0];
    CHECK(fer_pipeline_recognize(p, &view, NULL, 1, &untouched) == FER_INVALID_ARGUMENT);
    bad[1].x = 10.f;
    bad[1].y = 10.f;
    bad[1].width = NAN;
    bad[1].height = 40.f;
    CHECK(fer_pipeline_recognize(p, &view, bad, 2, &untouched) == FER_INVALID_ARGUMENT);
    bad[1].width = -40.f;
    CHECK(fer_pipeline_recognize(p, &view, bad, 2, &untouched) == FER_INVALID_ARGUMENT);
    bad[1].x = (float)w + 500.f;
    bad[1].width = 40.f;
    CHECK(fer_pipeline_recognize(p, &view, bad, 2, &untouched) == FER_INVALID_ARGUMENT);
    CHECK(strstr(fer_last_error(), "outside") != NULL);
    CHECK(fer_pipeline_recognize(p, &view, bad, 5000, &untouched) == FER_INVALID_ARGUMENT);
    CHECK(strstr(fer_last_error(), "4096") != NULL);
    CHECK(fer_pipeline_recognize(p, NULL, bad, 1, &untouched) == FER_INVALID_ARGUMENT);
    CHECK(fer_pipeline_recognize(NULL, &view, bad, 1, &untouched) == FER_INVALID_ARGUMENT);
    CHECK(untouched == (fer_results*)0x5);
  }
  fer_results_destroy(found);
  fer_pipeline_destroy(p);
  free(rgb);
}

/* fer_model_predict on images that already are faces: distributions, the same
   rows alone or in a batch (across the 256-face chunks), a gray image and its
   BGR copy alike, flip symmetric under mirroring; bad calls write nothing. */
static void test_model_predict(const fer_model* model) {
  enum { S = 48, N = 300, MAXK = 16 };
  fer_model_info info;
  info.struct_size = sizeof info;
  CHECK(fer_model_get_info(model, &info) == FER_OK && info.num_classes >= 7 && info.num_classes <= MAXK);
  const size_t k = (size_t)info.num_classes;
  uint8_t gray[3][S * S], mirror[S * S], bgr[S * S * 3];
  int f, x, y;
  for (f = 0; f < 3; ++f)
    for (y = 0; y < S; ++y)
      for (x = 0; x < S; ++x) gray[f][y * S + x] = (uint8_t)((x * (3 + f) + y * (5 + 2 * f) + (x * y) / (4 + f)) & 0xFF);
  for (y = 0; y < S; ++y)
    for (x = 0; x < S; ++x) {
      mirror[y * S + x] = gray[0][y * S + (S - 1 - x)];
      bgr[(y * S + x) * 3] = bgr[(y * S + x) * 3 + 1] = bgr[(y * S + x) * 3 + 2] = gray[0][y * S + x];
    }
  fer_image_view faces[N];
  for (f = 0; f < N; ++f) {
    fer_image_view v = {gray[f % 3], S, S, S, FER_PIXEL_GRAY8};
    faces[f] = v;
  }
  float* batch = (float*)malloc(N * k * sizeof(float));
  float one[MAXK], other[MAXK];
  size_t i, j;
  if (!batch) return;
  CHECK(fer_model_predict(model, faces, N, NULL, batch, N * k) == FER_OK);
  for (f = 0; f < 3; ++f) {
    double sum = 0;
    CHECK(fer_model_predict(model, &faces[f], 1, NULL, one, k) == FER_OK);
    for (j = 0; j < k; ++j) sum += one[j];
    CHECK(fabs(sum - 1.0) < 1e-4);
    for (i = (size_t)f; i < N; i += 3)
      for (j = 0; j < k; ++j) CHECK(fabsf(batch[i * k + j] - one[j]) < 1e-5f);
  }
  {
    float diff = 0.f;
    fer_image_view color = {bgr, S, S, S * 3, FER_PIXEL_BGR24};
    CHECK(fer_model_predict(model, &faces[0], 1, NULL, one, k) == FER_OK);
    CHECK(fer_model_predict(model, &color, 1, NULL, other, k) == FER_OK);
    for (j = 0; j < k; ++j) CHECK(fabsf(one[j] - other[j]) < 1e-6f);
    fer_image_view mirrored = {mirror, S, S, S, FER_PIXEL_GRAY8};
    CHECK(fer_model_predict(model, &faces[0], 1, "flip", one, k) == FER_OK);
    CHECK(fer_model_predict(model, &mirrored, 1, "flip", other, k) == FER_OK);
    for (j = 0; j < k; ++j) CHECK(fabsf(one[j] - other[j]) < 1e-5f);
    CHECK(fer_model_predict(model, &faces[0], 1, NULL, other, k) == FER_OK);
    for (j = 0; j < k; ++j)
      if (fabsf(one[j] - other[j]) > diff) diff = fabsf(one[j] - other[j]);
    CHECK(diff > 1e-6f); /* flip is not the plain pass */
  }
  /* refused: nothing written */
  for (j = 0; j < k; ++j) one[j] = -1.f;
  CHECK(fer_model_predict(model, faces, 2, NULL, one, 2 * k - 1) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "capacity") != NULL);
  CHECK(fer_model_predict(model, faces, (size_t)-1, NULL, one, k) == FER_INVALID_ARGUMENT);
  CHECK(fer_model_predict(model, faces, 1, "mirror", one, k) == FER_INVALID_ARGUMENT);
  CHECK(fer_model_predict(model, NULL, 1, NULL, one, k) == FER_INVALID_ARGUMENT);
  CHECK(fer_model_predict(model, faces, 1, NULL, NULL, k) == FER_INVALID_ARGUMENT);
  CHECK(fer_model_predict(NULL, faces, 1, NULL, one, k) == FER_INVALID_ARGUMENT);
  {
    fer_image_view two[2];
    two[0] = faces[0];
    two[1] = faces[1];
    two[1].stride = 3; /* smaller than a row */
    CHECK(fer_model_predict(model, two, 2, NULL, batch, 2 * k) == FER_INVALID_ARGUMENT);
    CHECK(strstr(fer_last_error(), "faces[1]") != NULL);
    two[1] = faces[1];
    two[1].data = NULL;
    CHECK(fer_model_predict(model, two, 2, NULL, one, k) == FER_INVALID_ARGUMENT);
  }
  for (j = 0; j < k; ++j) CHECK(one[j] == -1.f);
  CHECK(fer_model_predict(model, NULL, 0, NULL, NULL, 0) == FER_OK);
  free(batch);
}

/* Probabilities of the sample photo's leftmost face (picked by position, not
   by the detector's order) under test-time augmentation `tta` (NULL: auto, the model's own view),
   copied to probs (8 floats); the class count, 0 on failure. */
static size_t tta_probabilities(const fer_image_view* view, const char* tta, size_t struct_size, float* probs) {
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.detector = "haar";
  o.tta = tta;
  if (struct_size) o.struct_size = struct_size;
  fer_pipeline* p = NULL;
  fer_results* r = NULL;
  const float* pr = NULL;
  size_t n = 0, k = 0, i, left = 0;
  float left_x = 1e30f;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK);
  CHECK(p && fer_pipeline_process(p, view, &r) == FER_OK);
  CHECK(fer_results_count(r, &n) == FER_OK && n >= 1);
  for (i = 0; i < n; ++i) {
    fer_face face;
    if (fer_results_face(r, i, &face) == FER_OK && face.box.x < left_x) {
      left_x = face.box.x;
      left = i;
    }
  }
  if (n >= 1 && fer_results_probabilities(r, left, &pr, &k) == FER_OK && k <= 8) memcpy(probs, pr, k * sizeof(float));
  fer_results_destroy(r);
  fer_pipeline_destroy(p);
  return k <= 8 ? k : 0;
}

/* Test-time augmentation: "flip" and "tencrop" change the probabilities (still
   a distribution), an unknown name is refused, an older struct ignores the field. */
static void test_tta(const char* ppm_path) {
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  CHECK(o.tta == NULL);
  o.tta = "mirror";
  fer_pipeline* p = (fer_pipeline*)0x7;
  CHECK(fer_pipeline_create(&o, &p) == FER_INVALID_ARGUMENT && p == (fer_pipeline*)0x7);
  CHECK(strstr(fer_last_error(), "tta must be auto, none, center, flip or tencrop") != NULL);
  int w = 0, h = 0, c = 0;
  uint8_t* rgb = read_pnm(ppm_path, &w, &h, &c);
  if (!rgb) {
    printf("test-time augmentation: skipped (no sample photo)\n");
    return;
  }
  fer_image_view view = {rgb, w, h, (size_t)w * (size_t)c, c == 3 ? FER_PIXEL_RGB24 : FER_PIXEL_GRAY8};
  float auto_view[8], flip[8], ten[8], old[8], plain[8], center[8];
  /* RGB24 pixels are converted in a copy: the caller's buffer is left as it was
     (it was once converted in place, swapping red and blue at every call) */
  uint8_t* before = (uint8_t*)malloc((size_t)w * (size_t)h * (size_t)c);
  if (before) memcpy(before, rgb, (size_t)w * (size_t)h * (size_t)c);
  size_t k = tta_probabilities(&view, NULL, 0, auto_view), i;
  CHECK(before && memcmp(before, rgb, (size_t)w * (size_t)h * (size_t)c) == 0);
  free(before);
  CHECK(k >= 7);
  CHECK(tta_probabilities(&view, "flip", 0, flip) == k && tta_probabilities(&view, "tencrop", 0, ten) == k);
  /* NULL is "auto": the model's own view (fer_model_info.view), none or center */
  CHECK(tta_probabilities(&view, "none", 0, plain) == k && tta_probabilities(&view, "center", 0, center) == k);
  CHECK(memcmp(plain, center, k * sizeof(float)) != 0);
  {
    fer_pipeline_options po;
    fer_pipeline_options_init(&po);
    po.threads = 1;
    po.detector = "haar";
    fer_pipeline* vp = NULL;
    const fer_model* vm = NULL;
    fer_model_info vi;
    vi.struct_size = sizeof vi;
    vi.view = NULL;
    CHECK(fer_pipeline_create(&po, &vp) == FER_OK && fer_pipeline_model(vp, &vm) == FER_OK &&
          fer_model_get_info(vm, &vi) == FER_OK);
    CHECK(vi.view != NULL && (strcmp(vi.view, "none") == 0 || strcmp(vi.view, "center") == 0));
    if (vi.view) CHECK(memcmp(auto_view, strcmp(vi.view, "center") == 0 ? center : plain, k * sizeof(float)) == 0);
    /* a caller built against the first layout (48 bytes, before view) gets the fields up to trained */
    fer_model_info first;
    memset(&first, 0, sizeof first);
    first.view = "untouched";
    first.struct_size = 48;
    CHECK(fer_model_get_info(vm, &first) == FER_OK && first.struct_size == 48 && strcmp(first.view, "untouched") == 0);
    fer_pipeline_destroy(vp);
  }
  /* a struct ending at `reserved` never reads tta: "garbage" is not refused */
  CHECK(tta_probabilities(&view, "garbage", offsetof(fer_pipeline_options, tta), old) == k);
  double flip_sum = 0, ten_sum = 0, flip_moved = 0, ten_moved = 0, old_moved = 0;
  for (i = 0; i < k && k <= 8; ++i) {
    flip_sum += flip[i];
    ten_sum += ten[i];
    flip_moved += fabs(flip[i] - auto_view[i]);
    ten_moved += fabs(ten[i] - auto_view[i]);
    old_moved += fabs(old[i] - auto_view[i]);
  }
  CHECK(fabs(flip_sum - 1) < 1e-4 && fabs(ten_sum - 1) < 1e-4);
  CHECK(flip_moved > 1e-5);
  CHECK(ten_moved > 1e-5);
  CHECK(old_moved == 0);
  free(rgb);
}

/* Landmarks: the option (also absent from an older, shorter options struct),
   unknown names, and (with the sample photo) 68 points around every face. */
static void test_landmarks(const char* ppm_path) {
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.landmarks = "no_such_landmarks";
  fer_pipeline* p = (fer_pipeline*)0x7;
  CHECK(fer_pipeline_create(&o, &p) == FER_UNKNOWN_COMPONENT);
  CHECK(strstr(fer_last_error(), "68_tiny") != NULL);
  CHECK(p == (fer_pipeline*)0x7);
  /* A caller built against the first layout (no landmarks field) still works. */
  o.struct_size = offsetof(fer_pipeline_options, return_features) + sizeof(int32_t);
  p = NULL;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK && p != NULL);
  fer_pipeline_destroy(p);
  o.struct_size = offsetof(fer_pipeline_options, return_features); /* too short */
  CHECK(fer_pipeline_create(&o, &p) == FER_INVALID_ARGUMENT);

  int w = 0, h = 0, c = 0;
  uint8_t* rgb = read_pnm(ppm_path, &w, &h, &c);
  if (!rgb) {
    printf("landmarks on the sample photo: skipped (no %s)\n", ppm_path);
    return;
  }
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.landmarks = "68_tiny";
  p = NULL;
  if (fer_pipeline_create(&o, &p) != FER_OK) {
    /* the landmark weights come with the face-api assets, like the photo */
    printf("landmarks: %s\n", fer_last_error());
    CHECK(strstr(fer_last_error(), "face_landmark_68_tiny") != NULL);
    free(rgb);
    return;
  }
  fer_image_view view = {rgb, w, h, (size_t)w * (size_t)c, c == 3 ? FER_PIXEL_RGB24 : FER_PIXEL_GRAY8};
  fer_results* r = NULL;
  CHECK(fer_pipeline_process(p, &view, &r) == FER_OK);
  size_t n = 0, i, k;
  CHECK(fer_results_count(r, &n) == FER_OK && n >= 1);
  for (i = 0; i < n; ++i) {
    fer_face face;
    const float* xy = NULL;
    size_t count = 0;
    CHECK(fer_results_face(r, i, &face) == FER_OK);
    CHECK(fer_results_landmarks(r, i, &xy, &count) == FER_OK && count == 68 && xy != NULL);
    for (k = 0; xy && k < count; ++k) {
      float margin = 0.25f * face.box.width;
      CHECK(xy[2 * k] > face.box.x - margin && xy[2 * k] < face.box.x + face.box.width + margin);
      CHECK(xy[2 * k + 1] > face.box.y - margin && xy[2 * k + 1] < face.box.y + face.box.height + margin);
    }
  }
  const float* untouched = (const float*)0x9;
  size_t count = 7;
  CHECK(fer_results_landmarks(r, n, &untouched, &count) == FER_INVALID_ARGUMENT);
  CHECK(untouched == (const float*)0x9 && count == 7);
  CHECK(fer_results_landmarks(r, 0, NULL, &count) == FER_INVALID_ARGUMENT);
  size_t skipped = 9;
  CHECK(fer_results_skipped_count(r, &skipped) == FER_OK && skipped == 0);
  fer_results_destroy(r);
  fer_pipeline_destroy(p);

  /* Faces smaller than min_face_size are reported as skipped, with box and score, not dropped. */
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.min_face_size = 100000;
  p = NULL;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK);
  r = NULL;
  CHECK(p && fer_pipeline_process(p, &view, &r) == FER_OK);
  CHECK(fer_results_count(r, &n) == FER_OK && n == 0);
  CHECK(fer_results_skipped_count(r, &skipped) == FER_OK && skipped >= 1);
  for (i = 0; i < skipped; ++i) {
    fer_box box;
    float score = -1.f;
    CHECK(fer_results_skipped_face(r, i, &box, &score) == FER_OK);
    CHECK(box.width > 10 && box.width < 100000 && box.x >= 0 && box.x < (float)w && score > 0.f && score <= 1.f);
    CHECK(fer_results_skipped_face(r, i, NULL, NULL) == FER_OK);
  }
  fer_box untouched_box = {1, 2, 3, 4};
  CHECK(fer_results_skipped_face(r, skipped, &untouched_box, NULL) == FER_INVALID_ARGUMENT);
  CHECK(untouched_box.x == 1 && untouched_box.width == 3);
  CHECK(strstr(fer_last_error(), "out of range") != NULL);
  CHECK(fer_results_skipped_count(NULL, &skipped) == FER_INVALID_ARGUMENT);
  fer_results_destroy(r);
  fer_pipeline_destroy(p);
  free(rgb);
}

/* Streams: options, creation, rejection paths, and (with the sample photo)
   tracking of a slowly panned view with stable ids. */
static void test_streams(fer_pipeline* p, const fer_model* pm, const char* ppm_path) {
  fer_stream_options so;
  fer_stream_options_init(&so);
  CHECK(so.struct_size == sizeof so && so.detect_every == 5 && so.redetect_every == 2 && so.smoothing_seconds > 0);
  fer_stream_options_init(NULL); /* no-op */
  fer_pipeline_options po;
  fer_pipeline_options_init(&po);
  po.threads = 1;
  po.precision = "fp32";

  /* rejected creation: out-parameter untouched */
  fer_stream* s = (fer_stream*)0x5;
  CHECK(fer_stream_create(&po, &so, NULL) == FER_INVALID_ARGUMENT);
  fer_stream_options bad_so = so;
  bad_so.struct_size = 0;
  CHECK(fer_stream_create(&po, &bad_so, &s) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "fer_stream_options_init") != NULL);
  bad_so = so;
  bad_so.detect_every = 0;
  CHECK(fer_stream_create(&po, &bad_so, &s) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "detect_every") != NULL);
  bad_so = so;
  bad_so.redetect_every = -1; /* 0 means the default (older, zeroed structs); negative is rejected */
  CHECK(fer_stream_create(&po, &bad_so, &s) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "redetect_every") != NULL);
  bad_so = so;
  bad_so.label_margin = 2.f;
  CHECK(fer_stream_create(&po, &bad_so, &s) == FER_INVALID_ARGUMENT);
  po.detector = "no_such_detector";
  CHECK(fer_stream_create(&po, &so, &s) == FER_UNKNOWN_COMPONENT);
  /* Haar, whose detections of the panned view the tracking checks below were written for
     (the default detector is "auto") */
  po.detector = "haar";
  CHECK(fer_stream_create_with_model(&po, NULL, &so, &s) == FER_INVALID_ARGUMENT);
  CHECK(s == (fer_stream*)0x5);
  fer_stream_destroy(NULL);

  /* a stream sharing the pipeline's model; the pipeline is not needed afterwards */
  s = NULL;
  CHECK(fer_stream_create_with_model(&po, pm, &so, &s) == FER_OK && s != NULL);
  if (!s) return;
  const fer_model* sm = NULL;
  fer_model_info info;
  info.struct_size = sizeof info;
  CHECK(fer_stream_model(s, &sm) == FER_OK && fer_model_get_info(sm, &info) == FER_OK);
  int64_t frames = -1;
  CHECK(fer_stream_frame_count(s, &frames) == FER_OK && frames == 0);

  int w = 0, h = 0, c = 0;
  uint8_t* photo = read_pnm(ppm_path, &w, &h, &c);
  int have_photo = photo != NULL && c == 3 && w > 200 && h > 200;
  if (!have_photo) {
    printf("sample photo %s not found (run scripts/setup.sh): stream tracking checks use a blank image\n", ppm_path);
    free(photo);
    w = 320;
    h = 240;
    c = 3;
    photo = (uint8_t*)calloc((size_t)w * h * 3, 1);
  }
  /* A view that pans 2 pixels right and 1 down per frame: a window into the
     photo with the photo's row stride. */
  enum { MARGIN = 40, FRAMES = 8 };
  fer_image_view frame = {photo, w - MARGIN, h - MARGIN, (size_t)w * 3, FER_PIXEL_BGR24};
  int64_t first_ids[64];
  size_t first_count = 0, k;
  int64_t max_id = -1;
  for (int i = 0; i < FRAMES; ++i) {
    double t = i / 15.0;
    fer_results* r = NULL;
    frame.data = photo + (size_t)i * (size_t)w * 3 + (size_t)(2 * i) * 3;
    CHECK(fer_stream_push(s, &frame, t, &r) == FER_OK && r != NULL);
    if (!r) break;
    int64_t index = -1;
    double ts = -1;
    int32_t ran = -1;
    CHECK(fer_results_frame(r, &index, &ts, &ran) == FER_OK);
    CHECK(index == i && ts == t);
    if (have_photo) CHECK(ran == (i % 5 == 0)); /* detect_every = 5; the photo's faces keep a high confidence */
    CHECK(fer_results_frame(r, NULL, NULL, NULL) == FER_OK);
    size_t count = 0;
    CHECK(fer_results_count(r, &count) == FER_OK);
    if (have_photo) CHECK(count >= 2); /* three faces by eye */
    if (i == 0) first_count = count < 64 ? count : 64;
    for (k = 0; k < count; ++k) {
      fer_face face;
      fer_track_info tr;
      memset(&tr, 0, sizeof tr);
      tr.struct_size = sizeof tr;
      CHECK(fer_results_face(r, k, &face) == FER_OK);
      CHECK(fer_results_track(r, k, &tr) == FER_OK);
      CHECK(tr.track_id >= 0 && tr.frames_tracked == i + 1);
      CHECK(tr.detected == (i % 5 == 0));
      CHECK(tr.smoothed_label_index >= 0 && tr.smoothed_label_index < info.num_classes);
      CHECK(tr.smoothed_label != NULL && strlen(tr.smoothed_label) > 0);
      CHECK(face.box.width > 20 && face.box.x >= -face.box.width && face.box.x < (float)frame.width);
      const float *raw = NULL, *smooth = NULL;
      size_t nraw = 0, nsmooth = 0;
      CHECK(fer_results_probabilities(r, k, &raw, &nraw) == FER_OK && sums_to_one(raw, nraw));
      CHECK(fer_results_smoothed_probabilities(r, k, &smooth, &nsmooth) == FER_OK && sums_to_one(smooth, nsmooth));
      CHECK(nraw == (size_t)info.num_classes && nsmooth == nraw);
      CHECK(tr.smoothed_confidence == smooth[tr.smoothed_label_index]);
      if (k > 0) {
        fer_track_info prev;
        prev.struct_size = sizeof prev;
        CHECK(fer_results_track(r, k - 1, &prev) == FER_OK && prev.track_id < tr.track_id); /* ordered by id */
      }
      if (i == 0 && k < 64) first_ids[k] = tr.track_id;
      if (i > 0) { /* the same faces keep their ids: no new track while panning slowly */
        int known = 0;
        size_t j;
        for (j = 0; j < first_count; ++j) known |= first_ids[j] == tr.track_id;
        CHECK(known);
      }
      if (tr.track_id > max_id) max_id = tr.track_id;
    }
    if (i > 0) CHECK(count == first_count);
    /* an out-of-range face, and a track struct without its size */
    fer_track_info small;
    small.struct_size = 4;
    CHECK(fer_results_track(r, count, &small) == FER_INVALID_ARGUMENT);
    if (count > 0) CHECK(fer_results_track(r, 0, &small) == FER_INVALID_ARGUMENT);
    fer_results_destroy(r);
  }
  CHECK(fer_stream_frame_count(s, &frames) == FER_OK && frames == FRAMES);

  /* rejected pushes: each fails with a message, the out-parameter untouched,
     and the stream stays usable */
  fer_results* untouched = (fer_results*)0x6;
  double last_t = (FRAMES - 1) / 15.0;
  CHECK(fer_stream_push(s, &frame, last_t - 0.5, &untouched) == FER_INVALID_ARGUMENT); /* earlier than the last */
  CHECK(strstr(fer_last_error(), "timestamp") != NULL);
  CHECK(fer_stream_push(s, &frame, NAN, &untouched) == FER_INVALID_ARGUMENT);    /* NaN */
  CHECK(fer_stream_push(NULL, &frame, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(fer_stream_push(s, NULL, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(fer_stream_push(s, &frame, last_t + 1, NULL) == FER_INVALID_ARGUMENT);
  fer_image_view bad = frame;
  bad.stride = 3;
  CHECK(fer_stream_push(s, &bad, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "stride") != NULL);
  bad = frame;
  bad.data = NULL;
  CHECK(fer_stream_push(s, &bad, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  bad = frame;
  bad.height = -3;
  CHECK(fer_stream_push(s, &bad, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  bad = frame;
  bad.format = (fer_pixel_format)-1;
  CHECK(fer_stream_push(s, &bad, last_t + 1, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(untouched == (fer_results*)0x6);
  CHECK(fer_stream_frame_count(s, &frames) == FER_OK && frames == FRAMES); /* no rejected frame counted */

  /* reset: tracks are forgotten, ids keep counting up; an equal timestamp is fine */
  CHECK(fer_stream_reset(s) == FER_OK);
  CHECK(fer_stream_reset(NULL) == FER_INVALID_ARGUMENT);
  fer_results* r = NULL;
  CHECK(fer_stream_push(s, &frame, last_t, &r) == FER_OK && r != NULL);
  size_t count = 0;
  CHECK(fer_results_count(r, &count) == FER_OK);
  for (k = 0; k < count; ++k) {
    fer_track_info tr;
    tr.struct_size = sizeof tr;
    CHECK(fer_results_track(r, k, &tr) == FER_OK && tr.track_id > max_id && tr.frames_tracked == 1);
  }
  fer_results_destroy(r);

  /* results of a single image carry no tracking */
  CHECK(fer_pipeline_process(p, &frame, &r) == FER_OK);
  fer_track_info tr;
  tr.struct_size = sizeof tr;
  int64_t index = -7;
  CHECK(fer_results_frame(r, &index, NULL, NULL) == FER_INVALID_ARGUMENT && index == -7);
  CHECK(fer_results_count(r, &count) == FER_OK);
  if (count > 0) CHECK(fer_results_track(r, 0, &tr) == FER_INVALID_ARGUMENT);
  fer_results_destroy(r);

  /* RGB frames are accepted too, and a stream built from options loads its own model */
  fer_stream* s2 = NULL;
  CHECK(fer_stream_create(&po, NULL, &s2) == FER_OK && s2 != NULL);
  frame.format = FER_PIXEL_RGB24;
  CHECK(fer_stream_push(s2, &frame, 0.0, &r) == FER_OK);
  fer_results_destroy(r);
  fer_stream_destroy(s2);
  fer_stream_destroy(s);
  free(photo);
}

/* Two threads pushing to one stream: fer.h allows one thread at a time per
   handle, and a call that finds another thread inside fails cleanly instead
   of racing on the stream's state. Both threads stop once one has been
   turned away (or after many pushes); every call either succeeds or reports
   the other thread. */
static pthread_mutex_t turned_away_lock = PTHREAD_MUTEX_INITIALIZER;
static int turned_away = 0;

static int someone_turned_away(void) {
  int v;
  pthread_mutex_lock(&turned_away_lock);
  v = turned_away;
  pthread_mutex_unlock(&turned_away_lock);
  return v;
}

typedef struct {
  fer_stream* stream;
  const fer_image_view* frame;
  int ok, busy, other;
} pusher;

static void* push_until_turned_away(void* arg) {
  pusher* q = (pusher*)arg;
  int i;
  for (i = 0; i < 20000 && !someone_turned_away(); ++i) {
    fer_results* r = NULL;
    fer_status st = fer_stream_push(q->stream, q->frame, 0.0, &r); /* equal timestamps are allowed */
    if (st == FER_OK) {
      ++q->ok;
      fer_results_destroy(r);
    } else if (st == FER_INVALID_ARGUMENT && strstr(fer_last_error(), "another thread") != NULL) {
      ++q->busy;
      pthread_mutex_lock(&turned_away_lock);
      turned_away = 1;
      pthread_mutex_unlock(&turned_away_lock);
    } else {
      ++q->other;
    }
  }
  return NULL;
}

static void test_concurrent_calls(const fer_model* pm) {
  fer_pipeline_options po;
  fer_stream_options so;
  fer_stream* s = NULL;
  fer_pipeline_options_init(&po);
  fer_stream_options_init(&so);
  po.threads = 1;
  po.detector = "haar";
  so.detect_every = 1;
  CHECK(fer_stream_create_with_model(&po, pm, &so, &s) == FER_OK && s != NULL);
  if (!s) return;
  enum { FW = 64, FH = 48 };
  static uint8_t gray[FW * FH];
  int i;
  for (i = 0; i < FW * FH; ++i) gray[i] = (uint8_t)(i * 7);
  fer_image_view frame = {gray, FW, FH, FW, FER_PIXEL_GRAY8};
  pusher a = {s, &frame, 0, 0, 0}, b = {s, &frame, 0, 0, 0};
  pthread_t ta, tb;
  CHECK(pthread_create(&ta, NULL, push_until_turned_away, &a) == 0);
  CHECK(pthread_create(&tb, NULL, push_until_turned_away, &b) == 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  CHECK(a.other == 0 && b.other == 0);
  CHECK(a.busy + b.busy > 0); /* the threads met inside the stream at least once */
  int64_t frames = -1;
  CHECK(fer_stream_frame_count(s, &frames) == FER_OK && frames == a.ok + b.ok); /* every accepted push counted */
  fer_results* r = NULL;
  CHECK(fer_stream_push(s, &frame, 1.0, &r) == FER_OK); /* usable afterwards */
  fer_results_destroy(r);
  fer_stream_destroy(s);
}

/* A 24-bit BMP (bottom-up rows padded to 4 bytes), for a folder dataset. */
static void write_bmp(const char* path, int w, int h, unsigned seed) {
  FILE* f = fopen(path, "wb");
  if (!f) return;
  size_t row = ((size_t)w * 3 + 3) & ~(size_t)3;
  uint32_t data_size = (uint32_t)(row * (size_t)h), file_size = 54 + data_size;
  uint8_t hdr[54];
  memset(hdr, 0, sizeof hdr);
  hdr[0] = 'B';
  hdr[1] = 'M';
#define PUT32(o, v) (hdr[o] = (uint8_t)(v), hdr[o + 1] = (uint8_t)((v) >> 8), hdr[o + 2] = (uint8_t)((v) >> 16), hdr[o + 3] = (uint8_t)((v) >> 24))
  PUT32(2, file_size);
  PUT32(10, 54u);
  PUT32(14, 40u);
  PUT32(18, (uint32_t)w);
  PUT32(22, (uint32_t)h);
  hdr[26] = 1;
  hdr[28] = 24;
  PUT32(34, data_size);
#undef PUT32
  fwrite(hdr, 1, sizeof hdr, f);
  uint8_t* line = (uint8_t*)calloc(row, 1);
  int y;
  size_t x;
  for (y = 0; y < h; ++y) {
    for (x = 0; x < (size_t)w * 3; ++x) line[x] = (uint8_t)((seed * 131u + (unsigned)y * 7u + (unsigned)x * 13u) & 0xFF);
    fwrite(line, 1, row, f);
  }
  free(line);
  fclose(f);
}

static void make_dir(const char* path) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "cannot create %s\n", path);
}

/* Evaluation on a small folder dataset of generated images. */
static void test_evaluate(const fer_model* pm, const char* tmp) {
  static const char* classes[2] = {"happy", "sad"};
  char dir[1024], path[1100];
  int k, i;
  snprintf(dir, sizeof dir, "%s/c_eval", tmp);
  for (k = 0; k < 2; ++k) {
    snprintf(path, sizeof path, "%s/%s", dir, classes[k]);
    make_dir(path);
    for (i = 0; i < 3; ++i) {
      snprintf(path, sizeof path, "%s/%s/img%d.bmp", dir, classes[k], i);
      write_bmp(path, 64, 64, (unsigned)(k * 3 + i));
    }
  }
  fer_eval_options eo;
  fer_eval_options_init(&eo);
  CHECK(eo.struct_size == sizeof eo && eo.format == NULL && eo.resize == 0);
  eo.threads = 1;
  fer_eval_report rep;
  memset(&rep, 0, sizeof rep);
  rep.struct_size = sizeof rep;
  rep.count = -5;
  /* 64x64 images for a 48x48 model: rejected unless resizing is asked for */
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_SHAPE_MISMATCH);
  CHECK(strstr(fer_last_error(), "img") != NULL && rep.count == -5);
  eo.resize = 1;
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_OK);
  CHECK(rep.count == 6 && rep.accuracy >= 0 && rep.accuracy <= 1 && rep.macro_f1 >= 0 && rep.macro_f1 <= 1);
  CHECK(rep.loss > 0 && rep.ece >= 0 && rep.ece <= 1);
  CHECK(rep.struct_size == sizeof rep);
  /* flip TTA evaluates the same images */
  eo.tta = "flip";
  rep.count = -5;
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_OK && rep.count == 6);
  eo.tta = "sideways";
  rep.count = -5;
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_INVALID_ARGUMENT && rep.count == -5);
  eo.tta = NULL;
  eo.format = "no_such_format";
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_INVALID_ARGUMENT);
  eo.format = NULL;
  snprintf(path, sizeof path, "%s/missing_dataset", tmp);
  CHECK(fer_evaluate(pm, path, &eo, &rep) == FER_NOT_FOUND && rep.count == -5);
  CHECK(fer_evaluate(NULL, dir, &eo, &rep) == FER_INVALID_ARGUMENT);
  CHECK(fer_evaluate(pm, NULL, &eo, &rep) == FER_INVALID_ARGUMENT);
  CHECK(fer_evaluate(pm, dir, &eo, NULL) == FER_INVALID_ARGUMENT);
  rep.struct_size = 0;
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_INVALID_ARGUMENT && rep.count == -5);
  rep.struct_size = sizeof rep;
  eo.struct_size = 0;
  CHECK(fer_evaluate(pm, dir, &eo, &rep) == FER_INVALID_ARGUMENT && rep.count == -5);
  eo.struct_size = sizeof eo;

  /* an ensemble of one model twice: the mean of equal probabilities, so the single model's report */
  {
    const fer_model* pair[2] = {pm, pm};
    const fer_model* with_null[2] = {pm, NULL};
    fer_eval_report single, ensemble;
    memset(&single, 0, sizeof single);
    single.struct_size = sizeof single;
    ensemble = single;
    CHECK(fer_evaluate(pm, dir, &eo, &single) == FER_OK);
    CHECK(fer_evaluate_ensemble(pair, 2, dir, &eo, &ensemble) == FER_OK);
    CHECK(ensemble.count == single.count && ensemble.accuracy == single.accuracy);
    CHECK(fabs(ensemble.loss - single.loss) < 1e-5 * (1 + single.loss));
    CHECK(fer_evaluate_ensemble(pair, 1, dir, &eo, &ensemble) == FER_OK && ensemble.accuracy == single.accuracy);
    ensemble.count = -5;
    CHECK(fer_evaluate_ensemble(pair, 0, dir, &eo, &ensemble) == FER_INVALID_ARGUMENT && ensemble.count == -5);
    CHECK(fer_evaluate_ensemble(NULL, 2, dir, &eo, &ensemble) == FER_INVALID_ARGUMENT);
    CHECK(fer_evaluate_ensemble(with_null, 2, dir, &eo, &ensemble) == FER_INVALID_ARGUMENT && ensemble.count == -5);
    CHECK(strstr(fer_last_error(), "model 1 is NULL") != NULL);
    CHECK(fer_evaluate_ensemble(pair, (size_t)1 << 40, dir, &eo, &ensemble) == FER_INVALID_ARGUMENT);
    CHECK(fer_evaluate_ensemble(pair, 2, NULL, &eo, &ensemble) == FER_INVALID_ARGUMENT && ensemble.count == -5);

    /* the full report as JSON: per-class figures, confusion matrix, per-image results */
    char* json = (char*)0x9;
    CHECK(fer_evaluate_json(pair, 1, dir, &eo, 1, &json) == FER_OK && json != (char*)0x9 && json != NULL);
    if (json && json != (char*)0x9) {
      char expect[64];
      snprintf(expect, sizeof expect, "\"count\":%lld", (long long)single.count);
      CHECK(strstr(json, expect) != NULL);
      CHECK(strstr(json, "\"confusion\":[[") != NULL && strstr(json, "\"per_class\"") != NULL);
      CHECK(strstr(json, "\"ensemble_size\":1") != NULL);
      /* one '0' or '1' per image: six of them */
      const char* correct = strstr(json, "\"correct\":\"");
      CHECK(correct != NULL && correct && strspn(correct + 11, "01") == 6 && correct[17] == '"');
      fer_string_free(json);
    }
    json = NULL;
    CHECK(fer_evaluate_json(pair, 2, dir, &eo, 0, &json) == FER_OK && json && strstr(json, "\"ensemble_size\":2") &&
          !strstr(json, "\"correct\""));
    fer_string_free(json);
    fer_string_free(NULL);
    json = (char*)0x9;
    CHECK(fer_evaluate_json(pair, 1, NULL, &eo, 0, &json) == FER_INVALID_ARGUMENT && json == (char*)0x9);
    CHECK(fer_evaluate_json(with_null, 2, dir, &eo, 0, &json) == FER_INVALID_ARGUMENT && json == (char*)0x9);
    CHECK(fer_evaluate_json(pair, 1, dir, &eo, 0, NULL) == FER_INVALID_ARGUMENT);
    snprintf(path, sizeof path, "%s/missing_dataset", tmp);
    CHECK(fer_evaluate_json(pair, 1, path, &eo, 0, &json) == FER_NOT_FOUND && json == (char*)0x9);

    /* synthetic occlusion, seeded; ignored in an older, shorter options struct */
    fer_eval_options occ = eo;
    CHECK(occ.occlusion == NULL && occ.occlusion_seed == 1);
    occ.occlusion = "mouth";
    occ.occlusion_seed = 5;
    json = NULL;
    CHECK(fer_evaluate_json(pair, 1, dir, &occ, 0, &json) == FER_OK && json &&
          strstr(json, "\"occlusion\":\"mouth\"") && strstr(json, "\"occlusion_seed\":5"));
    fer_string_free(json);
    occ.occlusion = "nose";
    ensemble.count = -5;
    CHECK(fer_evaluate_ensemble(pair, 1, dir, &occ, &ensemble) == FER_INVALID_ARGUMENT && ensemble.count == -5);
    occ.struct_size = offsetof(fer_eval_options, threads) + sizeof(int32_t);
    CHECK(fer_evaluate_ensemble(pair, 1, dir, &occ, &ensemble) == FER_OK && ensemble.accuracy == single.accuracy);
    occ.struct_size = offsetof(fer_eval_options, threads);
    CHECK(fer_evaluate(pm, dir, &occ, &ensemble) == FER_INVALID_ARGUMENT);
  }
}

/* Video input: an image sequence of generated BMP frames, read and pushed
   into a stream; bad paths, hostile patterns and NULLs. */
static void test_video(const char* tmp) {
  char dir[1024], path[1100], pattern[1100];
  int i;
  snprintf(dir, sizeof dir, "%s/c_video", tmp);
  make_dir(dir);
  for (i = 0; i < 3; ++i) {
    snprintf(path, sizeof path, "%s/frame_%03d.bmp", dir, i);
    write_bmp(path, 64, 48, (unsigned)(10 + i));
  }
  snprintf(pattern, sizeof pattern, "%s/frame_%%03d.bmp", dir);
  fer_video* v = (fer_video*)0x9;
  CHECK(fer_video_open(NULL, 0, &v) == FER_INVALID_ARGUMENT && v == (fer_video*)0x9);
  CHECK(fer_video_open(pattern, 0, NULL) == FER_INVALID_ARGUMENT);
  CHECK(fer_video_open(pattern, -1, &v) == FER_INVALID_ARGUMENT && v == (fer_video*)0x9);
  CHECK(fer_video_open(pattern, NAN, &v) == FER_INVALID_ARGUMENT && v == (fer_video*)0x9);
  CHECK(fer_video_open(pattern, 5000, &v) == FER_INVALID_ARGUMENT && strstr(fer_last_error(), "1000") != NULL);
  snprintf(path, sizeof path, "%s/missing.mp4", dir);
  CHECK(fer_video_open(path, 0, &v) == FER_NOT_FOUND && v == (fer_video*)0x9);
  snprintf(path, sizeof path, "%s/%%s%%s%%s%%n.png", dir);
  CHECK(fer_video_open(path, 0, &v) == FER_INVALID_ARGUMENT && v == (fer_video*)0x9);
  CHECK(fer_video_open_camera(-1, &v) == FER_INVALID_ARGUMENT && v == (fer_video*)0x9);
  CHECK(fer_video_read(NULL, NULL, NULL, NULL, NULL) == FER_INVALID_ARGUMENT);
  CHECK(fer_video_info(NULL, NULL, NULL, NULL, NULL, NULL) == FER_INVALID_ARGUMENT);
  fer_video_destroy(NULL);

  v = NULL;
  CHECK(fer_video_open(pattern, 10, &v) == FER_OK && v != NULL);
  if (!v) return;
  double fps = 0;
  int32_t live = -1;
  int64_t frames = 0;
  CHECK(fer_video_info(v, &fps, NULL, NULL, &frames, &live) == FER_OK && fps == 10 && live == 0);
  CHECK(frames == 3 || frames == -1);
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.threads = 1;
  o.detector = "haar";
  fer_stream* s = NULL;
  CHECK(fer_stream_create(&o, NULL, &s) == FER_OK);
  int n = 0;
  for (;;) {
    fer_image_view frame;
    double t = -1;
    int64_t index = -1;
    int32_t got = -1;
    CHECK(fer_video_read(v, &frame, &t, &index, &got) == FER_OK);
    if (got != 1) {
      CHECK(got == 0);
      break;
    }
    CHECK(frame.width == 64 && frame.height == 48 && frame.format == FER_PIXEL_BGR24 && frame.stride >= 64 * 3);
    CHECK(index == n && fabs(t - n / 10.0) < 1e-9);
    /* the frame's own pixels, top row first: write_bmp stores rows bottom-up, bytes as (seed*131 + row*7 + byte*13) */
    CHECK(frame.data[0] == (uint8_t)(((10u + (unsigned)n) * 131u + 47u * 7u) & 0xFF));
    CHECK(frame.data[frame.stride * 47 + 5] == (uint8_t)(((10u + (unsigned)n) * 131u + 5u * 13u) & 0xFF));
    fer_results* r = NULL;
    CHECK(s && fer_stream_push(s, &frame, t, &r) == FER_OK && r != NULL);
    fer_results_destroy(r);
    ++n;
  }
  CHECK(n == 3);
  int64_t pushed = 0;
  CHECK(s && fer_stream_frame_count(s, &pushed) == FER_OK && pushed == 3);
  {
    int32_t w = 0, h = 0;
    CHECK(fer_video_info(v, NULL, &w, &h, NULL, NULL) == FER_OK && w == 64 && h == 48);
    fer_image_view untouched;
    int32_t got = 1;
    untouched.width = -7;
    CHECK(fer_video_read(v, &untouched, NULL, NULL, &got) == FER_OK && got == 0 && untouched.width == -7);
  }
  fer_stream_destroy(s);
  fer_video_destroy(v);
}

/* on_epoch callback: counts epochs, checks the report, stops after `stop_after` if set. */
typedef struct epoch_counter {
  int epochs;
  int stop_after;
} epoch_counter;

static int count_epoch(void* user, const fer_epoch_report* r) {
  epoch_counter* c = (epoch_counter*)user;
  ++c->epochs;
  CHECK(r->struct_size == sizeof *r && r->epoch == c->epochs && r->train_loss > 0 && r->val_accuracy == -1);
  return c->stop_after > 0 && c->epochs >= c->stop_after;
}

/* int8 calibration of the model trained by test_train, on test_evaluate's folder. */
static void test_quantize(const char* tmp) {
  char model[1024], data[1024], out[1100], missing[1100];
  snprintf(model, sizeof model, "%s/c_train/best.fermodel", tmp);
  snprintf(data, sizeof data, "%s/c_eval", tmp);
  snprintf(out, sizeof out, "%s/c_quantized.fermodel", tmp);
  snprintf(missing, sizeof missing, "%s/no_such_dataset", tmp);
  remove(out);
  fer_eval_options eo;
  fer_eval_options_init(&eo);
  eo.threads = 1;
  CHECK(fer_quantize(NULL, data, &eo, 0, 0, out) == FER_INVALID_ARGUMENT);
  CHECK(fer_quantize(model, NULL, &eo, 0, 0, out) == FER_INVALID_ARGUMENT);
  CHECK(fer_quantize(model, data, &eo, 0, 0, NULL) == FER_INVALID_ARGUMENT);
  CHECK(fer_quantize(model, data, &eo, -1, 0, out) == FER_INVALID_ARGUMENT);
  CHECK(fer_quantize(model, missing, &eo, 0, 0, out) == FER_NOT_FOUND);
  eo.split = "PrivateTest"; /* calibration tunes on its data: a test split is refused, before the model is read */
  CHECK(fer_quantize(missing, data, &eo, 0, 0, out) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "not the test split") != NULL);
  eo.split = NULL;
  CHECK(fer_quantize(model, data, &eo, 0, 0, out) == FER_SHAPE_MISMATCH); /* 64x64 images, 48x48 model */
  FILE* f = fopen(out, "rb");
  CHECK(f == NULL); /* a failed call writes nothing */
  if (f) fclose(f);
  eo.resize = 1;
  CHECK(fer_quantize(model, data, &eo, 4, 7, out) == FER_OK);
  fer_model* m = NULL;
  CHECK(fer_model_load(out, &m) == FER_OK);
  const char* loaded_precision = NULL;
  CHECK(m && fer_model_precision(m, &loaded_precision, NULL) == FER_OK && strcmp(loaded_precision, "fp32") == 0);
  const char* value = NULL;
  CHECK(m && fer_model_provenance(m, "int8_calibration", &value) == FER_OK && value &&
        strstr(value, "4 images drawn with seed 7") != NULL);
  fer_model_destroy(m);
  /* a pipeline runs the calibrated copy in int8 */
  fer_pipeline_options o;
  fer_pipeline_options_init(&o);
  o.model_path = out;
  o.precision = "int8";
  o.detector = "haar";
  o.threads = 1;
  fer_pipeline* p = NULL;
  CHECK(fer_pipeline_create(&o, &p) == FER_OK && p != NULL);
  if (p) {
    const fer_model* pm = NULL;
    const char* precision = NULL;
    int32_t calibrated = -1;
    CHECK(fer_pipeline_model(p, &pm) == FER_OK && fer_model_precision(pm, &precision, &calibrated) == FER_OK);
    CHECK(precision && strcmp(precision, "int8") == 0 && calibrated == 1);
    CHECK(fer_model_precision(pm, NULL, NULL) == FER_INVALID_ARGUMENT);
    uint8_t gray[64 * 64];
    fer_image_view g = {gray, 64, 64, 64, FER_PIXEL_GRAY8};
    fer_results* r = NULL;
    memset(gray, 100, sizeof gray);
    CHECK(fer_pipeline_process(p, &g, &r) == FER_OK && r != NULL);
    fer_results_destroy(r);
  }
  fer_pipeline_destroy(p);
  /* fer_train already calibrated the original on its training images */
  m = NULL;
  value = NULL;
  CHECK(fer_model_load(model, &m) == FER_OK);
  CHECK(m && fer_model_provenance(m, "int8_calibration", &value) == FER_OK && value &&
        strstr(value, "from the training data") != NULL);
  fer_model_destroy(m);
}

/* A tiny training run on the evaluation folder of test_evaluate. */
static void test_train(const char* tmp) {
  char data[1024], out[1024], path[1100];
  snprintf(data, sizeof data, "%s/c_eval", tmp);
  snprintf(out, sizeof out, "%s/c_train", tmp);
  fer_train_options to;
  fer_train_options_init(&to);
  CHECK(to.struct_size == sizeof to && to.epochs > 0 && to.batch_size > 0 && to.input_size == 48 && to.lr > 0);
  fer_model* m = (fer_model*)0x9;
  CHECK(fer_train(NULL, &m) == FER_INVALID_ARGUMENT);
  CHECK(fer_train(&to, &m) == FER_INVALID_ARGUMENT); /* no data_path */
  CHECK(strstr(fer_last_error(), "data_path") != NULL);
  to.data_path = data;
  to.out_dir = out;
  to.epochs = 2;
  to.batch_size = 2;
  to.max_steps_per_epoch = 1;
  to.threads = 1;
  to.resize = 1; /* the images are 64x64, the model 48x48 */
  to.resume = 0;
  epoch_counter counter = {0, 0};
  to.on_epoch = count_epoch;
  to.user_data = &counter;
  fer_train_options bad = to;
  bad.struct_size = 8;
  CHECK(fer_train(&bad, &m) == FER_INVALID_ARGUMENT);
  bad = to;
  snprintf(path, sizeof path, "%s/no_such_data", tmp);
  bad.data_path = path;
  CHECK(fer_train(&bad, &m) == FER_NOT_FOUND);
  bad = to;
  bad.architecture = "no_such_architecture";
  CHECK(fer_train(&bad, &m) == FER_UNKNOWN_COMPONENT);
  CHECK(m == (fer_model*)0x9);

  m = NULL;
  CHECK(fer_train(&to, &m) == FER_OK && m != NULL);
  CHECK(counter.epochs == 2);
  if (m) {
    fer_model_info info;
    info.struct_size = sizeof info;
    CHECK(fer_model_get_info(m, &info) == FER_OK && info.trained == 1 && info.num_classes == 2 && info.input_width == 48);
    CHECK(info.view != NULL && strcmp(info.view, "none") == 0); /* training selects in the plain view */
    fer_model_destroy(m);
  }
  snprintf(path, sizeof path, "%s/best.fermodel", out);
  m = NULL;
  CHECK(fer_model_load(path, &m) == FER_OK);
  fer_model_destroy(m);

  /* distillation from the trained model twice over (an ensemble of teachers) */
  {
    char teacher[1100], kd_out[1100];
    snprintf(teacher, sizeof teacher, "%s/best.fermodel", out);
    snprintf(kd_out, sizeof kd_out, "%s/c_train_kd", tmp);
    const char* teachers[2] = {teacher, teacher};
    fer_train_options kd = to;
    kd.on_epoch = NULL;
    kd.out_dir = kd_out;
    kd.epochs = 1;
    CHECK(kd.kd_weight == 0 && kd.kd_temperature == 4 && kd.label_smoothing == 0 && kd.teacher_count == 0);
    kd.kd_weight = 0.5;
    m = (fer_model*)0x9;
    CHECK(fer_train(&kd, &m) == FER_INVALID_ARGUMENT && m == (fer_model*)0x9); /* a kd weight without teachers */
    CHECK(strstr(fer_last_error(), "teacher") != NULL);
    kd.teacher_count = 2;
    CHECK(fer_train(&kd, &m) == FER_INVALID_ARGUMENT); /* teachers NULL */
    kd.teachers = teachers;
    kd.label_smoothing = 1.5;
    CHECK(fer_train(&kd, &m) == FER_INVALID_ARGUMENT && strstr(fer_last_error(), "smoothing") != NULL);
    kd.label_smoothing = 0.1;
    kd.kd_temperature = -1;
    CHECK(fer_train(&kd, &m) == FER_INVALID_ARGUMENT);
    kd.kd_temperature = 4;
    kd.teacher_precision = "int4";
    CHECK(fer_train(&kd, &m) == FER_INVALID_ARGUMENT && strstr(fer_last_error(), "teacher precision") != NULL);
    kd.teacher_precision = "bf16";
    m = NULL;
    CHECK(fer_train(&kd, &m) == FER_OK && m != NULL);
    const char* value = NULL;
    CHECK(m && fer_model_provenance(m, "teacher", &value) == FER_OK && value && strstr(value, "best.fermodel, ") != NULL);
    value = NULL;
    CHECK(m && fer_model_provenance(m, "teacher_precision", &value) == FER_OK && value && strcmp(value, "bf16") == 0);
    CHECK(m && fer_model_provenance(m, "int8_calibration", &value) == FER_OK); /* calibrated by default */
    fer_model_destroy(m);

    /* every other option through options_json, the flags of `fer train` */
    fer_train_options more = to;
    more.on_epoch = NULL;
    more.out_dir = kd_out;
    more.epochs = 1;
    more.resume = 0;
    CHECK(more.options_json == NULL);
    more.options_json = "{\"ema\": 0.9, \"no-augment\": true, \"epochs\": 2, \"calibrate\": 0}";
    m = NULL;
    CHECK(fer_train(&more, &m) == FER_OK && m != NULL);
    value = NULL;
    CHECK(m && fer_model_provenance(m, "epochs", &value) == FER_OK && value && strcmp(value, "2") == 0); /* JSON wins */
    CHECK(m && fer_model_provenance(m, "int8_calibration", &value) == FER_NOT_FOUND);                 /* calibrate 0 */
    fer_model_destroy(m);
    const char* bad_json[][2] = {{"{\"ema\": ", "not valid JSON"},
                                 {"[1, 2]", "JSON object"},
                                 {"{\"frobnicate\": 1}", "no option --frobnicate"},
                                 {"{\"lr\": \"fast\"}", "--lr needs a finite number"},
                                 {"{\"no-augment\": 1}", "no-augment is a switch"},
                                 {"{\"lr\": [0.1, 0.2]}", "lr takes one value"},
                                 {"{\"jpeg\": 2}", "JPEG re-encoding probability"},
                                 {"{\"arch-opt\": [\"widht=0.5\"]}", "no option 'widht'"}};
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; ++i) {
      more.options_json = bad_json[i][0];
      m = (fer_model*)0x9;
      CHECK(fer_train(&more, &m) == FER_INVALID_ARGUMENT && m == (fer_model*)0x9);
      if (strstr(fer_last_error(), bad_json[i][1]) == NULL)
        fprintf(stderr, "options_json %s: want '%s' in: %s\n", bad_json[i][0], bad_json[i][1], fer_last_error());
      CHECK(strstr(fer_last_error(), bad_json[i][1]) != NULL);
    }
    /* the layout before options_json: its garbage is not read */
    more.struct_size = offsetof(fer_train_options, options_json);
    more.options_json = "not JSON";
    m = NULL;
    CHECK(fer_train(&more, &m) == FER_OK && m != NULL);
    fer_model_destroy(m);

    /* a caller built against the first, shorter layout (ending at user_data):
       the appended fields are not read, so the garbage in them is harmless */
    fer_train_options old = to;
    old.on_epoch = NULL;
    old.out_dir = kd_out;
    old.epochs = 1;
    old.struct_size = offsetof(fer_train_options, user_data) + sizeof(void*);
    old.teachers = NULL;
    old.teacher_count = 7;
    old.kd_weight = -3;
    old.label_smoothing = 9;
    old.split = "no_such_split";
    old.teacher_precision = "no_such_precision";
    m = NULL;
    CHECK(fer_train(&old, &m) == FER_OK && m != NULL);
    value = NULL;
    CHECK(m && fer_model_provenance(m, "teacher", &value) == FER_NOT_FOUND);
    fer_model_destroy(m);
    old.struct_size = offsetof(fer_train_options, user_data); /* too short */
    CHECK(fer_train(&old, &m) == FER_INVALID_ARGUMENT);
  }

  /* on_epoch returning non-zero cancels the run */
  snprintf(out, sizeof out, "%s/c_train_cancel", tmp);
  to.out_dir = out;
  to.epochs = 3;
  counter.epochs = 0;
  counter.stop_after = 1;
  m = (fer_model*)0x9;
  CHECK(fer_train(&to, &m) == FER_CANCELLED && m == (fer_model*)0x9);
  CHECK(counter.epochs == 1 && strlen(fer_last_error()) > 0);
}

int main(int argc, char** argv) {
  const char* tmp = argc > 1 ? argv[1] : ".";
  const char* ppm = argc > 2 ? argv[2] : "sample3.ppm";
  const char* model_file = argc > 3 ? argv[3] : NULL;
  /* The default detector is "auto": ssd_mobilenet when its weights (argv[4]) are present, else haar. */
  const char* ssd_manifest = argc > 4 ? argv[4] : NULL;
  FILE* ssd_file = ssd_manifest ? fopen(ssd_manifest, "rb") : NULL;
  const char* default_detector = ssd_file ? "ssd_mobilenet" : "haar";
  if (ssd_file) fclose(ssd_file);
  char path[1024];

  /* library */
  CHECK(fer_version_number() == FER_VERSION_NUMBER);
  CHECK(strcmp(fer_version(), "0.1.0") == 0);
  CHECK(strcmp(fer_status_string(FER_OK), "ok") == 0);
  CHECK(strcmp(fer_status_string(FER_CORRUPT_DATA), "corrupt_data") == 0);
  CHECK(strcmp(fer_status_string(FER_CANCELLED), "cancelled") == 0);
  CHECK(strcmp(fer_status_string((fer_status)999), "unknown_status") == 0);
  CHECK(strcmp(fer_status_string((fer_status)-1), "unknown_status") == 0);

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
  CHECK(fer_registry_count((fer_component_kind)-1, &n) == FER_INVALID_ARGUMENT);
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
  CHECK(fer_pipeline_detector_name(p, &detector) == FER_OK && strcmp(detector, default_detector) == 0);
  const fer_model* pm = NULL;
  CHECK(fer_pipeline_model(p, &pm) == FER_OK && pm != NULL);
  fer_model_info info;
  info.struct_size = sizeof info;
  CHECK(fer_model_get_info(pm, &info) == FER_OK);
  CHECK(info.num_classes >= 7 && info.input_width > 0);
  /* An output struct from a newer header (longer): only this library's fields are
     written, and struct_size says how many bytes that was. */
  {
    union {
      fer_model_info info;
      unsigned char bytes[sizeof(fer_model_info) + 16];
    } newer;
    memset(&newer, 0xAB, sizeof newer);
    newer.info.struct_size = sizeof newer;
    CHECK(fer_model_get_info(pm, &newer.info) == FER_OK);
    CHECK(newer.info.struct_size == sizeof(fer_model_info) && newer.info.num_classes == info.num_classes);
    CHECK(newer.bytes[sizeof(fer_model_info)] == 0xAB && newer.bytes[sizeof newer - 1] == 0xAB);
    newer.info.struct_size = 8; /* older than any layout */
    CHECK(fer_model_get_info(pm, &newer.info) == FER_INVALID_ARGUMENT);
  }
  /* The pipeline's model is the pipeline's: destroying it does nothing (and says so). */
  fer_model_destroy((fer_model*)pm);
  CHECK(strstr(fer_last_error(), "belongs to a pipeline") != NULL);
  CHECK(fer_model_get_info(pm, &info) == FER_OK && info.num_classes >= 7);
  /* An absurd thread count is refused before LibTorch starts that many threads. */
  {
    fer_pipeline_options many;
    fer_pipeline* q = (fer_pipeline*)0x3;
    fer_pipeline_options_init(&many);
    many.threads = 1 << 20;
    CHECK(fer_pipeline_create(&many, &q) == FER_INVALID_ARGUMENT && q == (fer_pipeline*)0x3);
    CHECK(strstr(fer_last_error(), "threads") != NULL);
  }

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
  bad.stride = (size_t)1 << 62; /* rows far outside any buffer */
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "stride") != NULL);
  bad = view;
  bad.stride = (size_t)0 - (size_t)STRIDE; /* a bottom-up bitmap's negative pitch */
  bad.data = pixels + (size_t)STRIDE * (H - 1);
  CHECK(fer_pipeline_process(p, &bad, &untouched) == FER_INVALID_ARGUMENT);
  CHECK(strstr(fer_last_error(), "stride") != NULL);
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

  test_streams(p, pm, ppm);
  test_concurrent_calls(pm);
  test_landmarks(ppm);
  test_tta(ppm);
  test_recognize_boxes(ppm);
  test_init_size();
  test_torn_struct_sizes(pm);
  test_model_predict(pm);
  test_attention(ppm, argc > 5 ? argv[5] : NULL);
  test_video(tmp);
  test_evaluate(pm, tmp);
  test_train(tmp);
  test_quantize(tmp);

  fer_pipeline_destroy(p);

  /* a pipeline sharing a loaded model file outlives the model handle */
  if (model_file) {
    fer_pipeline* shared = (fer_pipeline*)0x7;
    CHECK(fer_pipeline_create_with_model(&o, NULL, &shared) == FER_INVALID_ARGUMENT && shared == (fer_pipeline*)0x7);
    fer_model* loaded = NULL;
    CHECK(fer_model_load(model_file, &loaded) == FER_OK && loaded != NULL);
    fer_pipeline_options_init(&o);
    o.threads = 1;
    shared = NULL;
    CHECK(fer_pipeline_create_with_model(&o, loaded, &shared) == FER_OK && shared != NULL);
    fer_model_destroy(loaded);
    if (shared) {
      uint8_t gray[64 * 64];
      fer_image_view g = {gray, 64, 64, 64, FER_PIXEL_GRAY8};
      fer_results* r = NULL;
      memset(gray, 100, sizeof gray);
      CHECK(fer_pipeline_process(shared, &g, &r) == FER_OK && r != NULL);
      fer_results_destroy(r);
      CHECK(fer_pipeline_model(shared, &pm) == FER_OK && fer_model_get_info(pm, &info) == FER_OK);
      CHECK(info.trained == 1);
    }
    fer_pipeline_destroy(shared);
  }

  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("C API: all checks passed\n");
  return failures ? 1 : 0;
}
