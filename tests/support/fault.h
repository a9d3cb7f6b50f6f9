/* Helpers for the fault suite (tests/fault/, prefix ft_): a transfer that
 * knows how long it took, siblings that must come through a fault on the
 * same multi untouched, scripted responses with pattern bodies, and the
 * process's descriptor count. Built on xtest.h; every wait is bounded. */
#ifndef XFER_TESTS_FAULT_H
#define XFER_TESTS_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "xtest.h"

struct ts_server;

/* A transfer plus the milliseconds from its add to its done message. The
 * xt_req comes first: XFEROPT_PRIVATE (set by xt_req_init) points at it,
 * and so at the ft_req. */
struct ft_req {
  struct xt_req r;
  uint64_t added;
  uint64_t elapsed;
};

/* ft_req for srv's path (a full URL when srv is NULL). */
void ft_req_init(struct ft_req *t, struct ts_server *srv, const char *path);
void ft_add(xfer_multi *m, struct ft_req *t);
/* Removes it from m (if still there) and frees it. */
void ft_free(xfer_multi *m, struct ft_req *t);

/* Drives m until nothing runs, stamping each finished ft_req; asserts that
 * it ended within max_ms. Every transfer on m must be an ft_req. */
void ft_drive(xfer_multi *m, int max_ms);

/* The sibling transfers: a chunked body from the faulty transfer's own
 * server (same origin, so it shares the pool with the faulty one) and a
 * Content-Length body from another server, whose answer is delayed so that
 * it is still in flight while the fault happens. Either server may be
 * NULL (no sibling there). */
struct ft_sibs {
  struct ft_req same, other;
  int has_same, has_other;
};
#define FT_SIB_SAME_BYTES  200000u
#define FT_SIB_OTHER_BYTES 300000u
void ft_sibs_add(xfer_multi *m, struct ft_sibs *s, struct ts_server *same, struct ts_server *other);
/* Asserts each sibling finished XFERE_OK with its exact bytes, then frees. */
void ft_sibs_check(xfer_multi *m, struct ft_sibs *s);

/* Asserts that t finished with code, and that its error buffer holds a
 * sentence (a capital letter first, words, no trailing newline); with word
 * set, the sentence must contain it (ASCII case ignored). */
void ft_assert_code(const struct ft_req *t, xfer_code code, const char *word);
/* Asserts t finished XFERE_OK with status and exactly body[0..len). */
void ft_assert_ok(const struct ft_req *t, long status, const char *body, size_t len);
/* Asserts the body is the pattern's first bytes (a prefix of 0..n). */
void ft_assert_pattern_prefix(const struct ft_req *t, size_t n);

/* head followed by the pattern's first n bytes, in a malloc'd buffer
 * (*len set); free it after ts_route() copied it. */
char *ft_response(const char *head, size_t n, size_t *len);

/* Open descriptors of this process (the /proc/self/fd listing's own
 * descriptor left out). */
int ft_fd_count(void);
/* Drives m (perform and a short poll) until the descriptor count is at most
 * want or max_ms passed; returns the last count. For backends that close
 * sockets asynchronously (io_uring), a close takes a turn to land. */
int ft_wait_fds(xfer_multi *m, int want, int max_ms);

/* The multi plus the faulty transfer's server and a second one for the
 * other-origin sibling. */
void ft_env_up(struct ts_server **srv, struct ts_server **other, xfer_multi **m);
void ft_env_down(struct ts_server *srv, struct ts_server *other, xfer_multi *m);

/* A port on 127.0.0.1 that nothing listens on. */
uint16_t ft_closed_port(void);

#endif
