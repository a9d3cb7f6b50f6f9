/* xfer_multi_post from other threads: producers hand transfers to one multi
 * driven by this test's thread, without a lock, while it runs. The ThreadSanitizer
 * build runs this file (its name has "threads"): every hand-over between the
 * threads goes through the library's queue or through C11 atomics of the
 * test, so a report points at the library.
 *
 * Handles travel in a ring per producer: the producer fills a free slot's
 * handle (URL, buffers) and posts it; the owner reads its message, checks
 * the bytes, removes it and marks the slot free again with a release store,
 * which the producer's acquire load pairs with before it touches the handle. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;

static void setup(void) {
  srv = ts_start();
  cr_assert_not_null(srv);
}

static void teardown(void) { ts_stop(srv); }

TestSuite(post_threads, .init = setup, .fini = teardown);

enum { RING = 16 };

struct slot {
  xfer_easy *e;
  struct xt_buf body;
  int producer, seq;
  size_t want;
  atomic_int busy; /* 1 from the producer's post to the owner's release */
};

struct producer {
  pthread_t tid;
  int id;
  int count;
  xfer_multi *m;
  struct slot slots[RING];
  atomic_int posted;
  atomic_int failed; /* a post that did not return XFERM_OK */
};

static size_t body_size(int producer, int seq) {
  return (size_t)(seq % 7) * 300u + (size_t)producer;
}

static void *produce(void *arg) {
  struct producer *p = arg;
  uint64_t end = xt_now_ms() + 120000;
  char url[128];
  for (int seq = 0; seq < p->count;) {
    struct slot *s = NULL;
    for (int i = 0; i < RING && !s; i++)
      if (atomic_load_explicit(&p->slots[(seq + i) % RING].busy, memory_order_acquire) == 0)
        s = &p->slots[(seq + i) % RING];
    if (!s) {
      if (xt_now_ms() > end)
        break; /* the owner stopped taking them: the test fails on counts */
      usleep(50);
      continue;
    }
    s->producer = p->id;
    s->seq = seq;
    s->want = body_size(p->id, seq);
    s->body.len = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/%zu?p=%d&s=%d", ts_port(srv), s->want,
             p->id, seq);
    xfer_easy_setopt(s->e, XFEROPT_URL, url);
    atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
    if (xfer_multi_post(p->m, s->e) != XFERM_OK) {
      atomic_fetch_add(&p->failed, 1);
      atomic_store_explicit(&s->busy, 0, memory_order_relaxed);
      continue;
    }
    atomic_fetch_add(&p->posted, 1);
    seq++;
  }
  return NULL;
}

/* Runs nprod producers of count transfers each against one multi; returns
 * when every transfer was seen done, asserting each exactly once with its
 * bytes. seen[p][seq] counts completions. */
static void run(int nprod, int count, long max_conns, int **seen) {
  xfer_multi *m = xt_multi();
  cr_assert_eq(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, max_conns), XFERM_OK);
  struct producer *prod = calloc((size_t)nprod, sizeof *prod);
  cr_assert_not_null(prod);
  for (int i = 0; i < nprod; i++) {
    prod[i].id = i;
    prod[i].count = count;
    prod[i].m = m;
    for (int k = 0; k < RING; k++) {
      struct slot *s = &prod[i].slots[k];
      s->e = xfer_easy_init();
      cr_assert_not_null(s->e);
      xfer_easy_setopt(s->e, XFEROPT_WRITEFUNCTION, xt_buf_write);
      xfer_easy_setopt(s->e, XFEROPT_WRITEDATA, &s->body);
      xfer_easy_setopt(s->e, XFEROPT_PRIVATE, s);
    }
  }
  for (int i = 0; i < nprod; i++)
    cr_assert_eq(pthread_create(&prod[i].tid, NULL, produce, &prod[i]), 0);

  int total = nprod * count, done = 0, running = 0;
  uint64_t end = xt_now_ms() + 180000;
  while (done < total) {
    cr_assert(xt_now_ms() < end, "%d of %d transfers done in time", done, total);
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left))) {
      struct slot *s = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, (char **)&s);
      cr_assert_not_null(s);
      cr_assert_eq(msg->data.result, XFERE_OK, "producer %d seq %d: %d", s->producer, s->seq,
                   msg->data.result);
      xt_assert_pattern(&s->body, s->want);
      seen[s->producer][s->seq]++;
      cr_assert_eq(xfer_multi_remove_handle(m, msg->easy_handle), XFERM_OK);
      atomic_store_explicit(&s->busy, 0, memory_order_release); /* back to its producer */
      done++;
    }
    /* Woken by each post; 100 ms bounds a lost wakeup, which the counts
     * then expose as a time-out rather than a hang. */
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
  for (int i = 0; i < nprod; i++) {
    pthread_join(prod[i].tid, NULL);
    cr_assert_eq(atomic_load(&prod[i].failed), 0);
    cr_assert_eq(atomic_load(&prod[i].posted), count);
  }
  for (int p = 0; p < nprod; p++)
    for (int q = 0; q < count; q++)
      cr_assert_eq(seen[p][q], 1, "producer %d transfer %d completed %d times", p, q, seen[p][q]);
  cr_assert_eq(running, 0);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
  for (int i = 0; i < nprod; i++)
    for (int k = 0; k < RING; k++) {
      xfer_easy_cleanup(prod[i].slots[k].e);
      xt_buf_free(&prod[i].slots[k].body);
    }
  free(prod);
}

