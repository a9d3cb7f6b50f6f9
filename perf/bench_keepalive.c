/* keepalive/<backend>/conns:N — small requests on N keep-alive connections
 * to a loopback peer in another process, one benchmark iteration per
 * completed request/response.
 *
 * The loop is xfer-load's (and that of perf/curl_multi_load.c for libcurl):
 * poll, perform, read the done messages, remove each finished handle and add
 * it again at once, so its connection goes back to the pool and carries the
 * next request. What is reported is what the baselines compare clients by:
 * the client's CPU per request (the peer runs on the other CPU and is not
 * counted), kernel entries per request, and requests per second. */
#include "bench.h"
#include "peer.h"
#include "syscount.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <xfer/xfer.h>

/* Requests per repetition, fixed so that every run does the same work. At
 * one connection every request waits on a cross-CPU wake-up (≈12k req/s on
 * the 2-vCPU project VM), so 20000 take ≈1.7 s; with 16 or more connections
 * the peer serves 100-200k req/s, and 200000 take 1-2 s. Both are long
 * against connection set-up and short enough for five repetitions of every
 * backend in about a minute. XFER_BENCH_REQUESTS overrides both. */
#define REQUESTS_ONE_CONN   20000
#define REQUESTS_MANY_CONNS 200000

/* Untimed requests per connection before the measurement: every connection
 * is then open, past TCP slow start and parked in the pool once. */
#define WARMUP_PER_CONN 4

/* The longest single wait; the loop normally wakes on I/O long before. */
#define POLL_MS 100

/* No request finishing for this long means the peer or the client is stuck:
 * the run fails instead of hanging. */
#define STALL_NS (10LL * 1000000000LL)

/* The most connections one run uses: the largest argument below. */
#define MAX_CONNS 64

static const long CONNECTIONS[] = {1, 16, 64};

struct backend {
  const char *name;
  long value;
};

static const struct backend BACKENDS[] = {
    {"poll", XFER_BACKEND_POLL},
    {"epoll", XFER_BACKEND_EPOLL},
    {"io_uring", XFER_BACKEND_IO_URING},
};

/* ---- the peer and the process-wide set-up, made once on first use ---- */

static struct xb_peer peer;
static int peer_state; /* 0 not started, 1 running, -1 failed */
static char peer_why[256];
static char url[64];
static int syscall_fd = -1;
static const char *syscall_why;

static void teardown(void) {
  if (peer_state == 1)
    peer_stop(&peer);
  if (syscall_fd >= 0)
    close(syscall_fd);
  xfer_global_cleanup();
}

static int ensure_peer(void) {
  if (peer_state != 0)
    return peer_state;
  peer_state = -1;
  if (xfer_global_init(XFER_GLOBAL_DEFAULT) != XFERE_OK) {
    snprintf(peer_why, sizeof peer_why, "xfer_global_init failed");
    return -1;
  }
  if (peer_start(&peer, peer_why, sizeof peer_why) < 0)
    return -1;
  peer_state = 1;
  atexit(teardown);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/small", (unsigned)peer.port);
  /* Opened after the fork and without inheritance: it counts this thread,
   * which is the one Google Benchmark runs single-threaded benchmarks on. */
  syscall_fd = syscount_open(0, 0, &syscall_why);
  return 1;
}

/* ---- one client: a multi and N easy handles ---- */

struct client {
  xfer_multi *m;
  xfer_easy *easy[MAX_CONNS];
  long n;
  /* Finished transfers since the client was made. */
  uint64_t done;
  uint64_t errors;
  /* Connections the transfers had to open (XFERINFO_NUM_CONNECTS). */
  uint64_t connects;
  /* The first failure, for the report. */
  char failed[160];
};

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

/* Whether xfer_version()'s "backends: a, b, c;" list names this backend. */
static int version_lists(const char *name) {
  const char *list = strstr(xfer_version(), "backends:");
  if (!list)
    return 1; /* an unknown format: let XFERMOPT_BACKEND decide */
  list += strlen("backends:");
  size_t len = strlen(name);
  for (const char *s = list; *s && *s != ';' && *s != ')'; s++) {
    int start = s == list || s[-1] == ' ' || s[-1] == ',';
    int end = s[len] == ',' || s[len] == ';' || s[len] == ')' || s[len] == '\0';
    if (start && strncmp(s, name, len) == 0 && end)
      return 1;
  }
  return 0;
}

/* 0, or -1 with c->failed saying why; XFERM_BAD_FUNCTION_ARGUMENT from the
 * backend choice is returned as 1 (not available here: skipped). */
