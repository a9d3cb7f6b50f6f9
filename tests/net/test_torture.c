/* Allocation-failure torture over the net suites' main scenarios, on the
 * backend of XFER_BACKEND: each scenario is run under tests/support/torture.c
 * with its 1st, 2nd, ... allocation failing (a bounded slice here, every
 * point with XFER_TORTURE=1, which tools/torture.sh sets).
 *
 * A scenario is a batch of transfers on one multi, driven by the documented
 * perform/poll loop or by a host event loop through xfer_multi_socket_action.
 * One refused allocation may cost one transfer: the transfer whose set-up
 * call (easy_init, setopt, add_handle) or whose run ended in out of memory.
 * Every other transfer of the batch must finish with code 0 and its exact
 * bytes. A multi-wide out-of-memory code (from perform, poll or
 * socket_action) leaves every transfer's state uncertain, as the API says,
 * and ends the run with every handle removed. HTTPS is tortured in a process
 * of its own by tests/net/test_tls_alloc.c (OpenSSL takes allocator hooks
 * only before its first allocation, which a Criterion process has made). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "testserver.h"
#include "torture.h"
#include "xtest.h"

static struct ts_server *srv, *other;

static void setup(void) {
  srv = ts_start();
  cr_assert(srv, "the test server did not start");
  other = ts_start();
  cr_assert(other, "the second test server did not start");
}

static void teardown(void) {
  ts_stop(other);
  ts_stop(srv);
}

TestSuite(torture, .init = setup, .fini = teardown);

#define MAX_JOBS 16

/* One transfer of a batch and what it must produce. */
struct job {
  char url[256];
  const char *post; /* request body (POSTFIELDS), or NULL for a GET */
  size_t post_len;
  int copy;           /* the body through COPYPOSTFIELDS (the library copies it) */
  int upload;         /* the body through READFUNCTION: a chunked upload */
  const char *header; /* one more request line (HTTPHEADER), or NULL */
  int follow;         /* XFEROPT_FOLLOWLOCATION */
  char resolve[128];  /* one XFEROPT_RESOLVE line, or "" */
  size_t expect;      /* pattern bytes of the answer; with post: echo */
  /* per run */
  xfer_easy *e;
  struct xfer_slist *rlist, *hlist;
  size_t read_pos;
  struct xt_buf body;
  int added, done, oom;
  xfer_code result;
  char err[XFER_ERROR_SIZE];
};

struct batch {
  struct job jobs[MAX_JOBS];
  size_t n;
  long max_host; /* XFERMOPT_MAX_HOST_CONNECTIONS, 0 to leave it */
  int waves;     /* the batch runs this many times on the same multi */
  int event;     /* 1: socket_action host loop; 2: the same with SINGLE_FD */
};

/* ---- the host event loop (epoll, as libcurl's ephiperfifo.c) ------------ */

struct host {
  xfer_multi *m;
  int ep;
  long timer_ms; /* -1: none */
};

