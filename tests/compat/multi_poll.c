/* libcurl style, as the multi-double.c and multi-app.c examples: every URL
 * of argv at once, curl_multi_perform + curl_multi_poll until nothing runs,
 * one more poll on the idle multi (multi-single.c does that), then every
 * message read after the loop (messages persist until read). Bodies go
 * through the default write function into a FILE * given as WRITEDATA.
 * Prints one line per transfer, in argv order: result, status, bytes and a
 * checksum of the body as the file holds it. Cleanup order: remove, then
 * multi_cleanup, then easy_cleanup. */
#include <stdio.h>
#include <stdlib.h>
#include <curl/curl.h>

#define MAXN 64

static unsigned long fnv(FILE *f) {
  unsigned long h = 2166136261UL;
  int c;
  rewind(f);
  while ((c = getc(f)) != EOF)
    h = (h ^ (unsigned char)c) * 16777619UL;
  return h & 0xffffffffUL;
}

int main(int argc, char **argv) {
  CURL *h[MAXN];
  FILE *out[MAXN];
  CURLcode result[MAXN];
  int n = argc - 1, running = 1, done = 0, i;
  CURLM *m;
  CURLMsg *msg;
  int left;

  if (n < 1 || n > MAXN)
    return 2;
  curl_global_init(CURL_GLOBAL_ALL);
  m = curl_multi_init();
  for (i = 0; i < n; i++) {
    h[i] = curl_easy_init();
    out[i] = tmpfile();
    result[i] = CURLE_OK;
    curl_easy_setopt(h[i], CURLOPT_URL, argv[i + 1]);
    curl_easy_setopt(h[i], CURLOPT_WRITEDATA, out[i]);
    curl_multi_add_handle(m, h[i]);
  }
  while (running) {
    CURLMcode mc = curl_multi_perform(m, &running);
    if (!mc && running)
      mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
    if (mc) {
      fprintf(stderr, "multi: %s\n", curl_multi_strerror(mc));
      break;
    }
  }
  /* Nothing runs: this must just return within the timeout. */
  if (curl_multi_poll(m, NULL, 0, 50, NULL) != CURLM_OK)
    return 3;
  while ((msg = curl_multi_info_read(m, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    for (i = 0; i < n; i++)
      if (msg->easy_handle == h[i])
        result[i] = msg->data.result;
    done++;
  }
  printf("done %d of %d\n", done, n);
  for (i = 0; i < n; i++) {
    long code = 0;
    curl_off_t bytes = 0;
    curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(h[i], CURLINFO_SIZE_DOWNLOAD_T, &bytes);
    printf("%d: result=%d code=%ld bytes=%" CURL_FORMAT_CURL_OFF_T " sum=%08lx\n", i,
           (int)result[i], code, bytes, fnv(out[i]));
    curl_multi_remove_handle(m, h[i]);
  }
  curl_multi_cleanup(m);
  for (i = 0; i < n; i++) {
    curl_easy_cleanup(h[i]);
    fclose(out[i]);
  }
  curl_global_cleanup();
  return 0;
}