static int client_open(struct client *c, const struct backend *be, long n) {
  memset(c, 0, sizeof *c);
  c->n = n;
  c->m = xfer_multi_init();
  if (!c->m) {
    snprintf(c->failed, sizeof c->failed, "xfer_multi_init failed");
    return -1;
  }
  xfer_mcode mc = xfer_multi_setopt(c->m, XFERMOPT_BACKEND, be->value);
  if (mc == XFERM_BAD_FUNCTION_ARGUMENT) {
    snprintf(c->failed, sizeof c->failed, "%s not available in this build or kernel", be->name);
    return 1;
  }
  /* Exactly n connections, kept in the pool between requests: the
   * comparison with wrk -cN holds only when N connections carry the load. */
  if (mc == XFERM_OK)
    mc = xfer_multi_setopt(c->m, XFERMOPT_MAX_HOST_CONNECTIONS, n);
  if (mc == XFERM_OK)
    mc = xfer_multi_setopt(c->m, XFERMOPT_MAX_TOTAL_CONNECTIONS, n);
  if (mc == XFERM_OK)
    mc = xfer_multi_setopt(c->m, XFERMOPT_MAXCONNECTS, n);
  if (mc != XFERM_OK) {
    snprintf(c->failed, sizeof c->failed, "multi setup: %s", xfer_multi_strerror(mc));
    return -1;
  }
  const char *runs_on = xfer_multi_backend(c->m);
  if (!runs_on || strcmp(runs_on, be->name) != 0) {
    snprintf(c->failed, sizeof c->failed, "asked for %s, runs on %s", be->name,
             runs_on ? runs_on : "?");
    return -1;
  }
  for (long i = 0; i < n; i++) {
    xfer_easy *e = xfer_easy_init();
    c->easy[i] = e;
    if (!e || xfer_easy_setopt(e, XFEROPT_URL, url) != XFERE_OK ||
        xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, (xfer_write_callback)discard) != XFERE_OK ||
        xfer_easy_setopt(e, XFEROPT_NOSIGNAL, 1L) != XFERE_OK) {
      snprintf(c->failed, sizeof c->failed, "easy handle setup failed");
      return -1;
    }
  }
  for (long i = 0; i < n; i++) {
    mc = xfer_multi_add_handle(c->m, c->easy[i]);
    if (mc != XFERM_OK) {
      snprintf(c->failed, sizeof c->failed, "add: %s", xfer_multi_strerror(mc));
      return -1;
    }
  }
  return 0;
}

static void client_close(struct client *c) {
  /* Cleaning a handle removes it first, which drops requests in flight. */
  for (long i = 0; i < c->n; i++)
    xfer_easy_cleanup(c->easy[i]);
  if (c->m)
    xfer_multi_cleanup(c->m);
}

/* Drives the multi until at least one transfer finishes, adding every
 * finished handle again at once. Returns how many finished, or -1 with
 * c->failed set. check_status asks each response's status (warm-up only:
 * the timed loop does nothing a plain load loop would not). */
static long client_step(struct client *c, int check_status) {
  int64_t started = 0;
  for (;;) {
    xfer_mcode mc = xfer_multi_poll(c->m, NULL, 0, POLL_MS, NULL);
    int running = 0;
    if (mc == XFERM_OK)
      mc = xfer_multi_perform(c->m, &running);
    if (mc != XFERM_OK) {
      snprintf(c->failed, sizeof c->failed, "multi: %s", xfer_multi_strerror(mc));
      return -1;
    }
    long finished = 0;
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(c->m, &left)) != NULL) {
      if (msg->msg != XFERMSG_DONE)
        continue;
      /* The message dies with the removal: read it first. */
      xfer_easy *e = msg->easy_handle;
      xfer_code rc = msg->data.result;
      long nconn = 0, status = 200;
      if (xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &nconn) == XFERE_OK && nconn > 0)
        c->connects += (uint64_t)nconn;
      if (check_status)
        xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &status);
      if (rc != XFERE_OK || status != 200) {
        if (c->errors++ == 0)
          snprintf(c->failed, sizeof c->failed, "transfer: %s (status %ld)", xfer_easy_strerror(rc),
                   status);
      }
      xfer_multi_remove_handle(c->m, e);
      mc = xfer_multi_add_handle(c->m, e);
      if (mc != XFERM_OK) {
        snprintf(c->failed, sizeof c->failed, "re-add: %s", xfer_multi_strerror(mc));
        return -1;
      }
      c->done++;
      finished++;
    }
    if (finished)
      return finished;
    /* The clock is read only on rounds that finished nothing. */
    int64_t t = now_ns();
    if (!started)
      started = t;
    else if (t - started > STALL_NS) {
      snprintf(c->failed, sizeof c->failed, "no response for %lld s",
               (long long)(STALL_NS / 1000000000LL));
      return -1;
    }
  }
}

