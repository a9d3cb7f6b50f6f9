/* Faults at scale (docs/internals/faults.md): 1,000 transfers to a port
 * nothing listens on, and 2,000 against a server that accepts slowly. A
 * sibling on another server shares the multi and must finish with its
 * exact bytes; no descriptor may be left behind (/proc/self/fd counted
 * before and after). The single refused connection, with its sentence and
 * time bound, is tests/net/test_timeout.c's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "testserver.h"

static struct ts_server *srv, *other;
static xfer_multi *multi;

static void setup(void) { ft_env_up(&srv, &other, &multi); }
static void teardown(void) { ft_env_down(srv, other, multi); }

TestSuite(many, .init = setup, .fini = teardown);

/* The sibling does not keep its connection, so that after the run both of
 * its ends are closed and the descriptor count can return to `base`. */
static void sibling_add(struct ft_req *sib) {
  ft_req_init(sib, other, "/delay/150/300000");
  cr_assert_eq(xfer_easy_setopt(sib->r.e, XFEROPT_FORBID_REUSE, 1L), XFERE_OK);
  ft_add(multi, sib);
}

static void sibling_check_and_free(struct ft_req *sib) {
  cr_assert_eq(sib->r.result, XFERE_OK, "the sibling: code %d (%s)", sib->r.result, sib->r.err);
  xt_assert_pattern(&sib->r.body, 300000);
  ft_free(multi, sib);
}

static void assert_no_fd_left(int base) {
  cr_assert_eq(ts_wait_open(other, 0, 5000), 0, "the sibling's connection stayed open");
  cr_assert_eq(ts_wait_open(srv, 0, 5000), 0, "a connection to the server stayed open");
  int n = ft_wait_fds(multi, base, 5000);
  cr_assert_eq(n, base, "%d descriptors open, %d before", n, base);
}

Test(many, a_thousand_refused_connections) {
  enum { N = 1000 };
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/10", (unsigned)ft_closed_port());
  struct ft_req *t = calloc(N, sizeof *t);
  cr_assert(t);
  int base = ft_fd_count();
  struct ft_req sib;
  sibling_add(&sib);
  uint64_t t0 = xt_now_ms();
  for (int i = 0; i < N; i++) {
    ft_req_init(&t[i], NULL, url);
    ft_add(multi, &t[i]);
  }
  ft_drive(multi, 30000);
  uint64_t took = xt_now_ms() - t0;
  for (int i = 0; i < N; i++) {
    ft_assert_code(&t[i], XFERE_COULDNT_CONNECT, "refused");
    ft_free(multi, &t[i]);
  }
  sibling_check_and_free(&sib);
  /* A refusal is immediate on loopback: no timer is involved. */
  cr_assert_lt(took, 10000, "%d refusals took %llu ms", N, (unsigned long long)took);
  assert_no_fd_left(base);
  free(t);
}

/* The same behind a connection limit: each refusal frees the slot the next
 * queued transfer takes, so the queue drains one failure at a time, and
 * the sibling (another origin, under the same total limit) still gets its
 * turn. */
Test(many, a_thousand_refused_connections_behind_a_limit) {
  enum { N = 1000 };
  cr_assert_eq(xfer_multi_setopt(multi, XFERMOPT_MAX_TOTAL_CONNECTIONS, 8L), XFERM_OK);
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/bytes/10", (unsigned)ft_closed_port());
  struct ft_req *t = calloc(N, sizeof *t);
  cr_assert(t);
  int base = ft_fd_count();
  struct ft_req sib;
  for (int i = 0; i < N; i++) {
    ft_req_init(&t[i], NULL, url);
    ft_add(multi, &t[i]);
    if (i == N / 2)
      sibling_add(&sib);
  }
  ft_drive(multi, 30000);
  for (int i = 0; i < N; i++) {
    ft_assert_code(&t[i], XFERE_COULDNT_CONNECT, "refused");
    ft_free(multi, &t[i]);
  }
  sibling_check_and_free(&sib);
  assert_no_fd_left(base);
  free(t);
}

/* The server accepts one connection per millisecond; 2,000 connects at
 * once overflow its accept queue (TS_BACKLOG, 1,024), so the kernel drops
 * some SYNs and those clients retransmit (after 1 s, then 3 s). Every
 * transfer must still succeed with its bytes, within the default connect
 * timeout (300 s) by far: nothing in xfer may give up on a connection
 * that is merely slow to be accepted, nor spin while it waits. */
Test(many, two_thousand_transfers_against_a_slow_accept) {
  enum { N = 2000, BYTES = 1000 };
  ts_set_accept_delay(srv, 1);
  struct ft_req *t = calloc(N, sizeof *t);
  cr_assert(t);
  int base = ft_fd_count();
  struct ft_req sib;
  sibling_add(&sib);
  uint64_t t0 = xt_now_ms();
  for (int i = 0; i < N; i++) {
    ft_req_init(&t[i], srv, "/bytes/1000");
    /* Each transfer on its own connection, so all of them go through the
     * accept queue, and the server's threads do not pile up. */
    cr_assert_eq(xfer_easy_setopt(t[i].r.e, XFEROPT_FORBID_REUSE, 1L), XFERE_OK);
    ft_add(multi, &t[i]);
  }
  ft_drive(multi, 120000);
  uint64_t took = xt_now_ms() - t0;
  for (int i = 0; i < N; i++) {
    cr_assert_eq(t[i].r.result, XFERE_OK, "transfer %d: code %d (%s)", i, t[i].r.result,
                 t[i].r.err);
    xt_assert_pattern(&t[i].r.body, BYTES);
    ft_free(multi, &t[i]);
  }
  sibling_check_and_free(&sib);
  cr_assert_eq(ts_connections(srv), N);
  cr_assert_eq(ts_requests(srv), N);
  /* At least one delay per accept; the upper bound is SYN retransmits
   * (1 + 3 + 7 s at worst on a loaded machine) plus the accepts. */
  cr_assert_geq(took, (uint64_t)N);
  cr_assert_lt(took, 60000, "%d transfers took %llu ms", N, (unsigned long long)took);
  assert_no_fd_left(base);
  free(t);
}
