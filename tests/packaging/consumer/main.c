/* Uses the installed C API. */
#include <fer/fer.h>

#include <stdio.h>

int main(void) {
  fer_pipeline_options o;
  fer_pipeline* p = NULL;
  if (fer_version_number() != FER_VERSION_NUMBER) return 1;
  fer_pipeline_options_init(&o);
  o.threads = 1;
  if (fer_pipeline_create(&o, &p) != FER_OK) {
    printf("fer_pipeline_create failed: %s\n", fer_last_error());
    return 1;
  }
  fer_pipeline_destroy(p);
  printf("C consumer OK: libfer %s\n", fer_version());
  return 0;
}
