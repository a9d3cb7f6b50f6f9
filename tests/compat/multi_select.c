/* libcurl style, as the multi-legacy.c example: curl_multi_timeout,
 * curl_multi_fdset and select(), a 100 ms sleep when there is no fd, the
 * messages read after the loop. The first URL's body goes to stdout through
 * the default write function with WRITEDATA unset; the others are counted
 * by a write callback. Cleanup order: curl_multi_cleanup with every handle
 * still added, then curl_easy_cleanup (libcurl's "UA" order). */
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>
#include <curl/curl.h>

#define MAXN 16

static size_t count(char *ptr, size_t size, size_t nmemb, void *userp) {
  (void)ptr;
  *(size_t *)userp += size * nmemb;
  return size * nmemb;
}

int main(int argc, char **argv) {
  CURL *h[MAXN];
  size_t got[MAXN];
  int result[MAXN];
  int n = argc - 1, running = 1, i;
  CURLM *m;
  CURLMsg *msg;
  int left;

  if (n < 1 || n > MAXN)
    return 2;
  m = curl_multi_init();
  for (i = 0; i < n; i++) {
    h[i] = curl_easy_init();
    got[i] = 0;
    result[i] = -1;
    curl_easy_setopt(h[i], CURLOPT_URL, argv[i + 1]);
    if (i > 0) {
      curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, count);
      curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &got[i]);
    }
    curl_multi_add_handle(m, h[i]);
  }
  curl_multi_perform(m, &running);
  while (running) {
    struct timeval timeout;
    fd_set fdread, fdwrite, fdexcep;
    int maxfd = -1, rc;
    long curl_timeo = -1;

    FD_ZERO(&fdread);
    FD_ZERO(&fdwrite);
    FD_ZERO(&fdexcep);
    timeout.tv_sec = 1;
    timeout.tv_usec = 0;
    curl_multi_timeout(m, &curl_timeo);
    if (curl_timeo >= 0) {
      timeout.tv_sec = curl_timeo / 1000;
      if (timeout.tv_sec > 1)
        timeout.tv_sec = 1;
      else
        timeout.tv_usec = (curl_timeo % 1000) * 1000;
    }
    if (curl_multi_fdset(m, &fdread, &fdwrite, &fdexcep, &maxfd) != CURLM_OK)
      return 3;
    if (maxfd == -1) {
      struct timeval wait = {0, 100 * 1000};
      rc = select(0, NULL, NULL, NULL, &wait);
    } else {
      rc = select(maxfd + 1, &fdread, &fdwrite, &fdexcep, &timeout);
    }
    if (rc >= 0)
      curl_multi_perform(m, &running);
  }
  fflush(stdout);
  printf("\n--\n");
  /* In argv order: which transfer finishes first is the server's timing. */
  while ((msg = curl_multi_info_read(m, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    for (i = 0; i < n; i++)
      if (msg->easy_handle == h[i])
        result[i] = (int)msg->data.result;
  }
  for (i = 0; i < n; i++)
    printf("%d: result=%d got=%zu\n", i, result[i], got[i]);
  curl_multi_cleanup(m);
  for (i = 0; i < n; i++)
    curl_easy_cleanup(h[i]);
  return 0;
}
