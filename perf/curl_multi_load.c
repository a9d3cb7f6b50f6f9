/* curl_multi_load: the libcurl multi anchor of perf/run.sh, the loop of
 * perf-baselines.md's curl_multi_load ("perform" mode) rebuilt here so the
 * comparison runs on this machine against the same peer:
 *   curl_multi_load -c CONNECTIONS -n REQUESTS URL
 * C easy handles; each finished one is removed and added again, so its
 * connection returns to libcurl's cache and carries the next request. The
 * loop is curl_multi_perform + curl_multi_poll, libcurl's documented simple
 * loop. As in bench_keepalive.c, 4 requests per connection run first,
 * untimed, then the measurement covers exactly the loop. Prints one line of
 * key=value pairs: requests, errors, reconnects, req_per_s, usr/sys/cpu
 * µs per request, syscalls per request (-1 when they cannot be counted). */
#include "syscount.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Same meaning and values as in bench_keepalive.c. */
#define WARMUP_PER_CONN 4
#define POLL_MS 100
#define STALL_NS (10LL * 1000000000LL)
#define MAX_CONNS 4096

static size_t discard(char *data, size_t size, size_t nmemb, void *userdata)
{
  (void)data;
  (void)userdata;
  return size * nmemb;
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_us(const struct timeval *tv)
{
  return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

struct totals {
  long long done, errors, connects;
};

/* Runs until `want` more transfers have finished; 0, or -1 when libcurl
 * fails or nothing finishes for STALL_NS. */
static int run(CURLM *m, long long want, struct totals *t)
{
  long long target = t->done + want;
  int64_t last = now_ns();
  while (t->done < target) {
    int running = 0;
    if (curl_multi_perform(m, &running) != CURLM_OK)
      return -1;
    CURLMsg *msg;
    int left;
    long finished = 0;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      CURL *e = msg->easy_handle;
      CURLcode rc = msg->data.result;
      long n = 0;
      if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0)
        t->connects += n;
      if (rc != CURLE_OK)
        t->errors++;
      curl_multi_remove_handle(m, e);
      curl_multi_add_handle(m, e);
      t->done++;
      finished++;
    }
    if (finished) {
      last = 0;
    } else {
      int64_t now = now_ns();
      if (!last)
        last = now;
      else if (now - last > STALL_NS)
        return -1;
    }
    if (curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK)
      return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  long conns = 16;
  long long requests = 100000;
  int opt;
  while ((opt = getopt(argc, argv, "c:n:")) != -1) {
    if (opt == 'c')
      conns = strtol(optarg, NULL, 10);
    else if (opt == 'n')
      requests = strtoll(optarg, NULL, 10);
    else
      optind = argc + 1;
  }
  if (optind != argc - 1 || conns < 1 || conns > MAX_CONNS || requests < 1) {
    fprintf(stderr, "usage: curl_multi_load -c CONNECTIONS(1-%d) -n REQUESTS URL\n", MAX_CONNS);
    return 2;
  }
  const char *url = argv[optind];

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  CURL **easy = calloc((size_t)conns, sizeof *easy);
  if (!m || !easy)
    return 1;
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns);
  for (long i = 0; i < conns; i++) {
    easy[i] = curl_easy_init();
    if (!easy[i])
      return 1;
    curl_easy_setopt(easy[i], CURLOPT_URL, url);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy[i], CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy[i], CURLOPT_TCP_NODELAY, 1L);
    curl_multi_add_handle(m, easy[i]);
  }

  struct totals t = {0, 0, 0};
  const char *why = NULL;
  int sfd = syscount_open(0, 0, &why);
  if (run(m, (long long)conns * WARMUP_PER_CONN, &t) < 0 || t.errors) {
    fprintf(stderr, "curl_multi_load: warm-up failed (%lld errors)\n", t.errors);
    return 1;
  }
  struct totals t0 = t;
  struct rusage r0, r1;
  long long s0 = sfd >= 0 ? syscount_read(sfd) : -1;
  getrusage(RUSAGE_SELF, &r0);
  int64_t w0 = now_ns();
  int rc = run(m, requests, &t);
  int64_t w1 = now_ns();
  getrusage(RUSAGE_SELF, &r1);
  long long s1 = sfd >= 0 ? syscount_read(sfd) : -1;
  if (rc < 0) {
    fprintf(stderr, "curl_multi_load: the run failed after %lld requests\n", t.done - t0.done);
    return 1;
  }

  double n = (double)(t.done - t0.done);
  double usr = (cpu_us(&r1.ru_utime) - cpu_us(&r0.ru_utime)) / n;
  double sys = (cpu_us(&r1.ru_stime) - cpu_us(&r0.ru_stime)) / n;
  printf("requests=%.0f errors=%lld reconnects=%lld req_per_s=%.0f cpu_us_per_req=%.3f "
         "usr_us_per_req=%.3f sys_us_per_req=%.3f syscalls_per_req=%.3f\n",
         n, t.errors - t0.errors, t.connects - t0.connects, n / ((double)(w1 - w0) / 1e9),
         usr + sys, usr, sys, s0 >= 0 && s1 >= 0 ? (double)(s1 - s0) / n : -1.0);

  for (long i = 0; i < conns; i++) {
    curl_multi_remove_handle(m, easy[i]);
    curl_easy_cleanup(easy[i]);
  }
  free(easy);
  curl_multi_cleanup(m);
  curl_global_cleanup();
  if (sfd >= 0)
    close(sfd);
  return t.errors == t0.errors ? 0 : 1;
}