static int **seen_table(int nprod, int count) {
  int **seen = calloc((size_t)nprod, sizeof *seen);
  cr_assert_not_null(seen);
  for (int i = 0; i < nprod; i++) {
    seen[i] = calloc((size_t)count, sizeof **seen);
    cr_assert_not_null(seen[i]);
  }
  return seen;
}

static void free_seen(int **seen, int nprod) {
  for (int i = 0; i < nprod; i++)
    free(seen[i]);
  free(seen);
}

/* 4 producers, 10,000 transfers each: every one completes exactly once
 * with its own bytes. */
Test(post_threads, four_producers_ten_thousand_each) {
  int **seen = seen_table(4, 10000);
  run(4, 10000, 16, seen);
  free_seen(seen, 4);
}

/* Handles are taken up in the order each producer posted them: with one
 * connection the server sees a producer's requests in that order. */
Test(post_threads, taken_up_in_order_per_producer) {
  int **seen = seen_table(3, 300);
  run(3, 300, 1, seen);
  int last[3] = {-1, -1, -1};
  char req[512];
  size_t n = (size_t)ts_requests(srv);
  cr_assert_eq(n, 900u);
  for (size_t i = 0; i < n; i++) {
    ts_request_log(srv, i, req, sizeof req);
    int p = -1, s = -1;
    const char *q = strstr(req, "?p=");
    cr_assert_not_null(q, "request %zu: %s", i, req);
    cr_assert_eq(sscanf(q, "?p=%d&s=%d", &p, &s), 2);
    cr_assert(p >= 0 && p < 3);
    cr_assert_gt(s, last[p], "producer %d: request %d after %d", p, s, last[p]);
    last[p] = s;
  }
  free_seen(seen, 3);
}

Test(post_threads, posting_twice_is_refused) {
  xfer_multi *m = xt_multi();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/5", ts_port(srv));
  struct xt_req r;
  xt_req_init(&r, url);
  cr_assert_eq(xfer_multi_post(m, r.e), XFERM_OK);
  cr_assert_eq(xfer_multi_post(m, r.e), XFERM_ADDED_ALREADY);
  cr_assert_eq(xfer_multi_post(NULL, r.e), XFERM_BAD_HANDLE);
  cr_assert_eq(xfer_multi_post(m, NULL), XFERM_BAD_EASY_HANDLE);
  cr_assert_eq(xt_drive(m, 10000), 1);
  cr_assert_eq(r.result, XFERE_OK, "%s", r.err);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  /* Taken up and removed: it may be posted again. */
  cr_assert_eq(xfer_multi_post(m, r.e), XFERM_OK);
  r.done = 0;
  r.body.len = 0;
  cr_assert_eq(xt_drive(m, 10000), 1);
  xt_assert_pattern(&r.body, 5);
  cr_assert_eq(xfer_multi_remove_handle(m, r.e), XFERM_OK);
  xt_req_free(&r);
  cr_assert_eq(xfer_multi_cleanup(m), XFERM_OK);
}