static int on_socket(xfer_easy *e, xfer_socket_t s, int what, void *clientp, void *sockp) {
  (void)e;
  struct host *h = clientp;
  if (what == XFER_POLL_REMOVE) {
    epoll_ctl(h->ep, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  struct epoll_event ev = {.events = 0, .data.fd = s};
  if (what & XFER_POLL_IN)
    ev.events |= EPOLLIN;
  if (what & XFER_POLL_OUT)
    ev.events |= EPOLLOUT;
  /* sockp tells a socket already watched from a new one. */
  if (sockp) {
    cr_assert_eq(epoll_ctl(h->ep, EPOLL_CTL_MOD, s, &ev), 0, "MOD %d: %s", s, strerror(errno));
  } else {
    cr_assert_eq(epoll_ctl(h->ep, EPOLL_CTL_ADD, s, &ev), 0, "ADD %d: %s", s, strerror(errno));
    cr_assert_eq(xfer_multi_assign(h->m, s, h), XFERM_OK);
  }
  return 0;
}

static int on_timer(xfer_multi *m, long ms, void *clientp) {
  (void)m;
  ((struct host *)clientp)->timer_ms = ms;
  return 0;
}

/* One turn of the host loop: waits for sockets or the timer and hands what
 * happened to the multi. Returns the multi's code. */
static xfer_mcode host_turn(struct host *h) {
  struct epoll_event evs[32];
  int wait = h->timer_ms < 0 || h->timer_ms > 100 ? 100 : (int)h->timer_ms;
  int n = epoll_wait(h->ep, evs, 32, wait);
  cr_assert(n >= 0 || errno == EINTR, "epoll_wait: %s", strerror(errno));
  int running;
  if (n <= 0) {
    if (h->timer_ms < 0)
      return XFERM_OK;
    h->timer_ms = -1;
    return xfer_multi_socket_action(h->m, XFER_SOCKET_TIMEOUT, 0, &running);
  }
  for (int i = 0; i < n; i++) {
    int mask = 0;
    if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
      mask |= XFER_CSELECT_IN;
    if (evs[i].events & (EPOLLOUT | EPOLLERR))
      mask |= XFER_CSELECT_OUT;
    xfer_mcode mc = xfer_multi_socket_action(h->m, evs[i].data.fd, mask, &running);
    if (mc != XFERM_OK)
      return mc;
  }
  return XFERM_OK;
}

/* ---- one batch, one run ---------------------------------------------------- */

/* READFUNCTION of an upload: the body in pieces of at most 1,000 bytes. */
static size_t read_body(char *buf, size_t size, size_t nitems, void *ud) {
  struct job *j = ud;
  size_t n = size * nitems;
  if (n > 1000)
    n = 1000;
  if (n > j->post_len - j->read_pos)
    n = j->post_len - j->read_pos;
  memcpy(buf, j->post + j->read_pos, n);
  j->read_pos += n;
  return n;
}

/* Sets up job j on a fresh easy handle; 0 when an allocation failure stopped
 * it (the job then counts as the one the failure cost). */
static int job_setup(struct job *j) {
  memset(&j->body, 0, sizeof j->body);
  j->rlist = j->hlist = NULL;
  j->added = j->done = j->oom = 0;
  j->result = (xfer_code)-1;
  j->e = xfer_easy_init();
  if (!j->e) {
    cr_assert(xt_torture_hit(), "xfer_easy_init gave NULL with no allocation failing");
    return 0;
  }
  if (!xt_oom_code(xfer_easy_setopt(j->e, XFEROPT_URL, j->url), "setopt URL"))
    return 0;
  xfer_easy_setopt(j->e, XFEROPT_WRITEFUNCTION, xt_buf_write);
  xfer_easy_setopt(j->e, XFEROPT_WRITEDATA, &j->body);
  xfer_easy_setopt(j->e, XFEROPT_PRIVATE, j);
  j->err[0] = 0;
  xfer_easy_setopt(j->e, XFEROPT_ERRORBUFFER, j->err);
  if (j->follow)
    xfer_easy_setopt(j->e, XFEROPT_FOLLOWLOCATION, 1L);
  if (j->post && j->upload) {
    xfer_easy_setopt(j->e, XFEROPT_POST, 1L);
    xfer_easy_setopt(j->e, XFEROPT_READFUNCTION, read_body);
    xfer_easy_setopt(j->e, XFEROPT_READDATA, j);
  } else if (j->post) {
    xfer_easy_setopt(j->e, XFEROPT_POSTFIELDSIZE, (long)j->post_len);
    if (!xt_oom_code(
            xfer_easy_setopt(j->e, j->copy ? XFEROPT_COPYPOSTFIELDS : XFEROPT_POSTFIELDS, j->post),
            "setopt POSTFIELDS"))
      return 0;
  }
  if (j->header) {
    j->hlist = xfer_slist_append(NULL, j->header);
    if (!j->hlist) {
      cr_assert(xt_torture_hit(), "xfer_slist_append gave NULL with no allocation failing");
      return 0;
    }
    if (!xt_oom_code(xfer_easy_setopt(j->e, XFEROPT_HTTPHEADER, j->hlist), "setopt HTTPHEADER"))
      return 0;
  }
  if (j->resolve[0]) {
    j->rlist = xfer_slist_append(NULL, j->resolve);
    if (!j->rlist) {
      cr_assert(xt_torture_hit(), "xfer_slist_append gave NULL with no allocation failing");
      return 0;
    }
    if (!xt_oom_code(xfer_easy_setopt(j->e, XFEROPT_RESOLVE, j->rlist), "setopt RESOLVE"))
      return 0;
  }
  return 1;
}

/* What a finished job got must be exactly what its server sent. */
static void job_check(const struct job *j) {
  if (!j->post) {
    xt_assert_pattern(&j->body, j->expect);
    return;
  }
  /* /echo answers with the whole request, head then body. */
  const char *end = j->body.data ? strstr(j->body.data, "\r\n\r\n") : NULL;
  cr_assert(end, "no request head in the echo");
  if (j->header)
    cr_assert(memmem(j->body.data, (size_t)(end - j->body.data), j->header, strlen(j->header)),
              "the echoed head lacks %s", j->header);
  if (j->upload) {
    /* Decoded strictly: hex size, CRLF, data, CRLF, ..., "0" CRLF CRLF. */
    const char *p = end + 4, *lim = j->body.data + j->body.len;
    size_t got = 0;
    for (;;) {
      char *after;
      unsigned long n = strtoul(p, &after, 16);
      cr_assert(after > p && after + 2 <= lim && memcmp(after, "\r\n", 2) == 0, "bad chunk");
      p = after + 2;
      if (n == 0)
        break;
      cr_assert((size_t)(lim - p) >= n + 2 && got + n <= j->post_len, "chunk past the body");
      cr_assert(memcmp(p, j->post + got, n) == 0, "chunk bytes differ at %zu", got);
      got += n;
      p += n + 2;
    }
    cr_assert_eq(got, j->post_len, "uploaded %zu bytes, not %zu", got, j->post_len);
    return;
  }
  cr_assert_geq(j->body.len, j->post_len, "echo of %zu bytes for a %zu-byte body", j->body.len,
                j->post_len);
  cr_assert(memcmp(j->body.data + j->body.len - j->post_len, j->post, j->post_len) == 0,
            "the echoed body differs from the one posted");
}

/* Drives until every added job is done; 0 when a multi-wide call gave out
 * of memory (which ends the run). */
static int drive(struct batch *b, xfer_multi *m, struct host *h, size_t *pending) {
  uint64_t end = xt_now_ms() + 15000; /* a batch takes milliseconds untouched */
  int running = 0;
  if (h &&
      !xt_oom_mcode(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running), "socket_action"))
    return 0;
  while (*pending > 0) {
    if (!h && !xt_oom_mcode(xfer_multi_perform(m, &running), "perform"))
      return 0;
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      struct job *j = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &j);
      cr_assert(j && !j->done, "a done message for no pending job");
      j->done = 1;
      j->result = msg->data.result;
      (*pending)--;
    }
    if (*pending == 0)
      break;
    cr_assert(xt_now_ms() < end, "allocation %ld failing: %zu of %zu transfers still running",
              xt_torture_point(), *pending, b->n);
    if (h) {
      if (!xt_oom_mcode(host_turn(h), "socket_action"))
        return 0;
    } else if (!xt_oom_mcode(xfer_multi_poll(m, NULL, 0, 100, NULL), "poll")) {
      return 0;
    }
  }
  return 1;
}

