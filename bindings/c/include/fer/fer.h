/*
 * libfer C API: a stable C99 ABI over the libfer pipeline and model files.
 *
 * Conventions
 *  - Opaque handles; every fallible call returns fer_status (values pinned,
 *    only ever appended). Out-parameters are written only on FER_OK.
 *  - fer_last_error() gives the calling thread's message for its last failure.
 *  - fer_*_destroy(NULL) is a no-op. No C++ exception crosses this boundary.
 *  - Images are borrowed views, valid for the duration of the call only.
 *  - Option structs start with their size (set by the *_init functions), so
 *    they can grow without breaking old callers.
 *  - Strings returned by the API are owned by the object they come from and
 *    stay valid until it is destroyed.
 * Thread safety: a fer_pipeline is used by one thread at a time; fer_model
 * and fer_results are read-only after creation and may be read from any thread.
 */
#ifndef FER_FER_H
#define FER_FER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FER_C_API __declspec(dllimport)
#else
#define FER_C_API __attribute__((visibility("default")))
#endif

/* major * 10000 + minor * 100 + patch of this header; compare with fer_version_number(). */
#define FER_C_VERSION_NUMBER 100
#ifndef FER_VERSION_NUMBER
#define FER_VERSION_NUMBER FER_C_VERSION_NUMBER
#endif

typedef enum fer_status {
  FER_OK = 0,
  FER_INVALID_ARGUMENT = 1,
  FER_NOT_FOUND = 2,
  FER_IO_ERROR = 3,
  FER_CORRUPT_DATA = 4,
  FER_UNSUPPORTED_VERSION = 5,
  FER_SHAPE_MISMATCH = 6,
  FER_UNKNOWN_COMPONENT = 7,
  FER_OUT_OF_MEMORY = 8,
  FER_UNSUPPORTED = 9,
  FER_INTERNAL = 10,
  FER_STATUS_MAX_ENUM = 0x7FFFFFFF /* not a status: makes every int value representable */
} fer_status;

typedef enum fer_pixel_format {
  FER_PIXEL_GRAY8 = 0,  /* 1 byte per pixel */
  FER_PIXEL_BGR24 = 1,  /* 3 bytes per pixel, blue first */
  FER_PIXEL_BGRA32 = 2, /* 4 bytes per pixel, blue first */
  FER_PIXEL_RGB24 = 3,  /* 3 bytes per pixel, red first */
  FER_PIXEL_FORMAT_MAX_ENUM = 0x7FFFFFFF /* not a format: makes every int value representable */
} fer_pixel_format;

/* A borrowed image: `height` rows of `stride` bytes each, the first
   width * bytes-per-pixel of every row used. */
typedef struct fer_image_view {
  const uint8_t* data;
  int32_t width;
  int32_t height;
  size_t stride;
  fer_pixel_format format;
} fer_image_view;

typedef enum fer_component_kind {
  FER_COMPONENT_DETECTOR = 0,
  FER_COMPONENT_EXTRACTOR = 1,
  FER_COMPONENT_CLASSIFIER = 2,
  FER_COMPONENT_KIND_MAX_ENUM = 0x7FFFFFFF /* not a kind: makes every int value representable */
} fer_component_kind;

typedef struct fer_pipeline_options {
  size_t struct_size;       /* sizeof(fer_pipeline_options), set by fer_pipeline_options_init */
  const char* detector;     /* registered detector name; NULL = "haar" */
  const char* model_path;   /* model file; NULL = the default model */
  const char* precision;    /* "fp32", "bf16" or "auto"; NULL = "auto" */
  float score_threshold;    /* detector score threshold (0.5) */
  int32_t min_face_size;    /* smallest face side in pixels (24) */
  int32_t max_detect_side;  /* detection runs on the image downscaled to this side (480) */
  int32_t threads;          /* compute threads, process-wide; 0 = all cores */
  int32_t return_features;  /* non-zero: results carry feature vectors */
} fer_pipeline_options;

typedef struct fer_box {
  float x, y, width, height;
} fer_box;

/* One recognized face. `label` belongs to the results it came from. */
typedef struct fer_face {
  fer_box box;
  float score;        /* detector confidence */
  int32_t label_index;
  const char* label;  /* class name of label_index */
  float confidence;   /* probability of label_index */
} fer_face;

typedef struct fer_model_info {
  size_t struct_size;        /* sizeof(fer_model_info), set by the caller */
  const char* architecture;  /* feature extractor name */
  const char* head;          /* classifier head name */
  int32_t input_width;
  int32_t input_height;
  int32_t input_channels;
  int32_t num_classes;
  int32_t trained;           /* 0: random weights, output is not recognition */
} fer_model_info;

typedef struct fer_pipeline fer_pipeline;
typedef struct fer_results fer_results;
typedef struct fer_model fer_model;

/* --- library ------------------------------------------------------------ */
FER_C_API const char* fer_version(void);
FER_C_API uint32_t fer_version_number(void);
FER_C_API const char* fer_status_string(fer_status status);
/* Message of this thread's last failed call ("" if none). Valid until the thread's next failing call. */
FER_C_API const char* fer_last_error(void);

/* --- registry ----------------------------------------------------------- */
FER_C_API fer_status fer_registry_count(fer_component_kind kind, size_t* count);
/* The name stays valid for the life of the process. */
FER_C_API fer_status fer_registry_name(fer_component_kind kind, size_t index, const char** name);

/* --- pipeline ----------------------------------------------------------- */
FER_C_API void fer_pipeline_options_init(fer_pipeline_options* options);
FER_C_API fer_status fer_pipeline_create(const fer_pipeline_options* options, fer_pipeline** pipeline);
FER_C_API void fer_pipeline_destroy(fer_pipeline* pipeline);
FER_C_API fer_status fer_pipeline_process(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results);
/* The pipeline's model (owned by the pipeline; do not destroy). */
FER_C_API fer_status fer_pipeline_model(const fer_pipeline* pipeline, const fer_model** model);
FER_C_API fer_status fer_pipeline_detector_name(const fer_pipeline* pipeline, const char** name);

/* --- results ------------------------------------------------------------ */
FER_C_API void fer_results_destroy(fer_results* results);
FER_C_API fer_status fer_results_count(const fer_results* results, size_t* count);
FER_C_API fer_status fer_results_face(const fer_results* results, size_t index, fer_face* face);
/* Probabilities of face `index`, one per class of the model, in its class order. */
FER_C_API fer_status fer_results_probabilities(const fer_results* results, size_t index, const float** probabilities,
                                               size_t* count);
/* Feature vector of face `index` (count 0 unless return_features was set). */
FER_C_API fer_status fer_results_features(const fer_results* results, size_t index, const float** features,
                                          size_t* count);

/* --- model files -------------------------------------------------------- */
FER_C_API fer_status fer_model_load(const char* path, fer_model** model);
FER_C_API void fer_model_destroy(fer_model* model);
FER_C_API fer_status fer_model_get_info(const fer_model* model, fer_model_info* info);
FER_C_API fer_status fer_model_class_name(const fer_model* model, size_t index, const char** name);
/* A provenance entry ("dataset", "command", "date", ...); FER_NOT_FOUND if absent. */
FER_C_API fer_status fer_model_provenance(const fer_model* model, const char* key, const char** value);
/* A metric ("val_accuracy", ...); FER_NOT_FOUND if absent. */
FER_C_API fer_status fer_model_metric(const fer_model* model, const char* key, double* value);

#ifdef __cplusplus
}
#endif

#endif /* FER_FER_H */
