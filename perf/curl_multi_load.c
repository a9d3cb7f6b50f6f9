/* curl_multi_load: a keep-alive load client written for libcurl's API, the
 * loop libcurl's multi users write (each finished handle removed and added
 * again), so the comparison runs on the machine at hand against the same
 * peer. The same source is built
 * twice (perf/CMakeLists.txt): against libcurl (curl_multi_load) and against
 * xfer's curl/curl.h (xfer_multi_load), so the two are the same client.
 *   curl_multi_load [-m perform|socket|single] -c CONNECTIONS -n REQUESTS URL
 * C easy handles; each finished one is removed and added again, so its
 * connection returns to the pool and carries the next request. Modes:
 *   perform  curl_multi_perform + curl_multi_poll, the documented simple loop;
 *   socket   curl_multi_socket_action on a raw epoll set with a timerfd, as
 *            libcurl's ephiperfifo.c example, per-socket callbacks;
 *   single   socket mode with xfer's XFERMOPT_SINGLE_FD (xfer only).
 * The socket loop's timer callback arms the timerfd only for a real delay:
 * 0 ms ("now") becomes one more socket_action(TIMEOUT) after the events at
 * hand, as multi-uv.c turns it into a next-turn timer, so that neither
 * library pays two timerfd_settime calls per request for it.
 * As in bench_keepalive.c, 4 requests per connection run first, untimed,
 * then the measurement covers exactly the loop. Prints one line of
 * key=value pairs: requests, errors, reconnects, req_per_s, usr/sys/cpu
 * µs per request, syscalls per request (-1 when they cannot be counted),
 * and socket and timer callbacks per request. */
#include "syscount.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Same meaning and values as in bench_keepalive.c. */
#define WARMUP_PER_CONN 4
#define POLL_MS         100
#define STALL_NS        (10LL * 1000000000LL)
#define MAX_CONNS       4096

static size_t discard(char *data, size_t size, size_t nmemb, void *userdata) {
  (void)data;
  (void)userdata;
  return size * nmemb;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_us(const struct timeval *tv) {
  return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

struct totals {
  long long done, errors, connects;
};

/* The socket modes' host loop. */
static int ep = -1, tfd = -1;
static int due_now;        /* the timer callback said 0 ms */
static long armed_ms = -1; /* what the timerfd holds, -1: disarmed */
static long long sock_cbs, timer_cbs;

static int timer_cb(CURLM *m, long ms, void *userp) {
  (void)m;
  (void)userp;
  timer_cbs++;
  due_now = ms == 0;
  long want = ms > 0 ? ms : -1;
  if (want == armed_ms)
    return 0;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (want > 0) {
    its.it_value.tv_sec = want / 1000;
    its.it_value.tv_nsec = (want % 1000) * 1000000L;
  }
  armed_ms = want;
  return timerfd_settime(tfd, 0, &its, NULL) == 0 ? 0 : -1;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp) {
  (void)e;
  sock_cbs++;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  ev.data.fd = s;
  /* sockp marks a socket already in the set (curl_multi_assign below). */
  if (sockp)
    return epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) == 0 ? 0 : -1;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0)
    return -1;
  curl_multi_assign((CURLM *)userp, s, &ep);
  return 0;
}

/* Whether nothing has finished for STALL_NS: *last is when the current
 * run of empty turns began (0: the last turn finished something). */
static int stalled(long finished, int64_t *last) {
  if (finished) {
    *last = 0;
    return 0;
  }
  int64_t now = now_ns();
  if (!*last)
    *last = now;
  return now - *last > STALL_NS;
}

/* Reads the finished transfers and adds each handle again. */
static long reap(CURLM *m, struct totals *t) {
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
  return finished;
}