static double cpu_us(const struct rusage *ru, int user) {
  const struct timeval *tv = user ? &ru->ru_utime : &ru->ru_stime;
  return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static void bench_keepalive(struct xb_state *st) {
  const struct backend *be = xb_data(st);
  long conns = (long)xb_range(st, 0);
  char msg[320];
  if (!version_lists(be->name)) {
    snprintf(msg, sizeof msg, "%s not built in (%s)", be->name, xfer_version());
    xb_skip_with_error(st, msg);
    return;
  }
  if (ensure_peer() < 0) {
    xb_skip_with_error(st, peer_why);
    return;
  }
  struct client c;
  int rc = client_open(&c, be, conns);
  /* Warm-up, untimed: the timer starts at the first xb_keep_running(). */
  while (rc == 0 && c.done < (uint64_t)(conns * WARMUP_PER_CONN))
    if (client_step(&c, 1) < 0)
      rc = -1;
  if (rc == 0 && c.errors)
    rc = -1;
  if (rc != 0) {
    xb_skip_with_error(st, c.failed);
    client_close(&c);
    return;
  }

  uint64_t done0 = c.done, conn0 = c.connects;
  long long sys0 = syscall_fd >= 0 ? syscount_read(syscall_fd) : -1;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  /* Each iteration consumes one finished request; a step that finishes
   * several banks the rest for the following iterations. */
  long banked = 0;
  while (xb_keep_running(st)) {
    if (banked == 0 && (banked = client_step(&c, 0)) < 0) {
      xb_skip_with_error(st, c.failed);
      break;
    }
    banked--;
  }
  getrusage(RUSAGE_SELF, &ru1);
  long long sys1 = syscall_fd >= 0 ? syscount_read(syscall_fd) : -1;

  /* Requests that finished inside the measurement, banked ones included:
   * their CPU and system calls are in the deltas too. */
  double requests = (double)(c.done - done0);
  if (requests > 0) {
    double usr = (cpu_us(&ru1, 1) - cpu_us(&ru0, 1)) / requests;
    double sys = (cpu_us(&ru1, 0) - cpu_us(&ru0, 0)) / requests;
    xb_counter(st, "cpu_us/req", usr + sys, XB_PLAIN);
    xb_counter(st, "usr_us/req", usr, XB_PLAIN);
    xb_counter(st, "sys_us/req", sys, XB_PLAIN);
    xb_counter(st, "syscalls/req", sys0 >= 0 && sys1 >= 0 ? (double)(sys1 - sys0) / requests : -1.0,
               XB_PLAIN);
    xb_counter(st, "req/s", requests, XB_RATE);
    /* Both must stay 0: a reconnect or an error means the run did not
     * measure keep-alive requests. */
    xb_counter(st, "reconnects", (double)(c.connects - conn0), XB_PLAIN);
    xb_counter(st, "errors", (double)c.errors, XB_PLAIN);
  }
  snprintf(msg, sizeof msg, "peer=%s client_cpu=%d peer_cpu=%d%s%s", peer.kind, peer.client_cpu,
           peer.peer_cpu, syscall_fd < 0 ? " syscalls=n/a: " : "",
           syscall_fd < 0 ? syscall_why : "");
  xb_set_label(st, msg);
  client_close(&c);
}

XB_REGISTRATION(register_keepalive) {
  const char *env = getenv("XFER_BENCH_REQUESTS");
  long forced = env ? strtol(env, NULL, 10) : 0;
  for (size_t b = 0; b < sizeof BACKENDS / sizeof BACKENDS[0]; b++) {
    char name[64];
    snprintf(name, sizeof name, "keepalive/%s", BACKENDS[b].name);
    /* One family per connection count, so that each gets its own fixed
     * request count (an iteration count belongs to a whole family). */
    for (size_t i = 0; i < sizeof CONNECTIONS / sizeof CONNECTIONS[0]; i++) {
      long n = CONNECTIONS[i];
      struct xb_bench *bench = xb_register(name, bench_keepalive, (void *)&BACKENDS[b]);
      xb_arg_name(bench, "conns");
      xb_arg(bench, n);
      xb_fixed_iterations(bench, forced > 0 ? forced
                                 : n == 1   ? REQUESTS_ONE_CONN
                                            : REQUESTS_MANY_CONNS);
      /* Requests wait on the peer: rates are per wall-clock second. */
      xb_use_real_time(bench);
      xb_unit_us(bench);
    }
  }
}
