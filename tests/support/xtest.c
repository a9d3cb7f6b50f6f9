/* See xtest.h. */
#include "xtest.h"
#include "certs.h"
#include "nginx.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testserver.h"

size_t xt_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  struct xt_buf *b = userdata;
  size_t n = size * nmemb;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    cr_assert(d, "out of memory in a test buffer");
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = 0;
  return n;
}

void xt_buf_free(struct xt_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void xt_req_init(struct xt_req *r, const char *url) {
  memset(r, 0, sizeof *r);
  r->e = xfer_easy_init();
  cr_assert(r->e);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_URL, url), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_WRITEFUNCTION, xt_buf_write), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_WRITEDATA, &r->body), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_HEADERFUNCTION, xt_buf_write), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_HEADERDATA, &r->headers), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_ERRORBUFFER, r->err), XFERE_OK);
  cr_assert_eq(xfer_easy_setopt(r->e, XFEROPT_PRIVATE, r), XFERE_OK);
  r->result = (xfer_code)-1;
}

void xt_req_free(struct xt_req *r) {
  xfer_easy_cleanup(r->e);
  xt_buf_free(&r->body);
  xt_buf_free(&r->headers);
}

uint64_t xt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int xt_drive(xfer_multi *m, int max_ms) {
  uint64_t end = xt_now_ms() + (uint64_t)max_ms;
  int msgs = 0;
  for (;;) {
    int running = 0;
    cr_assert_eq(xfer_multi_perform(m, &running), XFERM_OK);
    int left;
    xfer_msg *msg;
    while ((msg = xfer_multi_info_read(m, &left))) {
      cr_assert_eq(msg->msg, XFERMSG_DONE);
      struct xt_req *r = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &r);
      if (r) {
        r->done = 1;
        r->result = msg->data.result;
      }
      msgs++;
    }
    if (running == 0)
      return msgs;
    cr_assert(xt_now_ms() < end, "transfers still running after %d ms", max_ms);
    cr_assert_eq(xfer_multi_poll(m, NULL, 0, 100, NULL), XFERM_OK);
  }
}

void xt_run(xfer_multi *m, struct xt_req *reqs, size_t n, int max_ms) {
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(xfer_multi_add_handle(m, reqs[i].e), XFERM_OK);
  xt_drive(m, max_ms);
  for (size_t i = 0; i < n; i++)
    cr_assert(reqs[i].done, "request %zu never finished", i);
}

/* 0 when this process may create an io_uring, else the errno of
 * io_uring_setup(2): ENOSYS (no kernel support, or seccomp returning it),
 * EPERM (sysctl kernel.io_uring_disabled, a seccomp or LSM policy), ENOMEM
 * (locked-memory limit). XT_URING_SETUP_ERRNO=<number> makes the probe
 * answer that errno instead, so that the skip itself can be tested on a
 * machine where io_uring works. */
int xt_uring_setup_errno(void) {
  const char *sim = getenv("XT_URING_SETUP_ERRNO");
  if (sim && *sim)
    return atoi(sim);
#ifdef __NR_io_uring_setup
  /* struct io_uring_params is 120 bytes; zeroed it asks for nothing. */
  unsigned char params[120];
  memset(params, 0, sizeof params);
  long fd = syscall(__NR_io_uring_setup, 2, params);
  if (fd < 0)
    return errno;
  close((int)fd);
  return 0;
#else
  return ENOSYS;
#endif
}

void xt_require_io_uring(void) {
  int err = xt_uring_setup_errno();
  if (err)
    cr_skip_test("io_uring is not available here: io_uring_setup(2) failed with %s (%s)",
                 strerrorname_np(err) ? strerrorname_np(err) : "?", strerror(err));
}

void xt_require_backend(void) {
  const char *b = getenv("XFER_BACKEND");
  if (b && strcmp(b, "io_uring") == 0)
    xt_require_io_uring();
}

xfer_multi *xt_multi(void) {
  xt_require_backend();
  xfer_multi *m = xfer_multi_init();
  cr_assert(m, "xfer_multi_init failed (XFER_BACKEND=%s)",
            getenv("XFER_BACKEND") ? getenv("XFER_BACKEND") : "");
  return m;
}

void xt_env_up(struct ts_server **srv, xfer_multi **multi) {
  *srv = ts_start();
  cr_assert(*srv, "the test server did not start");
  *multi = xt_multi();
}

void xt_env_down(struct ts_server *srv, xfer_multi *multi) {
  xfer_multi_cleanup(multi);
  ts_stop(srv);
}

void xt_assert_pattern(const struct xt_buf *b, size_t n) {
  cr_assert_eq(b->len, n, "body is %zu bytes, expected %zu", b->len, n);
  char *want = malloc(n ? n : 1);
  cr_assert(want);
  ts_pattern(0, want, n);
  cr_assert(memcmp(b->data ? b->data : "", want, n) == 0, "body bytes differ from the pattern");
  free(want);
}

struct ts_nginx *xt_tls_nginx(const struct ts_certs *c, const char *leaf, const char *extra,
                              char *ca, size_t calen) {
  char cert[512], key[512], file[64];
  snprintf(file, sizeof file, "%s.pem", leaf);
  ts_certs_path(c, file, cert, sizeof cert);
  snprintf(file, sizeof file, "%s.key", leaf);
  ts_certs_path(c, file, key, sizeof key);
  if (ca)
    ts_certs_path(c, "ca.pem", ca, calen);
  struct ts_nginx *n = ts_nginx_start_tls(cert, key, extra);
  cr_assert(n, "could not start nginx with TLS serving %s", leaf);
  return n;
}

int xt_contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p; p++) {
    size_t i = 0;
    /* ASCII letters differ only in bit 0x20; the needles are words. */
    while (i < n && p[i] && (p[i] | 0x20) == (needle[i] | 0x20))
      i++;
    if (i == n)
      return 1;
  }
  return 0;
}
