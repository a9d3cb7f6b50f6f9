/* libcurl style, as the multi-uv.c example: libuv's uv_poll_t per socket
 * (kept with curl_multi_assign), one uv_timer_t, never a kick by hand (the
 * adds call the timer callback), and uv_run() left to return by itself when
 * nothing is watched and no timer is set. Prints one line per transfer in
 * argv order. If the library left a socket or a timer behind, uv_run would
 * never return; the watchdog, an unreferenced timer, stops it after 20 s
 * and the program says so. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>
#include <curl/curl.h>

#define MAXN 64

struct curl_context {
  uv_poll_t poll_handle;
  curl_socket_t sockfd;
};

static uv_loop_t *loop;
static CURLM *curl_handle;
static uv_timer_t timeout, watchdog;
static int result[MAXN], stuck;
static size_t got[MAXN];

static size_t count(char *ptr, size_t size, size_t nmemb, void *userp) {
  (void)ptr;
  *(size_t *)userp += size * nmemb;
  return size * nmemb;
}

static void add_download(const char *url, int num) {
  CURL *handle = curl_easy_init();
  curl_easy_setopt(handle, CURLOPT_URL, url);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, count);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &got[num]);
  curl_easy_setopt(handle, CURLOPT_PRIVATE, (char *)&result[num]);
  curl_multi_add_handle(curl_handle, handle);
}

static void check_multi_info(void) {
  CURLMsg *message;
  int pending;
  while ((message = curl_multi_info_read(curl_handle, &pending))) {
    if (message->msg == CURLMSG_DONE) {
      CURL *easy = message->easy_handle;
      int *slot;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&slot);
      *slot = (int)message->data.result;
      curl_multi_remove_handle(curl_handle, easy);
      curl_easy_cleanup(easy);
    }
  }
}

static void close_cb(uv_handle_t *handle) { free(handle->data); }

static void curl_perform(uv_poll_t *req, int status, int events) {
  int running_handles, flags = 0;
  struct curl_context *context = req->data;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(curl_handle, context->sockfd, flags, &running_handles);
  check_multi_info();
}

static void on_timeout(uv_timer_t *req) {
  int running_handles;
  (void)req;
  curl_multi_socket_action(curl_handle, CURL_SOCKET_TIMEOUT, 0, &running_handles);
  check_multi_info();
}

static int start_timeout(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  (void)userp;
  if (timeout_ms < 0) {
    uv_timer_stop(&timeout);
  } else {
    if (timeout_ms == 0)
      timeout_ms = 1; /* 0 means "directly call socket_action", but we do it in a bit */
    uv_timer_start(&timeout, on_timeout, (uint64_t)timeout_ms, 0);
  }
  return 0;
}

static int handle_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp) {
  struct curl_context *context;
  int events = 0;
  (void)easy;
  (void)userp;
  switch (action) {
  case CURL_POLL_IN:
  case CURL_POLL_OUT:
  case CURL_POLL_INOUT:
    if (socketp) {
      context = socketp;
    } else {
      context = malloc(sizeof *context);
      context->sockfd = s;
      uv_poll_init_socket(loop, &context->poll_handle, s);
      context->poll_handle.data = context;
    }
    curl_multi_assign(curl_handle, s, context);
    if (action != CURL_POLL_IN)
      events |= UV_WRITABLE;
    if (action != CURL_POLL_OUT)
      events |= UV_READABLE;
    uv_poll_start(&context->poll_handle, events, curl_perform);
    break;
  case CURL_POLL_REMOVE:
    if (socketp) {
      context = socketp;
      uv_poll_stop(&context->poll_handle);
      uv_close((uv_handle_t *)&context->poll_handle, close_cb);
      curl_multi_assign(curl_handle, s, NULL);
    }
    break;
  default:
    abort();
  }
  return 0;
}

static void on_watchdog(uv_timer_t *t) {
  (void)t;
  stuck = 1;
  uv_stop(loop);
}

int main(int argc, char **argv) {
  int i, n = argc - 1;
  if (n < 1 || n > MAXN)
    return 2;
  loop = uv_default_loop();
  if (curl_global_init(CURL_GLOBAL_ALL))
    return 1;
  uv_timer_init(loop, &timeout);
  uv_timer_init(loop, &watchdog);
  uv_timer_start(&watchdog, on_watchdog, 20000, 0);
  uv_unref((uv_handle_t *)&watchdog);
  curl_handle = curl_multi_init();
  curl_multi_setopt(curl_handle, CURLMOPT_SOCKETFUNCTION, handle_socket);
  curl_multi_setopt(curl_handle, CURLMOPT_TIMERFUNCTION, start_timeout);
  for (i = 0; i < n; i++) {
    result[i] = -1;
    add_download(argv[i + 1], i);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  for (i = 0; i < n; i++)
    printf("%d: result=%d got=%zu\n", i, result[i], got[i]);
  printf("loop ended by itself: %s\n", stuck ? "no" : "yes");
  curl_multi_cleanup(curl_handle);
  curl_global_cleanup();
  return stuck;
}
