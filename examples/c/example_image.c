/* The C API in one program: recognize the faces of an image.

     example_image_c IMAGE.ppm|IMAGE.pgm [MODEL.fermodel]

   C has no image decoder, so this reads binary PPM (P6, RGB) and PGM (P5,
   gray) files; any other format can be converted, e.g. with
   `convert photo.jpg photo.ppm`. Only <fer/fer.h> is used. */
#include <fer/fer.h>

#include <stdio.h>
#include <stdlib.h>

/* Reads a binary PPM/PGM with maxval 255; returns NULL (and says why) on failure. */
static unsigned char* read_pnm(const char* path, int* width, int* height, fer_pixel_format* format) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return NULL;
  }
  int header[3], n = 0, c;
  unsigned char* pixels = NULL;
  char magic[2];
  if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '5' && magic[1] != '6')) {
    fprintf(stderr, "%s is not a binary PPM (P6) or PGM (P5) file\n", path);
    goto done;
  }
  while (n < 3 && (c = fgetc(f)) != EOF) {
    if (c == '#') { /* a comment runs to the end of the line */
      while (c != '\n' && c != EOF) c = fgetc(f);
    } else if (c >= '0' && c <= '9') {
      ungetc(c, f);
      if (fscanf(f, "%d", &header[n++]) != 1) break;
    }
  }
  if (n < 3 || header[0] <= 0 || header[1] <= 0 || header[2] != 255) {
    fprintf(stderr, "%s: unsupported header (need positive sizes and maxval 255)\n", path);
    goto done;
  }
  fgetc(f); /* the single whitespace before the pixels */
  size_t channels = magic[1] == '6' ? 3 : 1;
  size_t bytes = (size_t)header[0] * (size_t)header[1] * channels;
  pixels = (unsigned char*)malloc(bytes);
  if (pixels && fread(pixels, 1, bytes, f) != bytes) {
    fprintf(stderr, "%s is truncated\n", path);
    free(pixels);
    pixels = NULL;
  }
  *width = header[0];
  *height = header[1];
  *format = channels == 3 ? FER_PIXEL_RGB24 : FER_PIXEL_GRAY8; /* PPM stores red first */
done:
  fclose(f);
  return pixels;
}

/* Prints the failed call's status and message, and returns 1. */
static int report(const char* what, fer_status status) {
  fprintf(stderr, "%s failed: %s: %s\n", what, fer_status_string(status), fer_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s IMAGE.ppm|IMAGE.pgm [MODEL.fermodel]\n", argv[0]);
    return 2;
  }
  if (fer_version_number() != FER_VERSION_NUMBER) {
    fprintf(stderr, "libfer_c is version %u, fer.h is %u\n", (unsigned)fer_version_number(), (unsigned)FER_VERSION_NUMBER);
    return 1;
  }
  fer_image_view image;
  int width = 0, height = 0;
  unsigned char* pixels = read_pnm(argv[1], &width, &height, &image.format);
  if (!pixels) return 1;
  image.data = pixels;
  image.width = width;
  image.height = height;
  image.stride = (size_t)width * (image.format == FER_PIXEL_RGB24 ? 3 : 1);

  fer_pipeline_options options;
  fer_pipeline_options_init(&options);
  options.model_path = argc > 2 ? argv[2] : NULL; /* NULL: the default model */
  options.threads = 1;
  fer_pipeline* pipeline = NULL;
  fer_results* results = NULL;
  int rc = 0;
  fer_status s = fer_pipeline_create(&options, &pipeline);
  if (s != FER_OK) {
    rc = report("fer_pipeline_create", s);
    goto cleanup;
  }
  const fer_model* model = NULL;
  fer_model_info info;
  info.struct_size = sizeof info;
  fer_pipeline_model(pipeline, &model);
  fer_model_get_info(model, &info);
  printf("libfer %s, model %s (%d classes%s)\n", fer_version(), info.architecture, (int)info.num_classes,
         info.trained ? "" : ", UNTRAINED: labels are random");

  s = fer_pipeline_process(pipeline, &image, &results);
  if (s != FER_OK) {
    rc = report("fer_pipeline_process", s);
    goto cleanup;
  }
  size_t count = 0;
  fer_results_count(results, &count);
  printf("%s: %dx%d, %zu face(s)\n", argv[1], width, height, count);
  for (size_t i = 0; i < count; ++i) {
    fer_face face;
    const float* probabilities = NULL;
    size_t classes = 0;
    fer_results_face(results, i, &face);
    fer_results_probabilities(results, i, &probabilities, &classes);
    printf("face %zu: box (%.0f, %.0f, %.0f x %.0f) %s %.2f |", i, face.box.x, face.box.y, face.box.width,
           face.box.height, face.label, face.confidence);
    for (size_t k = 0; k < classes; ++k) {
      const char* name = "";
      fer_model_class_name(model, k, &name);
      printf(" %s %.2f", name, probabilities[k]);
    }
    printf("\n");
  }

cleanup:
  fer_results_destroy(results);
  fer_pipeline_destroy(pipeline);
  free(pixels);
  return rc;
}
