/* The C API on video: decode frames with fer_video_*, track and recognize
   faces with a fer_stream, print one line per frame.

     example_video_c VIDEO|PATTERN|camera:N [MAX_FRAMES] [MODEL.fermodel]

   VIDEO is a file OpenCV can decode (clip.mp4), PATTERN an image sequence
   (frames/img_%04d.png), camera:N camera N. MAX_FRAMES (0 = all) stops early,
   e.g. for a camera. Only <fer/fer.h> is used. */
#include <fer/fer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the failed call's status and message, and returns 1. */
static int report(const char* what, fer_status status) {
  fprintf(stderr, "%s failed: %s: %s\n", what, fer_status_string(status), fer_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s VIDEO|PATTERN|camera:N [MAX_FRAMES] [MODEL.fermodel]\n", argv[0]);
    return 2;
  }
  long max_frames = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
  fer_video* video = NULL;
  fer_stream* stream = NULL;
  fer_status s;
  if (strncmp(argv[1], "camera:", 7) == 0)
    s = fer_video_open_camera((int32_t)strtol(argv[1] + 7, NULL, 10), &video);
  else
    s = fer_video_open(argv[1], 0, &video);
  if (s != FER_OK) return report("opening the video", s);
  double fps = 0;
  int32_t live = 0;
  fer_video_info(video, &fps, NULL, NULL, NULL, &live);

  fer_pipeline_options options;
  fer_pipeline_options_init(&options);
  options.model_path = argc > 3 ? argv[3] : NULL; /* NULL: the default model */
  options.threads = 1;
  int rc = 0;
  s = fer_stream_create(&options, NULL, &stream); /* NULL: default tracking and smoothing */
  if (s != FER_OK) {
    rc = report("fer_stream_create", s);
    goto cleanup;
  }
  printf("libfer %s, %s at %.1f fps\n", fer_version(), live ? "camera" : "video", fps);

  for (long n = 0; max_frames <= 0 || n < max_frames; ++n) {
    fer_image_view frame;
    double timestamp = 0;
    int64_t index = 0;
    int32_t got_frame = 0;
    s = fer_video_read(video, &frame, &timestamp, &index, &got_frame);
    if (s != FER_OK) {
      rc = report("fer_video_read", s);
      break;
    }
    if (!got_frame) break; /* the end of the input */
    fer_results* results = NULL;
    s = fer_stream_push(stream, &frame, timestamp, &results);
    if (s != FER_OK) {
      rc = report("fer_stream_push", s);
      break;
    }
    size_t count = 0;
    fer_results_count(results, &count);
    printf("frame %lld (%.3f s): %zu track(s)", (long long)index, timestamp, count);
    for (size_t i = 0; i < count; ++i) {
      fer_track_info track;
      track.struct_size = sizeof track;
      fer_results_track(results, i, &track);
      printf(" #%lld %s %.2f%s", (long long)track.track_id, track.smoothed_label, track.smoothed_confidence,
             track.detected ? "" : " (predicted)");
    }
    printf("\n");
    fer_results_destroy(results);
  }

cleanup:
  fer_stream_destroy(stream);
  fer_video_destroy(video);
  return rc;
}
