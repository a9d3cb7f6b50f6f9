/* HTTPS from several threads at once, each with its own multi: the first
 * use of the TLS library races between them (the choice is made once), the
 * allocator's block cache is per thread, and each thread's multi cleanup
 * hands back only its own thread's library state. The TSan build runs this
 * file, with both libraries. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "certs.h"
#include "nginx.h"
#include "xtest.h"

#define THREADS  3
#define REQUESTS 40

static struct ts_certs *certs;
static struct ts_nginx *ng;
static char ca[512];
static char url[128];

struct worker {
  pthread_t tid;
  int ok; /* requests that got the exact body */
  long connects;
  int tls_backend;
};

static size_t sink(char *p, size_t s, size_t n, void *u) {
  struct xt_buf *b = u;
  return xt_buf_write(p, s, n, b);
}

static void *run(void *arg) {
  struct worker *w = arg;
  xfer_multi *m = xfer_multi_init();
  xfer_easy *e = xfer_easy_init();
  struct xt_buf body = {0};
  if (!m || !e)
    goto out;
  xfer_easy_setopt(e, XFEROPT_URL, url);
  xfer_easy_setopt(e, XFEROPT_CAINFO, ca);
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, sink);
  xfer_easy_setopt(e, XFEROPT_WRITEDATA, &body);
  for (int i = 0; i < REQUESTS; i++) {
    body.len = 0;
    if (xfer_multi_add_handle(m, e) != XFERM_OK)
      break;
    xfer_code rc = (xfer_code)-1;
    uint64_t end = xt_now_ms() + 20000;
    for (;;) {
      int running, left;
      xfer_multi_perform(m, &running);
      xfer_msg *msg = xfer_multi_info_read(m, &left);
      if (msg) {
        rc = msg->data.result;
        break;
      }
      if (xt_now_ms() > end)
        break;
      xfer_multi_poll(m, NULL, 0, 100, NULL);
    }
    long n = 0;
    xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &n);
    w->connects += n;
    struct xfer_tlssessioninfo *ti = NULL;
    xfer_easy_getinfo(e, XFERINFO_TLS_SSL_PTR, &ti);
    if (ti)
      w->tls_backend = ti->backend;
    xfer_multi_remove_handle(m, e);
    if (rc == XFERE_OK && body.len == 13 && memcmp(body.data, "Hello, world!", 13) == 0)
      w->ok++;
  }
out:
  xfer_easy_cleanup(e);
  xfer_multi_cleanup(m);
  xt_buf_free(&body);
  return NULL;
}

Test(tls_threads, threads_with_their_own_multis_share_nothing_but_the_library) {
  xt_require_backend();
  certs = ts_certs_make();
  cr_assert(certs);
  ng = xt_tls_nginx(certs, "good", NULL, ca, sizeof ca);
  /* A name, so that each thread's first transfer also takes the resolver
   * path; nginx listens on 127.0.0.1 only, so an ::1 answer is refused and
   * the next address taken. */
  snprintf(url, sizeof url, "https://localhost:%u/small", (unsigned)ts_nginx_port(ng));
  struct worker w[THREADS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < THREADS; i++)
    cr_assert_eq(pthread_create(&w[i].tid, NULL, run, &w[i]), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(w[i].tid, NULL);
  for (int i = 0; i < THREADS; i++) {
    cr_assert_eq(w[i].ok, REQUESTS, "thread %d: %d of %d requests right", i, w[i].ok, REQUESTS);
    cr_assert_eq(w[i].connects, 1, "thread %d opened %ld connections", i, w[i].connects);
    cr_assert_eq(w[i].tls_backend, w[0].tls_backend, "threads used different TLS libraries");
  }
  cr_assert_neq(w[0].tls_backend, 0);
  ts_nginx_stop(ng);
  ts_certs_free(certs);
}
