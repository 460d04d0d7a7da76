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
 *    they can grow without breaking old callers. Output structs
 *    (fer_model_info, fer_track_info, fer_eval_report) start with their size
 *    too, set by the caller to its sizeof: the library writes that many bytes
 *    at most, so they can grow as well. A *_init function writes
 *    the whole struct of this header; a caller whose struct may be shorter
 *    (compiled against an older header, or an FFI declaring only the fields it
 *    uses) initialises it with the *_init_size function and its own size:
 *    only that many bytes are written.
 *  - Strings returned by the API are owned by the object they come from and
 *    stay valid until it is destroyed.
 * Thread safety: a fer_pipeline, fer_stream or fer_video is used by one
 * thread at a time: a call made while another thread is in a call on the same
 * handle fails with FER_INVALID_ARGUMENT ("another thread is in a call on
 * this handle") and changes nothing. The *_destroy functions are the
 * exception: destroying a handle must not overlap any other call on it (the
 * caller's threads must be done with it). fer_model and fer_results are
 * read-only after creation and may be read from any thread.
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
  FER_CANCELLED = 11,
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
   width * bytes-per-pixel of every row used; `data` must cover
   (height - 1) * stride + width * bytes-per-pixel bytes. Rows go downwards:
   a negative pitch (bottom-up bitmaps) cast to size_t is refused. */
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
  const char* detector;     /* registered detector name; NULL = "auto" (ssd_mobilenet when face-api's
                               weights are found, else tiny_face, else haar: fer_pipeline_detector_name says) */
  const char* model_path;   /* model file; NULL = the default model */
  const char* precision;    /* "fp32", "bf16", "int8" or "auto"; NULL = "auto" (int8 for a calibrated
                               model on a CPU with VNNI, else bf16 where native, else fp32; the
                               detector stays in bf16/fp32 under "auto", "int8" runs ssd_mobilenet
                               in int8 too) */
  float score_threshold;    /* detector score threshold (0.5) */
  int32_t min_face_size;    /* smallest face side in pixels (24) */
  int32_t max_detect_side;  /* detection runs on the image downscaled to this side (480) */
  int32_t threads;          /* compute threads, process-wide; 0 = all cores */
  int32_t return_features;  /* non-zero: results carry feature vectors */
  /* Appended in 0.1 (callers with an older, shorter struct_size get the defaults): */
  const char* landmarks;    /* landmark model: "68", "68_tiny", "none" or "auto" (NULL): "auto" runs
                               "68" only when the model crops faces aligned by landmarks */
  /* Appended after landmarks: */
  int32_t return_attention; /* non-zero: results carry each face's attention map where the model has
                               attention (acnn, vit_asf): fer_results_attention */
  int32_t reserved;         /* 0 */
  /* Appended after reserved: */
  const char* tta;          /* test-time view of the recognizer: "auto" (NULL: the model's own view,
                               fer_model_info.view), "none" (the whole face crop), "center" (its centre
                               crop of 90% of the area, 1 pass), "flip" (each face and its mirror
                               image, 2 passes) or "tencrop" (10 passes); the probabilities are the
                               mean over the views, as fer eval --tta */
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
  /* Appended after trained: a library older than this field leaves it as it was and returns a
     smaller struct_size (set view = NULL first, or check struct_size, before reading it). */
  const char* view;          /* the model's own test-time view, what tta "auto" (NULL) runs: "none"
                                (the whole face crop) or "center" (its centre crop, 90% of the area) */
} fer_model_info;

/* How a stream tracks and smooths (see fer::StreamOptions). */
typedef struct fer_stream_options {
  size_t struct_size;          /* sizeof(fer_stream_options), set by fer_stream_options_init */
  double smoothing_seconds;    /* EMA time constant of the probabilities; 0 = no smoothing (0.3) */
  double max_missed_seconds;   /* a track ends after being missing this long (1.0) */
  int32_t detect_every;        /* run the detector every N frames; 1 = every frame (5) */
  float min_track_confidence;  /* also detect when a track's confidence falls below this (0.5) */
  float label_margin;          /* hysteresis of the smoothed label, in [0, 1) (0.1) */
  float iou_threshold;         /* least IoU to join a predicted box and a detection (0.3) */
  float min_visible_fraction;  /* boxes less visible than this are not reported (0.5) */
  int32_t redetect_every;      /* when nothing is tracked or a track is unsure, detect at most every N
                                  frames; 1 = every frame, 0 = the default (2). Appended in 0.1: it sits
                                  in what was the struct's tail padding, so sizeof is unchanged */
} fer_stream_options;

/* Tracking of face `index` of a stream frame's results. Strings belong to the results. */
typedef struct fer_track_info {
  size_t struct_size;            /* sizeof(fer_track_info), set by the caller */
  int64_t track_id;              /* stable while the face is tracked; never reused within a stream */
  const char* smoothed_label;    /* class name of smoothed_label_index */
  double age_seconds;            /* time since the track started */
  int64_t frames_tracked;        /* frames this track was reported on, this one included */
  int64_t frames_missed;         /* frames since the track's last matched detection */
  int32_t smoothed_label_index;  /* label to show (smoothed, with hysteresis) */
  float smoothed_confidence;     /* smoothed probability of smoothed_label_index */
  int32_t detected;              /* non-zero: the box comes from a detection on this frame, else predicted */
  float tracking_confidence;     /* in [0, 1] */
} fer_track_info;

/* Options of fer_evaluate. */
typedef struct fer_eval_options {
  size_t struct_size;  /* sizeof(fer_eval_options), set by fer_eval_options_init */
  const char* format;  /* dataset format: "folder", "fer2013csv", "ferplus", "rafdb", "affectnet"; NULL = "folder" */
  const char* split;   /* format-specific subset ("PrivateTest", "test", ...); NULL = none */
  const char* tta;     /* test-time view: "auto", "none", "center", "flip" or "tencrop"; NULL = "auto"
                          (the model's own view) */
  int32_t resize;      /* non-zero: resize images of another size to the model input (else rejected) */
  int32_t threads;     /* compute and decoding threads; 0 = default */
  /* Appended after threads (a struct_size ending at threads is an older layout, still accepted): */
  const char* occlusion;   /* synthetic occlusion for robustness figures: "none" (NULL), "eye", "mouth" or
                              "eye_or_mouth", a black rectangle per image at FER-2013 framing */
  uint64_t occlusion_seed; /* which rectangle each image gets, independent of batching (1) */
} fer_eval_options;

/* Summary of an evaluation (the full report is fer::EvalReport in C++). */
typedef struct fer_eval_report {
  size_t struct_size;  /* sizeof(fer_eval_report), set by the caller */
  int64_t count;       /* images evaluated */
  double accuracy;     /* in [0, 1] */
  double macro_f1;     /* in [0, 1] */
  double ece;          /* expected calibration error, 15 bins */
  double loss;         /* mean cross-entropy */
} fer_eval_report;

/* One epoch of a training run, passed to fer_train_options.on_epoch. */
typedef struct fer_epoch_report {
  size_t struct_size;      /* sizeof(fer_epoch_report) of the library */
  int32_t epoch;           /* 1-based */
  int32_t reserved;
  double train_loss;
  double train_accuracy;
  double val_accuracy;     /* -1 without validation data */
  double val_macro_f1;     /* -1 without validation data */
  double seconds;
} fer_epoch_report;

/* Training options: the common ones as fields, every other `fer train` flag through options_json. */
typedef struct fer_train_options {
  size_t struct_size;        /* sizeof(fer_train_options), set by fer_train_options_init */
  const char* data_path;     /* labelled training data (required) */
  const char* format;        /* dataset format; NULL = "folder" */
  const char* val_path;      /* validation data in the same format; NULL = none (the last epoch is kept) */
  const char* architecture;  /* registered feature extractor; NULL = "small_cnn" */
  const char* head;          /* registered classifier head; NULL = "linear" */
  const char* out_dir;       /* checkpoints, log and best.fermodel; NULL = "runs/train" */
  const char* precision;     /* "fp32" or "bf16"; NULL = "fp32" */
  double lr;                 /* peak learning rate (0.01) */
  int64_t max_steps_per_epoch; /* 0 = full epochs */
  uint64_t seed;             /* (0) */
  int32_t epochs;            /* (30) */
  int32_t batch_size;        /* (64) */
  int32_t input_size;        /* square input side (48) */
  int32_t channels;          /* 1 = gray, 3 = BGR (1) */
  int32_t threads;           /* 0 = default */
  int32_t resize;            /* non-zero: resize images of another size (else rejected) */
  int32_t resume;            /* non-zero: continue from out_dir's checkpoint if present (1) */
  int32_t progress;          /* non-zero: progress bar on stderr (0) */
  /* Called after every epoch on the calling thread (may be NULL); a non-zero
     return stops training, and fer_train returns FER_CANCELLED. */
  int (*on_epoch)(void* user_data, const fer_epoch_report* report);
  void* user_data;
  /* Appended after user_data (a struct_size ending at user_data is an older
     layout, still accepted; these fields then keep their defaults): */
  const char* split;          /* format-specific subset of data_path ("train" for "ferplus"); NULL = none */
  const char* val_split;      /* subset of val_path ("valid" for "ferplus"); NULL = none */
  /* Knowledge distillation: teacher_count model files (same classes as the
     data). With several, the student learns from their ensemble (the mean of
     their temperature-softened probabilities). */
  const char* const* teachers;
  size_t teacher_count;
  double kd_weight;           /* weight of the distillation term, in [0, 1] (0; 0.7 is typical with teachers) */
  double kd_temperature;      /* softening temperature (4) */
  double label_smoothing;     /* in [0, 1) (0) */
  int32_t soft_targets;       /* non-zero: learn the label distribution (e.g. FERPlus votes) (0) */
  int32_t reserved2;          /* 0 */
  /* Appended after reserved2 (an older struct_size leaves it NULL): */
  const char* teacher_precision; /* the teachers' forward passes: "fp32", "bf16" or "int8" (calibrated
                                    teachers with an int8 path; faster); NULL = precision */
  /* Appended after teacher_precision (an older struct_size leaves it NULL):
     every other training option, as a JSON object of `fer train` flag names to
     values, the form of a recipe file, e.g. {"ema": 0.999, "jpeg": 0.5,
     "arch-opt": ["width=0.5"], "no-norm-bias-decay": true}. Applied after the
     fields above, so a flag given in both wins here. NULL = none. An unknown
     flag or a bad value fails with FER_INVALID_ARGUMENT before any data is read. */
  const char* options_json;
} fer_train_options;

typedef struct fer_pipeline fer_pipeline;
typedef struct fer_results fer_results;
typedef struct fer_model fer_model;
typedef struct fer_stream fer_stream;
typedef struct fer_video fer_video;

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
/* The defaults for the first `size` bytes of `options` (sizeof the caller's
   struct, at most this header's), struct_size = that size; nothing beyond
   them is written. Likewise for the other option structs. */
FER_C_API void fer_pipeline_options_init_size(fer_pipeline_options* options, size_t size);
FER_C_API fer_status fer_pipeline_create(const fer_pipeline_options* options, fer_pipeline** pipeline);
/* A pipeline around an already loaded model (shared read-only; `model` may be
   destroyed afterwards). options->model_path and options->precision are ignored. */
FER_C_API fer_status fer_pipeline_create_with_model(const fer_pipeline_options* options, const fer_model* model,
                                                    fer_pipeline** pipeline);
FER_C_API void fer_pipeline_destroy(fer_pipeline* pipeline);
FER_C_API fer_status fer_pipeline_process(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results);
/* Detects faces without recognizing them (the pipeline's detector): results
   whose faces carry a box and a detector score only (label_index -1, label "",
   confidence 0, no probabilities: count 0), in the order fer_pipeline_process
   would give them, and the skipped faces as it gives them. Their boxes can go
   to fer_pipeline_recognize (all of them, a subset, or boxes tracked on). */
FER_C_API fer_status fer_pipeline_detect(fer_pipeline* pipeline, const fer_image_view* image, fer_results** results);
/* Recognizes the faces at `count` boxes the caller found (its own detector,
   or boxes kept from an earlier frame) without running the detector: face i
   of the results is boxes[i] (image pixels, framed as the pipeline's detector
   frames faces), with score 0 and, with a landmark model, its landmarks.
   count 0 gives empty results; at most 4096 boxes a call. A box without a
   finite positive size, or so far outside the image that the part a box crop
   cuts lies outside it, is FER_INVALID_ARGUMENT (the message names it: "faces[i]: ..."). */
FER_C_API fer_status fer_pipeline_recognize(fer_pipeline* pipeline, const fer_image_view* image,
                                            const fer_box* boxes, size_t count, fer_results** results);
/* The pipeline's model (owned by the pipeline: fer_model_destroy on it does
   nothing and sets the last error). */
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
/* Landmarks of face `index`: `count` points as x, y pairs (2 * count floats) in
   image pixels, 68 in iBUG order with a landmark model; count 0 without one. */
FER_C_API fer_status fer_results_landmarks(const fer_results* results, size_t index, const float** xy,
                                           size_t* count);
/* Attention map of face `index`: `height` rows of `width` floats (top row
   first) over the face crop, summing to 1, when return_attention was set and
   the model has attention; width = height = 0 and *map = NULL otherwise. */
FER_C_API fer_status fer_results_attention(const fer_results* results, size_t index, const float** map,
                                           int32_t* width, int32_t* height);
/* Faces the detector found but that are smaller than min_face_size, so not
   recognized (for stream results: found on this frame by a detection run). */
FER_C_API fer_status fer_results_skipped_count(const fer_results* results, size_t* count);
/* Box (image pixels) and detector score of skipped face `index`; either out-parameter may be NULL. */
FER_C_API fer_status fer_results_skipped_face(const fer_results* results, size_t index, fer_box* box, float* score);

/* Only for results of fer_stream_push (else FER_INVALID_ARGUMENT): */
/* Tracking of face `index`. */
FER_C_API fer_status fer_results_track(const fer_results* results, size_t index, fer_track_info* track);
/* Smoothed probabilities of face `index`, one per class, in the model's class order. */
FER_C_API fer_status fer_results_smoothed_probabilities(const fer_results* results, size_t index,
                                                        const float** probabilities, size_t* count);
/* The frame the results belong to: 0-based index, timestamp as pushed, whether
   the detector ran on it. Any out-parameter may be NULL. */
FER_C_API fer_status fer_results_frame(const fer_results* results, int64_t* index, double* timestamp,
                                       int32_t* detection_ran);

/* --- streams (video: tracking with stable ids and smoothing) ------------- */
/* A stream is used by one thread at a time; streams may share one fer_model. */
FER_C_API void fer_stream_options_init(fer_stream_options* options);
FER_C_API void fer_stream_options_init_size(fer_stream_options* options, size_t size);
/* pipeline_options and stream_options may be NULL (defaults). */
FER_C_API fer_status fer_stream_create(const fer_pipeline_options* pipeline_options,
                                       const fer_stream_options* stream_options, fer_stream** stream);
/* A stream around an already loaded model (shared read-only; `model` may be destroyed afterwards). */
FER_C_API fer_status fer_stream_create_with_model(const fer_pipeline_options* pipeline_options, const fer_model* model,
                                                  const fer_stream_options* stream_options, fer_stream** stream);
FER_C_API void fer_stream_destroy(fer_stream* stream);
/* Processes the next frame. `timestamp_seconds`: finite and never earlier than
   the previous frame's. The results (faces ordered by track id) are read with
   the fer_results_* functions, fer_results_track included. */
FER_C_API fer_status fer_stream_push(fer_stream* stream, const fer_image_view* image, double timestamp_seconds,
                                     fer_results** results);
/* Forgets every track (e.g. after a scene cut); track ids keep counting up. */
FER_C_API fer_status fer_stream_reset(fer_stream* stream);
/* Frames pushed so far. */
FER_C_API fer_status fer_stream_frame_count(const fer_stream* stream, int64_t* count);
/* The stream's model (owned by the stream, as for fer_pipeline_model). */
FER_C_API fer_status fer_stream_model(const fer_stream* stream, const fer_model** model);

/* --- video input (files, image sequences, cameras) ---------------------- */
/* Frames decoded by the library (OpenCV's videoio), for callers without a
   decoder of their own. A video is used by one thread at a time. */
/* Opens a video file or an image sequence given as a printf-style pattern
   ("frames/img_%04d.png"). fps in (0, 1000] sets the frame rate used for
   timestamps (0: the file's, else 30). FER_NOT_FOUND when the file or the sequence's
   first image does not exist, FER_UNSUPPORTED when nothing can decode it. */
FER_C_API fer_status fer_video_open(const char* path, double fps, fer_video** video);
/* Opens camera `index` (0 = the default camera); FER_NOT_FOUND when it cannot
   be opened. Timestamps are wall-clock seconds since it was opened. */
FER_C_API fer_status fer_video_open_camera(int32_t index, fer_video** video);
FER_C_API void fer_video_destroy(fer_video* video);
/* Reads the next frame. *got_frame is 1 and *frame views the decoded BGR
   image (owned by the video, valid until its next read or destroy; pass it
   to fer_pipeline_process or fer_stream_push), or *got_frame is 0 at the
   end of the input (FER_OK either way). timestamp (seconds, for
   fer_stream_push) and index (0-based) may be NULL. */
FER_C_API fer_status fer_video_read(fer_video* video, fer_image_view* frame, double* timestamp, int64_t* index,
                                    int32_t* got_frame);
/* Frame rate used for timestamps, frame size (0 x 0 until known), number of
   frames (-1 when unknown, e.g. cameras), whether it is a live camera. Any
   out-parameter may be NULL. */
FER_C_API fer_status fer_video_info(const fer_video* video, double* fps, int32_t* width, int32_t* height,
                                    int64_t* frame_count, int32_t* is_live);

/* --- model files -------------------------------------------------------- */
FER_C_API fer_status fer_model_load(const char* path, fer_model** model);
/* Loads a model whose recognizer runs in `precision` ("fp32", "bf16", "int8"
   or "auto"; NULL = "auto", resolved as for a pipeline) when pipelines and
   streams share it (fer_pipeline_create_with_model): a model from
   fer_model_load runs in fp32. */
FER_C_API fer_status fer_model_load_with_precision(const char* path, const char* precision, fer_model** model);
FER_C_API void fer_model_destroy(fer_model* model);
FER_C_API fer_status fer_model_get_info(const fer_model* model, fer_model_info* info);
FER_C_API fer_status fer_model_class_name(const fer_model* model, size_t index, const char** name);
/* A provenance entry ("dataset", "command", "date", ...); FER_NOT_FOUND if absent. */
FER_C_API fer_status fer_model_provenance(const fer_model* model, const char* key, const char** value);
/* A metric ("val_accuracy", ...); FER_NOT_FOUND if absent. */
FER_C_API fer_status fer_model_metric(const fer_model* model, const char* key, double* value);
/* The precision the model's recognizer runs in: "fp32" (a loaded file), or for
   a pipeline's or stream's model the one it resolved ("fp32", "bf16" or
   "int8"); *int8_calibrated (may be NULL) says whether the model carries an
   int8 calibration (fer_quantize), i.e. whether it can run in "int8". */
FER_C_API fer_status fer_model_precision(const fer_model* model, const char** name, int32_t* int8_calibrated);
/* Recognizes `count` images that already are faces (FER-2013's 48x48 images,
   or crops the caller cut): each is converted to the model's channels and
   resized to its input, without detection or cropping, and the recognizer
   runs in the model's precision with the test-time view `tta` ("auto" or
   NULL: the model's own view; "none", "center", "flip", "tencrop"). Writes count x num_classes probabilities, one
   row per face in the model's class order, to `probabilities`, which holds
   `capacity` floats (FER_INVALID_ARGUMENT when too few; nothing is written on
   failure). count 0 writes nothing. Thread-safe: calls may share a model. */
FER_C_API fer_status fer_model_predict(const fer_model* model, const fer_image_view* faces, size_t count,
                                       const char* tta, float* probabilities, size_t capacity);

/* --- evaluation --------------------------------------------------------- */
FER_C_API void fer_eval_options_init(fer_eval_options* options);
FER_C_API void fer_eval_options_init_size(fer_eval_options* options, size_t size);
/* Evaluates `model` on the labelled dataset at `data_path` (options may be NULL:
   a "folder" dataset, root/<class>/<image>) in the model's own precision (fp32
   for a loaded file; a pipeline's model runs in its pipeline's precision).
   Classes are matched by name. */
FER_C_API fer_status fer_evaluate(const fer_model* model, const char* data_path, const fer_eval_options* options,
                                  fer_eval_report* report);
/* Evaluates the ensemble of `count` models: the mean of their class
   probabilities, each model at its own input size, with the same test-time
   views. The models must have the same classes in the same order and run in
   the same precision (FER_INVALID_ARGUMENT otherwise). count 1 is
   fer_evaluate. */
FER_C_API fer_status fer_evaluate_ensemble(const fer_model* const* models, size_t count, const char* data_path,
                                           const fer_eval_options* options, fer_eval_report* report);
/* The full report of fer_evaluate_ensemble (count 1: one model) as a JSON
   object, the one `fer eval --json` prints: accuracy, macro-F1, per-class
   recall and F1, the confusion matrix (rows: the dataset's classes,
   columns: the model's), calibration error (ECE), and with per_image non-zero a
   "correct" string, one '1' or '0' per image in dataset order. *json is a
   NUL-terminated string to release with fer_string_free. */
FER_C_API fer_status fer_evaluate_json(const fer_model* const* models, size_t count, const char* data_path,
                                       const fer_eval_options* options, int32_t per_image, char** json);
/* Releases a string the library allocated (NULL: no-op). */
FER_C_API void fer_string_free(char* text);

/* --- training ----------------------------------------------------------- */
FER_C_API void fer_train_options_init(fer_train_options* options);
FER_C_API void fer_train_options_init_size(fer_train_options* options, size_t size);
/* Trains a model and writes out_dir/best.fermodel; *model (optional, may be
   NULL) receives the best model, to destroy with fer_model_destroy. Runs for
   as long as training takes, on the calling thread. Training or validation
   data that reads a test split (as for fer_quantize) is refused with
   FER_INVALID_ARGUMENT: selecting epochs on it is tuning on it. */
FER_C_API fer_status fer_train(const fer_train_options* options, fer_model** model);

/* --- int8 calibration --------------------------------------------------- */
/* Calibrates the model file `model_path` for int8 inference on up to `images`
   images (0 = 2000) drawn with `seed` from the labelled dataset at `data_path`
   (`data_options`, may be NULL: format, split, resize and threads as for
   fer_evaluate; tta is ignored) and writes the calibrated copy, same weights
   plus activation ranges, to `out_path` (atomically). Calibrate on training
   images: data that reads a test split (a split or folder named test,
   PrivateTest or FER2013Test, or a whole fer2013csv/rafdb file) is refused
   with FER_INVALID_ARGUMENT, before the model is read. A pipeline then runs it in int8 with
   precision "int8", or "auto" on CPUs with VNNI. FER_UNSUPPORTED for an
   architecture without an int8 path. */
FER_C_API fer_status fer_quantize(const char* model_path, const char* data_path, const fer_eval_options* data_options,
                                  int32_t images, uint64_t seed, const char* out_path);

#ifdef __cplusplus
}
#endif

#endif /* FER_FER_H */