static int run_batch(void *arg) {
  struct batch *b = arg;
  int ok = 1, multi_oom = 0;
  long lost = 0; /* jobs the refused allocation cost */
  struct host h = {.m = NULL, .ep = -1, .timer_ms = -1};
  xfer_multi *m = xfer_multi_init();
  if (!m) {
    cr_assert(xt_torture_hit(), "xfer_multi_init gave NULL with no allocation failing");
    return 0;
  }
  h.m = m;
  if (b->max_host &&
      !xt_oom_mcode(xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, b->max_host), "setopt"))
    ok = 0;
  if (b->event) {
    h.ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert(h.ep >= 0);
    xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, on_socket);
    xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, &h);
    xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, on_timer);
    xfer_multi_setopt(m, XFERMOPT_TIMERDATA, &h);
    if (b->event == 2 && !xt_oom_mcode(xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L), "SINGLE_FD"))
      ok = 0;
  }
  for (size_t i = 0; i < b->n; i++)
    if (!job_setup(&b->jobs[i])) {
      b->jobs[i].oom = 1;
      lost++;
    }
  for (int wave = 0; ok && !multi_oom && wave < b->waves; wave++) {
    size_t pending = 0;
    for (size_t i = 0; i < b->n; i++) {
      struct job *j = &b->jobs[i];
      if (j->oom)
        continue;
      j->done = 0;
      j->body.len = 0;
      j->read_pos = 0;
      if (xt_oom_mcode(xfer_multi_add_handle(m, j->e), "add_handle")) {
        j->added = 1;
        pending++;
      } else {
        j->oom = 1;
        lost++;
      }
    }
    if (!drive(b, m, b->event ? &h : NULL, &pending)) {
      multi_oom = 1;
      break;
    }
    for (size_t i = 0; i < b->n; i++) {
      struct job *j = &b->jobs[i];
      if (j->oom)
        continue;
      cr_assert(j->done, "job %zu has no done message", i);
      if (xt_oom_code(j->result, "a transfer"))
        job_check(j);
      else {
        j->oom = 1;
        lost++;
      }
      xfer_multi_remove_handle(m, j->e);
      j->added = 0;
    }
  }
  if (!multi_oom && lost > 1) {
    char why[1024] = "";
    size_t k = 0;
    for (size_t i = 0; i < b->n && k < sizeof why; i++)
      k += (size_t)snprintf(why + k, sizeof why - k, " [%zu: %d %s]", i, (int)b->jobs[i].result,
                            b->jobs[i].err);
    cr_assert_fail("allocation %ld failing cost %ld transfers, not one:%s", xt_torture_point(),
                   lost, why);
  }
  for (size_t i = 0; i < b->n; i++) {
    struct job *j = &b->jobs[i];
    if (j->added)
      xfer_multi_remove_handle(m, j->e);
    xfer_easy_cleanup(j->e);
    xfer_slist_free_all(j->rlist);
    xfer_slist_free_all(j->hlist);
    xt_buf_free(&j->body);
  }
  xfer_multi_cleanup(m);
  if (h.ep >= 0)
    close(h.ep);
  return ok && !multi_oom && lost == 0;
}

