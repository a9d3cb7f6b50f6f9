/* libcurl style: the four orders of cleanup that libcurl's test 1502-1505
 * exercise, each once with a finished transfer and once with one still
 * running (its server answers slowly): PA remove, multi_cleanup,
 * easy_cleanup; PB remove, easy_cleanup, multi_cleanup; UA multi_cleanup,
 * easy_cleanup with the handle still added; UB easy_cleanup with the handle
 * still added, then multi_cleanup. argv[1] answers at once, argv[2] slowly.
 * None may crash; the program prints what each transfer got. */
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userp) {
  (void)ptr;
  (void)userp;
  return size * nmemb;
}

static void drive(CURLM *m, int until_done) {
  int running = 1, rounds = 0;
  while (running && rounds++ < 200) {
    curl_multi_perform(m, &running);
    if (!until_done && rounds >= 3)
      break;
    if (running)
      curl_multi_poll(m, NULL, 0, 50, NULL);
  }
}

static int one(const char *order, const char *url, int finish) {
  CURLM *m = curl_multi_init();
  CURL *e = curl_easy_init();
  CURLMsg *msg;
  int left, result = -1;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard); /* bodies are not compared */
  curl_multi_add_handle(m, e);
  drive(m, finish);
  while ((msg = curl_multi_info_read(m, &left)))
    if (msg->msg == CURLMSG_DONE)
      result = (int)msg->data.result;
  if (!strcmp(order, "PA")) {
    curl_multi_remove_handle(m, e);
    curl_multi_cleanup(m);
    curl_easy_cleanup(e);
  } else if (!strcmp(order, "PB")) {
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    curl_multi_cleanup(m);
  } else if (!strcmp(order, "UA")) {
    curl_multi_cleanup(m);
    curl_easy_cleanup(e);
  } else {
    curl_easy_cleanup(e);
    curl_multi_cleanup(m);
  }
  printf("%s %s: result=%d\n", order, finish ? "finished" : "running", result);
  return 0;
}

int main(int argc, char **argv) {
  static const char *orders[] = {"PA", "PB", "UA", "UB"};
  if (argc != 3)
    return 2;
  curl_global_init(CURL_GLOBAL_ALL);
  for (int i = 0; i < 4; i++) {
    one(orders[i], argv[1], 1);
    one(orders[i], argv[2], 0);
  }
  curl_global_cleanup();
  return 0;
}
