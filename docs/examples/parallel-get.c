/* Fetches every URL given on the command line at once, over one multi
 * handle, and prints each one's status, size and time. It is the shape of
 * most xfer programs: add transfers, then loop on perform, info_read and
 * poll until nothing runs.
 *
 *   cc parallel-get.c $(pkg-config --cflags --libs xfer) -o parallel-get
 *   ./parallel-get http://127.0.0.1:8080/ http://127.0.0.1:8080/other
 */
#include <stdio.h>
#include <stdlib.h>
#include <xfer/xfer.h>

struct fetch {
  const char *url;
  size_t bytes;
  char error[XFER_ERROR_SIZE];
};

/* The body arrives in pieces; this program only counts it. */
static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
  struct fetch *f = userdata;
  (void)data;
  f->bytes += size * n;
  return size * n;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL...\n", argv[0]);
    return 2;
  }
  xfer_global_init(XFER_GLOBAL_DEFAULT);
  xfer_multi *multi = xfer_multi_init();
  if (!multi) {
    fprintf(stderr, "xfer_multi_init failed\n");
    return 1;
  }
  int n = argc - 1;
  struct fetch *fetches = calloc((size_t)n, sizeof *fetches);
  for (int i = 0; i < n; i++) {
    struct fetch *f = &fetches[i];
    f->url = argv[i + 1];
    xfer_easy *e = xfer_easy_init();
    xfer_easy_setopt(e, XFEROPT_URL, f->url);
    xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, on_body);
    xfer_easy_setopt(e, XFEROPT_WRITEDATA, f);
    xfer_easy_setopt(e, XFEROPT_ERRORBUFFER, f->error);
    xfer_easy_setopt(e, XFEROPT_PRIVATE, f);
    xfer_easy_setopt(e, XFEROPT_FOLLOWLOCATION, 1L);
    xfer_easy_setopt(e, XFEROPT_TIMEOUT_MS, 10000L);
    xfer_multi_add_handle(multi, e);
  }

  int failures = 0;
  int running = 1;
  while (running) {
    if (xfer_multi_perform(multi, &running) != XFERM_OK)
      break;
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(multi, &left))) {
      xfer_easy *e = msg->easy_handle;
      xfer_code result = msg->data.result; /* read before the handle goes */
      struct fetch *f;
      long status = 0;
      xfer_off_t total_us = 0;
      xfer_easy_getinfo(e, XFERINFO_PRIVATE, &f);
      xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &status);
      xfer_easy_getinfo(e, XFERINFO_TOTAL_TIME_T, &total_us);
      if (result == XFERE_OK)
        printf("%s: %ld, %zu bytes, %.1f ms\n", f->url, status, f->bytes, total_us / 1000.0);
      else {
        printf("%s: failed: %s\n", f->url, f->error[0] ? f->error : xfer_easy_strerror(result));
        failures++;
      }
      xfer_multi_remove_handle(multi, e);
      xfer_easy_cleanup(e);
    }
    /* Sleeps until a socket is ready or a timer is due, at most 1 s. */
    if (running)
      xfer_multi_poll(multi, NULL, 0, 1000, NULL);
  }
  xfer_multi_cleanup(multi);
  free(fetches);
  xfer_global_cleanup();
  return failures ? 1 : 0;
}