/* ---- the scenarios ------------------------------------------------------ */

static struct job *add_get(struct batch *b, struct ts_server *s, size_t n, const char *route) {
  cr_assert_lt(b->n, MAX_JOBS);
  struct job *j = &b->jobs[b->n++];
  memset(j, 0, sizeof *j);
  char path[64];
  snprintf(path, sizeof path, "/%s/%zu", route, n);
  ts_url(s, path, j->url, sizeof j->url);
  j->expect = n;
  return j;
}

/* A body that is not the pattern, so an echo of the wrong bytes shows. */
static char post_body[20000];

static struct job *add_post(struct batch *b, size_t len) {
  for (size_t i = 0; i < sizeof post_body; i++)
    post_body[i] = (char)('a' + i * 7 % 26);
  cr_assert_leq(len, sizeof post_body);
  cr_assert_lt(b->n, MAX_JOBS);
  struct job *j = &b->jobs[b->n++];
  memset(j, 0, sizeof *j);
  ts_url(srv, "/echo", j->url, sizeof j->url);
  j->post = post_body;
  j->post_len = len;
  return j;
}

static void torture(const char *name, struct batch *b) {
  struct xt_torture_stats st;
  char full[128];
  snprintf(full, sizeof full, "%s.%s", name,
           getenv("XFER_BACKEND") ? getenv("XFER_BACKEND") : "auto");
  xt_torture(full, run_batch, b, &st);
  cr_assert_gt(st.runs, 0);
}

