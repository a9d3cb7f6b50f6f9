/* Helpers for tests that drive xfer itself (prefix xt_): a growable body
 * buffer, handle set-up, and a bounded multi loop that collects the done
 * messages. Tests stay short and every loop stays bounded in time. */
#ifndef XFER_TESTS_XTEST_H
#define XFER_TESTS_XTEST_H

#include <stddef.h>
#include <stdint.h>

#include "xfer/xfer.h"

struct xt_buf {
  char *data;
  size_t len;
  size_t cap;
};

/* XFEROPT_WRITEFUNCTION / HEADERFUNCTION that appends to a struct xt_buf. */
size_t xt_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata);
void xt_buf_free(struct xt_buf *b);

/* One transfer's handle with its own body buffer and error buffer. */
struct xt_req {
  xfer_easy *e;
  struct xt_buf body;
  struct xt_buf headers;
  char err[XFER_ERROR_SIZE];
  xfer_code result;
  int done;
};

/* Sets URL, write/header functions into r's buffers, ERRORBUFFER and
 * PRIVATE (= r). Asserts on failure. */
void xt_req_init(struct xt_req *r, const char *url);
void xt_req_free(struct xt_req *r);

/* Runs perform/info_read/poll until nothing runs or `max_ms` passes; each
 * done message marks its xt_req (through PRIVATE) done with its result.
 * Returns the number of messages read. Asserts that the loop finished in
 * time. */
int xt_drive(xfer_multi *m, int max_ms);

/* Adds every request, drives, and asserts each one finished. */
void xt_run(xfer_multi *m, struct xt_req *reqs, size_t n, int max_ms);

/* A multi on the backend of the XFER_BACKEND variable (ctest sets it).
 * Skips the test, naming the errno, when XFER_BACKEND=io_uring and the
 * kernel refuses io_uring_setup(2) (seccomp, sysctl
 * kernel.io_uring_disabled, ENOSYS). */
xfer_multi *xt_multi(void);
/* The same check alone, for tests that create their multis themselves. */
void xt_require_backend(void);

/* 0 when this process may create an io_uring, else io_uring_setup(2)'s
 * errno (XT_URING_SETUP_ERRNO=<n> simulates one); and the skip, naming that
 * errno, for a test that needs io_uring whatever XFER_BACKEND says. */
int xt_uring_setup_errno(void);
void xt_require_io_uring(void);

struct ts_server;
/* The fixture most net suites share: a fresh test server and a multi. */
void xt_env_up(struct ts_server **srv, xfer_multi **multi);
void xt_env_down(struct ts_server *srv, xfer_multi *multi);

/* Asserts that b holds exactly ts_pattern(0..n). */
void xt_assert_pattern(const struct xt_buf *b, size_t n);

struct ts_certs;
struct ts_nginx;
/* nginx with TLS serving c's LEAF.pem and LEAF.key (server_extra as for
 * ts_nginx_start_tls()); when ca is not NULL it gets the path of c's test
 * CA. Asserts that nginx started. */
struct ts_nginx *xt_tls_nginx(const struct ts_certs *c, const char *leaf, const char *extra,
                              char *ca, size_t calen);

/* Milliseconds on the monotonic clock. */
uint64_t xt_now_ms(void);

/* Whether hay contains needle, ASCII letters compared without case (for
 * checking that an error sentence mentions a word). */
int xt_contains_nocase(const char *hay, const char *needle);

#endif
