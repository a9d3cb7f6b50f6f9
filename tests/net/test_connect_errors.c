/* Why a connection could not be opened, each cause with its own code and
 * error-buffer sentence (docs/internals/errors.md): no descriptor left for
 * socket(2) is COULDNT_CONNECT as in libcurl, but its sentence names the
 * cause ("Too many open files") and not a refusal; an allocation failure
 * while opening is OUT_OF_MEMORY, never COULDNT_CONNECT; a refused connect
 * keeps "Connection refused". */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "testserver.h"
#include "xtest.h"

static struct ts_server *srv;
static xfer_multi *multi;

static void up(void) { xt_env_up(&srv, &multi); }
static void down(void) { xt_env_down(srv, multi); }

TestSuite(connect_errors, .init = up, .fini = down);

/* Descriptors held open to exhaust the table, and the limit to restore. */
#define MAX_FILLERS 64 /* the lowered limit leaves room for at most this many */
static int fillers[MAX_FILLERS];
static int nfillers;
static struct rlimit saved_limit;

/* Lowers RLIMIT_NOFILE to just above the highest descriptor in use, then
 * takes every descriptor left, so that the next socket(2) fails with
 * EMFILE. */
static void exhaust_descriptors(void) {
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved_limit), 0);
  int probe = dup(0);
  cr_assert(probe >= 0);
  close(probe);
  /* Every descriptor below the first free one may be in use; the few
   * above it are what this test fills. */
  struct rlimit low = saved_limit;
  low.rlim_cur = (rlim_t)probe + MAX_FILLERS / 2;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0, "setrlimit: %s", strerror(errno));
  nfillers = 0;
  while (nfillers < MAX_FILLERS) {
    int fd = dup(0);
    if (fd < 0) {
      cr_assert_eq(errno, EMFILE, "dup failed with %s, not EMFILE", strerror(errno));
      break;
    }
    fillers[nfillers++] = fd;
  }
  cr_assert(nfillers < MAX_FILLERS, "the descriptor table never filled");
}

static void restore_descriptors(void) {
  for (int i = 0; i < nfillers; i++)
    close(fillers[i]);
  nfillers = 0;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved_limit), 0);
}

Test(connect_errors, no_descriptor_for_the_socket_is_couldnt_connect_naming_emfile) {
  struct xt_req r;
  char url[160];
  ts_url(srv, "/bytes/100", url, sizeof url);
  xt_req_init(&r, url);
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  exhaust_descriptors();
  xt_drive(multi, 5000);
  restore_descriptors();
  cr_assert(r.done);
  cr_expect_eq(r.result, XFERE_COULDNT_CONNECT, "result %d (%s)", r.result, r.err);
  cr_expect(strstr(r.err, strerror(EMFILE)) != NULL, "error buffer: \"%s\"", r.err);
  cr_expect(strstr(r.err, "open a socket") != NULL, "error buffer: \"%s\"", r.err);
  cr_expect(strstr(r.err, "refused") == NULL, "error buffer: \"%s\"", r.err);
  cr_expect_eq(r.body.len, 0);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);

  /* The descriptors are back: the same multi works again. */
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 5000);
  cr_expect_eq(r.result, XFERE_OK, "result %d (%s)", r.result, r.err);
  xt_assert_pattern(&r.body, 100);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}

Test(connect_errors, refused_keeps_its_own_sentence) {
  /* A port bound but never listening refuses, and stays ours meanwhile. */
  int hold = socket(AF_INET, SOCK_STREAM, 0);
  cr_assert(hold >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  cr_assert_eq(bind(hold, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(getsockname(hold, (struct sockaddr *)&a, &len), 0);
  char url[80];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 5000);
  close(hold);
  cr_expect_eq(r.result, XFERE_COULDNT_CONNECT);
  cr_expect(strstr(r.err, "Failed to connect to 127.0.0.1 port") != NULL, "\"%s\"", r.err);
  cr_expect(strstr(r.err, strerror(ECONNREFUSED)) != NULL, "\"%s\"", r.err);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
}

/* Every allocation fails once armed: the first one on the way is the
 * connection's (the URL, request and pool origin were made by a first,
 * successful transfer on the same handle). */
static int failing;
static void *f_malloc(size_t n) { return failing ? NULL : malloc(n); }
static void *f_calloc(size_t a, size_t b) { return failing ? NULL : calloc(a, b); }
static void *f_realloc(void *p, size_t n) { return failing ? NULL : realloc(p, n); }
static char *f_strdup(const char *s) { return failing ? NULL : strdup(s); }

Test(connect_errors, out_of_memory_opening_a_connection_is_out_of_memory) {
  xfer__alloc_set(f_malloc, free, f_realloc, f_strdup, f_calloc);
  char url[160];
  ts_url(srv, "/bytes/100", url, sizeof url);
  struct xt_req r;
  xt_req_init(&r, url);
  xt_run(multi, &r, 1, 5000);
  cr_assert_eq(r.result, XFERE_OK, "warm-up: %d (%s)", r.result, r.err);
  xfer_multi_remove_handle(multi, r.e);
  xt_buf_free(&r.body);
  cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 1L), XFERE_OK);
  r.done = 0;
  cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
  failing = 1;
  xt_drive(multi, 5000);
  failing = 0;
  cr_assert(r.done);
  cr_expect_eq(r.result, XFERE_OUT_OF_MEMORY, "result %d (%s)", r.result, r.err);
  cr_expect_str_eq(r.err, "Out of memory opening a connection");
  cr_expect_eq(r.body.len, 0);
  xfer_multi_remove_handle(multi, r.e);
  xt_req_free(&r);
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
}