Test(torture, get) {
  static struct batch b;
  add_get(&b, srv, 3000, "bytes");
  b.waves = 1;
  torture("get", &b);
}

/* A body from memory, one the library copies (with a header of the
 * caller's), and a chunked upload from a read callback. */
Test(torture, post) {
  static struct batch b;
  add_post(&b, 20000);
  struct job *j = add_post(&b, 3000);
  j->copy = 1;
  j->header = "X-Torture: copied";
  j = add_post(&b, 5000);
  j->upload = 1;
  b.waves = 1;
  torture("post", &b);
}

Test(torture, chunked) {
  static struct batch b;
  add_get(&b, srv, 70000, "chunked");
  b.waves = 1;
  torture("chunked", &b);
}

/* Two hops on the same origin, then one to the other origin, so a redirect
 * both reuses a connection and opens one under another pool key. */
Test(torture, redirects) {
  static struct batch b;
  char to[160], enc[400], path[480];
  ts_url(other, "/bytes/3000", to, sizeof to);
  size_t k = 0;
  for (const char *p = to; *p && k + 4 < sizeof enc; p++)
    k += (size_t)(strchr(":/?=&", *p) ? snprintf(enc + k, sizeof enc - k, "%%%02X", *p)
                                      : snprintf(enc + k, sizeof enc - k, "%c", *p));
  snprintf(path, sizeof path, "/redirect/302/3?to=%s", enc);
  struct job *j = add_get(&b, srv, 3000, "bytes");
  ts_url(srv, path, j->url, sizeof j->url);
  j->follow = 1;
  b.waves = 1;
  torture("redirects", &b);
}

/* Eight transfers on three connections at most, twice: the first wave
 * queues five of them, the second reuses the pooled connections. */
Test(torture, pool_reuse_and_queueing) {
  static struct batch b;
  for (size_t i = 0; i < 8; i++)
    add_get(&b, srv, 100 + 1000 * i, "bytes");
  b.max_host = 3;
  b.waves = 2;
  torture("pool", &b);
}

/* A name from XFEROPT_RESOLVE and one through the resolver threads
 * ("localhost", from /etc/hosts), beside a numeric one. */
Test(torture, dns) {
  static struct batch b;
  char path[64];
  struct job *j = add_get(&b, srv, 2000, "bytes");
  snprintf(path, sizeof path, "/bytes/%d", 2000);
  snprintf(j->url, sizeof j->url, "http://torture.test:%u%s", ts_port(srv), path);
  snprintf(j->resolve, sizeof j->resolve, "torture.test:%u:127.0.0.1", ts_port(srv));
  j = add_get(&b, srv, 1000, "bytes");
  snprintf(j->url, sizeof j->url, "http://localhost:%u/bytes/1000", ts_port(srv));
  add_get(&b, other, 500, "bytes");
  b.waves = 1;
  torture("dns", &b);
}

/* The event API with a host loop: a GET, a chunked GET and a POST. */
Test(torture, event_api) {
  static struct batch b;
  add_get(&b, srv, 3000, "bytes");
  add_get(&b, other, 20000, "chunked");
  add_post(&b, 5000);
  b.waves = 1;
  b.event = 1;
  torture("event", &b);
}

/* The same under XFERMOPT_SINGLE_FD: the host watches one fd for all. The
 * poll backend has no kernel set to stand for its fds and refuses the mode,
 * which is all there is to check there. */
Test(torture, event_api_single_fd) {
  const char *be = getenv("XFER_BACKEND");
  if (be && strcmp(be, "poll") == 0) {
    xfer_multi *m = xt_multi();
    cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_SINGLE_FD, 1L), XFERM_BAD_FUNCTION_ARGUMENT);
    xfer_multi_cleanup(m);
    return;
  }
  static struct batch b;
  add_get(&b, srv, 3000, "bytes");
  add_post(&b, 5000);
  b.waves = 1;
  b.event = 2;
  torture("event_single_fd", &b);
}