static int run_socket(CURLM *m, long long want, struct totals *t) {
  long long target = t->done + want;
  int64_t last = 0;
  struct epoll_event evs[256];
  while (t->done < target) {
    int running;
    int n = epoll_wait(ep, evs, 256, due_now ? 0 : POLL_MS);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.fd == tfd) {
        uint64_t x;
        if (read(tfd, &x, sizeof x) < 0) {
          /* re-armed meanwhile */
        }
        armed_ms = -1;
        due_now = 1;
        continue;
      }
      int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                 (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                 (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
      if (curl_multi_socket_action(m, evs[i].data.fd, mask, &running) != CURLM_OK)
        return -1;
    }
    long finished = reap(m, t);
    if (due_now) {
      due_now = 0;
      if (curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
        return -1;
      finished += reap(m, t);
    }
    if (stalled(finished, &last))
      return -1;
  }
  return 0;
}

/* Runs until `want` more transfers have finished; 0, or -1 when libcurl
 * fails or nothing finishes for STALL_NS. */
static int run(CURLM *m, long long want, struct totals *t) {
  long long target = t->done + want;
  int64_t last = now_ns();
  while (t->done < target) {
    int running = 0;
    if (curl_multi_perform(m, &running) != CURLM_OK)
      return -1;
    long finished = reap(m, t);
    if (stalled(finished, &last))
      return -1;
    if (curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK)
      return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  long conns = 16;
  long long requests = 100000;
  const char *mode = "perform";
  int opt;
  while ((opt = getopt(argc, argv, "c:n:m:")) != -1) {
    if (opt == 'c')
      conns = strtol(optarg, NULL, 10);
    else if (opt == 'n')
      requests = strtoll(optarg, NULL, 10);
    else if (opt == 'm')
      mode = optarg;
    else
      optind = argc + 1;
  }
  int socket_mode = strcmp(mode, "socket") == 0 || strcmp(mode, "single") == 0;
  if (optind != argc - 1 || conns < 1 || conns > MAX_CONNS || requests < 1 ||
      (!socket_mode && strcmp(mode, "perform") != 0)) {
    fprintf(stderr,
            "usage: curl_multi_load [-m perform|socket|single] -c CONNECTIONS(1-%d) "
            "-n REQUESTS URL\n",
            MAX_CONNS);
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
  if (strcmp(mode, "single") == 0) {
#ifdef XFER_CURL_CURL_H /* built against xfer's curl/curl.h */
    if (curl_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L) != CURLM_OK) {
      fprintf(stderr, "curl_multi_load: this backend has no single fd\n");
      return 2;
    }
#else
    fprintf(stderr, "curl_multi_load: -m single is xfer's own (XFERMOPT_SINGLE_FD)\n");
    return 2;
#endif
  }
  if (socket_mode) {
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = tfd;
    if (ep < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0)
      return 1;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
  }
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
  int (*loop)(CURLM *, long long, struct totals *) = socket_mode ? run_socket : run;
  if (loop(m, (long long)conns * WARMUP_PER_CONN, &t) < 0 || t.errors) {
    fprintf(stderr, "curl_multi_load: warm-up failed (%lld errors)\n", t.errors);
    return 1;
  }
  struct totals t0 = t;
  struct rusage r0, r1;
  long long s0 = sfd >= 0 ? syscount_read(sfd) : -1;
  getrusage(RUSAGE_SELF, &r0);
  int64_t w0 = now_ns();
  long long cb0 = sock_cbs, tcb0 = timer_cbs;
  int rc = loop(m, requests, &t);
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
         "usr_us_per_req=%.3f sys_us_per_req=%.3f syscalls_per_req=%.3f "
         "socket_cbs_per_req=%.3f timer_cbs_per_req=%.3f\n",
         n, t.errors - t0.errors, t.connects - t0.connects, n / ((double)(w1 - w0) / 1e9),
         usr + sys, usr, sys, s0 >= 0 && s1 >= 0 ? (double)(s1 - s0) / n : -1.0,
         (double)(sock_cbs - cb0) / n, (double)(timer_cbs - tcb0) / n);

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