/* The same with two addresses, the first refused: whatever allocation
 * fails on the way, the transfer ends in success or OUT_OF_MEMORY, never in
 * COULDNT_CONNECT. The first k allocations after arming succeed, every
 * later one fails, for k from 0 until a run succeeds. (The pool recycles
 * the refused connection's object for the next address, so the failure
 * seen is the first address's; the next-address path is reached through a
 * backend's XFER__EOPNOMEM when its bookkeeping cannot grow.) */
static long allowed;
static int budget_ok(void) { return !failing || allowed-- > 0; }
static void *b_malloc(size_t n) { return budget_ok() ? malloc(n) : NULL; }
static void *b_calloc(size_t a, size_t b) { return budget_ok() ? calloc(a, b) : NULL; }
static void *b_realloc(void *p, size_t n) { return budget_ok() ? realloc(p, n) : NULL; }
static char *b_strdup(const char *s) { return budget_ok() ? strdup(s) : NULL; }

Test(connect_errors, out_of_memory_on_the_next_address_is_out_of_memory) {
  /* 127.0.0.2 refuses: the test server listens on 127.0.0.1 only. */
  char resolve[64], url[96];
  snprintf(resolve, sizeof resolve, "two.test:%u:127.0.0.2,127.0.0.1", (unsigned)ts_port(srv));
  snprintf(url, sizeof url, "http://two.test:%u/bytes/100", (unsigned)ts_port(srv));
  struct xfer_slist *rl = xfer_slist_append(NULL, resolve);
  cr_assert(rl);
  xfer__alloc_set(b_malloc, free, b_realloc, b_strdup, b_calloc);
  int oom_opening = 0;
  /* Bounded: opening two connections takes a handful of allocations. */
  for (long k = 0; k < 40; k++) {
    struct xt_req r;
    xt_req_init(&r, url);
    cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_RESOLVE, rl), XFERE_OK);
    cr_assert_eq(xfer_easy_setopt(r.e, XFEROPT_FRESH_CONNECT, 1L), XFERE_OK);
    xt_run(multi, &r, 1, 5000); /* the warm-up: URL, request, origin */
    cr_assert_eq(r.result, XFERE_OK, "warm-up: %d (%s)", r.result, r.err);
    xfer_multi_remove_handle(multi, r.e);
    xt_buf_free(&r.body);
    r.done = 0;
    cr_assert_eq(xfer_multi_add_handle(multi, r.e), XFERM_OK);
    allowed = k;
    failing = 1;
    uint64_t end = xt_now_ms() + 5000;
    while (!r.done) {
      int running, left;
      xfer_msg *msg;
      /* A failing turn may itself report out of memory; it is retried. */
      (void)xfer_multi_perform(multi, &running);
      while ((msg = xfer_multi_info_read(multi, &left))) {
        r.done = 1;
        r.result = msg->data.result;
      }
      cr_assert(xt_now_ms() < end, "k=%ld: the transfer did not finish", k);
      if (!r.done)
        (void)xfer_multi_poll(multi, NULL, 0, 100, NULL);
    }
    failing = 0;
    cr_expect(r.result == XFERE_OK || r.result == XFERE_OUT_OF_MEMORY, "k=%ld: result %d (%s)", k,
              r.result, r.err);
    if (strcmp(r.err, "Out of memory opening a connection") == 0)
      oom_opening++;
    xfer_multi_remove_handle(multi, r.e);
    xt_req_free(&r);
    if (r.result == XFERE_OK)
      break;
  }
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  xfer_slist_free_all(rl);
  cr_expect(oom_opening > 0, "no run failed while opening a connection");
}
